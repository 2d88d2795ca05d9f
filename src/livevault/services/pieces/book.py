"""The piece ledger of one recording: `pieces.jsonl` in its spool directory, and the pieces' names.

Two kinds of lines, each appended and fsynced before the step it announces is trusted:

    {"event": "begin", "index": 2, "base": "room/2026/x_p002.mp4", "start": [1, 1180, 553000]}
    {"event": "done",  "index": 2, ...Piece fields..., "end": [1, 2350, 1101000]}

`begin` is written once the piece's file name is claimed from storage and before its MP4 is made (so a restart
reuses that name and overwrites a half-made file instead of leaving an orphan); `done` after the MP4 is
verified. Names come from storage (`StorageService.claim_output(recording, piece=n)`), like every other file. A piece's
`end` is the next one's start; the last piece has none. A torn last line (killed mid-write) is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livevault.capture.spool import append_jsonl, read_jsonl
from livevault.postprocess import Cut

if TYPE_CHECKING:
    from livevault.domain.recording import Recording

log = logging.getLogger(__name__)

PIECES_FILE = "pieces.jsonl"


def split_rule(recording: Recording) -> tuple[float | None, int | None]:
    """(seconds, bytes) per piece from the recording's options; (None, None) when it is not split."""
    options = recording.options or {}
    seconds, size = options.get("split_every"), options.get("split_bytes")
    every = float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None
    limit = int(size) if isinstance(size, int | float) and size > 0 else None
    return every, limit


@dataclass(frozen=True, slots=True)
class Piece:
    """A finished piece. Paths are relative to RECORDINGS_DIR; times are media seconds from the
    recording's first piece start (`start_time` of piece n is `end_time` of piece n-1)."""

    index: int
    file_path: str
    thumbnail_path: str | None
    size: int
    duration: float
    start_time: float
    end_time: float
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    end: Cut | None = None  # where the next piece starts; None for the last one

    @property
    def name(self) -> str:
        return Path(self.file_path).name

    def public(self) -> dict[str, Any]:
        """What the job result and the API show."""
        return {"index": self.index, "file_path": self.file_path, "name": self.name, "size": self.size,
                "duration": self.duration, "start_time": self.start_time, "end_time": self.end_time,
                "thumbnail_path": self.thumbnail_path}

    @classmethod
    def from_public(cls, row: dict[str, Any]) -> Piece:
        return cls(index=int(row["index"]), file_path=str(row["file_path"]),
                   thumbnail_path=row.get("thumbnail_path"), size=int(row.get("size") or 0),
                   duration=float(row.get("duration") or 0.0), start_time=float(row.get("start_time") or 0.0),
                   end_time=float(row.get("end_time") or 0.0))


def _cut(value: Any) -> Cut | None:
    if not isinstance(value, list) or len(value) != 3:
        return None
    return Cut(int(value[0]), int(value[1]), int(value[2]))


class PieceBook:
    """Read and append a recording's `pieces.jsonl` (see the module docstring)."""

    def __init__(self, spool_dir: Path) -> None:
        self.path = spool_dir / PIECES_FILE
        self._pieces: list[Piece] = []
        self._begun: dict[int, str] = {}
        for row in read_jsonl(self.path):
            if row.get("event") == "begin":
                self._begun[int(row["index"])] = str(row["base"])
            elif row.get("event") == "done" and int(row["index"]) == len(self._pieces) + 1:
                fields = {k: v for k, v in row.items() if k in Piece.__dataclass_fields__}
                fields["end"] = _cut(row.get("end"))
                self._pieces.append(Piece(**fields))

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def pieces(self) -> list[Piece]:
        return list(self._pieces)

    @property
    def finished(self) -> bool:
        """Whether the last piece is done (the recording's pieces are complete)."""
        return bool(self._pieces) and self._pieces[-1].end is None

    def next_index(self) -> int:
        return len(self._pieces) + 1

    def next_start(self) -> Cut | None:
        return self._pieces[-1].end if self._pieces else None

    def next_time(self) -> float:
        return self._pieces[-1].end_time if self._pieces else 0.0

    def begun(self, index: int) -> str | None:
        """The file name (relative to RECORDINGS_DIR) piece `index` was begun under, if it was."""
        return self._begun.get(index)

    def begin(self, index: int, name: str) -> None:
        self._append({"event": "begin", "index": index, "base": name,
                      "start": _plain(self.next_start())})
        self._begun[index] = name

    def done(self, piece: Piece) -> None:
        row = {**asdict(piece), "event": "done", "end": _plain(piece.end)}
        self._append(row)
        self._pieces.append(piece)

    def _append(self, row: dict[str, Any]) -> None:
        append_jsonl(self.path, row, fsync=True)


def _plain(cut: Cut | None) -> list[int] | None:
    return None if cut is None else [cut.part, cut.packet, cut.pos]
