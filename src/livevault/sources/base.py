"""The Resolver protocol: what every source module provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from livevault.domain.stream import LiveStatus


@dataclass(frozen=True, slots=True)
class ResolveRequest:
    """What the user asked to record, already validated for syntax."""

    target: str
    quality: str = "best"
    proxy: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


class Resolver(Protocol):
    name: ClassVar[str]

    def matches(self, target: str) -> bool:
        """Whether this source handles `target` (a URL, room id or user name) when routing automatically.

        A source may also define `accepts(target)`: what it takes when the user names it explicitly
        (`"source": "ytdlp"`), which can be more than it claims in automatic routing.
        """
        ...

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        """Find out whether the target is live and, if so, which media to pull.

        Returns:
            LiveStatus: `live` with a StreamInfo, `offline`, or `error` with a code.

        Raises:
            LivevaultError: only for invalid input; network trouble is reported in the status.
        """
        ...


@runtime_checkable
class BatchResolver(Protocol):
    """A source that can check many targets in one request (TikTok's `check_alive`), for watchers."""

    async def check_many(self, requests: Sequence[ResolveRequest]) -> list[LiveStatus]:
        """Live / offline / error for each request, in order. `live` results may carry no StreamInfo:
        the caller resolves the live ones with `resolve()` before recording."""
        ...
