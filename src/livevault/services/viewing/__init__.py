"""Viewing: what people's browsers need beyond the JSON API.

This use case owns the web sign-in session (an API key entered once, kept in an encrypted, signed cookie and
checked again on every request, so a revoked key stops working at once), the live HLS playlist that lets a
browser watch a recording while it records (built from the spool's segment index over the growing part files)
and the system overview of the status page (disk against its watermark, active recordings, backlog, versions).
"""

from livevault.services.viewing.live import LivePlaylists
from livevault.services.viewing.overview import Overview, SystemOverview
from livevault.services.viewing.sessions import SESSION_COOKIE, SessionService, WebSession

__all__ = ["SESSION_COOKIE", "LivePlaylists", "Overview", "SessionService", "SystemOverview", "WebSession"]
