"""The bucket poller: recordings for streams that appear in the segments bucket without a webhook.

Every LIVEVAULT_BUCKET_POLL_INTERVAL (MONITOR_INTERVAL) one pass lists the bucket under the playlist layout's
prefix and looks at each stream's playlist object (`{stream_key}/index.m3u8`): a playlist rewritten within
LIVEVAULT_BUCKET_IDLE_GRACE is a live stream. A live stream without an active recording gets one
(`PushService.discovered`, which also refuses a stream whose last recording ended after that rewrite); a
recording whose playlist has not changed for the grace period is stopped gracefully (`PushService.idle`).
The decision uses the store's modification times, so a pass needs no memory of earlier passes and may run in
any process: an asyncio loop in embedded mode, a Celery beat task (`livevault.bucket.poll`) in distributed mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livevault.errors import LivevaultError
from livevault.services.webhooks import WebhookOutcome
from livevault.sources.push import PLACEHOLDER, STREAM_KEY_PATTERN

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.config import Settings
    from livevault.services.webhooks import PushService
    from livevault.storage.base import Store

log = logging.getLogger(__name__)

@dataclass(slots=True)
class PollResult:
    """What one pass saw and did."""

    live: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # recording ids
    stopped: list[str] = field(default_factory=list)  # recording ids


def playlist_pattern(layout: str) -> re.Pattern[str]:
    """A regex matching the playlist keys of `layout`, capturing the stream key."""
    key = STREAM_KEY_PATTERN.removeprefix("^").removesuffix("$")
    before, _, after = layout.partition(PLACEHOLDER)
    return re.compile(f"{re.escape(before)}(?P<key>{key}){re.escape(after)}")


class BucketPoller:
    def __init__(self, settings: Settings, push: PushService, store: Store,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._push = push
        self._store = store
        self._clock = clock
        self._pattern = playlist_pattern(settings.bucket_playlist)
        self._prefix = settings.bucket_playlist.partition(PLACEHOLDER)[0]
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def interval(self) -> float:
        return self._settings.bucket_poll_interval

    def playlists(self) -> dict[str, float]:
        """Stream key -> when its playlist last changed (Unix seconds, the store's clock). Blocking."""
        found: dict[str, float] = {}
        for info in self._store.list(self._prefix):
            match = self._pattern.fullmatch(info.key)
            if match is not None and info.modified is not None:
                found[match["key"]] = info.modified
        return found

    def poll(self) -> PollResult:
        """One pass: start recordings of live streams nobody records, stop those whose stream went idle. Blocking."""
        result = PollResult()
        playlists = self.playlists()
        capturing = self._push.capturing_bucket_keys()
        now = self._clock()
        grace = self._settings.bucket_idle_grace
        for key, modified in sorted(playlists.items()):
            live = now - modified < grace
            try:
                if live:
                    result.live.append(key)
                    if key not in capturing:
                        answer = self._push.discovered(key, modified)
                        if answer.outcome is WebhookOutcome.RECORDING_STARTED and answer.recording_id:
                            result.started.append(answer.recording_id)
                elif key in capturing:
                    answer = self._push.idle(key)
                    if answer.outcome is WebhookOutcome.IDLE and answer.recording_id:
                        result.stopped.append(answer.recording_id)
            except LivevaultError as exc:  # one bad stream never stops the pass
                log.warning("bucket poller: stream %s: %s", key, exc.message,
                            extra={"stream_key": key, "error_code": exc.code})
        return result

    async def run_once(self) -> PollResult:
        """One pass in a thread; passes of this process never overlap."""
        async with self._lock:
            return await asyncio.to_thread(self.poll)

    async def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.create_task(self._loop(), name="bucket-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                result = await self.run_once()
                if result.started or result.stopped:
                    log.info("bucket poller: %d live, started %d, stopped %d", len(result.live),
                             len(result.started), len(result.stopped))
            except LivevaultError as exc:
                log.warning("bucket poller: %s", exc.message, extra={"error_code": exc.code})
            except Exception:
                log.exception("bucket poller pass failed")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
