"""Distributed mode across processes: a stop reaches the worker that owns the recording, and 2,000 TikTok watchers
shared by two workers are each checked once per interval, never by two at once (from the fake TikTok's log)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livevault.services.watching.watch import WatchRequest
from livevault.testsrc import StreamServer
from tests.fakes.tiktok import FakeTikTok
from tests.integration.helpers import wait_finished, wait_until
from tests.integration.test_celery import READY, api_client, post_recording, prefix, session_prefix  # noqa: F401
from tests.integration.test_takeover import env_for, ledger, settings_for  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.postgres]


def test_a_stop_sent_to_the_api_finalizes_a_recording_owned_by_a_worker_within_five_seconds(
    tmp_path: Path, env_for: Any, settings_for: Any, stream_server: StreamServer  # noqa: F811
) -> None:
    from tests.integration.celery_helpers import processes

    stream = stream_server.stream(f"s-{uuid.uuid4().hex[:8]}", segment_duration=1.0, window=6)
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        worker = start("worker", ["worker", "-c", "4", "-n", "w1@%h"], env_for())
        worker.wait_for_log(READY)
        rid = post_recording(api, stream.playlist_url("hi"), duration=120)["recording_id"]
        wait_until(lambda: len(ledger(api, rid)["segments"]) >= 3, timeout=30)
        asked = time.monotonic()
        assert api.post(f"/recordings/{rid}/stop").status_code == 202
        wait_until(lambda: api.get(f"/recordings/{rid}").json()["status"] != "recording", timeout=10, interval=0.1)
        reached = time.monotonic() - asked
        body = wait_finished(api, rid, timeout=60)
        finished = time.monotonic() - asked

    print(f"stop reached the owning worker after {reached:.1f} s; finalized after {finished:.1f} s")
    assert reached <= 5.0, f"the owning worker took {reached:.1f} s to act on the stop"
    assert body["status"] == "completed", body
    assert finished <= 30.0
    assert body["duration_seconds"] < 30, "stopped long before its 120 s"


_rooms = itertools.count(7_600_000_000_000_000_000)


@pytest.fixture(scope="module")
def fake(stream_server: StreamServer) -> Iterator[FakeTikTok]:
    with FakeTikTok(stream_server.base_url) as server:
        yield server


def test_two_thousand_watchers_on_two_workers_are_checked_once_per_interval(
    tmp_path: Path, env_for: Any, settings_for: Any, fake: FakeTikTok  # noqa: F811
) -> None:
    from tests.integration.celery_helpers import processes

    interval, count = 10.0, 2000
    rooms = [str(next(_rooms)) for _ in range(count)]
    for i, room in enumerate(rooms):
        fake.add_user(f"dist{uuid.uuid4().hex[:6]}{i}", room, live=False)
    extra = {"LIVEVAULT_TIKTOK_WEB_URL": fake.base_url, "LIVEVAULT_TIKTOK_WEBCAST_URL": fake.base_url,
             "LIVEVAULT_TIKTOK_REQUESTS_PER_MIN": "100000", "LIVEVAULT_WATCHER_JITTER": "0"}
    settings = settings_for()
    with processes(tmp_path) as start, api_client(settings) as api:
        workers = [start(f"w{i}", ["worker", "-Q", "default", "-c", "8", "-n", f"w{i}@%h"], env_for(**extra))
                   for i in (1, 2)]
        for worker in workers:
            worker.wait_for_log(READY)
        service = api.app.state.container.watchers  # type: ignore[attr-defined]
        for room in rooms:
            service.create(WatchRequest(key=room, source_kind="tiktok", target=room, poll_interval=interval,
                                        room_id=room))
        started = time.monotonic()
        start("beat", ["scheduler"], env_for(**extra))
        time.sleep(2.5 * interval)
        watched_for = time.monotonic() - started
        logs = [w.log() for w in workers]

    checks: dict[str, list[float]] = defaultdict(list)
    for request in fake.requests:
        if request.path.startswith("/webcast/room/check_alive"):
            for room in request.room_ids:
                checks[room].append(request.time)
    ours = {room: sorted(checks[room]) for room in rooms}
    assert all(ours.values()), f"{sum(1 for v in ours.values() if not v)} watchers were never checked"
    gaps = [b - a for times in ours.values() for a, b in itertools.pairwise(times)]
    assert gaps, "no watcher was checked twice"
    assert min(gaps) >= 0.9 * interval, f"a watcher was checked twice within {min(gaps):.2f} s"
    per_watcher = [len(v) for v in ours.values()]
    most = int(watched_for // interval) + 1
    assert max(per_watcher) <= most, (max(per_watcher), most)
    assert min(per_watcher) >= 2, "every watcher is checked again after one interval"
    for log in logs:
        assert "livevault.watchers.tick" in log, "both workers took scheduler ticks"
