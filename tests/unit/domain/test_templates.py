"""Output templates render safe relative paths, whatever the title or template says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livevault.domain.templates import (
    DEFAULT_OUTPUT_TEMPLATE,
    render_output_path,
    sanitize_component,
    source_key,
    validate_template,
)
from livevault.errors import InvalidTemplate

WHEN = datetime(2025, 10, 5, 18, 0, 7, tzinfo=UTC)


def render(template: str, **kw: str | None) -> str:
    fields = {"room_id": "123456789", "source": "123456789", "recording_id": "rid", "title": "My Live"}
    fields.update(kw)
    return str(render_output_path(template, started_at=WHEN, **fields))  # type: ignore[arg-type]


def test_seed_default_template_renders_room_and_date_folders() -> None:
    assert render(DEFAULT_OUTPUT_TEMPLATE) == "123456789/2025/10/05/20251005_180007_My Live.mp4"


@pytest.mark.parametrize(
    "title",
    ["../../etc/passwd", "/abs/olute", "a/b\\c", "\x00nul", "..", "…", "名前 🎥", "x" * 500, "   "],
)
def test_hostile_titles_never_escape_or_break_the_path(title: str) -> None:
    path = render("{room_id}/{title}.mp4", title=title)
    assert not path.startswith("/")
    assert ".." not in path.split("/")
    assert "\x00" not in path
    assert path.endswith(".mp4")
    assert all(len(part) <= 124 for part in path.split("/"))


@pytest.mark.parametrize(
    "template",
    ["../x.mp4", "/etc/x.mp4", "a/./b.mp4", "{unknown}.mp4", "{title!r}.mp4", "{title:>10}.mp4",
     "{title", "", "a\\b.mp4", "x" * 600],
)
def test_bad_templates_are_rejected(template: str) -> None:
    with pytest.raises(InvalidTemplate):
        validate_template(template)


def test_mp4_suffix_is_added_when_missing() -> None:
    assert render("{recording_id}") == "rid.mp4"


def test_source_key_is_stable_and_readable() -> None:
    key = source_key("http://cdn.example.com/live/a.m3u8?token=1")
    assert key == source_key("http://cdn.example.com/live/a.m3u8?token=1")
    assert key.startswith("cdn.example.com-")
    assert key != source_key("http://cdn.example.com/live/b.m3u8")


def test_sanitize_component_strips_controls_and_separators() -> None:
    assert sanitize_component("a/b\nc\td") == "a_bcd"
    assert sanitize_component(" .hidden. ") == "hidden"
