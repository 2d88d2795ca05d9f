"""Split recordings: a live recording with `options.split_every` (seconds) or `options.split_bytes` becomes a
series of MP4 pieces, each finalized (remuxed +faststart, verified, probed, thumbnailed) while the stream
goes on. This package owns the piece ledger in the spool directory (`pieces.jsonl`, next to `parts.jsonl`:
which pieces are finished and where the next one starts, so a crash, restart or takeover continues with
the next piece and never loses or redoes a finished one; the names themselves are claimed from storage),
the loop that cuts a piece whenever enough media has arrived, and the last piece when the recording ends.
Cuts are made at
keyframes by `postprocess.remux` (a `Split` from the previous piece's `Cut`), so consecutive pieces hold
every frame exactly once."""

from livevault.services.pieces.book import PIECES_FILE, Piece, PieceBook, split_rule
from livevault.services.pieces.splitter import ClaimPiece, OnPiece, Splitter

__all__ = ["PIECES_FILE", "ClaimPiece", "OnPiece", "Piece", "PieceBook", "Splitter", "split_rule"]
