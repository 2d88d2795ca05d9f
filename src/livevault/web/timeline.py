"""The integrity timeline of a recording page: captured spans and gaps, placed on one time axis (percent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livevault.domain.capture import GapRecord, SegmentRecord


@dataclass(frozen=True, slots=True)
class Bar:
    kind: str  # "captured" or "gap"
    start: float
    end: float
    left: float
    width: float
    label: str


def _spans(segments: list[SegmentRecord]) -> list[tuple[float, float, int]]:
    """Runs of segments of one part whose wall-clock times touch (within a second): (start, end, part)."""
    spans: list[tuple[float, float, int]] = []
    for seg in sorted(segments, key=lambda s: (s.fetched_at, s.part)):
        start, end = seg.fetched_at - seg.duration, seg.fetched_at
        if spans and spans[-1][2] == seg.part and start <= spans[-1][1] + 1.0:
            first, _last, part = spans[-1]
            spans[-1] = (first, max(end, _last), part)
        else:
            spans.append((start, end, seg.part))
    return spans


def build(segments: list[SegmentRecord], gaps: list[GapRecord]) -> list[Bar]:
    spans = _spans(segments)
    edges = [t for s in spans for t in s[:2]] + [t for g in gaps for t in (g.started_at, g.ended_at)]
    if not edges:
        return []
    origin, last = min(edges), max(edges)
    total = max(last - origin, 1e-6)

    def bar(kind: str, start: float, end: float, label: str) -> Bar:
        left = 100.0 * (start - origin) / total
        return Bar(kind, start - origin, end - origin, round(left, 3),
                   round(max(0.4, 100.0 * (end - start) / total), 3), label)

    bars = [bar("captured", a, b, f"part {part}") for a, b, part in spans]
    bars += [bar("gap", g.started_at, g.ended_at, g.cause.value.replace("_", " ")) for g in gaps]
    return sorted(bars, key=lambda b: b.start)
