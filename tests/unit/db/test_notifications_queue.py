"""The notification queue: one head per (stream, target), claims that exclude each other, no duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from livevault.db.repositories import NotificationRepository
from livevault.domain.notification import DeliveryStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _row(n: int, stream: str, target: str = "http://t/1", event: str | None = None) -> dict[str, Any]:
    return {"id": f"d{n}", "event_id": event or f"e{n}", "event_type": "recording.started", "stream": stream,
            "recording_id": stream, "target": target, "body": "{}", "created_at": NOW, "next_attempt_at": NOW}


def test_only_the_first_pending_delivery_of_a_stream_and_target_is_due(db_session: Session) -> None:
    repo = NotificationRepository(db_session)
    repo.add([_row(1, "a"), _row(2, "a"), _row(3, "b"), _row(4, "a", target="http://t/2")])
    heads = repo.due_heads(NOW, 10)
    assert [d.id for d in heads] == ["d1", "d3", "d4"]

    assert repo.claim(heads[0].seq, NOW, NOW + timedelta(seconds=30))
    assert not repo.claim(heads[0].seq, NOW, NOW + timedelta(seconds=30)), "a claim excludes a second one"
    assert [d.id for d in repo.due_heads(NOW, 10)] == ["d3", "d4"]

    repo.settle(heads[0].seq, status=DeliveryStatus.DELIVERED, attempts=1, delivered_at=NOW)
    assert [d.id for d in repo.due_heads(NOW, 10)] == ["d2", "d3", "d4"]


def test_a_retry_later_keeps_the_rest_of_the_stream_waiting(db_session: Session) -> None:
    repo = NotificationRepository(db_session)
    repo.add([_row(1, "a"), _row(2, "a")])
    first = repo.due_heads(NOW, 10)[0]
    repo.claim(first.seq, NOW, NOW + timedelta(seconds=30))
    repo.settle(first.seq, attempts=1, last_error="HTTP 500", next_attempt_at=NOW + timedelta(seconds=5))
    assert repo.due_heads(NOW, 10) == []
    assert [d.id for d in repo.due_heads(NOW + timedelta(seconds=6), 10)] == ["d1"]

    repo.settle(first.seq, status=DeliveryStatus.FAILED, attempts=8)
    assert [d.id for d in repo.due_heads(NOW, 10)] == ["d2"], "a failed delivery no longer blocks the next"
    again = repo.retry("d1", NOW)
    assert again is not None
    assert again.status is DeliveryStatus.PENDING
    assert again.attempts == 0


def test_an_event_is_queued_once_per_target(db_session: Session) -> None:
    repo = NotificationRepository(db_session)
    repo.add([_row(1, "a", event="same")])
    repo.add([_row(2, "a", event="same"), _row(3, "a", event="same", target="http://t/2")])
    items, total = repo.search()
    assert total == 2
    assert {d.target for d in items} == {"http://t/1", "http://t/2"}
    assert repo.counts() == {"pending": 2}
