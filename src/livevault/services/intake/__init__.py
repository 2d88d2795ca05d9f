"""Intake: what a person asked to record or watch — a URL, a room id or an `@user`, maybe with a forced source —
turned into a source kind and a checked target. Shared by the JSON API and the web pages, so both accept exactly
the same things (URLs pass the one validation function; a forced source must accept the target)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livevault.errors import UnsupportedSource

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.services.webhooks import PushService
    from livevault.sources.registry import SourceRegistry

__all__ = ["TargetResolver"]


class TargetResolver:
    def __init__(self, sources: SourceRegistry, validate_url: Callable[[str], str], push: PushService | None = None,
                 ) -> None:
        self._sources = sources
        self._validate_url = validate_url
        self._push = push

    def resolve(
        self, *, url: str | None, room_id: str | None, user: str | None, source: str | None,
        stream_key: str | None = None,
    ) -> tuple[str, str]:
        """(source kind, target). Blocking: validating a URL may resolve its host name. A `stream_key` is a
        stream your own server pushes (its HLS origin or its bucket, LIVEVAULT_PUSH_SOURCE)."""
        if url:
            target = self._validate_url(url)
        elif stream_key and not room_id and not user and self._push is not None:
            target = self._push.target(stream_key)
            source = source or self._push.source_kind
        elif room_id:
            target = room_id
        else:
            target = "@" + (user or "").lstrip("@")
        if source:
            resolver = self._sources.get(source)
            accepts = getattr(resolver, "accepts", resolver.matches)  # a named source may take more than it routes
            if not accepts(target):
                raise UnsupportedSource(f"the {source} source cannot record this target",
                                        details={"source": source, "target": target[:200]})
            return resolver.name, target
        if url:
            return self._sources.match(target).name, target
        return self._sources.get("tiktok").name, target
