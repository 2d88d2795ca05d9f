"""JSON log lines carry the correlation id and never a secret."""

from __future__ import annotations

import json
import logging

import pytest

from livevault.observability import JsonFormatter, configure_logging, correlation_id_var, redact


def test_json_lines_have_the_seed_fields_and_redact_secrets() -> None:
    record = logging.makeLogRecord(
        {"name": "livevault.x", "levelno": logging.INFO, "levelname": "INFO", "msg": "Recording %s",
         "args": ("started",), "room_id": "123", "options": {"proxy_password": "hunter2", "cookies": "/s/c.txt"}}
    )
    token = correlation_id_var.set("cid-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        correlation_id_var.reset(token)
    assert line["message"] == "Recording started"
    assert line["level"] == "INFO"
    assert line["service"] == "livevault"
    assert line["correlation_id"] == "cid-1"
    assert line["room_id"] == "123"
    assert line["timestamp"].endswith("Z")
    assert line["options"]["proxy_password"] == "***"
    assert line["options"]["cookies"] == "***"
    assert "hunter2" not in json.dumps(line)


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("n", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: bad" in json.loads(JsonFormatter().format(record))["exc_info"]


@pytest.mark.parametrize("json_logs", [True, False])
def test_configure_logging_installs_one_handler(json_logs: bool) -> None:
    configure_logging("DEBUG", json_logs=json_logs)
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert root.level == logging.DEBUG
    assert redact([{"token": 1}]) == [{"token": "***"}]
    configure_logging("WARNING")
