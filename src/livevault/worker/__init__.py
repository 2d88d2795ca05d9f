"""Celery worker entry points (scale-out mode)."""
