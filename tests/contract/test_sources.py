"""The source contract: every listed source has its module, its matcher tests and its resolve tests.

Adding a source = one module in `sources/` + one line in `sources/catalog.py` + its tests in
`tests/unit/sources/test_<module>*.py`, which must define the lists `should_match` and
`should_not_match` and at least one test whose name mentions `resolve`. This file fails when any of
the three is missing, and runs every listed matcher example against the real resolver.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from livevault.config import Settings
from livevault.sources.catalog import SOURCE_MODULES, create_resolvers

TESTS = Path(__file__).resolve().parents[1] / "unit" / "sources"


def source_test_modules(name: str) -> list[ModuleType]:
    modules = []
    for path in sorted(TESTS.glob(f"test_{name}*.py")):
        modules.append(importlib.import_module(f"tests.unit.sources.{path.stem}"))
    return modules




@pytest.fixture
async def resolvers(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path, allow_private_sources=True)  # type: ignore[call-arg]
    async with aiohttp.ClientSession() as http:
        built = create_resolvers(settings, http)
        yield dict(zip(SOURCE_MODULES, built, strict=True))


def test_every_listed_source_has_a_module_with_create() -> None:
    for name in SOURCE_MODULES:
        module = importlib.import_module(f"livevault.sources.{name}")
        assert callable(getattr(module, "create", None)), f"livevault.sources.{name} lacks create(settings, http)"


async def test_every_listed_source_is_registered(resolvers: dict[str, Any]) -> None:
    assert list(resolvers) == list(SOURCE_MODULES)
    names = [r.name for r in resolvers.values()]
    assert len(set(names)) == len(names), f"duplicate source names: {names}"


@pytest.mark.parametrize("name", SOURCE_MODULES)
def test_every_source_has_matcher_and_resolve_tests(name: str) -> None:
    modules = source_test_modules(name)
    assert modules, f"no tests/unit/sources/test_{name}*.py"
    should_match = [x for m in modules for x in getattr(m, "should_match", [])]
    should_not_match = [x for m in modules for x in getattr(m, "should_not_match", [])]
    assert should_match, f"source {name}: no `should_match` examples"
    assert should_not_match, f"source {name}: no `should_not_match` examples"
    resolve_tests = [attr for m in modules for attr in dir(m) if attr.startswith("test_") and "resolve" in attr]
    assert resolve_tests, f"source {name}: no test whose name mentions resolve"


@pytest.mark.parametrize("name", SOURCE_MODULES)
async def test_matcher_examples_hold(name: str, resolvers: dict[str, Any]) -> None:
    resolver = resolvers[name]
    modules = source_test_modules(name)
    for target in (x for m in modules for x in getattr(m, "should_match", [])):
        assert resolver.matches(target), f"{name} should match {target!r}"
    for target in (x for m in modules for x in getattr(m, "should_not_match", [])):
        assert not resolver.matches(target), f"{name} should not match {target!r}"
