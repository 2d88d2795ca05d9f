"""Which source handles a target: the first registered resolver whose matcher accepts it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livevault.errors import UnsupportedSource

if TYPE_CHECKING:
    from livevault.sources.base import Resolver


class SourceRegistry:
    def __init__(self, resolvers: list[Resolver]) -> None:
        self._resolvers = list(resolvers)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self._resolvers]

    def get(self, name: str) -> Resolver:
        for resolver in self._resolvers:
            if resolver.name == name:
                return resolver
        raise UnsupportedSource(f"no source named {name!r}", details={"available": self.names})

    def match(self, target: str) -> Resolver:
        for resolver in self._resolvers:
            if resolver.matches(target):
                return resolver
        raise UnsupportedSource(
            "no source can record this target", details={"target": target[:200], "available": self.names}
        )
