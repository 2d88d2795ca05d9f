"""Completeness, percentiles, the comparison table and its verdicts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

STOP_SLACK = 0.5
"""A live client sees a new segment up to one target duration after it appears (it reloads the playlist at
that cadence), then needs a moment to fetch it. So a wall-clock recorder that stops at time T is expected to
have every segment that became available by T - segment_duration - STOP_SLACK."""


@dataclass(slots=True)
class StreamCompleteness:
    name: str
    expected: int
    captured: int  # of the expected ones
    extra: int  # captured outside the expected set (the live edge at the stop)
    first_sequence: int | None
    missing: list[int] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.captured / self.expected if self.expected else 1.0


def wall_clock_expected(produced: list[dict[str, Any]], first: int | None, since: float, cutoff: float) -> set[int]:
    """Segments a recorder that ran until ``cutoff + segment + slack`` should hold, from its first one on.

    Without any captured segment, everything that appeared after ``since`` (the request) counts.
    """
    if first is None:
        return {p["sequence"] for p in produced if since <= p["available_at"] <= cutoff}
    return {p["sequence"] for p in produced if p["sequence"] >= first and p["available_at"] <= cutoff}


def media_duration_expected(produced: list[dict[str, Any]], first: int | None, count: int) -> set[int]:
    """Segments ``-t S`` needs: ``count`` consecutive ones from the first fetched (all of them if none was)."""
    if first is None:
        return set(range(-count, 0))  # placeholders: nothing was captured, all of it is missing
    produced_seqs = {p["sequence"] for p in produced}
    return {seq for seq in range(first, first + count) if seq in produced_seqs or not produced_seqs}


def judge(name: str, captured: set[int], expected: set[int], first: int | None) -> StreamCompleteness:
    hit = captured & expected
    return StreamCompleteness(
        name=name,
        expected=len(expected),
        captured=len(hit),
        extra=len(captured - expected),
        first_sequence=first,
        missing=sorted(expected - captured),
    )


def summarize(streams: list[StreamCompleteness]) -> dict[str, Any]:
    expected = sum(s.expected for s in streams)
    captured = sum(s.captured for s in streams)
    worst = min(streams, key=lambda s: (s.ratio, s.name)) if streams else None
    incomplete = [s for s in streams if s.captured < s.expected]
    return {
        "overall": captured / expected if expected else None,
        "segments_expected": expected,
        "segments_captured": captured,
        "segments_extra": sum(s.extra for s in streams),
        "worst": None if worst is None else {"stream": worst.name, "ratio": worst.ratio,
                                             "captured": worst.captured, "expected": worst.expected,
                                             "missing": worst.missing},
        "incomplete_streams": {s.name: s.missing for s in incomplete},
    }


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the table ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    metric: str
    livevault: float | None
    ffmpeg: float | None
    fmt: str = "{:.3f}"
    ratio: bool = True
    target: str = ""
    passed: bool | None = None

    @property
    def ratio_value(self) -> float | None:
        if not self.ratio or self.livevault is None or not self.ffmpeg:
            return None
        return self.livevault / self.ffmpeg

    def cells(self) -> list[str]:
        def show(value: float | None) -> str:
            return "n/a" if value is None else self.fmt.format(value)

        ratio = self.ratio_value
        verdict = "" if self.passed is None else ("PASS" if self.passed else "FAIL")
        return [self.metric, show(self.livevault), show(self.ffmpeg),
                "" if ratio is None else f"{ratio:.3f}", self.target, verdict]

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "livevault": self.livevault, "ffmpeg": self.ffmpeg,
                "ratio": self.ratio_value, "target": self.target or None,
                "result": None if self.passed is None else ("PASS" if self.passed else "FAIL")}


HEADERS = ["metric", "livevault", "ffmpeg", "ratio (lv/ff)", "target", "result"]


def render(rows: list[Row]) -> str:
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) if i < 4 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(cells[1:], widths[1:], strict=True), start=1)]
        return " | ".join([first, *rest]).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(table[0]), rule, *(line(cells) for cells in table[1:])])


def steady_rate(rows: list[tuple[float, dict[str, float]]], start: float, end: float, streams: int) -> float | None:
    """CPU-s per stream-minute from sampled cumulative CPU between ``start`` and ``end`` (wall clock)."""
    inside = [(t, row["cpu"]) for t, row in rows if start <= t <= end and "cpu" in row]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0] or streams < 1:
        return None
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    return (c1 - c0) / (t1 - t0) * 60 / streams


RESULTS = Path(__file__).resolve().parent / "results"


def save_result(kind: str, started: datetime, result: dict[str, Any]) -> Path:
    """Print the run's notes, write `bench/results/<kind>-<UTC start>.json` and say where it went."""
    for note in result.get("notes", []):
        print(f"NOTE: {note}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nresults: {out.relative_to(RESULTS.parent.parent)}")
    return out
