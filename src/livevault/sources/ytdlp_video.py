"""The `yt-dlp` download strategy for one finished VIDEO (not a live stream), seed 003's default.

yt-dlp (the library, in a worker thread) only extracts: the media URL of a single-file format, the headers and
cookies it needs, and title / uploader / duration. livevault then streams the bytes itself, on the same path
as the resolver strategy (`http_api.media_chunks`), so size caps, URL checks and temp files work the same.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import time
from typing import Any, ClassVar

from livevault.errors import DownloadFailed, InvalidUrl, LivevaultError, NetworkTimeout, UnsupportedFormat
from livevault.sources.http_api import ResolvedVideo

log = logging.getLogger(__name__)

STRATEGY = "yt-dlp"
# One file holding both audio and video, fetched over plain HTTP(S); separate streams would need a merge.
FORMAT = "b[protocol^=http]/b"
_INFO_KEYS = ("id", "title", "uploader", "uploader_id", "channel", "duration", "webpage_url", "extractor", "ext",
              "width", "height", "timestamp", "view_count", "like_count")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Logger:
    """yt-dlp's messages go to our logger, never to stdout."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)


class YtDlpVideo:
    """Resolve a video page with yt-dlp's extractors; `timeout` bounds the whole extraction."""

    name: ClassVar[str] = STRATEGY

    def __init__(self, *, timeout: float = 180.0, user_agent: str | None = None, proxy: str | None = None) -> None:
        self._timeout = timeout
        self._user_agent = user_agent
        self._proxy = proxy

    async def resolve(self, url: str) -> ResolvedVideo:
        """The media URL and facts of the video at `url`.

        Raises:
            InvalidUrl: no extractor knows the URL.
            UnsupportedFormat: the video exists only as separate audio/video or as a non-HTTP stream.
            NetworkTimeout | DownloadFailed: extraction timed out or failed.
        """
        started = time.monotonic()
        try:
            video = await asyncio.wait_for(asyncio.to_thread(self._extract, url), timeout=self._timeout)
        except TimeoutError as exc:
            raise NetworkTimeout(f"yt-dlp did not finish extracting within {self._timeout:g} s") from exc
        return ResolvedVideo(**{**video, "execution_time": round(time.monotonic() - started, 3)})

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": True, "skip_download": True,
            "cachedir": False, "format": FORMAT, "logger": _Logger(),
            "socket_timeout": min(self._timeout, 30.0),
        }
        if self._user_agent:
            options["http_headers"] = {"User-Agent": self._user_agent}
        if self._proxy:
            options["proxy"] = self._proxy
        return options

    def _extract(self, url: str) -> dict[str, Any]:
        yt_dlp: Any = importlib.import_module("yt_dlp")
        with yt_dlp.YoutubeDL(self._options()) as ydl:
            try:
                info = ydl.sanitize_info(ydl.extract_info(url, download=False))
            except yt_dlp.utils.DownloadError as exc:
                raise map_ytdlp_error(str(exc)) from exc
            if not isinstance(info, dict):
                raise DownloadFailed("yt-dlp returned nothing for this URL")
            fmt = _chosen_format(info)
            headers = {str(k): str(v) for k, v in (fmt.get("http_headers") or {}).items()}
            cookie = ydl.cookiejar.get_cookie_header(fmt["url"])
            if cookie:
                headers["Cookie"] = cookie
        return _video_fields(info, fmt, headers)


def _chosen_format(info: dict[str, Any]) -> dict[str, Any]:
    if info.get("requested_formats"):
        raise UnsupportedFormat("this video has separate audio and video streams; livevault downloads single files")
    fmt: dict[str, Any] = info
    if not fmt.get("url"):
        raise DownloadFailed("yt-dlp found no media URL for this video")
    protocol = str(fmt.get("protocol") or "https")
    if not protocol.startswith("http"):
        raise UnsupportedFormat(f"the video is only available over {protocol}", details={"protocol": protocol})
    return fmt


def _video_fields(info: dict[str, Any], fmt: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    duration = info.get("duration")
    size = fmt.get("filesize")
    author = info.get("uploader") or info.get("creator") or info.get("channel") or info.get("uploader_id")
    return {
        "media_url": str(fmt["url"]),
        "headers": headers,
        "video_id": str(info["id"]) if info.get("id") is not None else None,
        "title": str(info["title"]) if info.get("title") else None,
        "author": str(author) if author else None,
        "duration": float(duration) if isinstance(duration, int | float) and duration > 0 else None,
        "file_size": int(size) if isinstance(size, int) and size > 0 else None,
        "ext": str(fmt.get("ext") or "mp4"),
        "video_info": {key: info[key] for key in _INFO_KEYS if info.get(key) is not None},
    }


def map_ytdlp_error(message: str) -> LivevaultError:
    """A yt-dlp `DownloadError` as a livevault error; its text becomes the message."""
    text = _ANSI.sub("", message).removeprefix("ERROR: ").strip()[:500]
    lowered = text.lower()
    if "unsupported url" in lowered:
        return InvalidUrl(f"yt-dlp cannot download this URL: {text}")
    if "timed out" in lowered:
        return NetworkTimeout(f"yt-dlp: {text}")
    return DownloadFailed(f"yt-dlp: {text}")
