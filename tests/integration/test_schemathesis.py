"""Property-based API tests over the OpenAPI document (schemathesis): every operation, with an admin key, a
read-scoped key and no key, answers without a server error and with a body that matches its documented schema.

The server is a real `livevault serve` process (embedded mode, its own data dir). Rate limits are off here so
that hypothesis can send its examples; scopes, 401/403 and validation are what is exercised.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.integration.celery_helpers import free_port

ADMIN = "schema-admin-key"
LIVEVAULT = str(Path(sys.executable).with_name("livevault"))
MAX_EXAMPLES = int(os.environ.get("LIVEVAULT_SCHEMATHESIS_EXAMPLES", "25"))


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except a deliberate 503 with livevault's error body (a feature that is not configured here, like
    LiveKit: LIVEKIT_NOT_CONFIGURED); a 500 or a 503 without a specific error code is a failure."""
    del ctx, case
    if response.status_code < 500:
        return None
    code = None
    try:
        code = response.json().get("error_code")
    except Exception:  # not JSON: certainly not deliberate
        code = None
    if response.status_code == 503 and code and code.endswith("_NOT_CONFIGURED"):
        return None
    raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")


CHECKS = [no_server_error, response_schema_conformance, content_type_conformance]
OPEN = {"/healthz", "/health", "/ready", "/webhooks/stream", "/webhooks/livekit"}  # no key: webhooks are signed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, a read-scoped key) of a `livevault serve` process."""
    data = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LIVEVAULT_", "CELERY_", "PROMETHEUS_")) and k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"LIVEVAULT_DATA_DIR": str(data), "API_KEYS": ADMIN, "RATE_LIMIT_PER_MIN": "0",
                "LIVEVAULT_AUTH_FAILURES_PER_MIN": "0", "LIVEVAULT_SCHEDULER_ENABLED": "false",
                "LIVEVAULT_HTTP_TIMEOUT": "2", "LIVEVAULT_LOG_JSON": "false", "LOG_LEVEL": "WARNING",
                "LIVEVAULT_WEBHOOK_SECRET": "schemathesis-webhook-secret", "LIVEVAULT_PORT": str(port)})
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen([LIVEVAULT, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (data / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (data / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        made = httpx.post(f"{base}/keys", json={"name": "schemathesis", "scope": "read"},
                          headers={"X-API-Key": ADMIN}, timeout=10)
        assert made.status_code == 201, made.text
        yield base, made.json()["key"]
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_every_operation_with_and_without_keys(server: tuple[str, str]) -> None:
    base, read_key = server
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "x-api-key"}
            for key in (ADMIN, read_key, None):
                headers = {"X-API-Key": key} if key else {}
                response = case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)
                if key is None and case.operation.path not in OPEN:
                    assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
