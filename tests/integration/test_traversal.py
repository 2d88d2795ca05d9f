"""Traversal and injection: hostile output templates, titles, ids, file names, proxies and cookies options are
refused or neutralized; nothing outside the data directory is written or read (a canary file proves it);
no external program gets an option from a user string."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.capture.base import CaptureOptions
from livevault.capture.command import RecorderConfig, fill_template, parse_template, tlr_argv
from livevault.capture.ffmpeg import FfmpegCapture
from livevault.domain.stream import StreamFormat, StreamInfo
from livevault.domain.templates import render_output_path
from livevault.errors import LivevaultError
from livevault.net.guard import UrlGuard
from tests.conftest import HEADERS, make_settings

CANARY_TEXT = b"canary: must never be read through the API nor changed\n"

TEMPLATES = [
    "../../canary.txt", "../canary", "/etc/passwd", "/tmp/x.mp4", "{room_id}/../../../canary.txt",
    "a/../../b.mp4", "./../x.mp4", "..", ".", "a/./b.mp4", "..\\..\\canary.txt", "a\\b.mp4", "x\x00.mp4",
    "{room_id!r}.mp4", "{room_id:>500}.mp4", "{__class__}.mp4", "{room_id.__class__}.mp4", "{0}.mp4", "{}.mp4",
    "{room_id[0]}.mp4", "{unknown}.mp4", "{", "}", "a" * 600, "",
    "%2e%2e/%2e%2e/canary.txt", "..%2F..%2Fcanary.txt", "\u2025/\u2025/canary.txt", "\uff0e\uff0e/canary.txt",
    "{title}/../../canary.txt", "//etc/passwd", "~/x.mp4", "$(id).mp4", "`id`.mp4", "a;rm -rf ~.mp4",
    "-rf.mp4", "--output=/etc/x.mp4", "a\nb.mp4", "a\rb.mp4", "con/aux.mp4",
]

TITLES = ["../../../canary", "..", "/etc/passwd", "a/../../b", "..\\..\\x", "\x00", "\n\r", "-rf --all",
          "$(reboot)", "`id`", "%2e%2e%2f", "\u202e4pm.exe", "\uff0e\uff0e\uff0f\uff0e\uff0e", "con", "~root"]

IDS = ["../../canary.txt", "..%2f..%2fcanary.txt", "%2e%2e%2f%2e%2e%2fcanary.txt", "..\\..\\canary.txt",
       "....//....//canary.txt", "%252e%252e%252fcanary.txt", "/etc/passwd", "%00", "..;/canary.txt",
       "00000000-0000-0000-0000-000000000000/../../canary.txt"]

COOKIES = ["../canary.txt", "../../canary.txt", "/etc/passwd", "....//canary.txt", "%2e%2e/canary.txt",
           "link-out", "-cookies", "--load-cookies=/etc/passwd", "a\x00b", "dir/../../canary.txt",
           "\u2025/canary.txt", "~/.ssh/id_rsa", "a\nb"]

PROXIES = ["http://x:1 -i file:///etc/passwd", "http://x:1\r\nHost: evil", "-http_proxy", "--proxy=http://x:1",
           "file:///etc/passwd", "gopher://x:70/", "http://", "http://:80", "http://x:99999",
           "http://x:1/path?q=1", "http://x:1/#frag", "http://x y:1", "ftp://x:21", "javascript:alert(1)",
           "http://127.0.0.1:6379", "http://[::1]:6379", "http://169.254.169.254"]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """An API whose data dir is tmp/data; a canary next to it and a secrets dir with a link pointing out."""
    (tmp_path / "canary.txt").write_bytes(CANARY_TEXT)
    secrets = tmp_path / "data" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "cookies.txt").write_text("# Netscape HTTP Cookie File\n")
    (secrets / "link-out").symlink_to(tmp_path / "canary.txt")
    settings = make_settings(tmp_path / "data", secrets_dir=secrets, allow_private_sources=False)
    with TestClient(create_app(settings, guard=UrlGuard(allow_private=False))) as client:
        client.headers.update(HEADERS)
        yield client, tmp_path


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in root.rglob("*"):
        if path.is_file() and skip not in path.parents:
            files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _assert_untouched(client: TestClient, tmp: Path, before: dict[str, str], responses: list[bytes]) -> None:
    assert (tmp / "canary.txt").read_bytes() == CANARY_TEXT
    assert _snapshot(tmp, tmp / "data") == before, "something was written outside the data directory"
    for body in responses:
        assert b"canary: must never" not in body
        assert b"root:x:0:0" not in body


@pytest.mark.parametrize("template", TEMPLATES)
def test_hostile_output_templates_are_refused_or_stay_inside(sandbox: tuple[TestClient, Path], template: str) -> None:
    client, tmp = sandbox
    before = _snapshot(tmp, tmp / "data")
    response = client.post("/recordings", json={"url": "http://public.invalid/x.m3u8", "output_template": template})
    assert response.status_code in {400, 422}, response.text
    try:
        path = render_output_path(template, room_id="1", source="s", recording_id="r",
                                  started_at=datetime(2026, 1, 1, tzinfo=UTC), title="t")
    except LivevaultError:
        path = None
    if path is not None:
        assert not path.is_absolute()
        assert ".." not in path.parts
        assert all(part and "\\" not in part and "\x00" not in part for part in path.parts)
    _assert_untouched(client, tmp, before, [response.content])


@pytest.mark.parametrize("title", TITLES)
def test_hostile_titles_become_one_safe_component(title: str) -> None:
    for template in ("{title}.mp4", "{room_id}/{title}/{author}.mp4"):
        path = render_output_path(template, room_id=title, source=title, recording_id="r",
                                  started_at=datetime(2026, 1, 1, tzinfo=UTC), title=title, author=title)
        assert isinstance(path, PurePosixPath)
        assert not path.is_absolute()
        assert ".." not in path.parts
        assert len(path.parts) == template.count("/") + 1
        assert all(not part.startswith(("-", ".")) for part in path.parts)


@pytest.mark.parametrize("rid", IDS)
def test_traversal_in_recording_ids_reads_nothing(sandbox: tuple[TestClient, Path], rid: str) -> None:
    client, tmp = sandbox
    before = _snapshot(tmp, tmp / "data")
    bodies = []
    for suffix in ("", "/download", "/thumbnail", "/parts", "/parts/0", "/ledger"):
        response = client.get(f"/recordings/{rid}{suffix}")
        assert response.status_code in {404, 422, 400}, (rid, suffix, response.status_code)
        bodies.append(response.content)
    for path in (f"/recording/{rid}", f"/watchers/{rid}", f"/downloads/{rid}", f"/jobs/{rid}"):
        response = client.get(path)
        assert response.status_code in {404, 422, 400}, (path, response.status_code)
        bodies.append(response.content)
    _assert_untouched(client, tmp, before, bodies)


@pytest.mark.parametrize("cookies", COOKIES)
def test_cookies_options_outside_the_secrets_dir_are_refused(sandbox: tuple[TestClient, Path], cookies: str) -> None:
    client, tmp = sandbox
    before = _snapshot(tmp, tmp / "data")
    bodies = []
    for path, body in (("/recordings", {"url": "http://public.invalid/x.m3u8", "options": {"cookies": cookies}}),
                       ("/watchers", {"room_id": "123", "options": {"cookies": cookies}})):
        response = client.post(path, json=body)
        assert response.status_code in {400, 422}, (path, response.text)
        bodies.append(response.content)
    _assert_untouched(client, tmp, before, bodies)


@pytest.mark.parametrize("proxy", PROXIES)
def test_hostile_proxy_options_are_refused(sandbox: tuple[TestClient, Path], proxy: str) -> None:
    client, tmp = sandbox
    before = _snapshot(tmp, tmp / "data")
    bodies = []
    for path, body in (("/recordings", {"url": "http://public.invalid/x.m3u8", "options": {"proxy": proxy}}),
                       ("/watchers", {"room_id": "123", "options": {"proxy": proxy}})):
        response = client.post(path, json=body)
        assert response.status_code in {400, 422}, (path, proxy, response.text)
        bodies.append(response.content)
    _assert_untouched(client, tmp, before, bodies)


OPTIONS = CaptureOptions()
HOSTILE_VALUES = ["-i", "-f", "--help", "-y /etc/passwd", "-filter_complex", "file:///etc/passwd",
                  "concat:/etc/passwd", "subfile:/etc/passwd", "-rf", "--output=/etc/x"]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_no_external_program_gets_an_option_from_a_user_string(tmp_path: Path, value: str) -> None:
    # ffmpeg: a hostile input URL is refused; headers and user agent never become separate arguments
    with pytest.raises(LivevaultError):
        FfmpegCapture(OPTIONS).command("ffmpeg", StreamInfo(url=value, format=StreamFormat.HLS))
    argv = FfmpegCapture(OPTIONS).command("ffmpeg", StreamInfo(
        url="https://cdn.example.com/live.m3u8", format=StreamFormat.HLS, headers={"User-Agent": value}))
    assert argv[argv.index("-user_agent") + 1] == value, "a value stays the value of its own flag"
    # the external recorder: a hostile user name / room id is never passed; template values are checked
    config = RecorderConfig(tlr_root=tmp_path, check_url=UrlGuard().check_url, check_proxy=UrlGuard().check_proxy)
    with pytest.raises(LivevaultError):
        tlr_argv(config, StreamInfo(url="https://x", format=StreamFormat.FLV, extra={"user": value}), tmp_path, None)
    with pytest.raises(LivevaultError):
        tlr_argv(config, StreamInfo(url="https://x", format=StreamFormat.FLV, extra={"room_id": value}), tmp_path,
                 None)
    with pytest.raises(LivevaultError):
        fill_template(parse_template('["rec", "{url}"]'), {"url": config.check_url(value)})
    with pytest.raises(LivevaultError):
        fill_template(parse_template('["rec", "--proxy", "{proxy}"]'), {"proxy": config.check_proxy(value)})
