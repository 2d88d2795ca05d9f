"""What a source resolves to: the media URLs a capture engine pulls."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class StreamFormat(StrEnum):
    HLS = "hls"
    FLV = "flv"
    TS = "ts"


class LiveState(StrEnum):
    LIVE = "live"
    OFFLINE = "offline"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One media URL that a capture engine can record, with what it needs to fetch it."""

    url: str
    format: StreamFormat
    headers: Mapping[str, str] = field(default_factory=dict)
    quality: str = "best"
    title: str | None = None
    author: str | None = None
    proxy: str | None = None
    engine: str | None = None
    """A named capture engine (`ffmpeg`, `command`) instead of the native one for `format`."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Source-specific facts an engine may need (room id, user, the original target)."""


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """The answer of a source's probe: offline is an outcome, not an exception."""

    state: LiveState
    stream: StreamInfo | None = None
    error_code: str | None = None
    error_message: str | None = None
    inferred: bool = False
    """OFFLINE guessed from the media URL failing (HTTP 404/410), not said by the platform itself: a
    recording in progress keeps re-resolving through its reconnect window instead of ending."""
