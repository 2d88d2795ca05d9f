"""The server's shared state: named streams, the media cache, and each stream's encode-ahead task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from typing import TYPE_CHECKING

from aiohttp import web

from livevault.testsrc.config import VARIANTS, StreamConfig
from livevault.testsrc.package import Packager
from livevault.testsrc.stream import LiveStream

if TYPE_CHECKING:
    from livevault.testsrc.cache import MediaCache

_NAMES = itertools.count(1)


class Hub:
    """Streams by name, created on first use with the server's default settings."""

    def __init__(self, cache: MediaCache, defaults: StreamConfig) -> None:
        self.cache = cache
        self.packager = Packager(cache)
        self.defaults = defaults
        self.base_url = ""
        self.closing = False
        self.streams: dict[str, LiveStream] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._producers: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop, base_url: str) -> None:
        self._loop = loop
        self.base_url = base_url
        for stream in self.streams.values():
            stream.base_url = base_url
            stream.attach(loop)
            loop.call_soon_threadsafe(self._start_producer, stream)

    def stream(self, name: str | None = None, config: StreamConfig | None = None) -> LiveStream:
        """The stream called ``name`` (a fresh name if None); ``config`` only applies when creating it."""
        with self._lock:
            if name is None:
                name = f"s{next(_NAMES)}"
                while name in self.streams:
                    name = f"s{next(_NAMES)}"
            existing = self.streams.get(name)
            if existing is not None:
                if config is not None and config != existing.config:
                    raise ValueError(f"stream {name!r} already exists with other settings")
                return existing
            stream = LiveStream(name, config or self.defaults, self.base_url)
            self.streams[name] = stream
            loop = self._loop
        if loop is not None:
            stream.attach(loop)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._start_producer, stream)
        return stream

    def existing(self, name: str) -> LiveStream:
        stream = self.streams.get(name)
        if stream is None:
            raise web.HTTPNotFound(text="no such stream")
        return stream

    def _start_producer(self, stream: LiveStream) -> None:
        if self.closing:
            return
        task = asyncio.get_running_loop().create_task(self._produce(stream), name=f"testsrc-produce-{stream.name}")
        self._producers.add(task)
        task.add_done_callback(self._producers.discard)

    async def _produce(self, stream: LiveStream) -> None:
        """Keep the segment being recorded and the next one encoded and muxed before anyone asks."""
        config = stream.config
        while not self.closing:
            now = time.monotonic()
            current = stream.count(now)
            final = stream.final_count()
            if final is not None and current >= final:
                return
            for index in (current, current + 1):
                if final is not None and index >= final:
                    continue
                info = stream.info(index)
                for variant in VARIANTS:
                    rendition = stream.rendition(variant, info.epoch)
                    self.cache.prefetch(self.packager.ts(rendition, info.timing, config.pad_bytes(variant)))
            await stream.changed(stream.available_at(current) - now + 0.005)

    async def close(self) -> None:
        self.closing = True
        for stream in list(self.streams.values()):
            stream.wake()
        for task in list(self._producers):
            task.cancel()
        await asyncio.gather(*self._producers, return_exceptions=True)
