"""Connectivity probes for readiness that have no adapter of their own: the Celery broker."""

from __future__ import annotations

from kombu.connection import Connection

from livevault.cache.base import describe


def broker_error(url: str, timeout: float = 2.0) -> str | None:
    """None when the broker at `url` (redis://, amqp://, ...) accepts a connection, else why not. Blocks."""
    try:
        options = {"socket_timeout": timeout}
        with Connection(url, connect_timeout=timeout, transport_options=options) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # kombu wraps most failures in OperationalError; transports may leak their own
        return describe(exc)
    return None
