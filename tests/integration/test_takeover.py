"""One recorder per recording across worker processes: SIGKILL the owner and another worker continues the SAME
recording within 10 s with nothing missing; pause the owner past its lease and it writes nothing afterwards.

Real processes: two `livevault worker`s and `livevault scheduler` (beat: sweeps lapsed leases every 2 s) on a
real Redis (unique queue prefix) and a PostgreSQL database of this test session, sharing one data dir.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from livevault.testsrc import StreamServer
from tests.integration.helpers import decode_frame_numbers, recording_file, wait_finished, wait_until
from tests.integration.test_celery import READY, api_client, post_recording, prefix, session_prefix  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.postgres]

LEASE_TTL = "4"


@pytest.fixture
def env_for(tmp_path: Path, postgres_database_url: str, prefix: str) -> Any:  # noqa: F811
    from tests.integration.celery_helpers import livevault_env, redis_url

    def make(**extra: str) -> dict[str, str]:
        return livevault_env(data_dir=tmp_path / "data", database_url=postgres_database_url, broker=redis_url(),
                             prefix=prefix, LIVEVAULT_LEASE_TTL=LEASE_TTL, **extra)
    return make


@pytest.fixture
def settings_for(tmp_path: Path, postgres_database_url: str, prefix: str) -> Any:  # noqa: F811
    from tests.conftest import make_settings
    from tests.integration.celery_helpers import redis_url

    def make() -> Any:
        url = redis_url()
        return make_settings(tmp_path / "data", runner="celery", database_url=postgres_database_url,
                             celery_broker_url=url, celery_result_backend=url, celery_queue_prefix=prefix,
                             scheduler_enabled=False, redis_namespace=prefix.rstrip(":"))
    return make


def ledger(api: Any, recording_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/recordings/{recording_id}/ledger").json()
    return body


def spool_state(spool: Path) -> dict[str, int]:
    """Size of every file in the spool: parts, their indexes, parts.jsonl, gaps.jsonl."""
    return {p.name: p.stat().st_size for p in sorted(spool.iterdir()) if p.is_file()}


def test_a_killed_owner_is_taken_over_within_ten_seconds_with_nothing_missing(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    from tests.integration.celery_helpers import processes

    stream = stream_server.stream(f"k-{uuid.uuid4().hex[:8]}", segment_duration=2.0, window=6)
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        owner = start("owner", ["worker", "-Q", "recording", "-c", "4", "-n", "owner@%h"], env_for())
        owner.wait_for_log(READY)
        accepted = post_recording(api, stream.playlist_url("hi"), duration=300)  # ended by a stop below
        rid = accepted["recording_id"]
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= 2, timeout=30)
        standby = start("standby", ["worker", "-Q", "default,recording", "-c", "4", "-n", "standby@%h"], env_for())
        start("beat", ["scheduler"], env_for())
        standby.wait_for_log(READY)

        os.kill(owner.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: len(ledger(api, rid)["parts"]) >= 2, timeout=20, interval=0.2)
        took_over = time.monotonic() - killed_at
        resumed = len(ledger(api, rid)["segments"])
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= resumed + 3, timeout=30)
        assert api.post(f"/recordings/{rid}/stop").status_code == 202
        body = wait_finished(api, rid, timeout=120)
        final = ledger(api, rid)

    print(f"takeover after SIGKILL: {took_over:.1f} s")
    assert took_over <= 10.0, f"takeover took {took_over:.1f} s"
    assert body["status"] == "completed", body
    assert [p["reason"] for p in final["parts"]][:2] == ["start", "resume"], final["parts"]
    sequences = sorted({s["sequence"] for s in final["segments"]})
    assert sequences == list(range(sequences[0], sequences[-1] + 1)), "a segment is missing"
    assert body["integrity"]["segments_missing"] == 0
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "frames duplicated or out of order across the takeover"
    by_seq = {p.sequence: p for p in stream.produced()}
    expected = [f for seq in sequences for f in by_seq[seq].frames]
    assert frames == expected, "the MP4 holds exactly the frames of the indexed segments"


def test_a_paused_owner_writes_nothing_after_losing_its_lease(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    from tests.integration.celery_helpers import processes

    stream = stream_server.stream(f"p-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=8)
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        owner = start("owner", ["worker", "-Q", "recording", "-c", "4", "-n", "owner@%h"], env_for())
        owner.wait_for_log(READY)
        rid = post_recording(api, stream.playlist_url("hi"), duration=300)["recording_id"]
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= 3, timeout=30)
        standby = start("standby", ["worker", "-Q", "default,recording", "-c", "4", "-n", "standby@%h"], env_for())
        start("beat", ["scheduler"], env_for())
        standby.wait_for_log(READY)

        os.kill(owner.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: len(ledger(api, rid)["parts"]) >= 2, timeout=20, interval=0.2)
            spool = settings.spool_dir / rid
            first_part = json.loads((spool / "parts.jsonl").read_text().splitlines()[0])["path"]
            frozen = {name: size for name, size in spool_state(spool).items()
                      if name.startswith(Path(first_part).stem)}
        finally:
            os.kill(owner.proc.pid, signal.SIGCONT)
        time.sleep(4.0)  # the owner runs again: it must notice the lost lease before writing anything
        after_wake = {name: size for name, size in spool_state(spool).items() if name in frozen}
        assert api.post(f"/recordings/{rid}/stop").status_code == 202
        body = wait_finished(api, rid, timeout=120)
        owner_log = owner.log()

    assert after_wake == frozen, "the stale owner wrote to its part after losing the lease"
    assert "lapsed locally" in owner_log or "taken over" in owner_log, owner_log[-3000:]
    assert body["status"] == "completed", body
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "frames duplicated or out of order"


def test_takeover_needs_no_scheduler_process(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer
) -> None:
    """No `livevault scheduler` at all: the surviving worker's own lease sweep takes the recording over."""
    from tests.integration.celery_helpers import processes

    stream = stream_server.stream(f"n-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=8)
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        owner = start("owner", ["worker", "-Q", "recording", "-c", "4", "-n", "owner@%h"], env_for())
        owner.wait_for_log(READY)
        rid = post_recording(api, stream.playlist_url("hi"), duration=300)["recording_id"]
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= 2, timeout=30)
        standby = start("standby", ["worker", "-Q", "default,recording", "-c", "4", "-n", "standby@%h"], env_for())
        standby.wait_for_log(READY)

        os.kill(owner.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: len(ledger(api, rid)["parts"]) >= 2, timeout=25, interval=0.2)
        took_over = time.monotonic() - killed_at
        resumed = len(ledger(api, rid)["segments"])
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= resumed + 2, timeout=30)
        assert api.post(f"/recordings/{rid}/stop").status_code == 202
        body = wait_finished(api, rid, timeout=120)

    print(f"takeover without a scheduler: {took_over:.1f} s")
    assert took_over <= 15.0, f"takeover took {took_over:.1f} s"
    assert body["status"] == "completed", body
    assert body["integrity"]["segments_missing"] == 0
    frames = decode_frame_numbers(recording_file(settings.recordings_dir, body))
    assert frames == sorted(set(frames)), "frames duplicated or out of order across the takeover"
