"""Watcher benchmark: N TikTok watchers checked by one embedded `livevault serve` against the fake TikTok.

    .venv/bin/python bench/watchers.py [--watchers 10000] [--interval 10] [--seconds 60]

The fake TikTok (tests/fakes/tiktok.py) runs in this process, so its CPU counts for neither side. Every
watcher is a room id whose user is offline. After all watchers exist and one full interval has passed,
the benchmark measures for `--seconds`: checks per second (room ids the fake was asked about), the
service's CPU per 1,000 checks and per core, check lateness p50/p95 (from the service's own
`watcher_check_lateness_seconds` histogram), and the shortest gap between two checks of one room (a room
checked twice within one interval would mean two checkers). Baseline, measured in the same run: a
minimal Python client doing one unbatched `check_alive` request per room, as fast as it can, in its own
process — the cost of checking without batching. Targets (issue 4): >= 1,000 checks/s per core, p95
lateness <= 2 s. It exits 0 whether or not a target is met.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(BENCH), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

from _livevault import free_port  # noqa: E402
from _metrics import save_result  # noqa: E402
from _procfs import die_with_parent, read_stat  # noqa: E402
from tests.fakes.tiktok import FakeTikTok  # noqa: E402

FIRST_ROOM = 7_500_000_000_000_000_000
_BUCKET = re.compile(r'^watcher_check_lateness_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$')

BASELINE_CLIENT = r"""
import asyncio, sys, time
import aiohttp

async def main(base, first, count, seconds):
    done = 0
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + seconds
        room = first
        while time.monotonic() < deadline:
            async with http.get(base + "/webcast/room/check_alive/",
                                params={"aid": "1988", "room_ids": str(room)}) as resp:
                await resp.json(content_type=None)
            done += 1
            room = first + (done % count)
    print(done)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
"""


def cpu_of(pid: int) -> float:
    stat = read_stat(pid)
    return stat.own if stat else 0.0


def histogram(text: str) -> list[tuple[float, float]]:
    rows = []
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if match:
            rows.append((float(match.group(1)), float(match.group(2))))
    return rows


def quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float:
    """The q-quantile of the observations between two scrapes (linear inside a bucket)."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1]
    if total <= 0:
        return float("nan")
    target, prev_le, prev_count = q * total, 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= target:
            if le == float("inf"):
                return prev_le
            span = cumulative - prev_count
            return prev_le + (le - prev_le) * ((target - prev_count) / span if span else 0.0)
        prev_le, prev_count = le, cumulative
    return prev_le


class Service:
    def __init__(self, workdir: Path, fake_url: str, batch: int) -> None:
        self.port = free_port()
        self.key = f"bench-{secrets.token_hex(8)}"
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LIVEVAULT_DATABASE_URL"}}
        env.update(
            LIVEVAULT_DATA_DIR=str(workdir / "data"), LIVEVAULT_PORT=str(self.port), API_KEYS=self.key,
            RATE_LIMIT_PER_MIN="0", LOG_LEVEL="WARNING", LIVEVAULT_ALLOW_PRIVATE_SOURCES="true",
            LIVEVAULT_TIKTOK_WEB_URL=fake_url, LIVEVAULT_TIKTOK_WEBCAST_URL=fake_url,
            LIVEVAULT_TIKTOK_REQUESTS_PER_MIN="100000", LIVEVAULT_WATCHER_BATCH_SIZE=str(batch),
        )
        self.log = (workdir / "serve.log").open("wb")
        script = Path(sys.executable).with_name("livevault")
        self.proc = subprocess.Popen([str(script), "serve"], env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)

    async def wait_healthy(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                async with http.get(self.base_url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("livevault serve exited; see serve.log")
            await asyncio.sleep(0.2)
        raise RuntimeError("livevault serve did not become healthy")

    async def metrics(self, http: aiohttp.ClientSession) -> str:
        async with http.get(self.base_url + "/metrics", headers={"X-API-Key": self.key}) as resp:
            return await resp.text()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


async def create_watchers(service: Service, count: int, interval: float) -> float:
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    failures: list[str] = []

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"room_id": str(FIRST_ROOM + i), "poll_interval": interval}
            async with http.post(service.base_url + "/watchers", json=body,
                                 headers={"X-API-Key": service.key}) as resp:
                if resp.status != 202:
                    failures.append(await resp.text())

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(16)))
    if failures:
        raise RuntimeError(f"{len(failures)} watchers not created: {failures[:3]}")
    return time.monotonic() - started


def baseline(fake_url: str, count: int, seconds: float) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_CLIENT, fake_url, str(FIRST_ROOM), str(count),
                             str(seconds)], stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    out, _ = proc.communicate()
    checks = int(out.strip() or 0)
    return {"checks": checks}


def run_baseline(fake_url: str, count: int, seconds: float) -> dict[str, float]:
    """The unbatched client in a child process; its CPU from the child's rusage."""
    before = os.times()
    result = baseline(fake_url, count, seconds)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    result["cpu"] = cpu
    result["cpu_per_1000"] = cpu / (result["checks"] / 1000) if result["checks"] else float("nan")
    result["checks_per_core_s"] = result["checks"] / cpu if cpu else float("nan")
    return result


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with FakeTikTok("http://127.0.0.1:9") as fake:
        for i in range(args.watchers):
            fake.add_user(f"bench{i}", str(FIRST_ROOM + i), live=False)
        service = Service(workdir, fake.base_url, args.batch)
        try:
            async with aiohttp.ClientSession() as http:
                await service.wait_healthy(http)
                print(f"creating {args.watchers} watchers (poll_interval {args.interval:g} s)…", flush=True)
                created_in = await create_watchers(service, args.watchers, args.interval)
                print(f"  created in {created_in:.1f} s; warming up for {args.interval + 5:g} s…", flush=True)
                await asyncio.sleep(args.interval + 5)
                fake.clear_requests()
                hist_before = histogram(await service.metrics(http))
                cpu_before, t0 = cpu_of(service.proc.pid), time.monotonic()
                print(f"measuring for {args.seconds:g} s…", flush=True)
                await asyncio.sleep(args.seconds)
                cpu_after, t1 = cpu_of(service.proc.pid), time.monotonic()
                hist_after = histogram(await service.metrics(http))
            requests = [r for r in fake.requests if r.path.startswith("/webcast/room/check_alive")]
        finally:
            service.stop()
        print("baseline: one unbatched check_alive per room, 15 s…", flush=True)
        base = run_baseline(fake.base_url, args.watchers, 15.0)
    checks_by_room: dict[str, list[float]] = defaultdict(list)
    for request in requests:
        for room in request.room_ids:
            checks_by_room[room].append(request.time)
    checks = sum(len(v) for v in checks_by_room.values())
    gaps = [b - a for times in checks_by_room.values() for a, b in itertools.pairwise(times)]
    wall, cpu = t1 - t0, cpu_after - cpu_before
    return {
        "watchers": args.watchers, "interval": args.interval, "seconds": wall, "batch": args.batch,
        "created_in": created_in, "checks": checks, "requests": len(requests),
        "checks_per_s": checks / wall, "expected_checks_per_s": args.watchers / args.interval,
        "rooms_checked": len(checks_by_room), "cpu": cpu, "cpu_per_1000": cpu / (checks / 1000) if checks else None,
        "checks_per_core_s": checks / cpu if cpu else None,
        "lateness_p50": quantile(hist_before, hist_after, 0.50),
        "lateness_p95": quantile(hist_before, hist_after, 0.95),
        "min_gap_between_checks": min(gaps) if gaps else None,
        "baseline": base,
    }


def render(r: dict[str, Any]) -> str:
    base = r["baseline"]
    ratio = r["cpu_per_1000"] / base["cpu_per_1000"] if r["cpu_per_1000"] and base["cpu_per_1000"] else None
    per_core_ok = (r["checks_per_core_s"] or 0) >= 1000
    late_ok = r["lateness_p95"] <= 2.0
    lines = [
        f"watchers {r['watchers']}, poll_interval {r['interval']:g} s, measured {r['seconds']:.0f} s, "
        f"check_alive batch {r['batch']}",
        f"  checks/s                 {r['checks_per_s']:8.1f}   (due: {r['expected_checks_per_s']:.0f}/s; "
        f"{r['rooms_checked']} rooms checked, {r['requests']} requests)",
        f"  CPU per 1,000 checks     {r['cpu_per_1000']:8.3f} s  (baseline unbatched client: "
        f"{base['cpu_per_1000']:.3f} s; ratio {ratio:.2f})" if ratio else "  CPU: n/a",
        f"  checks/s per core        {r['checks_per_core_s']:8.0f}   target >= 1000: "
        f"{'PASS' if per_core_ok else 'FAIL'}"
        f"   (baseline {base['checks_per_core_s']:.0f})",
        f"  lateness p50 / p95       {r['lateness_p50']:8.2f} / {r['lateness_p95']:.2f} s   target p95 <= 2 s: "
        f"{'PASS' if late_ok else 'FAIL'}",
        f"  shortest gap between two checks of one room: {r['min_gap_between_checks']:.2f} s "
        f"(interval {r['interval']:g} s, jitter ±10 %)" if r["min_gap_between_checks"] else "",
    ]
    return "\n".join(line for line in lines if line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=50, help="LIVEVAULT_WATCHER_BATCH_SIZE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="livevault-bench-watchers-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    print(render(result))
    save_result("watchers", datetime.now(UTC), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
