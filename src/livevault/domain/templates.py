"""Output templates: turn a recording's fields into a relative path that cannot leave its root."""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from livevault.errors import InvalidTemplate

if TYPE_CHECKING:
    from datetime import datetime

DEFAULT_OUTPUT_TEMPLATE = "{room_id}/{YYYY}/{MM}/{DD}/{timestamp}_{title}.mp4"
TEMPLATE_FIELDS = frozenset(
    {"room_id", "source", "title", "author", "recording_id", "timestamp", "YYYY", "MM", "DD", "hh", "mm", "ss",
     "stream_key"}
)
_MAX_COMPONENT = 120
_MAX_TEMPLATE = 512
_UNSAFE = re.compile(r"[^\w.\-@+=,() ]+", re.UNICODE)


def validate_template(template: str) -> str:
    """Reject templates with unknown fields, format specs, absolute paths or parent references."""
    if not template or len(template) > _MAX_TEMPLATE:
        raise InvalidTemplate("output_template must be 1 to 512 characters")
    if "\x00" in template or "\\" in template:
        raise InvalidTemplate("output_template may not contain NUL or backslashes")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidTemplate(f"output_template is not a valid template: {exc}") from exc
    for literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise InvalidTemplate(
                f"unknown template field {{{name}}}",
                details={"allowed_fields": sorted(TEMPLATE_FIELDS)},
            )
        del literal
    if template.startswith("/"):
        raise InvalidTemplate("output_template must be a relative path")
    for part in template.split("/"):
        if part in {"..", "."}:
            raise InvalidTemplate("output_template may not contain '.' or '..' components")
    return template


def source_key(url: str) -> str:
    """A stable, readable directory name for a URL source: host plus a short hash of the whole URL."""
    parts = urlsplit(url)
    host = sanitize_component(parts.hostname or "url") or "url"
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{host}-{digest}"


def sanitize_component(value: str) -> str:
    """Make one path component safe: no separators, no control characters, no leading dots or dashes."""
    value = unicodedata.normalize("NFKC", value)
    value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C")
    value = _UNSAFE.sub("_", value.replace("/", "_"))
    value = value.lstrip(" .-").rstrip(" .")  # never hidden, never read as an option by a program
    return value[:_MAX_COMPONENT]


def render_output_path(
    template: str,
    *,
    room_id: str | None,
    source: str,
    recording_id: str,
    started_at: datetime,
    title: str | None = None,
    author: str | None = None,
    stream_key: str | None = None,
) -> PurePosixPath:
    """Render a validated template into a relative POSIX path that ends in `.mp4`."""
    validate_template(template)
    values = {
        "room_id": room_id or source,
        "source": source,
        "title": title or "live",
        "author": author or "unknown",
        "recording_id": recording_id,
        "timestamp": started_at.strftime("%Y%m%d_%H%M%S"),
        "YYYY": f"{started_at.year:04d}",
        "MM": f"{started_at.month:02d}",
        "DD": f"{started_at.day:02d}",
        "hh": f"{started_at.hour:02d}",
        "mm": f"{started_at.minute:02d}",
        "ss": f"{started_at.second:02d}",
        "stream_key": stream_key or room_id or source,
    }
    safe = {key: sanitize_component(val) or "_" for key, val in values.items()}
    rendered = template.format(**safe)
    components = [sanitize_component(c) for c in rendered.split("/")]
    components = [c for c in components if c and c not in {".", ".."}]
    if not components:
        raise InvalidTemplate("output_template renders to an empty path")
    path = PurePosixPath(*components)
    if path.suffix.lower() != ".mp4":
        path = path.with_name(path.name + ".mp4")
    return path
