"""LIVEVAULT_EVENT_LOOP: serve, worker and record run on uvloop where it is installed, else on asyncio's loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from livevault.bootstrap import event_loop_name, new_event_loop, run_async
from tests.conftest import make_settings


@pytest.mark.parametrize(("choice", "name", "kind"), [
    ("auto", "uvloop", uvloop.Loop),
    ("uvloop", "uvloop", uvloop.Loop),
    ("asyncio", "asyncio", asyncio.BaseEventLoop),
])
def test_the_configured_loop_is_used(tmp_path: Path, choice: str, name: str, kind: type) -> None:
    settings = make_settings(tmp_path, event_loop=choice)
    assert event_loop_name(settings) == name
    loop = new_event_loop(settings)
    try:
        assert isinstance(loop, kind)
        if choice == "asyncio":
            assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_async(settings, which()).startswith("uvloop" if name == "uvloop" else "asyncio")


def test_the_environment_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEVAULT_EVENT_LOOP", "asyncio")
    from livevault.config import Settings

    assert Settings(data_dir=tmp_path).event_loop == "asyncio"
    monkeypatch.setenv("LIVEVAULT_VERIFY", "full")
    assert Settings(data_dir=tmp_path).verify == "full"
    monkeypatch.setenv("LIVEVAULT_VERIFY", "partly")
    with pytest.raises(ValueError, match="LIVEVAULT_VERIFY"):
        Settings(data_dir=tmp_path)
