"""Which sources exist, in match order. Adding a source = one module here + its tests.

Each listed module defines `create(settings, http) -> Resolver`. The contract test
(`tests/contract/test_sources.py`) fails when a listed module, its matcher tests or its resolve
tests are missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from livevault.sources.registry import SourceRegistry

if TYPE_CHECKING:
    import aiohttp

    from livevault.config import Settings
    from livevault.sources.base import Resolver

# Match order matters: specific platforms before the generic URL source, which takes any http(s) URL.
SOURCE_MODULES: tuple[str, ...] = ("tiktok", "push", "bucket", "ytdlp", "streamlink", "direct")


def create_resolvers(settings: Settings, http: aiohttp.ClientSession) -> list[Resolver]:
    resolvers: list[Resolver] = []
    for name in SOURCE_MODULES:
        module = importlib.import_module(f"livevault.sources.{name}")
        resolvers.append(module.create(settings, http))
    return resolvers


def build_registry(settings: Settings, http: aiohttp.ClientSession) -> SourceRegistry:
    return SourceRegistry(create_resolvers(settings, http))
