"""The recordings page (`GET /`) with 100,000 recordings in the database: server time per request.

Rows are bulk-inserted straight into the `recordings` table, then the page is requested in-process (no network)
signed in with a session cookie: the first page, a status filter, a source filter and a deep page. Pass
`--database-url postgresql+psycopg://...` to measure on PostgreSQL (default: SQLite in a temp dir).

    python bench/web_recordings.py [--rows 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from livevault.api.app import create_app
from livevault.config import Settings
from livevault.db.session import create_engine_for, upgrade
from livevault.db.tables import RecordingRow

LIMIT_MS = 300.0
STATUSES = ["completed"] * 9 + ["failed"]
KINDS = ["tiktok", "url", "ytdlp"]


def fill(database_url: str, rows: int) -> None:
    engine = create_engine_for(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for i in range(rows):
            status = random.choice(STATUSES)
            created = now - timedelta(seconds=i * 37)
            batch.append({
                "id": str(uuid.uuid4()), "source_kind": random.choice(KINDS), "source": f"@user{i % 500}",
                "status": status, "created_at": created, "started_at": created, "updated_at": created,
                "completed_at": created + timedelta(minutes=30) if status == "completed" else None,
                "file_path": f"user{i % 500}/{i}.mp4" if status == "completed" else None,
                "file_size": random.randint(10**6, 10**9), "duration": random.uniform(60, 7200),
                "segments_captured": 900, "segments_missing": random.choice([0, 0, 0, 3]), "options": {},
                "title": f"Live #{i}", "watcher_key": f"@user{i % 500}", "quality": "best",
            })
            if len(batch) == 5000:
                conn.execute(insert(RecordingRow), batch)
                batch.clear()
        if batch:
            conn.execute(insert(RecordingRow), batch)
    engine.dispose()


def measure(client: TestClient, path: str, repeat: int) -> list[float]:
    client.get(path)  # warm caches
    times: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="livevault-web-bench-"))
    database_url = args.database_url or f"sqlite:///{data_dir / 'livevault.db'}"
    started = time.perf_counter()
    fill(database_url, args.rows)
    print(f"inserted {args.rows:,} recordings in {time.perf_counter() - started:.1f} s ({database_url.split(':')[0]})")
    settings = Settings(data_dir=data_dir, database_url=database_url, api_keys="bench-key", rate_limit_per_min=0,
                        scheduler_enabled=False, log_json=False)
    worst = 0.0
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        signed_in = client.post("/ui/signin", data={"api_key": "bench-key", "next": "/"}, follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        for label, path in (("first page", "/"), ("status=failed", "/?status=failed"),
                            ("source filter", "/?source=%40user7"), ("watcher filter", "/?watcher=%40user9"),
                            ("page 1000", "/?page=1000")):
            times = measure(client, path, args.repeat)
            p50, p95 = statistics.median(times), sorted(times)[max(0, int(len(times) * 0.95) - 1)]
            worst = max(worst, p95)
            print(f"{label:16} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(times):7.1f} ms")
    verdict = "PASS" if worst < LIMIT_MS else "FAIL"
    print(f"{verdict}: worst p95 {worst:.1f} ms (limit {LIMIT_MS:.0f} ms) with {args.rows:,} recordings")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
