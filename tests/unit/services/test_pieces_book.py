"""The piece ledger: what a restart finds after a crash at any point."""

from __future__ import annotations

from pathlib import Path

from livevault.postprocess import Cut
from livevault.services.pieces import PIECES_FILE, Piece, PieceBook


def _piece(index: int, end: Cut | None, start: float = 0.0) -> Piece:
    return Piece(index=index, file_path=f"room/x_p{index:03d}.mp4", thumbnail_path=None, size=10,
                 duration=20.0, start_time=start, end_time=start + 20.0, end=end)


def test_finished_pieces_and_the_next_start_survive_a_reopen(tmp_path: Path) -> None:
    book = PieceBook(tmp_path)
    assert not book.exists
    assert book.next_start() is None
    book.begin(1, "room/x_p001.mp4")
    book.done(_piece(1, Cut(1, 480, 90_000)))
    book.begin(2, "room/x_p002.mp4")

    again = PieceBook(tmp_path)
    assert [p.index for p in again.pieces()] == [1]
    assert again.next_index() == 2
    assert again.next_start() == Cut(1, 480, 90_000)
    assert again.next_time() == 20.0
    assert again.begun(1) == "room/x_p001.mp4"
    assert again.begun(2) == "room/x_p002.mp4"  # begun, not done: a restart redoes piece 2 under the same name
    assert not again.finished


def test_a_torn_last_line_is_ignored_and_the_last_piece_finishes_the_book(tmp_path: Path) -> None:
    book = PieceBook(tmp_path)
    book.begin(1, "x.mp4")
    book.done(_piece(1, Cut(1, 10, 100)))
    book.done(_piece(2, None, 20.0))
    with (tmp_path / PIECES_FILE).open("a") as fh:
        fh.write('{"event": "done", "index": 3, "fi')
    again = PieceBook(tmp_path)
    assert [p.index for p in again.pieces()] == [1, 2]
    assert again.finished
    assert again.pieces()[1].public()["start_time"] == 20.0
