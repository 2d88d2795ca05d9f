"""Managed API keys: only a hash is stored, a key is proven by prefix + hash, revoking and touching are
per-row and idempotent, and quotas count only what the key made and what is still active."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from livevault.db.session import create_engine_for, make_session_factory
from livevault.errors import InvalidInput, NotFound
from livevault.services.access import AccessService, Scope
from livevault.services.keys import KeyService, hash_key
from livevault.services.uow import Database


@pytest.fixture
def keys(database_url: str) -> Iterator[KeyService]:
    engine = create_engine_for(database_url)
    yield KeyService(Database(make_session_factory(engine)), touch_interval=0.5)
    engine.dispose()


def test_a_key_is_shown_once_and_only_its_hash_is_stored(keys: KeyService, database_url: str) -> None:
    made = keys.create("grafana", "read")
    assert made.secret.startswith(f"lvk_{made.key.prefix}_")
    assert made.key.key_hash == hashlib.sha256(made.secret.encode()).hexdigest() == hash_key(made.secret)
    engine = create_engine_for(database_url)
    with engine.connect() as connection:
        dumped = " ".join(str(v) for row in connection.execute(text("SELECT * FROM api_keys")) for v in row)
    engine.dispose()
    assert made.secret not in dumped
    assert made.secret.rsplit("_", 1)[1] not in dumped


def test_only_the_exact_key_is_accepted(keys: KeyService) -> None:
    made = keys.create("ci", "record")
    assert keys.verify(made.secret) == made.key
    tampered = made.secret[:-1] + ("0" if made.secret[-1] != "0" else "1")
    for wrong in (tampered, made.secret + "0", made.secret.upper(), f"lvk_{'0' * 12}_{'0' * 64}", "dev-key", ""):
        assert keys.verify(wrong) is None, wrong


def test_access_turns_a_managed_key_into_a_principal_with_its_scope_and_quota(keys: KeyService) -> None:
    made = keys.create("ci", "record", max_recordings=2)
    access = AccessService(["admin-key"], keys)
    principal = access.authenticate(made.secret)
    assert (principal.scope, principal.key_id, principal.name) == (Scope.RECORD, made.key.id, "ci")
    assert principal.quota is not None
    assert principal.quota.max_recordings == 2
    assert principal.rate_key == f"key:{made.key.id}"
    assert access.authenticate("admin-key").scope is Scope.ADMIN
    keys.revoke(made.key.prefix)
    with pytest.raises(Exception, match="revoked"):
        access.authenticate(made.secret)


def test_revoke_keeps_the_first_time_and_unknown_keys_are_not_found(keys: KeyService) -> None:
    made = keys.create("x", "read")
    first = keys.revoke(made.key.id).revoked_at
    time.sleep(0.01)
    assert keys.revoke(made.key.id).revoked_at == first
    with pytest.raises(NotFound):
        keys.revoke("nope")


def test_bad_names_scopes_and_quotas_are_refused(keys: KeyService) -> None:
    for name, scope, quota in (("", "read", None), ("x" * 101, "read", None), ("a;rm", "read", None),
                               ("ok", "root", None), ("ok", "read", -1), ("ok", "read", 10**9)):
        with pytest.raises(InvalidInput):
            keys.create(name, scope, max_recordings=quota)


def test_last_used_is_written_at_most_once_per_interval(keys: KeyService) -> None:
    made = keys.create("x", "read")
    keys.touch(made.key)
    first = keys.get(made.key.id).last_used_at
    assert first is not None
    keys.touch(made.key)
    assert keys.get(made.key.id).last_used_at == first
    time.sleep(0.6)
    keys.touch(made.key)
    later = keys.get(made.key.id).last_used_at
    assert later is not None
    assert later > first


def test_metrics_of_processes_that_died_on_this_host_are_dropped_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    from livevault.observability import process_identifier

    host = process_identifier().rsplit("-", 1)[0]
    dead = tmp_path / f"gauge_livesum_{host}-999999999.db"
    counter = tmp_path / f"counter_{host}-999999999.db"
    other_host = tmp_path / "gauge_livesum_elsewhere-999999999.db"
    for path in (dead, counter, other_host):
        path.write_bytes(b"")
    code = "import sys; from livevault.observability import setup_multiprocess_metrics as s; s(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    assert not dead.exists()
    assert counter.exists()  # counters of dead processes stay in the sum
    assert other_host.exists()  # another host's process may be alive
