"""Distributed benchmark: W `livevault worker` processes x N live streams each, next to one embedded process x N.

    .venv/bin/python bench/distributed.py [--streams-per-worker 100] [--workers 2] [--seconds 60]
                                          [--bitrate 2500000] [--segment 2.0]

Issue 5: "2 worker processes x 100 concurrent live streams -> 0 missing; CPU and RSS per stream next to the
embedded-mode figure of bench/capture.py measured in the same run (target: within 1.5x)". Both halves record
the same live test server (its own process) one after the other, so they never compete for the CPUs. The
embedded half is capture.py's own livevault half (same code, N = streams per worker). The distributed half is
a PostgreSQL database created for the run, Redis with a unique key prefix, one `livevault serve` (celery
runner: the API only) and W `livevault worker` processes. See bench/README.md. It exits 0 whether or not a
target is met (a measurement); non-zero only when it crashes or cannot start (2: no PostgreSQL or Redis).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _distributed import (  # noqa: E402
    ApiProcess,
    BackendCpu,
    LivevaultProcess,
    RecordingWatch,
    check_postgres,
    check_redis,
    delete_prefixed,
    distributed_env,
    machine_busy_cpu,
    owner_pid,
    postgres_server_url,
    received_task_ids,
    redis_url,
    scratch_database,
)
from _livevault import Recording, epoch, post_recordings  # noqa: E402
from _metrics import (  # noqa: E402
    STOP_SLACK,
    judge,
    percentile,
    save_result,
    steady_rate,
    summarize,
    wall_clock_expected,
)
from _procfs import loadavg  # noqa: E402
from _streamserver import ServerProcess  # noqa: E402
from capture import machine, run_livevault  # noqa: E402

MIB = 1024 * 1024
WINDOW = 10
TARGET_RATIO = 1.5
WORKER_LOG_LEVEL = "INFO"  # Celery's `livevault.record[<id>] received` lines; a few lines per recording


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--streams-per-worker", type=int, default=100,
                        help="live streams per worker process (N); also the embedded process's load")
    parser.add_argument("--workers", type=int, default=2, help="`livevault worker` processes (W)")
    parser.add_argument("--seconds", type=int, default=60, help="seconds each stream is recorded (S)")
    parser.add_argument("--bitrate", type=float, default=2_500_000, help="stream bit rate in bit/s (TS padding)")
    parser.add_argument("--segment", type=float, default=2.0, help="HLS segment duration in seconds")
    parser.add_argument("--sides", choices=["both", "embedded", "distributed"], default="both",
                        help="which half to run (both for the ratios)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (process logs); the database is dropped regardless")
    args = parser.parse_args(argv)
    if args.streams_per_worker < 1 or args.workers < 1 or args.seconds < 4 or args.segment <= 0:
        parser.error("need --streams-per-worker >= 1, --workers >= 1, --seconds >= 4 and --segment > 0")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- the embedded half: capture.py's livevault half --------------------------------------------------------


def run_embedded(args: argparse.Namespace, server: ServerProcess, root: Path, stack: contextlib.ExitStack,
                 notes: list[str]) -> dict[str, Any]:
    capture_args = argparse.Namespace(streams=args.streams_per_worker, seconds=args.seconds, segment=args.segment,
                                      bitrate=args.bitrate, serve_launcher=None)
    # Embedded mode keeps rate limits and caches in memory: no REDIS_URL for `livevault serve` here (it would
    # write unprefixed keys into a shared Redis).
    saved = {k: os.environ.pop(k) for k in ("REDIS_URL", "LIVEVAULT_REDIS_URL") if k in os.environ}
    try:
        return run_livevault(capture_args, server, root, stack, notes)
    finally:
        os.environ.update(saved)


# --- the distributed half ----------------------------------------------------------------------------------


def run_distributed(args: argparse.Namespace, server: ServerProcess, root: Path, stack: contextlib.ExitStack,
                    notes: list[str]) -> dict[str, Any]:
    n, w, seconds, segment = args.streams_per_worker, args.workers, args.seconds, args.segment
    total = n * w
    workdir = root / "distributed"
    workdir.mkdir()
    print(f"\n== distributed: `livevault serve` (API) + {w} x `livevault worker -c {n + 10}`, "
          f"{total} recordings of {seconds} s ==")
    broker = redis_url()
    pg_server = postgres_server_url()
    prefix = f"lvbench-{os.getpid()}-{secrets.token_hex(3)}-"
    stack.callback(_cleanup_redis, broker, prefix)  # registered first: runs after every process has stopped
    db_name, database_url = stack.enter_context(scratch_database(pg_server))
    print(f"  PostgreSQL database {db_name} on {pg_server.render_as_string(hide_password=True)} "
          f"(dropped at the end); Redis {broker}, key prefix {prefix}")
    key = f"bench-{secrets.token_hex(8)}"
    env = distributed_env(data_dir=workdir / "data", database_url=database_url, broker=broker, prefix=prefix,
                          api_key=key, max_recordings=total, log_level="WARNING")

    api = ApiProcess(env, workdir / "serve.log", key)
    stack.callback(api.stop)
    startup = api.wait_healthy()  # it migrates the new database before it answers
    print(f"  API pid {api.pid} on {api.base_url} answered /healthz after {startup:.1f} s")

    workers: list[LivevaultProcess] = []
    worker_env = {**env, "LOG_LEVEL": WORKER_LOG_LEVEL}
    for i in range(w):
        worker = LivevaultProcess(
            f"worker {i + 1}",
            ["worker", "-Q", "recording,default", "-c", str(n + 10), "-n", f"bench-w{i + 1}@%h"],
            worker_env, workdir / f"worker{i + 1}.log")
        stack.callback(worker.stop, 60.0)
        workers.append(worker)
    ready = [worker.wait_for_log(" ready.", timeout=120) for worker in workers]
    print(f"  workers ready after {', '.join(f'{s:.1f}' for s in ready)} s (pids "
          f"{', '.join(str(x.pid) for x in workers)})")
    time.sleep(2.0)
    idle = [min(_rss_readings(worker)) for worker in workers]
    api_idle = min(_rss_readings(api))
    names = [f"dw{i:03d}" for i in range(total)]
    urls = server.create(names, spread=segment)
    recordings = [Recording(name, urls[name]) for name in names]
    print(f"  {total} live streams up (starts spread over {segment:g} s); idle RSS "
          f"{', '.join(f'{x / MIB:.1f}' for x in idle)} MiB (workers), {api_idle / MIB:.1f} MiB (API)")

    watch = RecordingWatch(database_url)
    stack.callback(watch.dispose)
    server_cpu0 = server.cpu()
    busy0 = machine_busy_cpu()
    own0 = _own_cpu()
    postgres = BackendCpu()
    postgres.start(watch.backend_pids())
    for proc in (api, *workers):
        proc.sampler.start()
    t_first_post = time.time()
    cpu0 = [worker.sampler.sample_now()[1]["cpu"] for worker in workers]
    api_cpu0 = api.sampler.sample_now()[1]["cpu"]
    post_recordings(api, recordings, seconds)  # type: ignore[arg-type]  # base_url + key, like LivevaultService
    t_posted = time.time()
    accepted = [r for r in recordings if r.id]
    print(f"  POSTed {total} recordings in {t_posted - t_first_post:.2f} s ({len(accepted)} accepted)")
    for rec in recordings:
        if not rec.id:
            print(f"    {rec.name}: HTTP {rec.post_status} {rec.post_error}")

    # Every 0.1 s: each worker's CPU, then every recording's status and lease owner (from PostgreSQL). A worker's
    # capture-only window ends at the last reading before the first of ITS recordings was seen leaving
    # `recording` (no finalize work of its own has begun by then), as in capture.py.
    by_id = {r.id: r for r in accepted}
    readings: list[tuple[float, list[float]]] = [(t_first_post, cpu0)]
    owners: dict[str, str] = {}
    job_ids: dict[str, str] = {}
    left: dict[str, float] = {}
    started_seen: dict[str, float] = {}
    deadline = t_posted + seconds + 120
    while True:
        now = time.time()
        cpus = [worker.cpu() for worker in workers]
        for rid, status, owner, job_id in watch.rows():
            if rid not in by_id:
                continue
            if owner and rid not in owners:
                owners[rid] = owner
            if job_id:
                job_ids[rid] = job_id
            if status != "pending" and rid not in started_seen:
                started_seen[rid] = now
            if status not in ("pending", "recording") and rid not in left:
                left[rid] = now
        readings.append((now, cpus))
        if len(readings) % 20 == 0:
            postgres.sample(watch.backend_pids())
        if len(left) >= len(accepted):
            break
        if now > deadline:
            print(f"  !! {len(accepted) - len(left)} recordings still pending/capturing after {seconds + 120} s")
            break
        time.sleep(0.1)
    t_capture_end = readings[-1][0]
    server_cpu1 = server.cpu()
    busy1 = machine_busy_cpu()
    own1 = _own_cpu()
    postgres.sample(watch.backend_pids())
    api_cpu_capture = api.cpu() - api_cpu0
    print(f"  capture done {t_capture_end - t_first_post:.1f} s after the first POST; finalizing ...")

    busy_deadline = t_capture_end + 600 + 5 * total
    while time.time() < busy_deadline:
        statuses = {rid: status for rid, status, _o, _j in watch.rows()}
        if not [rid for rid in by_id if statuses.get(rid, "pending") in ("pending", "recording", "processing")]:
            break
        time.sleep(0.5)
    t_final_end = time.time()
    cpu_final = [worker.sampler.sample_now()[1]["cpu"] for worker in workers]
    api_cpu1 = api.sampler.sample_now()[1]["cpu"]
    print(f"  finalize done {t_final_end - t_capture_end:.1f} s after capture")

    with api.client(timeout=60) as client:
        for rec in accepted:
            rec.detail = client.get(f"/recordings/{rec.id}").json()
            rec.ledger = client.get(f"/recordings/{rec.id}/ledger").json()
    watch.close()
    hwm = [worker.hwm() for worker in workers]
    for proc in (*workers, api):
        proc.stop(60.0)
    records = server.records(names)
    server.call("end", names=names)

    # Which worker ran which recording: the pid in the lease owner seen while it recorded, checked against the
    # `livevault.record[<job id>] received` lines of each worker's log.
    pid_to_worker = {worker.pid: i for i, worker in enumerate(workers)}
    job_to_worker: dict[str, list[int]] = {}
    for i, worker in enumerate(workers):
        for task_id in received_task_ids(worker.log()):
            job_to_worker.setdefault(task_id, []).append(i)
    assignment: dict[str, int | None] = {}
    disagreements = []
    for rec in accepted:
        by_lease = pid_to_worker.get(owner_pid(owners.get(rec.id)) or -1)
        job_id = job_ids.get(rec.id) or rec.detail.get("task_id")
        by_log = job_to_worker.get(job_id or "", [])
        if by_lease is not None and by_log and by_log != [by_lease]:
            disagreements.append({"recording_id": rec.id, "lease_owner": owners.get(rec.id), "received_by": by_log})
        assignment[rec.id] = by_lease if by_lease is not None else (by_log[0] if len(by_log) == 1 else None)
    unassigned = [rid for rid, i in assignment.items() if i is None]
    redelivered = {job: ws for job, ws in job_to_worker.items() if len(ws) > 1}
    if disagreements:
        notes.append(f"{len(disagreements)} recordings: lease owner and worker log disagree (see JSON)")
    if unassigned:
        notes.append(f"{len(unassigned)} recordings could not be attributed to a worker")
    if redelivered:
        notes.append(f"{len(redelivered)} record jobs were received more than once")

    # per recording: completeness, media captured, time to first segment
    per_recording = []
    streams_by_worker: dict[int | None, list[Any]] = {}
    all_streams = []
    ttfs: list[float] = []
    for rec in recordings:
        produced = records.get(rec.name, {}).get("produced", [])
        segments = rec.ledger.get("segments", []) if rec.id else []
        captured = {s["sequence"] for s in segments}
        first = min(captured, default=None)
        started = epoch(rec.detail.get("started_at")) or rec.posted_at
        expected = wall_clock_expected(produced, first, rec.posted_at, started + seconds - segment - STOP_SLACK)
        verdict = judge(rec.name, captured, expected, first)
        worker_index = assignment.get(rec.id) if rec.id else None
        streams_by_worker.setdefault(worker_index, []).append(verdict)
        all_streams.append(verdict)
        fetched = [f for f in (epoch(s["fetched_at"]) for s in segments) if f is not None]
        if fetched:
            ttfs.append(min(fetched) - rec.posted_at)
        per_recording.append({
            "stream": rec.name, "recording_id": rec.id, "worker": None if worker_index is None else worker_index + 1,
            "lease_owner": owners.get(rec.id), "job_id": job_ids.get(rec.id),
            "status": rec.detail.get("status"), "error_code": rec.detail.get("error_code"),
            "segments": len(segments), "missing": verdict.missing, "gaps": len(rec.ledger.get("gaps", []) or []),
            "ttfs": (min(fetched) - rec.posted_at) if fetched else None,
            "started_after": (started_seen[rec.id] - rec.posted_at) if rec.id in started_seen else None,
            "left_recording_after": (left[rec.id] - rec.posted_at) if rec.id in left else None,
            "_segments": segments,
        })

    per_worker = []
    for i, worker in enumerate(workers):
        mine = [p for p in per_recording if p["worker"] == i + 1]
        ids = {p["recording_id"] for p in mine}
        leaves = [left[rid] for rid in ids if rid in left]
        first_leave = min(leaves, default=t_capture_end + 1)
        t_pure_end, cpus_pure_end = max(((t, c) for t, c in readings if t < first_leave), key=lambda x: x[0])
        t_all_left, cpus_all_left = max(((t, c) for t, c in readings if t <= max(leaves, default=t_capture_end)),
                                        key=lambda x: x[0])
        pure_seconds = sum(s["duration"] for p in mine for s in p["_segments"]
                           if (epoch(s["fetched_at"]) or 0) <= t_pure_end)
        recorded_seconds = sum(s["duration"] for p in mine for s in p["_segments"])
        cpu_pure = cpus_pure_end[i] - cpu0[i]
        cpu_capture = cpus_all_left[i] - cpu0[i]
        peak_rss = worker.sampler.peak("rss", t_first_post, t_pure_end)
        completeness = summarize(streams_by_worker.get(i, []))
        statuses = Counter(p["status"] for p in mine)
        per_worker.append({
            "worker": i + 1,
            "pid": worker.pid,
            "command": worker.command,
            "recordings": len(mine),
            "ready_after_s": ready[i],
            "capture_only_window_s": t_pure_end - t_first_post,
            "capture_wall_s": t_all_left - t_first_post,
            "cpu_capture_only_s": cpu_pure,
            "capture_only_stream_minutes": pure_seconds / 60,
            "cpu_per_stream_minute": cpu_pure / (pure_seconds / 60) if pure_seconds else None,
            "cpu_per_stream_minute_steady": steady_rate(worker.sampler.rows, t_first_post + 0.25 * seconds,
                                                        t_first_post + 0.85 * seconds, len(mine)),
            "cpu_capture_s": cpu_capture,
            "cpu_per_stream_minute_until_all_stopped": (cpu_capture / (recorded_seconds / 60)
                                                        if recorded_seconds else None),
            "cpu_finalize_s": cpu_final[i] - cpus_all_left[i],
            "recorded_stream_minutes": recorded_seconds / 60,
            "idle_rss_mib": idle[i] / MIB,
            "peak_rss_mib": peak_rss / MIB,
            "vmhwm_mib": hwm[i] / MIB,
            "delta_rss_mib": (peak_rss - idle[i]) / MIB,
            "mem_per_stream_mib": (peak_rss - idle[i]) / len(mine) / MIB if mine else None,
            "peak_pss_mib": worker.sampler.peak("pss", t_first_post, t_pure_end) / MIB,
            "completeness": completeness,
            "missing_segments": completeness["segments_expected"] - completeness["segments_captured"],
            "completed": statuses.get("completed", 0),
            "failed": statuses.get("failed", 0),
            "received_in_log": sum(1 for ws in job_to_worker.values() if i in ws),
            "log_warnings": [line for line in worker.tail(400) if " WARNING " in line or " ERROR " in line][-20:],
            "samples": [{"t": round(t - t_first_post, 2), **v} for t, v in worker.sampler.rows],
        })

    for p in per_recording:
        del p["_segments"]
    pure_cpu = sum(x["cpu_capture_only_s"] for x in per_worker)
    pure_minutes = sum(x["capture_only_stream_minutes"] for x in per_worker)
    attributed = sum(x["recordings"] for x in per_worker)
    delta_rss = sum(x["delta_rss_mib"] for x in per_worker)
    overall = summarize(all_streams)
    statuses = Counter(p["status"] for p in per_recording)
    return {
        "workers": w,
        "streams_per_worker": n,
        "recordings": total,
        "database": db_name,
        "queue_prefix": prefix,
        "api_startup_s": startup,
        "post_seconds": t_posted - t_first_post,
        "capture_wall_s": t_capture_end - t_first_post,
        "finalize_wall_s": t_final_end - t_capture_end,
        "cpu_per_stream_minute": pure_cpu / pure_minutes if pure_minutes else None,
        "cpu_per_stream_minute_steady_mean": _mean([x["cpu_per_stream_minute_steady"] for x in per_worker]),
        "mem_per_stream_mib": delta_rss / attributed if attributed else None,
        "completeness": overall,
        "missing_segments": overall["segments_expected"] - overall["segments_captured"],
        "accepted": len(accepted),
        "completed": statuses.get("completed", 0),
        "failed": statuses.get("failed", 0),
        "errors": {p["stream"]: p["error_code"] for p in per_recording if p["status"] != "completed"},
        "ttfs_median_s": percentile(ttfs, 50),
        "ttfs_p95_s": percentile(ttfs, 95),
        "assignment": {f"worker {x['worker']}": x["recordings"] for x in per_worker},
        "unattributed": unassigned,
        "lease_log_disagreements": disagreements,
        "redelivered_jobs": redelivered,
        "api": {"pid": api.pid, "cpu_s": api_cpu1 - api_cpu0, "cpu_capture_s": api_cpu_capture,
                "idle_rss_mib": api_idle / MIB, "peak_rss_mib": api.sampler.peak("rss") / MIB},
        "server_cpu_during_capture_s": server_cpu1 - server_cpu0,
        # everything the machine did while the distributed half captured: workers, API, stream server,
        # PostgreSQL, Redis, this benchmark and whatever else runs on the (shared) machine
        "machine_busy_during_capture": {
            "cpu_s": busy1 - busy0,
            "cores_busy": (busy1 - busy0) / (t_capture_end - t_first_post),
            "workers_cpu_s": sum(readings[-1][1]) - sum(cpu0),
            "api_cpu_s": api_cpu_capture,
            "server_cpu_s": server_cpu1 - server_cpu0,
            "postgres_backends_cpu_s": postgres.total(),
            "benchmark_cpu_s": own1 - own0,
        },
        "per_worker": per_worker,
        "per_recording": per_recording,
    }


def _rss_readings(proc: LivevaultProcess) -> list[int]:
    values = []
    for _ in range(3):
        values.append(proc.rss())
        time.sleep(0.3)
    return values


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _cleanup_redis(url: str, prefix: str) -> None:
    try:
        deleted = delete_prefixed(url, prefix)
        print(f"  deleted this run's {deleted} Redis keys ({prefix}*)")
    except Exception as exc:  # cleanup must not hide the real error
        print(f"  !! could not delete Redis keys {prefix}*: {type(exc).__name__}: {exc}")


# --- report ------------------------------------------------------------------------------------------------


def build_table(emb: dict[str, Any] | None, dist: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []

    def row(side: str, data: dict[str, Any], recordings: int, missing: int, idle: float | None,
            peak: float | None) -> dict[str, Any]:
        cpu, mem = data.get("cpu_per_stream_minute"), data.get("mem_per_stream_mib")
        base_cpu = emb.get("cpu_per_stream_minute") if emb else None
        base_mem = emb.get("mem_per_stream_mib") if emb else None
        return {
            "side": side, "recordings": recordings,
            "cpu_per_stream_minute": cpu,
            "cpu_ratio": cpu / base_cpu if cpu is not None and base_cpu else None,
            "cpu_steady": data.get("cpu_per_stream_minute_steady",
                                   data.get("cpu_per_stream_minute_steady_mean")),
            "mem_per_stream_mib": mem,
            "mem_ratio": mem / base_mem if mem is not None and base_mem else None,
            "idle_rss_mib": idle, "peak_rss_mib": peak,
            "completeness": data["completeness"]["overall"],
            "missing_segments": missing,
        }

    if emb is not None:
        c = emb["completeness"]
        rows.append(row("embedded (1 serve)", emb, emb["accepted"], c["segments_expected"] - c["segments_captured"],
                        emb["idle_rss_mib"], emb["peak_rss_mib"]))
    if dist is not None:
        for x in dist["per_worker"]:
            rows.append(row(f"worker {x['worker']}", x, x["recordings"], x["missing_segments"], x["idle_rss_mib"],
                            x["peak_rss_mib"]))
        rows.append(row(f"distributed ({dist['workers']} workers)", dist, dist["accepted"], dist["missing_segments"],
                        None, None))
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    headers = ["side", "recs", "CPU-s/stream-min", "x emb", "steady", "dRSS/stream MiB", "x emb",
               "idle RSS", "peak RSS", "complete %", "missing"]

    def f(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else fmt.format(value)

    table = [headers]
    for r in rows:
        table.append([
            r["side"], str(r["recordings"]), f(r["cpu_per_stream_minute"], "{:.4f}"), f(r["cpu_ratio"], "{:.2f}"),
            f(r["cpu_steady"], "{:.4f}"), f(r["mem_per_stream_mib"], "{:.3f}"), f(r["mem_ratio"], "{:.2f}"),
            f(r["idle_rss_mib"], "{:.0f}"), f(r["peak_rss_mib"], "{:.0f}"),
            f(None if r["completeness"] is None else 100 * r["completeness"], "{:.2f}"), str(r["missing_segments"]),
        ])
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = [" | ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
             for line in table]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def verdicts(emb: dict[str, Any] | None, dist: dict[str, Any] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if dist is None:
        return out
    out.append({"check": f"0 missing segments over {dist['accepted']} distributed recordings",
                "value": dist["missing_segments"], "passed": dist["missing_segments"] == 0
                and dist["completed"] == dist["accepted"] == dist["recordings"]})
    if emb is None:
        return out
    for label, key in (("CPU-s per stream-minute", "cpu_per_stream_minute"), ("dRSS per stream", "mem_per_stream_mib")):
        base = emb.get(key)
        if base and dist.get(key) is not None:
            ratio = dist[key] / base
            worst = max((x[key] / base for x in dist["per_worker"] if x.get(key) is not None), default=ratio)
            out.append({"check": f"{label}: distributed / embedded <= {TARGET_RATIO:g}", "value": ratio,
                        "worst_worker": worst, "passed": ratio <= TARGET_RATIO})
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = datetime.now(UTC)
    n, w = args.streams_per_worker, args.workers
    result: dict[str, Any] = {
        "benchmark": "distributed",
        "started_at": started.isoformat(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {"streams_per_worker": n, "workers": w, "seconds": args.seconds, "bitrate": args.bitrate,
                   "segment": args.segment, "window": WINDOW, "sides": args.sides,
                   "worker_concurrency": n + 10, "worker_log_level": WORKER_LOG_LEVEL},
        "machine": machine(),
        "notes": [],
    }
    print(f"distributed benchmark: {w} workers x {n} streams (embedded: 1 process x {n}), {args.seconds} s, "
          f"{args.bitrate / 1e6:g} Mbit/s, {args.segment:g} s segments; {os.cpu_count()} CPUs, "
          f"load {result['machine']['loadavg_at_start'][0]:.2f}")
    if args.sides != "embedded":
        problems = []
        pg = postgres_server_url()
        if (why := check_postgres(pg)) is not None:
            problems.append(f"PostgreSQL at {pg.render_as_string(hide_password=True)}: {why} (set DATABASE_URL)")
        if (why := check_redis(redis_url())) is not None:
            problems.append(f"Redis at {redis_url()}: {why} (set REDIS_URL)")
        if problems:
            for problem in problems:
                print(f"  !! {problem}")
            print("the distributed half needs both; nothing was run")
            return 2
    root = Path(tempfile.mkdtemp(prefix="livevault-bench-dist-"))
    try:
        with contextlib.ExitStack() as stack:
            server = ServerProcess(args.segment, int(args.bitrate), WINDOW, root / "streamserver.log")
            stack.callback(server.stop)
            print(f"  live test server pid {server.pid} at {server.base_url}")
            emb = dist = None
            if args.sides in ("both", "embedded"):
                emb = run_embedded(args, server, root, stack, result["notes"])
                result["loadavg_after_embedded"] = loadavg()
            if args.sides in ("both", "distributed"):
                dist = run_distributed(args, server, root, stack, result["notes"])
        table = build_table(emb, dist)
        checks = verdicts(emb, dist)
        result.update(embedded=emb, distributed=dist, table=table, verdicts=checks, loadavg_at_end=loadavg())
        print()
        print(render_table(table))
        print()
        for check in checks:
            value = check["value"]
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            extra = f" (worst worker {check['worst_worker']:.2f})" if "worst_worker" in check else ""
            print(f"{'PASS' if check['passed'] else 'FAIL'}  {check['check']}: {shown}{extra}")
        if emb is not None:
            print(f"\nembedded: {emb['completed']}/{emb['accepted']} completed; capture-only window "
                  f"{emb['capture_only_window_s']:.1f} s; test server {emb['server_cpu_during_capture_s']:.1f} CPU-s")
        if dist is not None:
            print(f"distributed: {dist['completed']}/{dist['accepted']} completed; recordings per worker "
                  f"{', '.join(str(x['recordings']) for x in dist['per_worker'])}; TTFS median "
                  f"{_fmt(dist['ttfs_median_s'])} s, p95 {_fmt(dist['ttfs_p95_s'])} s")
            busy = dist["machine_busy_during_capture"]
            parts = {"workers": busy["workers_cpu_s"], "API": busy["api_cpu_s"], "test server": busy["server_cpu_s"],
                     "PostgreSQL (this database)": busy["postgres_backends_cpu_s"],
                     "this benchmark": busy["benchmark_cpu_s"]}
            rest = busy["cpu_s"] - sum(parts.values())
            print(f"  during capture the machine was busy {busy['cpu_s']:.0f} CPU-s ({busy['cores_busy']:.2f} of "
                  f"{os.cpu_count()} cores): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
                  + f", everything else (Redis, other work on the machine) {rest:.1f}")
            for x in dist["per_worker"]:
                print(f"  worker {x['worker']}: window {x['capture_only_window_s']:.1f} s, "
                      f"{x['capture_only_stream_minutes']:.1f} stream-min, {x['cpu_capture_only_s']:.1f} CPU-s; "
                      f"finalize {x['cpu_finalize_s']:.1f} CPU-s; idle {x['idle_rss_mib']:.0f} -> peak "
                      f"{x['peak_rss_mib']:.0f} MiB")
        load = result["machine"]["loadavg_at_start"]
        print(f"\nmachine: {os.cpu_count()} CPUs, shared with other work (load average at start {load[0]:.2f}, "
              f"at end {result['loadavg_at_end'][0]:.2f}); repeat before trusting a difference under ~20 %")
        save_result("distributed", started, result)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; child processes stopped, database dropped, Redis keys and temporary files removed")
        return 130
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
