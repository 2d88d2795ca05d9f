"""Rewrite packet timestamps so parts and discontinuities play as one continuous, monotonic timeline.

Vocabulary: a *track* is one input stream of the part being copied, an *out track* the output stream it
feeds. Raw timestamps are in the input stream's time base; output timestamps in the output stream's.

An *epoch* is a stretch of raw time with one shift. A track leaves its epoch at the start of a part or
when its DTS goes backwards or jumps forward by more than ``JUMP_THRESHOLD``. Its packets then wait until
every track of the part has left its epoch too (or ``PENDING_LIMIT`` packets wait), and all of them get
one shift: the old one if the timestamps simply continue, else one that puts the earliest waiting packet
at the end of everything written so far. A track that reaches an epoch late joins it if its raw time
falls inside the epoch's raw span. Whatever slips through is repaired per packet (DTS bumped by one
tick), so the output DTS is always strictly increasing. A reconnect/resume part that resends the end of
what was written keeps the old shift and drops the repeats (see ``_overlap``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from livevault.postprocess import _overlap

if TYPE_CHECKING:
    from collections.abc import Callable

    from av.bitstream import BitStreamFilterContext
    from av.packet import Packet
    from av.stream import Stream

JUMP_THRESHOLD = Fraction(2)  # seconds past the expected next DTS that count as a discontinuity
JOIN_WINDOW = 2.0  # seconds around an epoch's raw span in which a late track joins it
PENDING_LIMIT = 500  # packets held back at most while waiting for the other tracks of an epoch


@dataclass(slots=True, eq=False)
class OutTrack:
    stream: Stream
    kind: str
    tb: Fraction = Fraction(1, 90000)
    last_dts: int | None = None
    end: int = 0
    first: int | None = None
    packets: int = 0
    marks: OrderedDict[int, int] = field(default_factory=OrderedDict)  # recent output DTS -> fingerprint


@dataclass(slots=True, eq=False)
class Track:
    stream: Stream
    out: OutTrack
    bsf: BitStreamFilterContext | None = None
    held: Packet[Stream] | None = None
    waiting: bool = True
    fresh: bool = False
    epoch: int = -1
    offset: int = 0
    last_raw: int | None = None
    step: int = 0
    trimming: bool = False  # on the previous part's clock: dropping what it already holds
    chain: bool = True  # every resent video packet since its last keyframe matched what was written
    resent: int = 0
    num: int = field(init=False)
    den: int = field(init=False)
    same: bool = field(init=False)  # input and output time bases are equal: rescaling is the identity
    out_sec: float = field(init=False)  # seconds per output tick
    sec: float = field(init=False)
    thresh: int = field(init=False)

    def __post_init__(self) -> None:
        tb = Fraction(self.stream.time_base or Fraction(1, 90000))
        self.sec = float(tb)
        self.thresh = int(JUMP_THRESHOLD / tb)
        self.retarget()

    def retarget(self) -> None:
        """Recompute the input→output tick ratio (the output time base is known once the header is out)."""
        ratio = Fraction(self.stream.time_base or Fraction(1, 90000)) / self.out.tb
        self.num, self.den = ratio.numerator, ratio.denominator
        self.same = self.num == self.den == 1
        self.out_sec = float(self.out.tb)

    def rescale(self, ticks: int) -> int:
        return (2 * ticks * self.num + self.den) // (2 * self.den)

    def note(self, dts: int, duration: int | None) -> None:
        if duration:
            self.step = duration
        elif self.last_raw is not None and 0 < dts - self.last_raw <= self.thresh:
            self.step = dts - self.last_raw
        self.last_raw = dts


@dataclass(slots=True)
class Stats:
    adjustments: int = 0
    repaired: int = 0
    dropped: int = 0
    overlap: int = 0  # resent packets dropped as duplicates
    overlap_cut: int = 0  # video packets after a resent stretch dropped while waiting for a keyframe


class Timeline:
    def __init__(self, mux: Callable[[Packet[Stream]], bool], *, remember: bool = False) -> None:
        self._mux = mux
        self._remember = remember  # keep fingerprints of what was written, for reconnect/resume parts
        self._rejoin = False
        self.rejoined: str | None = None  # how the current reconnect/resume part met the previous one
        self.stats = Stats()
        self.muxed = 0
        self._outs: list[OutTrack] = []
        self._tracks: list[Track] = []
        self._pending: list[tuple[Track, Packet[Stream]]] = []
        self._expected: set[int] = set()
        self._waiting: set[int] = set()
        self._epoch = -1
        self._part_epoch = 0
        self._offset: Fraction | None = None
        self._span = (0.0, 0.0)

    def begin_part(self, tracks: list[Track], *, rejoin: bool = False) -> None:
        """``rejoin``: a reconnect/resume part, which may resend the end of what was written."""
        self._rejoin, self.rejoined = rejoin, None
        for track in tracks:
            track.retarget()
            if track.out not in self._outs:
                self._outs.append(track.out)
        self._tracks = tracks
        self._expected = {id(t) for t in tracks}
        self._part_epoch = self._epoch + 1

    def end_part(self) -> None:
        for track in self._tracks:
            if track.held is not None:
                track.held = None
                self.stats.dropped += 1
        if self._pending:
            self._flush(complete=False)
        self._tracks = []

    def feed(self, track: Track, packet: Packet[Stream]) -> None:
        dts = packet.dts
        if self._steady(track, packet, dts):
            return
        if dts is None or packet.pts is None:
            dts = self._raw_dts(track, packet)
            if dts is None:
                self.stats.dropped += 1
                return
        if not track.waiting:
            last = track.last_raw
            if last is not None and (dts < last or dts > last + track.step + track.thresh):
                track.waiting = True
        if track.waiting and self._joinable(track, dts):
            self._join(track)
        duration = packet.duration
        track.note(dts, duration)
        if not track.waiting:
            self._emit(track, packet, dts, duration)
            return
        self._pending.append((track, packet))
        self._waiting.add(id(track))
        if self._waiting >= self._expected:
            self._flush(complete=True)
        elif len(self._pending) >= PENDING_LIMIT:
            self._flush(complete=False)

    def _steady(self, track: Track, packet: Packet[Stream], dts: int | None) -> bool:
        """The common case in one step, what ``feed`` + ``_emit`` would do for it: a packet that continues
        its track's epoch (no jump, no waiting, no trimming, no fingerprints kept) and lands after what its
        output track has. Returns False, having changed nothing, for anything else."""
        last, pts = track.last_raw, packet.pts
        if (dts is None or pts is None or last is None or track.waiting or track.trimming or self._remember
                or not last < dts <= last + track.step + track.thresh):
            return False
        out, offset = track.out, track.offset
        duration = packet.duration
        # track.note(dts, duration), applied below once nothing can send the packet down the full path
        step = duration or (dts - last if dts - last <= track.thresh else track.step)
        if track.same:
            out_dts, out_pts, out_duration = dts + offset, pts + offset, step
        else:
            num, den = 2 * track.num, 2 * track.den
            out_dts = (dts * num + track.den) // den + offset
            out_pts = (pts * num + track.den) // den + offset
            out_duration = (step * num + track.den) // den
        if (out.last_dts is not None and out_dts <= out.last_dts) or out_pts < out_dts:
            return False  # needs a repair: the full path counts and fixes it
        track.step, track.last_raw = step, dts
        track.fresh = False
        packet.dts, packet.pts = out_dts, out_pts
        if not track.same:
            packet.time_base = out.tb
        if out_duration > 0 and (not track.same or not duration):
            packet.duration = out_duration
        packet.stream = out.stream
        if track.epoch == self._epoch:
            raw = (out_dts - offset) * track.out_sec
            if raw > self._span[1]:
                self._span = (self._span[0], raw)
        if self._mux(packet):
            out.last_dts = out_dts
            out.end = out_dts + (out_duration if out_duration > 1 else 1)
            out.packets += 1
            if out.first is None:
                out.first = out_dts
            self.muxed += 1
        return True

    def duration(self) -> float:
        used = [o for o in self._outs if o.first is not None]
        if not used:
            return 0.0
        return float(max(o.end * o.tb for o in used) - min((o.first or 0) * o.tb for o in used))

    def _raw_dts(self, track: Track, packet: Packet[Stream]) -> int | None:
        dts = packet.dts
        if dts is None:
            dts = packet.pts if track.last_raw is None else track.last_raw + track.step
            if dts is None:
                return None
            packet.dts = dts
            self.stats.repaired += 1
        if packet.pts is None:
            packet.pts = dts
            self.stats.repaired += 1
        return dts

    def _joinable(self, track: Track, dts: int) -> bool:
        if self._epoch < self._part_epoch or track.epoch >= self._epoch:
            return False
        raw = dts * track.sec
        return self._span[0] - JOIN_WINDOW <= raw <= self._span[1] + JOIN_WINDOW

    def _join(self, track: Track) -> None:
        assert self._offset is not None
        track.offset = round(self._offset / track.out.tb)
        track.epoch = self._epoch
        track.waiting = False
        track.fresh = True

    def _flush(self, *, complete: bool) -> None:
        pending, self._pending = self._pending, []
        self._waiting = set()
        firsts: dict[Track, int] = {}
        for track, packet in pending:
            firsts.setdefault(track, packet.dts or 0)
        if self._rejoin and self._offset is not None and self._epoch < self._part_epoch:
            self.rejoined = _overlap.verdict(pending, self._offset)
            same_clock = self.rejoined in (_overlap.CONTINUES, _overlap.RESENT)
        else:
            same_clock = False
        if same_clock:  # keep the shift; each stream drops what was already written
            for track in self._tracks:
                track.trimming = track.out.last_dts is not None
        else:
            self._offset = self._choose_offset(firsts, complete)
        self._epoch += 1
        raws = [d * t.sec for t, d in firsts.items()]
        self._span = (min(raws), max(raws))
        for track in firsts:
            self._join(track)
        self._expected = {id(t) for t in self._tracks if t.last_raw is not None} or self._expected
        for track, packet in pending:
            self._emit(track, packet, packet.dts or 0, packet.duration)

    def _choose_offset(self, firsts: dict[Track, int], complete: bool) -> Fraction:
        """Keep the shift if the timestamps continue; a jump only some tracks of a part made (a dropout
        in one stream) keeps it too, as long as it goes forward. Otherwise start after everything."""
        previous = self._offset
        if previous is not None and self._continues(firsts, previous, bounded=True):
            return previous
        mid_part = self._epoch >= self._part_epoch
        if previous is not None and not complete and mid_part and self._continues(firsts, previous):
            return previous
        base = min(d * Fraction(t.stream.time_base or 1) for t, d in firsts.items())
        ends = [o.end * o.tb for o in self._outs if o.last_dts is not None]
        if previous is not None:
            self.stats.adjustments += 1
        return (max(ends) if ends else Fraction(0)) - base

    def _continues(self, firsts: dict[Track, int], offset: Fraction, *, bounded: bool = False) -> bool:
        """Whether the waiting packets, shifted by ``offset``, follow on from what each track wrote."""
        judged = False
        for track, dts in firsts.items():
            out = track.out
            if out.last_dts is None:
                continue
            start = track.rescale(dts) + round(offset / out.tb)
            if start <= out.last_dts or (bounded and start > out.end + track.rescale(track.thresh)):
                return False
            judged = True
        return judged

    def _emit(self, track: Track, packet: Packet[Stream], raw_dts: int, raw_duration: int | None) -> None:
        """Write one packet on the output timeline (``raw_dts``/``raw_duration``: its own, already read)."""
        out = track.out
        raw_pts = packet.pts or 0
        if track.same:  # no rescaling: the common case of 90 kHz in and out
            dts, pts, duration = raw_dts + track.offset, raw_pts + track.offset, raw_duration or track.step
        else:
            dts = track.rescale(raw_dts) + track.offset
            pts = track.rescale(raw_pts) + track.offset
            duration = track.rescale(raw_duration or track.step)
        if track.trimming and _overlap.trimmed(track, packet, dts, self.stats):
            return
        last = out.last_dts
        if last is not None and dts <= last:
            shift = self._repair(track, dts)
            dts, pts = dts + shift, pts + shift
        track.fresh = False
        if pts < dts:
            pts = dts
            self.stats.repaired += 1
        packet.dts, packet.pts, packet.time_base = dts, pts, out.tb
        if duration > 0:
            packet.duration = duration
        packet.stream = out.stream
        if track.epoch == self._epoch:
            raw = (dts - track.offset) * track.out_sec
            if raw > self._span[1]:
                self._span = (self._span[0], raw)
        mark = _overlap.fingerprint(packet) if self._remember else None  # the muxer empties the packet
        if self._mux(packet):
            out.last_dts = dts
            out.end = dts + (duration if duration > 1 else 1)
            out.packets += 1
            if out.first is None:
                out.first = dts
            self.muxed += 1
            if mark is not None:
                _overlap.remember(out, dts, mark)

    def _repair(self, track: Track, dts: int) -> int:
        out = track.out
        assert out.last_dts is not None
        if track.fresh:  # a track rejoining overlaps its own tail: shift the rest of its epoch
            shift = max(out.end, out.last_dts + 1) - dts
            track.offset += shift
            self.stats.adjustments += 1
            return shift
        self.stats.repaired += 1
        return out.last_dts + 1 - dts
