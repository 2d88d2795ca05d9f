#!/usr/bin/env python3
"""Health probes for the livevault image, in plain Python (the image has no curl).

    livevault-healthcheck http [URL]       GET URL; healthy on a 2xx answer.
                                           Default: http://127.0.0.1:$LIVEVAULT_PORT/healthz (the API's liveness).
    livevault-healthcheck process WORD...  a process runs whose command line holds WORD... in this order,
                                           the first WORD matched against the program's file name
                                           (`process livevault scheduler` finds `/usr/local/bin/livevault scheduler`).
    livevault-healthcheck broker           the Celery broker at CELERY_BROKER_URL accepts a connection.

Exit status 0 = healthy, 1 = unhealthy (what Docker's HEALTHCHECK and Kubernetes exec probes expect).
Copied into the image as /usr/local/bin/livevault-healthcheck by deploy/Dockerfile.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 5.0
INIT_PROGRAMS = {"tini", "tini-static", "docker-init", "dumb-init"}


def check_http(url: str | None) -> str | None:
    url = url or f"http://127.0.0.1:{os.environ.get('LIVEVAULT_PORT', '8000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status = response.status
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}"


def _runs(argv: list[str], words: list[str]) -> bool:
    if not argv or Path(argv[0]).name in INIT_PROGRAMS:
        return False  # the init process only forwards signals; it says nothing about the program
    for start, arg in enumerate(argv):
        tail = argv[start + 1 : start + len(words)]
        if Path(arg).name == words[0] and tail == words[1:]:
            return True
    return False


def check_process(words: list[str]) -> str | None:
    if not words:
        return "process: name at least one word"
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # the process ended while we looked
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        if _runs(argv, words):
            return None
    return f"no process runs {' '.join(words)!r}"


def check_broker() -> str | None:
    from kombu import Connection  # installed with celery

    url = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
    try:
        with Connection(url, connect_timeout=TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"broker unreachable: {type(exc).__name__}"  # the URL may hold a password: never print it
    return None


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"http", "process", "broker"}:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    if mode == "http":
        problem = check_http(args[0] if args else None)
    elif mode == "process":
        problem = check_process(args)
    else:
        problem = check_broker()
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
