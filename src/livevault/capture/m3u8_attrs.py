"""HLS attribute lists (RFC 8216 §4.2) and the tolerant scalar parsing the playlist parsers share."""

from __future__ import annotations

import re

_ATTRIBUTE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*,?')


def parse_attributes(text: str) -> dict[str, str]:
    """`A=1,B="x,y",C=0x1F` → {"A": "1", "B": "x,y", "C": "0x1F"}; names upper-cased, quotes removed."""
    attrs: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        attrs[match.group(1).upper()] = value
    return attrs


def parse_int(value: str | None, default: int | None = None) -> int | None:
    """A decimal integer, or `default` when missing or malformed."""
    try:
        return int(value.strip()) if value is not None else default
    except ValueError:
        return default


def parse_float(value: str | None) -> float | None:
    """A decimal number, or None when missing or malformed."""
    try:
        return float(value.strip()) if value is not None else None
    except ValueError:
        return None


def parse_resolution(value: str | None) -> tuple[int, int] | None:
    """`1280x720` → (1280, 720); None when missing or malformed."""
    if not value or "x" not in value.lower():
        return None
    width, _, height = value.lower().partition("x")
    w, h = parse_int(width), parse_int(height)
    return (w, h) if w is not None and h is not None else None
