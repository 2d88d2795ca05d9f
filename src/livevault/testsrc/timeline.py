"""A stream's epochs: stretches of segments with continuous media sequence numbers and timestamps.

Global index ``k`` counts every segment the stream ever produced (it fixes the pictures: frames
``[k*F, (k+1)*F)``). An epoch maps a run of global indexes to media sequence numbers, a
discontinuity sequence and a timestamp base. A discontinuity, an init change or a sequence reset
starts a new epoch at the segment being recorded when it is requested.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from enum import StrEnum

from livevault.testsrc.media import TICKS
from livevault.testsrc.tsmux import SegmentTiming

INITIAL_BASE = 10 * TICKS  # encoders rarely start at zero; neither do we
TIMESTAMP_JUMP = 1000 * TICKS


class EpochCause(StrEnum):
    START = "start"
    DISCONTINUITY = "discontinuity"
    SEQUENCE_RESET = "sequence_reset"
    INIT_CHANGE = "init_change"


@dataclass(frozen=True, slots=True)
class Epoch:
    number: int
    start: int  # global index of its first segment
    sequence: int  # media sequence number of its first segment
    discontinuity_sequence: int
    discontinuity: bool  # its first segment carries EXT-X-DISCONTINUITY
    reset: bool  # the playlist window restarts at its first segment
    base: int  # 90 kHz timestamp of its first frame
    init_id: int  # which fMP4 init segment applies
    alt: bool  # the alternate resolution (toggled by init changes)
    causes: tuple[EpochCause, ...] = (EpochCause.START,)

    def sequence_of(self, index: int) -> int:
        return self.sequence + index - self.start

    def timing(self, index: int) -> SegmentTiming:
        return SegmentTiming(index, index - self.start, self.base)


class Timeline:
    """The epochs of one stream, in order; not thread-safe (the stream holds the lock)."""

    def __init__(self, segment_ticks: int) -> None:
        self.segment_ticks = segment_ticks
        self.epochs: list[Epoch] = [Epoch(0, 0, 0, 0, False, False, INITIAL_BASE, 0, False)]
        self._starts: list[int] = [0]

    def epoch_of(self, index: int) -> Epoch:
        return self.epochs[bisect.bisect_right(self._starts, index) - 1]

    def group_start(self, index: int) -> int:
        """First global index of the reset group ``index`` belongs to (sequence 0 of that group)."""
        position = bisect.bisect_right(self._starts, index) - 1
        while position > 0 and not self.epochs[position].reset:
            position -= 1
        return self.epochs[position].start

    def change(self, index: int, cause: EpochCause) -> Epoch:
        """Start (or amend) the epoch at ``index`` with ``cause``."""
        last = self.epochs[-1]
        if index < last.start:
            raise ValueError("epochs can only change at or after the current one")
        if index == last.start:
            self.epochs.pop()
            self._starts.pop()
            epoch = self._amend(last, cause)
        else:
            epoch = self._amend(self._continue(last, index), cause)
        self.epochs.append(epoch)
        self._starts.append(epoch.start)
        return epoch

    def _continue(self, previous: Epoch, index: int) -> Epoch:
        return Epoch(
            number=previous.number + 1,
            start=index,
            sequence=previous.sequence_of(index),
            discontinuity_sequence=previous.discontinuity_sequence,
            discontinuity=False,
            reset=False,
            base=previous.base + (index - previous.start) * self.segment_ticks,
            init_id=previous.init_id,
            alt=previous.alt,
            causes=(),
        )

    @staticmethod
    def _amend(epoch: Epoch, cause: EpochCause) -> Epoch:
        causes = (*epoch.causes, cause)
        if cause is EpochCause.SEQUENCE_RESET:
            return replace(
                epoch,
                sequence=0,
                discontinuity_sequence=0,
                discontinuity=False,
                reset=True,
                base=INITIAL_BASE,
                init_id=epoch.init_id + 1,
                causes=causes,
            )
        marked = replace(
            epoch,
            discontinuity=True,
            discontinuity_sequence=epoch.discontinuity_sequence + (0 if epoch.discontinuity else 1),
            base=epoch.base + TIMESTAMP_JUMP,
            causes=causes,
        )
        if cause is EpochCause.INIT_CHANGE:
            return replace(marked, init_id=epoch.init_id + 1, alt=not epoch.alt)
        return marked
