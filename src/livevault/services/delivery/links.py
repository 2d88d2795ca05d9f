"""Signed, expiring download links for local files: usable by a browser or a player without an API key."""

from __future__ import annotations

import hashlib
import hmac
import time


class LinkSigner:
    """HMAC-SHA256 over (recording id, file kind, piece, expiry); every API replica with the same key agrees."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_settings(cls, signing_key: str, api_keys: frozenset[str]) -> LinkSigner:
        """LIVEVAULT_URL_SIGNING_KEY, else a key derived from API_KEYS (changing the keys revokes links)."""
        material = signing_key or "\n".join(sorted(api_keys))
        return cls(hashlib.sha256(b"livevault-links\n" + material.encode()).digest())

    def sign(self, recording_id: str, kind: str, piece: int, expires_at: int) -> str:
        message = f"{recording_id}\n{kind}\n{piece}\n{expires_at}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def valid(self, recording_id: str, kind: str, piece: int, expires_at: int, signature: str,
              now: float | None = None) -> bool:
        if expires_at < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self.sign(recording_id, kind, piece, expires_at), signature)
