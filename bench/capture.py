"""Capture benchmark: N live HLS streams recorded by one livevault process vs one ffmpeg process per stream.

    .venv/bin/python bench/capture.py [--streams N] [--seconds S] [--bitrate B] [--segment 2.0]

Both halves record the same live test server (its own process, so its CPU counts for neither) in the same
run, one after the other so they never compete for the CPUs. See bench/README.md for what is measured
and how. The run is a measurement: it exits 0 even when a target is missed (non-zero only on a crash).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _ffmpeg import FfmpegFleet, ensure_ffmpeg, ffmpeg_version  # noqa: E402
from _livevault import LivevaultService, Recording, ServeExited, epoch, post_recordings  # noqa: E402
from _metrics import (  # noqa: E402
    STOP_SLACK,
    Row,
    judge,
    media_duration_expected,
    percentile,
    render,
    save_result,
    steady_rate,
    summarize,
    wall_clock_expected,
)
from _procfs import loadavg, warm_page_cache  # noqa: E402
from _streamserver import ServerProcess  # noqa: E402

MIB = 1024 * 1024
WINDOW = 10
WARM_FACTOR = 1.5  # a side writes its media once (plus TS/FLV overhead); a margin on top


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--streams", type=int, default=100, help="concurrent live streams (N)")
    parser.add_argument("--seconds", type=int, default=60, help="seconds each stream is recorded (S)")
    parser.add_argument("--bitrate", type=float, default=2_500_000, help="stream bit rate in bit/s (TS padding)")
    parser.add_argument("--segment", type=float, default=2.0, help="HLS segment duration in seconds")
    parser.add_argument("--sides", choices=["both", "livevault", "ffmpeg"], default="both",
                        help="which half to run (both for the comparison)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of both halves, in ABBA order (livevault, ffmpeg, ffmpeg, livevault, ...); "
                             "the table shows the mean of the rounds, so a machine that speeds up or slows down "
                             "during the run weighs on both halves alike")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, files)")
    parser.add_argument("--verify", choices=["sampled", "full", "off"], default=None,
                        help="LIVEVAULT_VERIFY for the service (default: its own default, sampled)")
    parser.add_argument("--event-loop", choices=["auto", "uvloop", "asyncio"], default=None,
                        help="LIVEVAULT_EVENT_LOOP for the service (default: auto, uvloop where installed)")
    parser.add_argument("--serve-launcher", type=Path, metavar="FILE",
                        help="experiments only: a Python file to run instead of `livevault serve` "
                             "(same environment); the result says so")
    args = parser.parse_args(argv)
    if args.streams < 1 or args.seconds < 4 or args.segment <= 0 or args.rounds < 1:
        parser.error("need --streams >= 1, --seconds >= 4, --segment > 0 and --rounds >= 1")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- livevault ---------------------------------------------------------------------------------------------


class StatusWatch:
    """Recording statuses read straight from livevault's SQLite file: costs the measured process nothing."""

    def __init__(self, database: Path, service: LivevaultService) -> None:
        self._database = database
        self._service = service
        self._conn: sqlite3.Connection | None = None

    def statuses(self) -> dict[str, str]:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self._database}?mode=ro", uri=True, timeout=5)
            return dict(self._conn.execute("SELECT id, status FROM recordings").fetchall())
        except sqlite3.Error:
            return self._from_api()

    def _from_api(self) -> dict[str, str]:  # fallback: costs the service a request
        out: dict[str, str] = {}
        with self._service.client() as client:
            page = 1
            while True:
                body = client.get("/recordings", params={"page": page, "page_size": 500}).json()
                out.update({r["id"]: r["status"] for r in body["recordings"]})
                if page * 500 >= body["total"]:
                    return out
                page += 1

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def warm_memory(args: argparse.Namespace, root: Path) -> dict[str, float]:
    """Before each side: give it already-backed page-cache memory for what it will write (see
    `_procfs.warm_page_cache`), so the side that runs first is not charged for the VM's first touch."""
    nbytes = int(WARM_FACTOR * args.streams * args.seconds * args.bitrate / 8)
    seconds, system = warm_page_cache(root, nbytes)
    print(f"  page cache warmed: {nbytes / 2**30:.1f} GiB written and deleted in {seconds:.1f} s "
          f"({system:.1f} s system CPU, not counted)")
    return {"warm_bytes": nbytes, "warm_seconds": round(seconds, 2), "warm_system_cpu_s": round(system, 2)}


def run_livevault(args: argparse.Namespace, server: ServerProcess, root: Path,
                  stack: contextlib.ExitStack, notes: list[str], tag: str = "") -> dict[str, Any]:
    n, seconds, segment = args.streams, args.seconds, args.segment
    workdir = root / f"livevault{tag}"
    workdir.mkdir()
    print(f"\n== livevault{tag}: one `livevault serve` process, {n} recordings of {seconds} s ==")
    warm = warm_memory(args, root)
    service = LivevaultService(workdir, n, launcher=args.serve_launcher)
    stack.callback(service.stop)
    launch_note = None
    if args.serve_launcher is not None:
        launch_note = f"EXPERIMENT: the service was started by {args.serve_launcher}, not `livevault serve`"
        notes.append(launch_note)
    try:
        startup = service.wait_healthy()
    except ServeExited as exc:
        launch_note = (f"`livevault serve` (the console command) failed to start: {exc}. Ran the same serve() "
                       "function directly instead (bench/_serve.py) -- the product CLI needs fixing")
        print(f"  !! {launch_note}")
        notes.append(launch_note)
        service = LivevaultService(workdir, n, direct=True)
        stack.callback(service.stop)
        startup = service.wait_healthy()
    print(f"  serve pid {service.pid} ({' '.join(Path(c).name for c in service.command)}) on {service.base_url} "
          f"answered /healthz after {startup:.1f} s")
    time.sleep(2.0)
    idle = []
    for _ in range(3):
        idle.append(service.sampler.sample_now()[1])
        time.sleep(0.3)
    idle_rss = min(row["rss"] for row in idle)
    idle_pss = next((row["pss"] for row in idle if "pss" in row), 0.0)
    names = [f"lv{tag}{i:03d}" for i in range(n)]
    urls = server.create(names, spread=segment)
    recordings = [Recording(name, urls[name]) for name in names]
    print(f"  {n} live streams up (starts spread over {segment:g} s); idle RSS {idle_rss / MIB:.1f} MiB")

    watch = StatusWatch(workdir / "data" / "livevault.db", service)
    stack.callback(watch.close)
    server_cpu0 = server.cpu()
    service.sampler.start()
    t_first_post, row = service.sampler.sample_now()
    cpu0 = row["cpu"]
    post_recordings(service, recordings, seconds)
    t_posted = time.time()
    accepted = [r for r in recordings if r.id]
    print(f"  POSTed {n} recordings in {t_posted - t_first_post:.2f} s ({len(accepted)} accepted)")
    for rec in recordings:
        if not rec.id:
            print(f"    {rec.name}: HTTP {rec.post_status} {rec.post_error}")

    by_id = {r.id: r for r in accepted}
    left_recording: dict[str, float] = {}
    deadline = t_posted + seconds + 120
    # Every 0.1 s: statuses (from the SQLite file) and CPU. The capture-only window ends at the last reading
    # before the first recording was seen leaving `recording`: no finalize work has started by then.
    previous = (t_first_post, cpu0)
    pure_end: tuple[float, float] | None = None
    while True:
        now, cpu_now = time.time(), service.fast_cpu()
        statuses = watch.statuses()
        for rid, status in statuses.items():
            if rid in by_id and status not in ("pending", "recording") and rid not in left_recording:
                left_recording[rid] = now
        if left_recording and pure_end is None:
            pure_end = previous
        previous = (now, cpu_now)
        if len(left_recording) >= len(accepted):
            break
        if now > deadline:
            print(f"  !! {len(accepted) - len(left_recording)} recordings still capturing after {seconds + 120} s")
            break
        time.sleep(0.1)
    t_capture_end, cpu_capture_end = previous
    t_pure_end, cpu_pure_end = pure_end or previous
    hwm = service.hwm()
    server_cpu1 = server.cpu()
    first_leave = min(left_recording.values(), default=t_capture_end)
    print(f"  capture done {t_capture_end - t_first_post:.1f} s after the first POST "
          f"(recordings left `recording` over {t_capture_end - first_leave:.1f} s); finalizing ...")

    deadline = t_capture_end + 600 + 5 * n
    while True:
        statuses = watch.statuses()
        busy = [rid for rid in by_id if statuses.get(rid) in ("pending", "recording", "processing")]
        if not busy or time.time() > deadline:
            break
        time.sleep(0.5)
    t_final_end, row = service.sampler.sample_now()
    cpu_final_end = row["cpu"]
    service.sampler.stop()
    print(f"  finalize done {t_final_end - t_capture_end:.1f} s after capture")

    with service.client(timeout=60) as client:
        for rec in accepted:
            rec.detail = client.get(f"/recordings/{rec.id}").json()
            rec.ledger = client.get(f"/recordings/{rec.id}/ledger").json()
    log_lines = service.warnings()
    service.stop()
    records = server.records(names)
    server.call("end", names=names)

    # completeness and time to first segment
    streams = []
    ttfs = []
    ttfs_server = []
    recorded_seconds = pure_seconds = 0.0
    per_recording = []
    for rec in recordings:
        produced = records.get(rec.name, {}).get("produced", [])
        segments = rec.ledger.get("segments", []) if rec.id else []
        captured = {s["sequence"] for s in segments}
        recorded_seconds += sum(s["duration"] for s in segments)
        pure_seconds += sum(s["duration"] for s in segments if (epoch(s["fetched_at"]) or 0) <= t_pure_end)
        first = min((s["sequence"] for s in segments), default=None)
        started = epoch(rec.detail.get("started_at")) or rec.posted_at
        stop = started + seconds
        expected = wall_clock_expected(produced, first, rec.posted_at, stop - segment - STOP_SLACK)
        streams.append(judge(rec.name, captured, expected, first))
        fetched = [epoch(s["fetched_at"]) for s in segments]
        first_fetch = min((f for f in fetched if f is not None), default=None)
        if first_fetch is not None:
            ttfs.append(first_fetch - rec.posted_at)
        served_ok = [s["at"] for s in records.get(rec.name, {}).get("served", [])
                     if s["status"] in (200, 206) and s["completed"]]
        if served_ok:
            ttfs_server.append(min(served_ok) - rec.posted_at)
        per_recording.append({
            "stream": rec.name, "recording_id": rec.id, "status": rec.detail.get("status"),
            "error_code": rec.detail.get("error_code"), "segments": len(segments),
            "gaps": len(rec.ledger.get("gaps", []) or []),
            "ttfs": (first_fetch - rec.posted_at) if first_fetch else None,
            "left_recording_after": (left_recording[rec.id] - rec.posted_at) if rec.id in left_recording else None,
        })

    cpu_capture = cpu_capture_end - cpu0
    cpu_pure = cpu_pure_end - cpu0
    http = _request_counts(records)
    cpu_finalize = cpu_final_end - cpu_capture_end
    users = [(t, row["user"]) for t, row in service.sampler.rows if "user" in row]
    user_pure = (max((u for t, u in users if t <= t_pure_end), default=0.0)
                 - max((u for t, u in users if t <= t_first_post), default=0.0))
    peak_rss = service.sampler.peak("rss", t_first_post, t_pure_end)
    peak_pss = service.sampler.peak("pss", t_first_post, t_pure_end)
    statuses = [r.detail.get("status") for r in accepted]
    return {
        **warm,
        "streams": n,
        "serve_startup_s": startup,
        "serve_command": service.command,
        "launch_note": launch_note,
        "post_seconds": t_posted - t_first_post,
        "capture_wall_s": t_capture_end - t_first_post,
        "stop_spread_s": t_capture_end - first_leave,
        "finalize_wall_s": t_final_end - t_capture_end,
        "capture_only_window_s": t_pure_end - t_first_post,
        "cpu_capture_only_s": cpu_pure,
        "cpu_user_capture_only_s": user_pure,
        "capture_only_stream_minutes": pure_seconds / 60,
        "cpu_per_stream_minute": cpu_pure / (pure_seconds / 60) if pure_seconds else None,
        "cpu_capture_s": cpu_capture,
        "cpu_finalize_s": cpu_finalize,
        "end_to_end_cpu_s": cpu_final_end - cpu0,
        "end_to_end_cpu_per_stream_minute": (cpu_final_end - cpu0) / (recorded_seconds / 60)
        if recorded_seconds else None,
        "last_file_ready_s": t_final_end - t_first_post,
        "files_ready": sum(1 for r in accepted if r.detail.get("status") == "completed" and r.detail.get("file_path")),
        "verified": {mode: sum(1 for r in accepted if (r.detail.get("integrity") or {}).get("verify") == mode)
                     for mode in ("sampled", "full", "off", None)},
        "recorded_stream_minutes": recorded_seconds / 60,
        "nominal_stream_minutes": n * seconds / 60,
        "cpu_per_stream_minute_steady": steady_rate(service.sampler.rows, t_first_post + 0.25 * seconds,
                                                    t_first_post + 0.85 * seconds, len(accepted)),
        "cpu_per_stream_minute_until_all_stopped": (cpu_capture / (recorded_seconds / 60)
                                                    if recorded_seconds else None),
        "cpu_per_nominal_stream_minute": cpu_capture / (n * seconds / 60),
        "finalize_cpu_per_stream_minute": cpu_finalize / (recorded_seconds / 60) if recorded_seconds else None,
        "idle_rss_mib": idle_rss / MIB,
        "peak_rss_mib": peak_rss / MIB,
        "vmhwm_at_capture_end_mib": hwm / MIB,
        "idle_pss_mib": idle_pss / MIB,
        "peak_pss_mib": peak_pss / MIB,
        "mem_per_stream_mib": (peak_rss - idle_rss) / n / MIB,
        "rss_per_stream_mib": peak_rss / n / MIB,
        "completeness": summarize(streams),
        "http_requests": http,
        "requests_per_stream_minute": http["total"] / (recorded_seconds / 60) if recorded_seconds else None,
        "ttfs_median_s": percentile(ttfs, 50),
        "ttfs_p95_s": percentile(ttfs, 95),
        "ttfs_server_side_median_s": percentile(ttfs_server, 50),
        "ttfs_server_side_p95_s": percentile(ttfs_server, 95),
        "accepted": len(accepted),
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
        "errors": {r.name: r.detail.get("error_code") for r in accepted if r.detail.get("status") != "completed"},
        "log_lines": len(log_lines),
        "log_tail": log_lines[-20:],
        "server_cpu_during_capture_s": server_cpu1 - server_cpu0,
        "samples": [{"t": round(t - t_first_post, 2), **v} for t, v in service.sampler.rows],
        "per_recording": per_recording,
    }


def _request_counts(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """HTTP requests the server saw from one side: all of them, segment requests, the rest (playlists)."""
    total = sum(r.get("requests", 0) for r in records.values())
    segments = sum(len(r.get("served", [])) for r in records.values())
    return {"total": total, "segments": segments, "playlists": total - segments}


# --- ffmpeg ------------------------------------------------------------------------------------------------


def run_ffmpeg(args: argparse.Namespace, server: ServerProcess, root: Path, binary: str,
               stack: contextlib.ExitStack, tag: str = "") -> dict[str, Any]:
    n, seconds, segment = args.streams, args.seconds, args.segment
    workdir = root / f"ffmpeg{tag}"
    workdir.mkdir()
    print(f"\n== ffmpeg{tag}: {n} processes `ffmpeg -i URL -c copy -t {seconds}` ==")
    warm = warm_memory(args, root)
    names = [f"ff{tag}{i:03d}" for i in range(n)]
    urls = server.create(names, spread=segment)
    print(f"  {n} live streams up (starts spread over {segment:g} s)")
    fleet = FfmpegFleet(binary, urls, seconds, workdir)
    stack.callback(fleet.kill)
    server_cpu0 = server.cpu()
    t_start = time.time()
    fleet.start()
    print(f"  spawned {n} ffmpeg processes in {time.time() - t_start:.2f} s")
    fleet.wait(seconds + 120 + 5 * n)
    t_end = max((r.ended_at or time.time()) for r in fleet.runs)
    server_cpu1 = server.cpu()
    t_mp4 = max((r.remux_ended_at or t_end) for r in fleet.runs)
    print(f"  all captures exited {t_end - t_start:.1f} s after the first spawn; the last MP4 was ready after "
          f"{t_mp4 - t_start:.1f} s")
    records = server.records(names)
    server.call("end", names=names)

    count = max(1, round(seconds / segment))
    streams = []
    ttfs = []
    recorded_seconds = 0.0
    per_process = []
    for run in fleet.runs:
        stream = records.get(run.name, {})
        ok = [s for s in stream.get("served", []) if s["status"] in (200, 206) and s["completed"]]
        captured = {s["sequence"] for s in ok}
        first = min(captured, default=None)
        expected = media_duration_expected(stream.get("produced", []), first, count)
        streams.append(judge(run.name, captured, expected, first))
        recorded_seconds += len(captured & expected) * segment
        first_at = min((s["at"] for s in ok), default=None)
        if first_at is not None:
            ttfs.append(first_at - run.started_at)
        per_process.append({
            "stream": run.name, "returncode": run.returncode, "cpu_s": run.cpu, "user_s": run.user,
            "max_rss_mib": run.max_rss / MIB,
            "wall_s": (run.ended_at or t_end) - run.started_at, "segments": len(captured),
            "ttfs": (first_at - run.started_at) if first_at is not None else None,
            "output_mib": run.output.stat().st_size / MIB if run.output.exists() else 0.0,
            "remux_cpu_s": run.remux_cpu, "remux_returncode": run.remux_returncode,
            "mp4_mib": run.mp4.stat().st_size / MIB if run.mp4 and run.mp4.exists() else 0.0,
        })
    cpu = sum(r.cpu for r in fleet.runs)
    remux_cpu = sum(r.remux_cpu for r in fleet.runs)
    mp4s = sum(1 for r in fleet.runs if r.remux_returncode == 0 and r.mp4 is not None and r.mp4.exists())
    http = _request_counts(records)
    peak_pss = fleet.sampler.peak("pss")
    peak_rss = fleet.sampler.peak("rss")
    errors = fleet.errors()
    return {
        **warm,
        "streams": n,
        "spawn_seconds": max(r.started_at for r in fleet.runs) - t_start,
        "capture_wall_s": t_end - t_start,
        "cpu_capture_s": cpu,
        "cpu_user_s": sum(r.user for r in fleet.runs),
        "recorded_stream_minutes": recorded_seconds / 60,
        "nominal_stream_minutes": n * seconds / 60,
        "cpu_per_stream_minute": cpu / (recorded_seconds / 60) if recorded_seconds else None,
        "cpu_per_nominal_stream_minute": cpu / (n * seconds / 60),
        "cpu_per_stream_minute_steady": steady_rate(fleet.sampler.rows, t_start + 0.25 * seconds,
                                                    t_start + 0.85 * seconds, n),
        "cpu_finalize_s": remux_cpu,
        "finalize_cpu_per_stream_minute": remux_cpu / (recorded_seconds / 60) if recorded_seconds else None,
        "end_to_end_cpu_s": cpu + remux_cpu,
        "end_to_end_cpu_per_stream_minute": (cpu + remux_cpu) / (recorded_seconds / 60) if recorded_seconds else None,
        "last_file_ready_s": t_mp4 - t_start,
        "files_ready": mp4s,
        "peak_pss_mib": peak_pss / MIB,
        "peak_rss_mib": peak_rss / MIB,
        "mem_per_stream_mib": peak_pss / n / MIB,
        "rss_per_stream_mib": peak_rss / n / MIB,
        "max_rss_per_process_mib": max(r.max_rss for r in fleet.runs) / MIB,
        "completeness": summarize(streams),
        "http_requests": http,
        "requests_per_stream_minute": http["total"] / (recorded_seconds / 60) if recorded_seconds else None,
        "ttfs_median_s": percentile(ttfs, 50),
        "ttfs_p95_s": percentile(ttfs, 95),
        "exit_nonzero": sum(1 for r in fleet.runs if r.returncode != 0),
        "errors": dict(list(errors.items())[:20]),
        "server_cpu_during_capture_s": server_cpu1 - server_cpu0,
        "samples": [{"t": round(t - t_start, 2), **v} for t, v in fleet.sampler.rows],
        "per_process": per_process,
    }


# --- rounds -------------------------------------------------------------------------------------------------

_AVERAGED = (
    "cpu_per_stream_minute", "cpu_per_stream_minute_steady", "end_to_end_cpu_per_stream_minute",
    "finalize_cpu_per_stream_minute", "cpu_per_stream_minute_until_all_stopped", "cpu_per_nominal_stream_minute",
    "cpu_capture_s", "mem_per_stream_mib", "rss_per_stream_mib", "requests_per_stream_minute", "ttfs_median_s",
    "ttfs_p95_s", "last_file_ready_s", "server_cpu_during_capture_s",
)


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One side over its rounds: the mean of each figure in `_AVERAGED`; everything else (completeness,
    files ready and verified) from the round that did worst."""
    if not rounds:
        return None
    worst = min(rounds, key=lambda r: (_get(r, "completeness", "overall") or 0.0, _get(r, "files_ready") or 0))
    combined = dict(worst)
    for key in _AVERAGED:
        values = [r[key] for r in rounds if isinstance(r.get(key), (int, float))]
        combined[key] = sum(values) / len(values) if values else None
    combined["rounds"] = len(rounds)
    return combined


def round_order(rounds: int) -> list[str]:
    """ABBA: livevault, ffmpeg, ffmpeg, livevault, livevault, ffmpeg, ... (`rounds` of each)."""
    order: list[str] = []
    for r in range(rounds):
        order += ["livevault", "ffmpeg"] if r % 2 == 0 else ["ffmpeg", "livevault"]
    return order


def print_rounds(lvs: list[dict[str, Any]], ffs: list[dict[str, Any]]) -> None:
    if len(lvs) + len(ffs) <= 2:
        return
    print("\nrounds (steady-state capture CPU-s per stream-minute; test server CPU-s for the same work):")
    def fmt(side: dict[str, Any] | None, key: str, spec: str) -> str:
        value = _get(side, key)
        return "n/a" if value is None else format(value, spec)

    for i in range(max(len(lvs), len(ffs))):
        lv = lvs[i] if i < len(lvs) else None
        ff = ffs[i] if i < len(ffs) else None
        print(f"  round {i + 1}: livevault {fmt(lv, 'cpu_per_stream_minute_steady', '.4f')} "
              f"(server {fmt(lv, 'server_cpu_during_capture_s', '.1f')}), "
              f"ffmpeg {fmt(ff, 'cpu_per_stream_minute_steady', '.4f')} "
              f"(server {fmt(ff, 'server_cpu_during_capture_s', '.1f')})")


# --- report ------------------------------------------------------------------------------------------------


def _get(side: dict[str, Any] | None, *path: str) -> Any:
    value: Any = side
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def build_rows(lv: dict[str, Any] | None, ff: dict[str, Any] | None) -> list[Row]:
    def pct(side: dict[str, Any] | None, *path: str) -> float | None:
        value = _get(side, *path)
        return None if value is None else 100.0 * value

    cpu = Row("CPU-s per stream-minute (capture only)", _get(lv, "cpu_per_stream_minute"),
              _get(ff, "cpu_per_stream_minute"), "{:.4f}", target="ratio <= 0.50")
    mem = Row("memory per stream, MiB (lv: dRSS/N, ff: PSS/N)", _get(lv, "mem_per_stream_mib"),
              _get(ff, "mem_per_stream_mib"), "{:.2f}", target="ratio <= 0.10")
    done = Row("completeness, all streams (%)", pct(lv, "completeness", "overall"),
               pct(ff, "completeness", "overall"), "{:.2f}", ratio=False, target="lv = 100%")
    worst = Row("completeness, worst stream (%)", pct(lv, "completeness", "worst", "ratio"),
                pct(ff, "completeness", "worst", "ratio"), "{:.2f}", ratio=False)
    steady = Row("  same, steady state only (25-85 % of S, sampled)", _get(lv, "cpu_per_stream_minute_steady"),
                 _get(ff, "cpu_per_stream_minute_steady"), "{:.4f}", target="ratio <= 0.75")
    end_to_end = Row("CPU-s per stream-minute, end to end (capture + MP4)",
                     _get(lv, "end_to_end_cpu_per_stream_minute"), _get(ff, "end_to_end_cpu_per_stream_minute"),
                     "{:.4f}", target="ratio <= 1.00")
    ready = Row("MP4s ready (lv: completed + verified; ff: remux exit 0)", _get(lv, "files_ready"),
                _get(ff, "files_ready"), "{:.0f}", ratio=False, target="all N")
    rows = [
        end_to_end,
        Row("  finalize CPU-s per stream-minute (lv: after capture; ff: remux)",
            _get(lv, "finalize_cpu_per_stream_minute"), _get(ff, "finalize_cpu_per_stream_minute"), "{:.4f}"),
        cpu,
        steady,
        Row("  same, until all left `recording` (lv incl. finalize overlap)",
            _get(lv, "cpu_per_stream_minute_until_all_stopped"), _get(ff, "cpu_per_stream_minute"), "{:.4f}"),
        Row("  same, per nominal stream-minute (N*S)", _get(lv, "cpu_per_nominal_stream_minute"),
            _get(ff, "cpu_per_nominal_stream_minute"), "{:.4f}"),
        Row("CPU-s total (lv: until all left `recording`)", _get(lv, "cpu_capture_s"),
            _get(ff, "cpu_capture_s"), "{:.1f}"),
        mem,
        Row("total RSS per stream, MiB (peak sum / N)", _get(lv, "rss_per_stream_mib"),
            _get(ff, "rss_per_stream_mib"), "{:.2f}"),
        done, worst,
        Row("time to first segment, median (s)", _get(lv, "ttfs_median_s"), _get(ff, "ttfs_median_s"), "{:.2f}"),
        Row("time to first segment, p95 (s)", _get(lv, "ttfs_p95_s"), _get(ff, "ttfs_p95_s"), "{:.2f}"),
        Row("HTTP requests per stream-minute", _get(lv, "requests_per_stream_minute"),
            _get(ff, "requests_per_stream_minute"), "{:.1f}"),
        ready,
        Row("last MP4 ready, s after the first POST / spawn", _get(lv, "last_file_ready_s"),
            _get(ff, "last_file_ready_s"), "{:.1f}"),
    ]
    for row, limit in ((steady, 0.75), (end_to_end, 1.0)):
        if row.ratio_value is not None:
            row.passed = row.ratio_value <= limit
    if lv is not None and ready.livevault is not None:
        ready.passed = ready.livevault == lv["streams"] and lv["verified"].get(None, 0) == 0
    if cpu.ratio_value is not None:
        cpu.passed = cpu.ratio_value <= 0.5
    if mem.ratio_value is not None:
        mem.passed = mem.ratio_value <= 0.1
    if done.livevault is not None:
        done.passed = done.livevault >= 100.0 - 1e-9
    return rows


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": loadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "host": platform.node(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    for name, value in (("LIVEVAULT_VERIFY", args.verify), ("LIVEVAULT_EVENT_LOOP", args.event_loop)):
        if value is not None:
            os.environ[name] = value  # the service inherits the environment
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="livevault-bench-"))
    result: dict[str, Any] = {
        "benchmark": "capture",
        "started_at": started.isoformat(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {"streams": args.streams, "seconds": args.seconds, "bitrate": args.bitrate,
                   "segment": args.segment, "window": WINDOW, "sides": args.sides, "rounds": args.rounds,
                   "verify": os.environ.get("LIVEVAULT_VERIFY", "sampled"),
                   "event_loop": os.environ.get("LIVEVAULT_EVENT_LOOP", "auto")},
        "machine": machine(),
        "notes": [],
    }
    print(f"capture benchmark: N={args.streams} streams, {args.seconds} s, {args.bitrate / 1e6:g} Mbit/s, "
          f"{args.segment:g} s segments, window {WINDOW}; {os.cpu_count()} CPUs, "
          f"load {result['machine']['loadavg_at_start'][0]:.2f}")
    try:
        with contextlib.ExitStack() as stack:
            binary = None
            if args.sides in ("both", "ffmpeg"):
                binary, how = ensure_ffmpeg()
                if binary is None:
                    note = f"ffmpeg unavailable ({how}): running the livevault half ONLY, no ratios"
                    print(f"  !! {note}")
                    result["notes"].append(note)
                else:
                    result["ffmpeg"] = {"binary": binary, "how": how, "version": ffmpeg_version(binary)}
                    print(f"  ffmpeg: {result['ffmpeg']['version']} ({how})")
            server = ServerProcess(args.segment, int(args.bitrate), WINDOW, root / "streamserver.log")
            stack.callback(server.stop)
            print(f"  live test server pid {server.pid} at {server.base_url}")
            lvs: list[dict[str, Any]] = []
            ffs: list[dict[str, Any]] = []
            for side in round_order(args.rounds):
                if side == "livevault" and args.sides in ("both", "livevault"):
                    tag = f"-r{len(lvs) + 1}" if args.rounds > 1 else ""
                    lvs.append(run_livevault(args, server, root, stack, result["notes"], tag))
                elif side == "ffmpeg" and binary is not None:
                    tag = f"-r{len(ffs) + 1}" if args.rounds > 1 else ""
                    ffs.append(run_ffmpeg(args, server, root, binary, stack, tag))
        lv, ff = combine(lvs), combine(ffs)
        rows = build_rows(lv, ff)
        result.update(livevault=lv, ffmpeg_side=ff, livevault_rounds=lvs, ffmpeg_rounds=ffs,
                      table=[row.as_dict() for row in rows])
        print_rounds(lvs, ffs)
        print()
        if args.rounds > 1:
            print(f"mean of {args.rounds} rounds per side (completeness and files: the worst round)")
        print(render(rows))
        if lv is not None:
            incomplete = lv["completeness"]["incomplete_streams"]
            print(f"\nlivevault: {lv['completed']}/{lv['accepted']} recordings completed, "
                  f"{len(incomplete)} incomplete streams, finalize {lv['cpu_finalize_s']:.1f} CPU-s "
                  f"over {lv['finalize_wall_s']:.0f} s, capture idle RSS {lv['idle_rss_mib']:.0f} MiB -> "
                  f"peak {lv['peak_rss_mib']:.0f} MiB, test server used {lv['server_cpu_during_capture_s']:.1f} CPU-s")
        if ff is not None:
            print(f"ffmpeg: {ff['exit_nonzero']} non-zero exits, peak PSS {ff['peak_pss_mib']:.0f} MiB, "
                  f"peak RSS {ff['peak_rss_mib']:.0f} MiB, test server used "
                  f"{ff['server_cpu_during_capture_s']:.1f} CPU-s")
        save_result("capture", started, result)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; child processes stopped, temporary files removed")
        return 130
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
