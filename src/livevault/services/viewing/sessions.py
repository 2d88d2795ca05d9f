"""Web sessions: the API key a person signed in with, in a cookie nobody can read or forge.

The cookie holds the key and a CSRF token, encrypted and authenticated with Fernet (AES-128-CBC + HMAC-SHA256)
under a key derived from `LIVEVAULT_SESSION_SECRET`; when that is unset a random secret is generated once and
kept in the data directory (mode 0600), so sessions survive restarts. The key inside is authenticated again on
every request (`AccessService.authenticate`), so a removed or revoked key ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from pathlib import Path

    from livevault.config import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "livevault_session"
# bandit B105: this is the name of the file that holds the secret, not a secret
SECRET_FILE = "session_secret"  # nosec B105


@dataclass(frozen=True, slots=True)
class WebSession:
    api_key: str
    csrf_token: str
    issued_at: float

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token.encode(), (token or "").encode())


def load_or_create_secret(settings: Settings) -> str:
    """`LIVEVAULT_SESSION_SECRET`, else the one kept in the data directory (created on first use)."""
    if settings.session_secret:
        return settings.session_secret
    path: Path = settings.data_dir / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    log.info("generated a session secret in %s (set LIVEVAULT_SESSION_SECRET to share one between replicas)", path)
    return secret


class SessionService:
    """Issues and opens session cookies; `max_age` seconds after sign-in a session ends."""

    def __init__(self, secret: str, max_age: int) -> None:
        digest = hashlib.sha256(b"livevault-session\x00" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self.max_age = max_age

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionService:
        return cls(load_or_create_secret(settings), settings.session_max_age)

    def issue(self, api_key: str) -> tuple[str, WebSession]:
        """A new session for a key already authenticated by the caller: (cookie value, session)."""
        session = WebSession(api_key=api_key, csrf_token=secrets.token_urlsafe(32), issued_at=time.time())
        payload = json.dumps({"k": session.api_key, "c": session.csrf_token}, separators=(",", ":"))
        return self._fernet.encrypt_at_time(payload.encode(), int(session.issued_at)).decode(), session

    def open(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie, or None when it is missing, forged, tampered with or expired."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            raw = cookie.encode("ascii")
            payload = json.loads(self._fernet.decrypt(raw, ttl=self.max_age))
            issued = float(self._fernet.extract_timestamp(raw))
            return WebSession(api_key=str(payload["k"]), csrf_token=str(payload["c"]), issued_at=issued)
        except (InvalidToken, UnicodeEncodeError, ValueError, KeyError, TypeError):
            return None

    def api_key(self, cookie: str | None) -> str | None:
        session = self.open(cookie)
        return None if session is None else session.api_key
