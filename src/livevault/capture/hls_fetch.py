"""Fetching one HLS segment: retries with backoff while it is in the window, AES-128, cached EXT-X-MAP sections.

A fetch never stalls the capture: a segment that keeps failing (at most `segment_retries` retries) or
leaves the window comes back as a failed `Fetched`, which the writer records as a gap. Only a full
disk is raised. Bodies larger than `body.SPILL_BYTES` go to a temporary file in `spill_dir`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.capture.crypto import KeyCache, decrypt_aes128, sequence_iv
from livevault.capture.http import Body, http_status
from livevault.errors import DecryptionFailed, DiskFull, LivevaultError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from livevault.capture.base import CaptureOptions
    from livevault.capture.http import HttpClient
    from livevault.capture.m3u8 import InitSection, Key, Segment

log = logging.getLogger(__name__)

_BACKOFF_START = 0.25
_INITS_KEPT = 4


@dataclass(slots=True)
class Fetched:
    """The result of fetching one segment: its (decrypted) body and init section, or why it failed."""

    body: Body | None = None
    init: bytes | None = None
    error: LivevaultError | None = None
    expired: bool = False
    started: float = 0.0


def check_supported(seg: Segment) -> None:
    """Refuse segments livevault cannot decrypt (SAMPLE-AES, DRM key formats).

    Raises:
        DecryptionFailed: the segment uses anything but clear or identity AES-128.
    """
    if seg.key is not None and (seg.key.method != "AES-128" or seg.key.keyformat.lower() != "identity"):
        raise DecryptionFailed(
            f"the stream uses {seg.key.method} encryption ({seg.key.keyformat}); livevault records "
            "clear and AES-128 HLS only", details={"method": seg.key.method})


class SegmentFetcher:
    """Fetches and decrypts segments of one capture; keys and init sections are fetched once and shared."""

    def __init__(self, client: HttpClient, options: CaptureOptions, spill_dir: Path) -> None:
        self._client = client
        self._options = options
        self._spill_dir = spill_dir
        self._keys = KeyCache(client.get_bytes)
        self._inits: dict[tuple[str, object], bytes] = {}
        self._init_lock = asyncio.Lock()

    async def fetch(self, seg: Segment, in_window: Callable[[], bool], target: Callable[[], float]) -> Fetched:
        """Fetch one segment with retries and backoff; failure is a result (a gap), never a stall.

        Args:
            seg: the segment.
            in_window: whether the segment can still be fetched (retries stop once it cannot).
            target: the current target duration, which bounds timeouts and backoff.
        """
        started, delay, attempt = time.time(), _BACKOFF_START, 0
        while True:
            attempt += 1
            try:
                return await self._fetch_once(seg, started, self._options.http_timeout + 3 * target())
            except DiskFull:
                raise
            except LivevaultError as exc:
                error = exc
            except Exception as exc:
                log.exception("unexpected failure fetching segment %d", seg.sequence)
                error = LivevaultError(f"internal error: {type(exc).__name__}: {exc}")
            if isinstance(error, DecryptionFailed) and seg.key is not None and seg.key.uri:
                self._keys.forget(seg.key.uri)
            still_there = in_window()
            if attempt > self._options.segment_retries or not still_there:
                status = http_status(error)
                log.warning("HLS segment %d lost: %s", seg.sequence, error.message)
                expired = not still_there and status is not None and 400 <= status < 500
                return Fetched(error=error, expired=expired, started=started)
            await asyncio.sleep(min(delay, target()))
            delay *= 2

    async def _fetch_once(self, seg: Segment, started: float, total: float) -> Fetched:
        init = await self._init_bytes(seg.init) if seg.init is not None else None
        byte_range = (seg.byterange.offset, seg.byterange.length) if seg.byterange is not None else None
        try:
            if seg.key is None:
                body = await self._client.get_body(seg.uri, byte_range=byte_range, total=total,
                                                   spill_dir=self._spill_dir)
            else:
                data = await self._client.get_bytes(seg.uri, byte_range=byte_range, total=total)
                data = await self._decrypt(seg.key, data, seg.sequence)
                body = Body.of(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull("no space left for a temporary segment file") from exc
            raise
        return Fetched(body=body, init=init, started=started)

    async def _decrypt(self, key: Key, data: bytes, sequence: int) -> bytes:
        if key.method != "AES-128" or not key.uri:
            raise DecryptionFailed(f"cannot decrypt {key.method} without a key URI")
        secret = await self._keys.get(key.uri)
        return decrypt_aes128(data, secret, key.iv or sequence_iv(sequence))

    async def _init_bytes(self, init: InitSection) -> bytes:
        """The EXT-X-MAP section, fetched once per (URI, byte range)."""
        ident = (init.uri, init.byterange)
        async with self._init_lock:
            cached = self._inits.get(ident)
            if cached is None:
                byte_range = (init.byterange.offset, init.byterange.length) if init.byterange else None
                cached = await self._client.get_bytes(init.uri, byte_range=byte_range)
                if init.key is not None:
                    cached = await self._decrypt(init.key, cached, 0)
                self._inits = {**dict(list(self._inits.items())[-(_INITS_KEPT - 1):]), ident: cached}
        return cached
