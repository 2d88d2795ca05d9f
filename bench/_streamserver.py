"""The live test stream server in its own process, so its CPU is counted for neither side.

Run as ``python bench/_streamserver.py SEGMENT PAD_BITRATE WINDOW``: it starts a
``livevault.testsrc.StreamServer`` on a free loopback port and then answers one JSON command per line
on stdin with one JSON line on stdout (the control channel). It exits when stdin closes, so it can
never outlive the benchmark. ``ServerProcess`` is the benchmark's side of it.

Commands:
    {"op": "create", "names": [...], "spread": s}  streams (spread over ``spread`` seconds), cache warmed
    {"op": "records", "names": [...]}              produced and served records of each stream
    {"op": "end", "names": [...]}                  end the streams (their producers stop)
    {"op": "cpu"}                                  this process's CPU seconds
    {"op": "quit"}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from _procfs import die_with_parent


def _records(stream: Any) -> dict[str, Any]:
    produced = [
        {"sequence": p.sequence, "index": p.global_index, "available_at": p.available_at, "duration": p.duration}
        for p in stream.produced()
    ]
    served = [
        {
            "variant": s.variant,
            "sequence": s.sequence,
            "status": s.status,
            "completed": s.completed,
            "bytes": s.bytes,
            "at": s.at,
        }
        for s in stream.served()
    ]
    requests = len(stream.request_log)
    return {"produced": produced, "served": served, "requests": requests}


def _warm(server: Any, stream: Any) -> int:
    """Encode and mux every segment of the current window (and the next two) before any client asks."""
    hub = server.hub
    window = stream.window()
    indexes = [info.index for info in window.segments]
    upcoming = (indexes[-1] + 1) if indexes else 0
    built = 0
    for index in [*indexes, upcoming, upcoming + 1]:
        info = stream.info(index)
        for variant in ("hi", "lo"):
            rendition = stream.rendition(variant, info.epoch)
            hub.cache.get(hub.packager.ts(rendition, info.timing, stream.config.pad_bytes(variant)))
            built += 1
    return built


def _serve(segment: float, pad_bitrate: int, window: int) -> None:
    from livevault.testsrc import StreamServer

    out = sys.stdout
    server = StreamServer(
        "127.0.0.1", 0, segment_duration=segment, pad_bitrate=pad_bitrate, window=window, preroll=window
    )
    server.start()
    _reply(out, {"ok": True, "base_url": server.base_url, "pid": os.getpid()})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.get("op")
            try:
                if op == "quit":
                    _reply(out, {"ok": True})
                    break
                _reply(out, {"ok": True, **_handle(server, op, command)})
            except Exception as exc:
                _reply(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        server.stop(timeout=5)


def _handle(server: Any, op: str, command: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = command.get("names", [])
    if op == "create":
        spread = float(command.get("spread", 0.0))
        urls = {}
        streams = []
        started = time.monotonic()
        for position, name in enumerate(names):
            if spread > 0:
                # start the streams evenly over one segment, like independent encoders would be
                delay = started + spread * position / max(1, len(names)) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            stream = server.stream(name)
            streams.append(stream)
            urls[name] = stream.playlist_url("hi")
        built = _warm(server, streams[0]) if streams else 0
        return {"urls": urls, "warmed": built}
    if op == "records":
        return {"records": {name: _records(server.streams[name]) for name in names if name in server.streams}}
    if op == "end":
        for name in names:
            if name in server.streams:
                server.streams[name].end()
        return {}
    if op == "cpu":
        times = os.times()
        return {"cpu": times.user + times.system}
    raise ValueError(f"unknown command {op!r}")


def _reply(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


class ServerProcess:
    """The benchmark's handle on the server process: start it, send commands, stop it."""

    def __init__(self, segment: float, pad_bitrate: int, window: int, log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(segment), str(pad_bitrate), str(window)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C goes to the benchmark, which stops this process itself
            preexec_fn=die_with_parent,  # and it exits with the benchmark even on SIGKILL
        )
        self._lock = threading.Lock()
        hello = self._read()
        self.base_url: str = hello["base_url"]
        self.pid: int = hello["pid"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the stream server process exited (code {self.proc.poll()}); see {self._log.name}")
        message: dict[str, Any] = json.loads(line)
        if not message.get("ok"):
            raise RuntimeError(f"stream server: {message.get('error')}")
        return message

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
            return self._read()

    def create(self, names: list[str], spread: float) -> dict[str, str]:
        urls: dict[str, str] = self.call("create", names=names, spread=spread)["urls"]
        return urls

    def records(self, names: list[str]) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = self.call("records", names=names)["records"]
        return records

    def cpu(self) -> float:
        return float(self.call("cpu")["cpu"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._log.close()


if __name__ == "__main__":
    try:
        _serve(float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    except KeyboardInterrupt:
        pass
