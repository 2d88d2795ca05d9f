"""Retention and disk: what may be deleted, when, and whether a new recording may start at all.

This package owns the free-space watermark (`disk.DiskWatch`: below LIVEVAULT_MIN_FREE_BYTES no new recording
starts, DISK_FULL; LIVEVAULT_DISK_ALERT_PERCENT raises an alert in /ready, the metrics and the logs), the
retention policy (`policy.plan`: LIVEVAULT_RETENTION_DAYS and each watcher's `retention_days`,
`max_recordings` and `max_bytes`, never a pinned or unfinished recording; when the disk runs low, local copies
that have a verified remote copy go first) and the one cleanup job that applies it in both modes
(`service.RetentionService.run`, run by `service.RetentionLoop` in embedded mode and by the
`livevault.retention.sweep` Celery beat task when scaled out). Deleting goes through
`RecordingService.delete`, so a recording is removed wherever its files are.
"""
