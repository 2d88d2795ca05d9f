"""Recording leases on SQLite and PostgreSQL: one owner at a time, fencing tokens, takeover after a lapse."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from livevault.db.repositories import RecordingRepository
from livevault.domain.recording import RecordingStatus
from livevault.errors import LeaseLost
from livevault.services.recording.lease import Lease, LeaseKeeper
from livevault.services.uow import Database
from tests.dbfixtures import T0, make_recording


def test_one_owner_at_a_time_and_tokens_increase(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    repo.add(make_recording(1), spool_dir="/tmp/x")
    rid = make_recording(1).id
    later = T0 + timedelta(seconds=10)
    first = repo.claim_lease(rid, "a", later, T0)
    assert first == 1
    assert repo.claim_lease(rid, "b", later, T0 + timedelta(seconds=5)) is None, "a holds a live lease"
    assert repo.claim_lease(rid, "a", later, T0 + timedelta(seconds=5)) == 2, "the owner may re-claim"
    # a's lease lapses: b takes over with a new token; a's renewal and release no longer work.
    taken = repo.claim_lease(rid, "b", T0 + timedelta(seconds=30), T0 + timedelta(seconds=11))
    assert taken == 3
    assert repo.renew_leases("a", {rid: 2}, T0 + timedelta(seconds=40)) == set()
    assert repo.release_lease(rid, "a", 2) is False
    assert repo.renew_leases("b", {rid: 3}, T0 + timedelta(seconds=40)) == {rid}
    assert repo.release_lease(rid, "b", 3) is True
    assert repo.claim_lease(rid, "c", later, T0 + timedelta(seconds=12)) == 4, "a released lease is free"


def test_lapsed_finds_dead_owners_and_stale_pending_recordings(db_session: Session) -> None:
    repo = RecordingRepository(db_session)
    for i, status in enumerate([RecordingStatus.RECORDING, RecordingStatus.RECORDING, RecordingStatus.PENDING,
                                RecordingStatus.PENDING, RecordingStatus.COMPLETED]):
        repo.add(make_recording(i, status=status, created_at=T0), spool_dir="/tmp/x")
    ids = [make_recording(i).id for i in range(5)]
    repo.claim_lease(ids[0], "dead", T0 + timedelta(seconds=5), T0)
    repo.claim_lease(ids[1], "alive", T0 + timedelta(seconds=60), T0)
    repo.claim_lease(ids[3], "alive", T0 + timedelta(seconds=60), T0)  # pending but picked up
    found = {r.id for r in repo.lapsed(T0 + timedelta(seconds=10), pending_before=T0 + timedelta(seconds=1))}
    assert found == {ids[0], ids[2]}
    assert repo.lapsed(T0 + timedelta(seconds=10), pending_before=T0 - timedelta(seconds=1))[0].id == ids[0]


def recording_with_lease(factory: sessionmaker[Session], ttl: float) -> tuple[LeaseKeeper, Lease]:
    """A recording that is recording, and its lease claimed by owner "a"."""
    db = Database(factory)
    recording = make_recording(1, status=RecordingStatus.RECORDING)
    db.run(lambda s: RecordingRepository(s).add(recording, spool_dir="/tmp/x"))
    keeper = LeaseKeeper(db, ttl=ttl, owner="a")
    lease = db.run(lambda s: keeper.claim_in(s, recording.id))
    assert lease is not None
    return keeper, lease


async def test_a_holder_that_misses_its_renewals_stops_writing_before_anyone_takes_over(
    db_session_factory: sessionmaker[Session],
) -> None:
    _keeper, lease = recording_with_lease(db_session_factory, ttl=2.0)
    lease.check()  # fresh: writing is allowed
    # As if the process were frozen: no renewal for longer than the lease, by its own clock.
    lease.valid_until = time.monotonic() - 0.01
    with pytest.raises(LeaseLost):
        lease.check()
    assert lease.lost


async def test_renewal_discovers_a_takeover_and_stops_the_capture(
    db_session_factory: sessionmaker[Session],
) -> None:
    from livevault.capture.base import CaptureControl

    db = Database(db_session_factory)
    rid = make_recording(1).id
    db.run(lambda s: RecordingRepository(s).add(make_recording(1, status=RecordingStatus.RECORDING),
                                                spool_dir="/tmp/x"))
    a = LeaseKeeper(db, ttl=2.0, owner="a")
    b = LeaseKeeper(db, ttl=2.0, owner="b")
    lease = db.run(lambda s: a.claim_in(s, rid))
    assert lease is not None
    control = CaptureControl()
    a.hold(lease, control)
    await a.close()  # no background renewals: this test renews by hand
    await a.renew()
    assert not lease.lost
    assert db.run(lambda s: b.claim_in(s, rid)) is None, "a renews: b cannot take it"
    db.run(lambda s: RecordingRepository(s).expire_leases([rid], make_recording(1).created_at))
    taken = db.run(lambda s: b.claim_in(s, rid))
    assert taken is not None
    assert taken.token == lease.token + 1
    await a.renew()
    assert lease.lost
    assert control.stop.is_set()
    with pytest.raises(LeaseLost):
        lease.check()
    await a.release(lease)  # a lost lease is not released: b keeps it
    assert db.run(lambda s: RecordingRepository(s).renew_leases("b", {rid: taken.token}, T0 + timedelta(days=9999)))


def test_a_fenced_spool_refuses_every_write(tmp_path: object) -> None:
    from pathlib import Path

    from livevault.capture.spool import Spool
    from livevault.domain.capture import GapCause, GapRecord, PartContainer, PartReason

    directory = Path(str(tmp_path)) / "spool"
    spool = Spool(directory)
    allowed = [True]

    def fence() -> None:
        if not allowed[0]:
            raise LeaseLost("lost")

    spool.fence = fence
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.append_segment(b"\x47" * 188, sequence=1, duration=1.0)
    allowed[0] = False
    with pytest.raises(LeaseLost):
        part.write(b"\x47" * 188)
    with pytest.raises(LeaseLost):
        part.commit_segment(sequence=2, duration=1.0)
    with pytest.raises(LeaseLost):
        spool.open_part(PartContainer.TS, PartReason.RECONNECT)
    with pytest.raises(LeaseLost):
        spool.add_gap(GapRecord(part=1, started_at=0.0, ended_at=1.0, cause=GapCause.STALL))
    spool.close()
    reread = Spool(directory)
    assert len(reread.parts()) == 1
    assert [s.sequence for s in reread.segments()] == [1]
    assert reread.bytes_total == 188
    assert reread.gaps() == []


async def test_a_lease_released_during_a_renewal_is_not_reported_lost(
    db_session_factory: sessionmaker[Session],
) -> None:
    keeper, lease = recording_with_lease(db_session_factory, ttl=3.0)
    keeper.hold(lease)
    await keeper.close()
    renewing = asyncio.create_task(keeper.renew())
    await asyncio.sleep(0)  # the renewal has copied the held leases and is in the database...
    await keeper.release(lease)  # ...while the release clears the owner column
    await renewing
    assert not lease.lost
