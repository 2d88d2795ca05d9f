"""The blocking entry point behind `livevault testsrc`, and the URL helper."""

from __future__ import annotations

import socket
import threading

import httpx

from livevault.testsrc import describe_urls, run_testsrc


def test_describe_urls_names_every_endpoint() -> None:
    urls = describe_urls("http://127.0.0.1:8080/", "demo")
    assert urls["master"] == "http://127.0.0.1:8080/live/demo/master.m3u8"
    assert set(urls) == {"master", "hi", "lo", "fmp4", "aes", "byterange", "flv", "ts"}
    assert urls["flv"].endswith("/live/demo/stream.flv")
    assert urls["ts"].endswith("/live/demo/stream.ts")


def test_run_testsrc_serves_until_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_testsrc,
        args=("127.0.0.1", port, ["demo"]),
        kwargs={"stop": stop, "segment_duration": 0.5, "preroll": 1},
    )
    thread.start()
    try:
        url = describe_urls(f"http://127.0.0.1:{port}", "demo")["hi"]
        for _ in range(100):
            try:
                response = httpx.get(url, timeout=5)
                break
            except httpx.ConnectError:
                stop.wait(0.05)
        assert response.status_code == 200
        assert "seg-0.ts" in response.text
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
