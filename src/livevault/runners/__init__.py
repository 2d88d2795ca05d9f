"""Runners decide where jobs execute: in this process (local) or on Celery workers."""
