"""The web pages in headless Chromium against the real app and the live test stream server."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from livevault.testsrc import StreamServer
from tests.conftest import API_KEY
from tests.web.conftest import READ_ONLY_KEY, LiveServer, new_page, screenshot, sign_in

pytestmark = [pytest.mark.live, pytest.mark.slow]
HEADERS = {"X-API-Key": API_KEY}


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=30)


def record_short(server: LiveServer, stream_server: StreamServer, seconds: int = 3) -> str:
    """A finished recording made through the JSON API (something to delete)."""
    stream = stream_server.stream(f"web-{uuid.uuid4().hex[:8]}", segment_duration=0.5, window=8)
    with api(server) as client:
        created = client.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": seconds})
        assert created.status_code == 202, created.text
        recording_id: str = created.json()["recording_id"]
        deadline = time.monotonic() + 90
        while client.get(f"/recordings/{recording_id}").json()["status"] in ("pending", "recording", "processing"):
            assert time.monotonic() < deadline, "the short recording did not finish"
            time.sleep(0.5)
    return recording_id


def video_state(page: Any, selector: str) -> dict[str, Any]:
    state: dict[str, Any] = page.eval_on_selector(selector, """v => ({
        t: v.currentTime, d: v.duration, error: v.error && v.error.code, paused: v.paused,
        ready: v.readyState, playerError: v.getAttribute('data-player-error')})""")
    return state


def test_watch_record_live_stop_play_pin_delete(context: Any, live_server: LiveServer,
                                                stream_server: StreamServer) -> None:
    other_id = record_short(live_server, stream_server)
    page = new_page(context, live_server)

    # Without a session: the sign-in page; then sign in.
    page.goto("/")
    assert "/ui/signin" in page.url
    screenshot(page, "signin", docs=True)
    sign_in(page)

    # Add a watcher on a stream that goes live 3 s later.
    stream = stream_server.stream(f"web-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=10)
    stream.offline(3.0)
    url = stream.playlist_url("hi")
    page.goto("/ui/watchers")
    page.fill("input[name=target]", url)
    page.fill("input[name=poll_interval]", "1")
    page.click("text=Add watcher")
    page.wait_for_url("**/ui/watchers?notice=watcher-added")

    # It goes live and records: the row changes without a reload.
    page.evaluate("window.__notReloaded = true")
    row = page.locator(f'tr[data-key="{url}"]')
    row.and_(page.locator('[data-state="recording"]')).wait_for(timeout=40_000)
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded"
    screenshot(page, "watchers", docs=True)

    # Watch it live: the <video> plays (currentTime advances), no player error.
    page.locator(f'tr[data-key="{url}"] >> text=Watch live').click()
    page.wait_for_url("**/live")
    recording_id = page.url.rstrip("/").split("/")[-2]
    page.wait_for_selector("#video", timeout=30_000)
    page.wait_for_function("() => { const v = document.getElementById('video'); return v && v.currentTime > 1; }",
                           timeout=45_000)
    first = video_state(page, "#video")
    time.sleep(2.0)
    second = video_state(page, "#video")
    assert second["t"] > first["t"], (first, second)
    assert second["error"] is None, second
    assert second["playerError"] is None, second
    screenshot(page, "live", docs=True)

    # A second viewer keeps the live view open through the stop and the finalize (its parts are removed then):
    # its player stops loading without an error and the page offers the file (any console error fails the test).
    watcher_page = new_page(context, live_server)
    watcher_page.goto(f"/ui/recordings/{recording_id}/live")
    watcher_page.wait_for_function("() => { const v = document.getElementById('video');"
                                   " return v && v.currentTime > 0; }", timeout=45_000)

    # Pause the watcher (so it does not start again), then stop the recording from the live page.
    with api(live_server) as client:
        assert client.patch(f"/watchers/{url}", json={"status": "paused"}).status_code == 200
    page.locator("#live-state button:has-text('Stop')").click()
    page.wait_for_url("**notice=stopped")

    # The detail page shows it finalize without a reload, then plays the file; seek to the middle.
    page.goto(f"/ui/recordings/{recording_id}")
    page.evaluate("window.__notReloaded = true")
    page.wait_for_selector('#player-choice[data-file="yes"]', timeout=90_000)
    assert page.evaluate("window.__notReloaded === true")
    watcher_page.wait_for_selector("#live-player >> text=Play the file", timeout=15_000)
    watcher_page.close()
    page.wait_for_function("() => { const v = document.getElementById('file-video'); return v && v.readyState >= 1"
                           " && v.duration > 0; }", timeout=30_000)
    page.eval_on_selector("#file-video", "v => { v.muted = true; v.currentTime = v.duration / 2; }")
    page.wait_for_function("() => { const v = document.getElementById('file-video'); return !v.seeking"
                           " && v.readyState >= 2; }", timeout=30_000)
    state = video_state(page, "#file-video")
    assert state["error"] is None, state
    assert abs(state["t"] - state["d"] / 2) < max(1.5, state["d"] * 0.1), state
    screenshot(page, "recording", docs=True)

    # "Copy link": a download link that works without signing in.
    page.locator("#detail button:has-text('Copy link')").click()
    page.wait_for_selector("#detail [data-link]")
    link = page.get_attribute("#detail [data-link]", "data-link")
    assert link
    assert page.evaluate("navigator.clipboard.readText()") == link
    with httpx.Client() as anonymous:
        fetched = anonymous.get(link, headers={"Range": "bytes=0-15"})
        assert fetched.status_code == 206, fetched.text
        assert fetched.content[4:8] == b"ftyp"

    # Pin it: retention keeps it from now on.
    page.locator("#detail button:has-text('Pin')").click()
    page.wait_for_url("**notice=pinned")
    assert page.locator("#detail button:has-text('Unpin')").get_attribute("aria-pressed") == "true"

    # Delete the other recording from the list, confirming the dialog.
    page.goto("/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f"#rec-{other_id} button:has-text('Delete')").click()
    page.wait_for_url("**notice=deleted")
    assert page.locator(f"#rec-{other_id}").count() == 0
    with api(live_server) as client:
        assert client.get(f"/recordings/{other_id}").status_code == 404
    screenshot(page, "recordings", docs=True)
    page.goto("/ui/system")
    screenshot(page, "system", docs=True)
    with page.expect_navigation():
        page.click("text=Prometheus metrics")  # the session is enough for /metrics
    assert "http_requests_total" in page.content()
    assert not live_server.console_errors, live_server.console_errors


def test_read_only_key_sees_everything_and_changes_nothing(context: Any, live_server: LiveServer,
                                                           stream_server: StreamServer) -> None:
    recording_id = record_short(live_server, stream_server, seconds=2)
    page = new_page(context, live_server)
    sign_in(page, READ_ONLY_KEY)
    assert page.locator("#readonly-note").is_visible()
    row = page.locator(f"#rec-{recording_id}")
    delete = row.locator("button:has-text('Delete')")
    assert delete.is_disabled()
    assert delete.get_attribute("aria-describedby") == "readonly-note"
    page.goto("/ui/watchers")
    assert page.locator("button:has-text('Add watcher')").is_disabled()
    screenshot(page, "watchers-read-only")

    # The server refuses too: enable the controls by hand and submit.
    page.goto("/")
    page.eval_on_selector(f"#rec-{recording_id} button.danger", "b => { b.disabled = false; }")
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator(f"#rec-{recording_id} button.danger").click()
    assert "FORBIDDEN" in page.content()
    page.goto("/ui/watchers")
    page.evaluate("document.querySelectorAll('#add-watcher [disabled]').forEach(e => e.disabled = false)")
    page.fill("input[name=target]", "@someone")
    with page.expect_navigation():
        page.click("text=Add watcher")
    assert "FORBIDDEN" in page.content()
    with api(live_server) as client:
        assert client.get(f"/recordings/{recording_id}").status_code == 200
        assert client.get("/watchers").json()["total"] == 0
    live_server.console_errors.clear()  # the refused posts answer 403 (Chromium logs them); that is the point


PAGES = ["/", "/ui/watchers", "/ui/system", "/ui/recordings/none", "/ui/recordings/none/live"]


def test_without_a_session_every_page_redirects_to_sign_in(context: Any, live_server: LiveServer) -> None:
    page = new_page(context, live_server)
    for path in PAGES:
        page.goto(path)
        assert "/ui/signin?next=" in page.url, (path, page.url)
    with httpx.Client(base_url=live_server.base_url) as client:
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/ui/signin"), path
        assert client.get("/recordings").status_code == 401  # the JSON API keeps X-API-Key


def test_a_cross_site_form_post_is_refused(context: Any, live_server: LiveServer,
                                           stream_server: StreamServer) -> None:
    recording_id = record_short(live_server, stream_server, seconds=2)
    page = new_page(context, live_server)
    sign_in(page)
    target = f"{live_server.base_url}/ui/recordings/{recording_id}/delete"
    evil = f"""<!doctype html><title>evil</title><form id=f method=post action="{target}">
        <input name=csrf value=guess></form><script>document.getElementById('f').submit()</script>"""
    page.route("http://evil.test/**", lambda route: route.fulfill(status=200, content_type="text/html", body=evil))
    with page.expect_navigation(url=target):
        page.goto("http://evil.test/")
    with api(live_server) as client:
        assert client.get(f"/recordings/{recording_id}").status_code == 200

    # The same post with the victim's cookie but from another origin, or without the token: 403.
    cookie = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=live_server.base_url, cookies=cookie) as client:
        foreign = client.post(f"/ui/recordings/{recording_id}/delete", data={"csrf": "guess"},
                              headers={"Origin": "http://evil.test"})
        assert foreign.status_code == 403
        assert "CROSS_SITE_REQUEST" in foreign.text
        no_token = client.post(f"/ui/recordings/{recording_id}/delete", data={},
                               headers={"Origin": live_server.base_url})
        assert no_token.status_code == 403
        assert "CROSS_SITE_REQUEST" in no_token.text
    with api(live_server) as client:
        assert client.get(f"/recordings/{recording_id}").status_code == 200
    live_server.console_errors.clear()  # the refused post's 401 is logged by Chromium; that is the point


def test_docs_render_offline(context: Any, live_server: LiveServer) -> None:
    blocked: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = new_page(context, live_server)
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    screenshot(page, "docs")
    page.goto("/redoc")
    page.wait_for_selector("[data-section-id^='tag/recordings']", timeout=30_000)
    screenshot(page, "redoc")
    assert not blocked, blocked
    assert not live_server.console_errors, live_server.console_errors


@pytest.mark.parametrize("variant", ["fmp4/index.m3u8", "stream.ts"])
def test_live_view_plays_fragmented_mp4_and_progressive_ts(context: Any, live_server: LiveServer,
                                                          stream_server: StreamServer, variant: str) -> None:
    stream = stream_server.stream(f"web-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=10)
    with api(live_server) as client:
        created = client.post("/recordings", json={"url": stream.url(variant), "duration": 60})
        assert created.status_code == 202, created.text
        recording_id = created.json()["recording_id"]
    page = new_page(context, live_server)
    sign_in(page)
    page.goto(f"/ui/recordings/{recording_id}/live")
    page.wait_for_selector("#video", timeout=30_000)
    page.wait_for_function("() => { const v = document.getElementById('video'); return v && v.currentTime > 1; }",
                           timeout=45_000)
    first = video_state(page, "#video")
    time.sleep(2.0)
    second = video_state(page, "#video")
    assert second["t"] > first["t"], (first, second)
    assert second["error"] is None, second
    assert second["playerError"] is None, second
    with api(live_server) as client:
        client.post(f"/recordings/{recording_id}/stop")
    assert not live_server.console_errors, live_server.console_errors


def test_keyboard_only_sign_in_and_navigation(context: Any, live_server: LiveServer) -> None:
    page = new_page(context, live_server)
    page.goto("/ui/signin")
    assert page.evaluate("document.activeElement.id") == "api_key"  # the key field has the focus
    page.keyboard.type(API_KEY)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"  # "Skip to content" comes first
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Watchers":
            break
    else:
        raise AssertionError("the Watchers link is not reachable with Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/ui/watchers")
    assert not live_server.console_errors, live_server.console_errors
