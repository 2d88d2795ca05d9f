"""When finalize cannot make an MP4, the recording fails with a clear code and its parts stay downloadable."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import wait_finished

GARBAGE = {f"/seg{n}.ts": b"\x47" + os.urandom(188 * 40 - 1) for n in range(3)}
PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    + "".join(f"#EXTINF:1.0,\nseg{n}.ts\n" for n in range(3))
    + "#EXT-X-ENDLIST\n"
).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PLAYLIST if self.path == "/vod.m3u8" else GARBAGE.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def garbage_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_undecodable_media_fails_clearly_and_keeps_the_parts(api: TestClient, garbage_origin: str) -> None:
    accepted = api.post("/recordings", json={"url": f"{garbage_origin}/vod.m3u8"}).json()
    body = wait_finished(api, accepted["recording_id"], timeout=60)
    assert body["status"] == "failed"
    assert body["error_code"] in {"NOTHING_RECORDED", "REMUX_FAILED", "VERIFY_FAILED"}
    assert body["error_message"]
    assert body["integrity"]["segments_captured"] == 3

    job = api.get(f"/jobs/{accepted['task_id']}").json()
    assert job["status"] == "FAILURE"
    assert job["error_code"] == body["error_code"]
    assert job["result"]["returncode"] == 1
    assert job["result"]["parts"] == ["part-0001.ts"]

    parts = api.get(f"/recordings/{accepted['recording_id']}/parts").json()["parts"]
    assert [p["name"] for p in parts] == ["part-0001.ts"]
    downloaded = api.get(parts[0]["download_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == b"".join(GARBAGE[f"/seg{n}.ts"] for n in range(3))
    assert api.get(f"/recordings/{accepted['recording_id']}/download").status_code == 404

    assert api.delete(f"/recordings/{accepted['recording_id']}").status_code == 204
    assert api.get(f"/recordings/{accepted['recording_id']}/parts").status_code == 404
