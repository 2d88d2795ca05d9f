"""`/metrics` of one embedded process: every documented series, one prefix, no duplicates of one quantity."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.test_metrics_multiprocess import documented_series, family_names

HEALTH = {"livevault_recording_gap_seconds", "livevault_recording_stall_seconds", "livevault_recording_reconnects",
          "livevault_recording_segment_lag", "livevault_recording_bytes_per_second"}


def test_every_documented_series_is_exported_under_one_prefix_and_nothing_else(api: TestClient) -> None:
    api.get("/recordings")
    names = family_names(api.get("/metrics").text)
    assert documented_series() - HEALTH <= names, sorted(documented_series() - HEALTH - names)
    assert names <= documented_series(), sorted(names - documented_series())
    # the seed-era duplicates are gone: one series per quantity
    for old in ("recordings_success", "recordings_failed", "disk_bytes_free", "celery_tasks", "http_requests"):
        assert old not in names
