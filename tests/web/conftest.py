"""Browser tests: the real app under uvicorn on a free port, driven by Debian's Chromium through Playwright.

Chromium missing is a failure, not a skip (`tests/web/ensure_chromium.sh` installs it). Every page's console
errors and uncaught exceptions fail the test. Screenshots go to `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.services.access import AccessService, Principal, Scope
from tests.conftest import API_KEY, make_settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_IMAGES = ROOT / "docs" / "images"
READ_ONLY_KEY = "read-only-key"
CHROMIUM = os.environ.get("LIVEVAULT_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


class AccessWithReadOnlyKey(AccessService):
    """Test-only: `READ_ONLY_KEY` is a read-scope key, the rest as configured."""

    def authenticate(self, key: str | None) -> Principal:
        if key == READ_ONLY_KEY:
            return Principal(name="read-only test key", scope=Scope.READ, rate_key="read-only")
        return super().authenticate(key)


@dataclass
class LiveServer:
    settings: Settings
    base_url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    console_errors: list[str] = field(default_factory=list)

    @property
    def container(self) -> Any:
        return self.app.state.container


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data", watcher_min_interval=1.0, watcher_jitter=0.0, playlist_grace=2.5)
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the server did not start")
        time.sleep(0.05)
    app.state.container.access = AccessWithReadOnlyKey(settings.api_keys)
    try:
        yield LiveServer(settings, f"http://127.0.0.1:{port}", app, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="module")  # Playwright's sync API runs an event loop: end it with this module's tests
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is missing ({CHROMIUM}): run tests/web/ensure_chromium.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        try:
            yield browser
        finally:
            browser.close()


def watch_console(page: Any, errors: list[str]) -> None:
    page.on("console", lambda msg: errors.append(
        f"console {msg.type}: {msg.text} (page {page.url}; from {msg.location.get('url', '?')})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc} ({page.url})"))


@pytest.fixture
def context(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    ctx = browser.new_context(base_url=live_server.base_url, viewport=DESKTOP)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.base_url)
    ctx.set_default_timeout(30_000)  # generous: the machine running the suite may be loaded
    try:
        yield ctx
    finally:
        ctx.close()
    assert not live_server.console_errors, "\n".join(live_server.console_errors)


def new_page(context: Any, live_server: LiveServer) -> Any:
    page = context.new_page()
    watch_console(page, live_server.console_errors)
    return page


def sign_in(page: Any, key: str = API_KEY) -> None:
    page.goto("/ui/signin")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def screenshot(page: Any, name: str, *, docs: bool = False) -> None:
    """`name`-desktop.png and `name`-phone.png under test-artifacts/screenshots; with
    LIVEVAULT_UPDATE_DOC_SCREENSHOTS=1 the desktop one also replaces docs/images/web-`name`.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    if docs and os.environ.get("LIVEVAULT_UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_IMAGES / f"web-{name}.png"))
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size or DESKTOP)
