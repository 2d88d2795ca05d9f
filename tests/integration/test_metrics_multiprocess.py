"""Metrics from every process: two Celery worker processes record, and `/metrics` of a separate API process
(as docs/metrics.md says to deploy it: one PROMETHEUS_MULTIPROC_DIR for all) shows their sum, the health of each
running recording, and every series the document lists."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from livevault.observability import process_identifier
from livevault.testsrc import StreamServer
from tests.conftest import HEADERS
from tests.integration.celery_helpers import free_port
from tests.integration.helpers import wait_until
from tests.integration.test_celery import READY, prefix, session_prefix  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.postgres]

DOC = Path(__file__).parents[2] / "docs" / "metrics.md"


def documented_series() -> set[str]:
    """Every metric family named in the first column of the tables of docs/metrics.md (`_total` dropped, as
    the exposition's `# TYPE` lines name counters)."""
    names = set()
    for line in DOC.read_text().splitlines():
        found = re.match(r"\| `(livevault_\w+)", line)
        if found:
            names.add(found.group(1).removesuffix("_total"))
    return names


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def own_counter(directory: Path, pid: int, name: str) -> float:
    """One process's own value of an unlabelled counter, read from its file alone."""
    host = process_identifier().rsplit("-", 1)[0]
    files = [str(p) for p in directory.glob(f"counter_{host}-{pid}.db")]
    assert files, f"no counter file of process {pid} in {sorted(p.name for p in directory.iterdir())}"
    for metric in MultiProcessCollector.merge(files):
        for sample in metric.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


@pytest.fixture
def env_for(tmp_path: Path, postgres_database_url: str, prefix: str) -> Any:  # noqa: F811
    from tests.integration.celery_helpers import livevault_env, redis_url

    def make(**extra: str) -> dict[str, str]:
        return livevault_env(data_dir=tmp_path / "data", database_url=postgres_database_url, broker=redis_url(),
                             prefix=prefix, **extra)
    return make


def test_two_worker_processes_are_summed_in_the_api_metrics(
    tmp_path: Path, env_for: Any, stream_server: StreamServer
) -> None:
    from tests.integration.celery_helpers import processes

    metrics_dir = tmp_path / "metrics"
    env = env_for(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), RATE_LIMIT_PER_MIN="0")
    streams = [stream_server.stream(f"m-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6) for _ in range(2)]
    port = free_port()
    with processes(tmp_path) as start:
        workers = [start(f"w{n}", ["worker", "-Q", "default,recording", "-c", "1", "-n", f"w{n}@%h"], env)
                   for n in (1, 2)]
        start("api", ["serve", "--port", str(port)], env)
        for worker in workers:
            worker.wait_for_log(READY)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=10) as api:
            wait_until(lambda: _answers(api), timeout=60, interval=0.2)
            ids = []
            cids = [f"cid-{uuid.uuid4().hex}" for _ in streams]
            for stream, cid in zip(streams, cids, strict=True):
                accepted = api.post("/recordings", json={"url": stream.playlist_url("hi"), "duration": 14},
                                    headers={"X-Correlation-ID": cid})
                assert accepted.status_code == 202, accepted.text
                ids.append(accepted.json()["recording_id"])

            # While both record, each in its own worker: both are active, each with its health series
            def both_healthy() -> bool:
                text = api.get("/metrics").text
                return value(text, "livevault_recordings_active") == 2 and all(
                    value(text, "livevault_recording_bytes_per_second", recording_id=rid, source="url") > 0
                    for rid in ids)

            wait_until(both_healthy, timeout=40, interval=0.5)
            live = api.get("/metrics").text
            for rid in ids:
                for series in ("livevault_recording_gap_seconds", "livevault_recording_stall_seconds",
                               "livevault_recording_reconnects", "livevault_recording_segment_lag"):
                    assert (series, (("recording_id", rid), ("source", "url"))) in samples(live), series
                assert value(live, "livevault_recording_stall_seconds", recording_id=rid, source="url") < 10

            deadline = time.monotonic() + 90
            while any(api.get(f"/recordings/{rid}").json()["status"] in {"pending", "recording", "processing"}
                      for rid in ids):
                assert time.monotonic() < deadline, "the recordings did not finish"
                time.sleep(0.5)
            bodies = [api.get(f"/recordings/{rid}").json() for rid in ids]
            text = api.get("/metrics").text
        logs = "".join(w.log() for w in workers)

    assert [b["status"] for b in bodies] == ["completed", "completed"], bodies
    # the request's correlation id reached the worker's log lines of that recording (through Celery)
    for rid, cid in zip(ids, cids, strict=True):
        assert any(f"recording_id={rid}" in line and f"correlation_id={cid}" in line and "recording ended" in line
                   for line in logs.splitlines()), logs[-3000:]
    # Each worker recorded one of them, and the API's answer is the sum of both processes
    per_worker = [own_counter(metrics_dir, w.proc.pid, "livevault_capture_segments_total") for w in workers]
    assert all(n > 0 for n in per_worker), per_worker
    assert value(text, "livevault_capture_segments_total") == sum(per_worker)
    assert value(text, "livevault_capture_segments_total") == sum(b["integrity"]["segments_captured"] for b in bodies)
    assert value(text, "livevault_recordings_total", status="completed") == 2
    assert value(text, "livevault_recordings_active") == 0
    # Every series docs/metrics.md lists is there (the per-recording ones were checked while recording)
    health = {"livevault_recording_gap_seconds", "livevault_recording_stall_seconds",
              "livevault_recording_reconnects", "livevault_recording_segment_lag",
              "livevault_recording_bytes_per_second"}
    missing = documented_series() - health - family_names(text)
    assert not missing, f"documented but not exported: {sorted(missing)}"
    undocumented = {n for n in family_names(text) if n.startswith("livevault_")} - documented_series()
    assert not undocumented, f"exported but not documented: {sorted(undocumented)}"
    assert not {n for n in family_names(text) if not n.startswith("livevault_")}


def _answers(api: httpx.Client) -> bool:
    try:
        return api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False
