"""Distributed mode against a real Redis: replicas share one rate limit and one `/files` cache, and `/ready`
reports Redis and the Celery broker. Each test has its own key namespace and deletes only its keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from livevault.api.app import create_app
from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import Recording, RecordingStatus
from tests.conftest import make_settings
from tests.redisfixtures import closed_port_url, redis_namespace, require_redis

API_KEY = "replica-test-key"


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with redis_namespace(redis_url) as ns:
        yield ns


def replica(tmp_path: Path, stack: ExitStack, **overrides: Any) -> TestClient:
    """One API process; replicas built from the same directory share the database like real ones do."""
    settings = make_settings(tmp_path / "data", api_keys=API_KEY, **overrides)
    return stack.enter_context(TestClient(create_app(settings), headers={"X-API-Key": API_KEY}))


def add_completed(client: TestClient, n: int) -> str:
    container: Any = client.app.state.container  # type: ignore[attr-defined]
    recording = Recording(
        id=f"00000000-0000-0000-0000-{n:012d}", source_kind="direct", source="https://example.com/live.m3u8",
        status=RecordingStatus.COMPLETED, created_at=datetime.now(UTC), file_path=f"r/{n}.mp4", file_size=n,
        completed_at=datetime.now(UTC),
    )
    container.db.run(lambda s: RecordingRepository(s).add(recording))
    return recording.id


def test_two_replicas_sharing_redis_enforce_one_limit_together(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    with ExitStack() as stack:
        a = replica(tmp_path, stack, redis_url=redis_url, redis_namespace=namespace, rate_limit_per_min=5)
        b = replica(tmp_path, stack, redis_url=redis_url, redis_namespace=namespace, rate_limit_per_min=5)
        # Given 3 requests on replica A and 2 on replica B
        assert [a.get("/recordings").status_code for _ in range(3)] == [200, 200, 200]
        assert [b.get("/recordings").status_code for _ in range(2)] == [200, 200]
        # When the 6th arrives on B, then it is refused, and A refuses too: the window is shared
        sixth = b.get("/recordings")
        assert sixth.status_code == 429
        assert sixth.json()["error_code"] == "RATE_LIMITED"
        assert 1 <= int(sixth.headers["Retry-After"]) <= 60
        assert sixth.json()["details"] == {"retry_after": int(sixth.headers["Retry-After"]), "limit": 5}
        assert a.get("/recordings").status_code == 429
        # Health checks need no key and are never limited
        assert a.get("/ready").status_code == 200
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()[:16]
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{namespace}:*"))
    windows = [k for k in keys if k.startswith(f"{namespace}:ratelimit") and digest in k]
    assert len(windows) == 1
    assert not any(API_KEY in k for k in keys)  # the raw key is never stored
    assert client.llen(windows[0]) == 5
    client.close()


def test_replicas_share_the_files_cache_and_a_delete_invalidates_it(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    with ExitStack() as stack:
        a = replica(tmp_path, stack, redis_url=redis_url, redis_namespace=namespace)
        b = replica(tmp_path, stack, redis_url=redis_url, redis_namespace=namespace)
        first = add_completed(a, 1)
        assert a.get("/files").json()["total"] == 1
        # Given a row written behind the file index's back, B still serves the page A cached in Redis
        add_completed(a, 2)
        assert b.get("/files").json()["total"] == 1
        # When B deletes a recording, then both replicas read the index afresh
        assert b.delete(f"/recordings/{first}").status_code in (200, 204)
        listed = a.get("/files").json()
        assert listed["total"] == 1
        assert [item["path"] for item in listed["items"]] == ["r/2.mp4"]
    client = redis.Redis.from_url(redis_url)
    assert int(client.get(f"{namespace}:files:generation") or 0) == 1
    client.close()


def test_with_redis_down_requests_are_served_and_ready_says_why(tmp_path: Path) -> None:
    with ExitStack() as stack:
        api = replica(tmp_path, stack, redis_url=closed_port_url(), rate_limit_per_min=100)
        assert [api.get("/recordings").status_code for _ in range(3)] == [200, 200, 200]
        assert api.get("/files").json()["total"] == 0
        ready = api.get("/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"]["ok"] is False
    assert "redis does not answer" in body["checks"]["redis"]["error"]
    assert body["reasons"] == [body["checks"]["redis"]["error"]]
    assert "broker" not in body["checks"]  # the local runner has no broker


def test_with_the_broker_down_ready_is_503(tmp_path: Path, redis_url: str, namespace: str) -> None:
    with ExitStack() as stack:
        api = replica(tmp_path, stack, runner="celery", celery_broker_url=closed_port_url(),
                      redis_url=redis_url, redis_namespace=namespace)
        ready = api.get("/ready")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"] == {"ok": True}
    assert checks["broker"]["ok"] is False
    assert "celery broker refuses a connection" in checks["broker"]["error"]


def test_with_everything_up_ready_is_200_and_lists_every_check(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    with ExitStack() as stack:
        api = replica(tmp_path, stack, runner="celery", celery_broker_url=redis_url,
                      redis_url=redis_url, redis_namespace=namespace)
        ready = api.get("/ready", headers={"X-API-Key": ""})
    assert ready.status_code == 200, ready.json()
    body = ready.json()
    assert body["status"] == "ready"
    assert body["runner"] == "celery"
    assert body["reasons"] == []
    assert set(body["checks"]) == {"database", "disk", "redis", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["disk"]["free_bytes"] > 0


def test_the_celery_runner_shares_state_through_its_redis_broker_without_redis_url(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    with ExitStack() as stack:
        a = replica(tmp_path, stack, runner="celery", celery_broker_url=redis_url, redis_namespace=namespace,
                    rate_limit_per_min=2)
        b = replica(tmp_path, stack, runner="celery", celery_broker_url=redis_url, redis_namespace=namespace,
                    rate_limit_per_min=2)
        assert a.get("/recordings").status_code == 200
        assert b.get("/recordings").status_code == 200
        assert a.get("/recordings").status_code == 429
        assert set(a.get("/ready").json()["checks"]) == {"database", "disk", "redis", "broker"}


def test_embedded_mode_needs_no_redis(tmp_path: Path) -> None:
    with ExitStack() as stack:
        api = replica(tmp_path, stack, rate_limit_per_min=2)
        ready = api.get("/ready")
        assert [api.get("/recordings").status_code for _ in range(3)] == [200, 200, 429]
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "disk"}
