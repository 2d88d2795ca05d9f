"""Reconnect and resume parts that begin by resending what the previous part already holds.

A progressive (FLV/MPEG-TS) origin with a GOP cache starts a new connection at its latest keyframe, with
the timestamps of the live timeline: the first seconds of a ``reconnect`` (or ``resume``) part repeat the
end of what was written. Such a part keeps the shift the previous part had (its clock is the same one)
and each stream drops the packets whose DTS is not past the last one already written for it.

Whether the clock is the same is judged on the part's first video packets (audio if it has no video),
shifted as the previous part was:

* starting after the last DTS written, by at most ``JUMP_THRESHOLD`` past its end: the same clock,
  nothing resent (only another stream may overlap a little);
* starting at or before it: the same clock only if the packet written at that very DTS has the same
  bytes. A server that rebases each connection's clock (to 0, say) overlaps in time, not in content:
  such a part is a new timeline and goes after everything, as does one that starts far before or after
  (a 33-bit MPEG-TS wrap included) — a few repeated seconds are better than lost ones.

After the resent stretch, video goes on without a keyframe only while every resent packet since its last
keyframe matched what was written (the decoder's references are then the ones it already has); otherwise
it waits for the next keyframe, so that decoding restarts cleanly.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from fractions import Fraction

    from av.packet import Packet
    from av.stream import Stream

    from livevault.postprocess._timeline import OutTrack, Stats, Track

MARKS = 4096  # fingerprints kept per output stream (over a minute of video): more than any GOP cache resends

CONTINUES, RESENT, DIFFERS, ELSEWHERE = "continues", "resent", "differs", "elsewhere"


def fingerprint(packet: Packet[Stream]) -> int:
    return zlib.crc32(packet) | packet.size << 32


def remember(out: OutTrack, dts: int, mark: int) -> None:
    out.marks[dts] = mark
    if len(out.marks) > MARKS:
        out.marks.popitem(last=False)


def _judge(pending: Sequence[tuple[Track, Packet[Stream]]]) -> Track | None:
    """The track whose first packets decide: video if it has written something, else audio."""
    candidates = [t for t, _p in pending if t.out.last_dts is not None]
    return next((t for t in candidates if t.out.kind == "video"), candidates[0] if candidates else None)


def verdict(pending: Sequence[tuple[Track, Packet[Stream]]], offset: Fraction) -> str:
    """How a reconnect/resume part's waiting packets, shifted by the previous ``offset``, relate to what
    was written: CONTINUES or RESENT (same clock), DIFFERS or ELSEWHERE (a new timeline)."""
    judge = _judge(pending)
    if judge is None:
        return ELSEWHERE
    out, shift = judge.out, round(offset / judge.out.tb)
    assert out.last_dts is not None
    packets = [p for t, p in pending if t is judge]
    start = judge.rescale(packets[0].dts or 0) + shift
    if start > out.last_dts:
        return CONTINUES if start <= out.end + judge.rescale(judge.thresh) else ELSEWHERE
    for packet in packets:
        dts = judge.rescale(packet.dts or 0) + shift
        if dts > out.last_dts:
            break
        mark = out.marks.get(dts)
        if mark is not None:
            return RESENT if mark == fingerprint(packet) else DIFFERS
    return ELSEWHERE


def trimmed(track: Track, packet: Packet[Stream], dts: int, stats: Stats) -> bool:
    """Whether a packet of a part on the previous part's clock is dropped (``dts`` is its output DTS):
    a repeat of what was written, or video the decoder could not continue with before a keyframe."""
    out = track.out
    if out.last_dts is not None and dts <= out.last_dts:
        if out.kind == "video":
            same = out.marks.get(dts) == fingerprint(packet)
            track.chain = same and (track.chain or packet.is_keyframe)
        track.resent += 1
        stats.overlap += 1
        return True
    if out.kind == "video" and track.resent and not track.chain and not packet.is_keyframe:
        stats.overlap_cut += 1
        stats.dropped += 1
        return True
    track.trimming = False
    return False
