"""Shared by the page modules: the templates and their filters, rendering, error pages, and form-post handling."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from livevault import __version__
from livevault.domain.files import FileKind, StoredFile
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    CAPTURING_RECORDING_STATUSES,
    Recording,
    RecordingStatus,
)
from livevault.domain.secrets import mask_credentials
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import ErrorKind, LivevaultError
from livevault.observability import current_correlation_id
from livevault.services.access import Scope
from livevault.web.auth import Viewer, check_csrf, container_of, current_viewer, safe_next

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
PAGE_SIZE = 50
_STATUS = {ErrorKind.INVALID: 400, ErrorKind.UNAUTHORIZED: 401, ErrorKind.FORBIDDEN: 403,
           ErrorKind.NOT_FOUND: 404, ErrorKind.CONFLICT: 409, ErrorKind.RATE_LIMITED: 429,
           ErrorKind.UNAVAILABLE: 503, ErrorKind.INTERNAL: 500}
NOTICES = {
    "stopped": "Stop requested: what was captured is being finalized.",
    "deleted": "Recording deleted.",
    "pinned": "Recording pinned: retention will keep it.",
    "unpinned": "Recording unpinned.",
    "watcher-added": "Watcher added: its first check is due now.",
    "watcher-paused": "Watcher paused.",
    "watcher-resumed": "Watcher resumed.",
    "watcher-deleted": "Watcher deleted.",
    "signed-out": "Signed out.",
}


# -- formatting ---------------------------------------------------------------------------------------------


def human_size(value: int | float | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    total = round(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_time(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def completeness(rec: Recording) -> float:
    total = rec.segments_captured + rec.segments_missing
    return 100.0 if total == 0 else round(100.0 * rec.segments_captured / total, 1)


def shown_duration(rec: Recording) -> float:
    if rec.status is RecordingStatus.RECORDING and rec.started_at is not None:
        return max(0.0, (datetime.now(UTC) - rec.started_at).total_seconds())
    return rec.duration


def where_stored(rec: Recording, files: list[StoredFile] | None = None) -> str:
    """Where the video is: local disk, S3 or both (and an upload in progress or failed), else the spool."""
    for file in files or []:
        if file.kind is FileKind.VIDEO and file.piece == 0:
            where = {"local": "this server", "s3": "S3", "both": "this server + S3"}.get(file.location.value,
                                                                                      file.location.value)
            state = file.state.value
            return where if state in ("uploaded", "local") else f"{where} ({state})"
    if rec.file_path:
        return f"this server: {rec.file_path}"
    return "spool (recording)" if rec.status in ACTIVE_RECORDING_STATUSES else "—"


def watcher_state(watcher: Watcher) -> tuple[str, str]:
    """(state, why): idle / live / recording / backing off / paused."""
    if watcher.status is WatcherStatus.PAUSED:
        return "paused", ""
    if watcher.live_state == "recording":
        return "recording", ""
    if watcher.failures > 0:
        why = f"{watcher.error_code or 'error'}: {watcher.error_message or ''}".strip(": ")
        return "backing off", f"{why} ({watcher.failures} failed checks)"
    if watcher.live_state == "live":
        return "live", ""
    return "idle", watcher.live_state or "not checked yet"


def human_epoch(value: float | None) -> str:
    return "—" if value is None else human_time(datetime.fromtimestamp(value, UTC))


# Every value a page shows has URL credentials masked, like the API's responses (docs/security.md).
templates.env.finalize = lambda value: (
    mask_credentials(value) if isinstance(value, str) and not hasattr(value, "__html__") else value)
templates.env.filters.update(size=human_size, duration=human_duration, when=human_time, epoch=human_epoch)
templates.env.globals.update(version=__version__, completeness=completeness, shown_duration=shown_duration,
                             where_stored=where_stored, watcher_state=watcher_state,
                             active_statuses=ACTIVE_RECORDING_STATUSES,
                             capturing_statuses=CAPTURING_RECORDING_STATUSES)


# -- rendering ----------------------------------------------------------------------------------------------


def render(request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    response = templates.TemplateResponse(
        request, name, {"viewer": viewer, "notice": notice, "path": request.url.path, **context},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, viewer: Viewer | None, exc: LivevaultError) -> Response:
    return render(request, "error.html", viewer, status_code=_STATUS.get(exc.kind, 500), error=exc,
                  correlation_id=current_correlation_id())


def back_to(request: Request, form: dict[str, str], default: str, notice: str) -> RedirectResponse:
    target = safe_next(form.get("back"), default)
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}notice={notice}", status_code=303)


async def form_of(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def action(request: Request, needed: Scope, work: Any) -> Response:
    """A form post: signed in, same origin, CSRF token, the scope; then `work(viewer, form)` in a thread."""
    viewer = current_viewer(request)
    form = await form_of(request)
    try:
        check_csrf(request, viewer, form.get("csrf"))
        viewer.principal.require(needed)
        await asyncio.to_thread(container_of(request).rate_limits.check, viewer.principal.rate_key)
        if inspect.iscoroutinefunction(work):
            result: Response = await work(viewer, form)
        else:
            result = await asyncio.to_thread(work, viewer, form)
    except LivevaultError as exc:
        return error_page(request, viewer, exc)
    return result
