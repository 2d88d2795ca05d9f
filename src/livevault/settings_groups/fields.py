"""Helpers the settings fields share: env-name aliases and Go-style durations."""

from __future__ import annotations

import re

from pydantic import AliasChoices


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | str:
    """Seconds of a Go duration (`10s`, `1m30s`, `250ms`) or a plain number; anything else is returned as is
    (for the field's own validation to reject)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return text
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
