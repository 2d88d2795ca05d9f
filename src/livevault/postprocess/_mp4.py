"""Read an MP4's sample tables (not its samples) and check the file's structure against them.

What a full decode of a finished MP4 finds, and what is checked here without decoding: every sample
lies inside the file and is not empty; each track's DTS (the ``stts`` deltas) strictly increases; every
H.264/HEVC sample is a whole number of length-prefixed NAL units (lengths read straight from the file
through ``mmap``, so only the pages holding the prefixes are touched), none empty, each with a clear
``forbidden_zero_bit``; audio and video are interleaved (no chunk sits more than
``INTERLEAVE_LIMIT`` seconds of media behind another track's chunk before it in the file). Only plain
(non-fragmented) files with one ``moov`` are read; anything else returns None and the caller reads it
packet by packet.
"""

from __future__ import annotations

import itertools
import mmap
import operator
import struct
import sys
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

INTERLEAVE_LIMIT = 10.0  # seconds
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
_U32 = struct.Struct(">I")
_KEPT = 10


class Malformed(Exception):
    """The box structure itself is broken (a box runs past its parent, a table is cut short)."""


@dataclass(slots=True)
class TrackTables:
    kind: str  # "video", "audio" or another handler type
    codec: str  # sample entry fourcc: avc1, hvc1, mp4a, ...
    timescale: int
    nal_size: int | None  # bytes per NAL length prefix (avcC/hvcC), None for other codecs
    sizes: array[int]
    chunk_offsets: list[int]
    stsc: list[tuple[int, int]]  # (first chunk, samples per chunk)
    stts: list[tuple[int, int]]  # (count, delta as signed 32-bit)
    sync: array[int] | None  # 1-based sample numbers of keyframes; None: every sample is one

    def per_chunk(self) -> list[int]:
        """Samples in each chunk (``stsc`` expanded)."""
        runs = [*self.stsc, (len(self.chunk_offsets) + 1, 0)]
        return list(itertools.chain.from_iterable(
            itertools.repeat(per, max(0, min(nxt, len(self.chunk_offsets) + 1) - first))
            for (first, per), (nxt, _) in itertools.pairwise(runs)))

    def layout(self) -> tuple[list[int], list[int]]:
        """(file offset of every sample, index of each chunk's first sample)."""
        per = self.per_chunk()
        if all(n == 1 for n in per):  # one sample per chunk: what an interleaving muxer mostly writes
            count = min(len(per), len(self.sizes))
            return self.chunk_offsets[:count], list(range(count))
        offsets: list[int] = []
        firsts: list[int] = []
        sizes, n = self.sizes, 0
        for pos, count in zip(self.chunk_offsets, per, strict=True):
            firsts.append(n)
            for size in sizes[n:n + count]:
                offsets.append(pos)
                pos += size
            n += count
        return offsets, firsts

    def dts(self) -> list[int]:
        """Every sample's DTS in timescale units (the first is 0)."""
        deltas = itertools.chain.from_iterable(itertools.repeat(d, c) for c, d in self.stts)
        return [0, *itertools.accumulate(itertools.islice(deltas, max(0, len(self.sizes) - 1)))]


@dataclass(slots=True)
class Structure:
    tracks: list[TrackTables]
    errors: list[str] = field(default_factory=list)
    damaged: int = 0  # samples found damaged


def _boxes(data: mmap.mmap | bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in ``data[start:end]``."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end:
        size, kind = _U32.unpack_from(data, pos)[0], bytes(data[pos + 4:pos + 8])
        head = 8
        if size == 1:
            if pos + 16 > end:
                raise Malformed("a 64-bit box size is cut off")
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if kind == b"mdat" and pos + size > end and size >= head:
            size = end - pos  # a cut-off file: the samples past its end are reported one by one
        if size < head or pos + size > end:
            raise Malformed(f"box {kind!r} at {pos} runs past its parent")
        out.append((kind, pos + head, pos + size))
        pos += size
    return out


def _child(data: mmap.mmap, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for name, s, e in _boxes(data, start, end):
        if name == kind:
            return s, e
    return None


def _u32s(data: mmap.mmap, start: int, count: int, end: int) -> array[int]:
    if start + 4 * count > end:
        raise Malformed("a sample table is shorter than its entry count")
    values = array("I", data[start:start + 4 * count])
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _full_box_count(data: mmap.mmap, box: tuple[int, int]) -> tuple[int, int]:
    """(entry count, first entry offset) of a full box whose payload starts with version/flags + count."""
    start, end = box
    if start + 8 > end:
        raise Malformed("a sample table box is cut off")
    return _U32.unpack_from(data, start + 4)[0], start + 8


def _sample_entry(data: mmap.mmap, stsd: tuple[int, int]) -> tuple[str, int | None]:
    start, end = stsd
    entries = _boxes(data, start + 8, end)
    if not entries:
        raise Malformed("a track has no sample description")
    kind, s, e = entries[0]
    codec = kind.decode("latin-1")
    nal: int | None = None
    if codec in {"avc1", "avc3", "hvc1", "hev1"} and s + 78 <= e:
        config = _child(data, s + 78, e, b"avcC" if codec.startswith("avc") else b"hvcC")
        if config is not None:
            offset = 4 if codec.startswith("avc") else 21
            if config[0] + offset < config[1] and data[config[0]] == 1:
                nal = (data[config[0] + offset] & 3) + 1
    return codec, nal


def _track(data: mmap.mmap, start: int, end: int) -> TrackTables | None:
    mdia = _child(data, start, end, b"mdia")
    if mdia is None:
        return None
    hdlr, mdhd, minf = (_child(data, *mdia, k) for k in (b"hdlr", b"mdhd", b"minf"))
    if hdlr is None or mdhd is None or minf is None:
        raise Malformed("a track lacks hdlr, mdhd or minf")
    handler = bytes(data[hdlr[0] + 8:hdlr[0] + 12])
    version = data[mdhd[0]]
    timescale = _U32.unpack_from(data, mdhd[0] + (20 if version == 1 else 12))[0]
    stbl = _child(data, *minf, b"stbl")
    if stbl is None:
        raise Malformed("a track has no sample table")
    boxes = {name: (s, e) for name, s, e in _boxes(data, *stbl)}
    if b"stsd" not in boxes or b"stts" not in boxes or b"stsc" not in boxes or b"stsz" not in boxes:
        return None  # compact (stz2) or unusual tables: read it packet by packet instead
    codec, nal = _sample_entry(data, boxes[b"stsd"])
    stsz = boxes[b"stsz"]
    fixed = _U32.unpack_from(data, stsz[0] + 4)[0]
    count = _U32.unpack_from(data, stsz[0] + 8)[0]
    sizes = array("I", [fixed]) * count if fixed else _u32s(data, stsz[0] + 12, count, stsz[1])
    if b"stco" in boxes:
        n, at = _full_box_count(data, boxes[b"stco"])
        chunks = list(_u32s(data, at, n, boxes[b"stco"][1]))
    elif b"co64" in boxes:
        n, at = _full_box_count(data, boxes[b"co64"])
        if at + 8 * n > boxes[b"co64"][1]:
            raise Malformed("co64 is shorter than its entry count")
        chunks = list(struct.unpack_from(f">{n}Q", data, at))
    else:
        raise Malformed("a track has no chunk offsets")
    n, at = _full_box_count(data, boxes[b"stsc"])
    raw = _u32s(data, at, 3 * n, boxes[b"stsc"][1])
    stsc = [(raw[i], raw[i + 1]) for i in range(0, len(raw), 3)]
    n, at = _full_box_count(data, boxes[b"stts"])
    raw = _u32s(data, at, 2 * n, boxes[b"stts"][1])
    stts = [(raw[i], raw[i + 1] - (1 << 32) if raw[i + 1] >= 1 << 31 else raw[i + 1]) for i in range(0, len(raw), 2)]
    sync = None
    if b"stss" in boxes:
        n, at = _full_box_count(data, boxes[b"stss"])
        sync = _u32s(data, at, n, boxes[b"stss"][1])
    kind = {b"vide": "video", b"soun": "audio"}.get(handler, handler.decode("latin-1"))
    return TrackTables(kind, codec, timescale, nal, sizes, chunks, stsc, stts, sync)


def read_tables(data: mmap.mmap) -> list[TrackTables] | None:
    """The tracks of a plain MP4, or None for a fragmented one (or one without a moov)."""
    top = _boxes(data, 0, len(data))
    moovs = [(s, e) for name, s, e in top if name == b"moov"]
    if len(moovs) != 1 or any(name == b"moof" for name, _, _ in top):
        return None
    start, end = moovs[0]
    if _child(data, start, end, b"mvex") is not None:
        return None
    tracks = []
    for name, s, e in _boxes(data, start, end):
        if name == b"trak":
            track = _track(data, s, e)
            if track is None:
                return None
            tracks.append(track)
    return tracks


class _Checker:
    def __init__(self, data: mmap.mmap, name: str) -> None:
        self.data = data
        self.name = name
        self.errors: list[str] = []
        self.damaged = 0

    def fail(self, message: str) -> None:
        self.damaged += 1
        if len(self.errors) < _KEPT:
            self.errors.append(message)

    def samples(self, track: TrackTables, offsets: list[int]) -> None:
        if len(offsets) != len(track.sizes):
            raise Malformed(f"{track.kind} track: the chunk tables place {len(offsets)} of "
                            f"{len(track.sizes)} samples")
        sizes, size_of_file = track.sizes, len(self.data)
        if 0 in sizes:
            for index in (i for i, size in enumerate(sizes) if size == 0):
                self.fail(f"{track.kind} sample {index} is empty")
        ends = list(map(operator.add, offsets, sizes))
        if ends and max(ends) > size_of_file:
            for index in (i for i, end in enumerate(ends) if end > size_of_file):
                self.fail(f"{track.kind} sample {index} is cut off (ends {ends[index] - size_of_file} bytes "
                          "past the end of the file)")
            return
        if track.nal_size:
            framing, nal = self.framing, track.nal_size
            for index, (pos, end) in enumerate(zip(offsets, ends, strict=True)):
                if pos < end and not framing(pos, end, nal):
                    self.fail(f"{track.kind} sample {index} is not well-formed length-prefixed NAL units")

    def framing(self, pos: int, end: int, size: int) -> bool:
        data = self.data
        if size == 4:
            unpack = _U32.unpack_from
            while pos < end:
                if pos + 4 >= end:
                    return False
                length = unpack(data, pos)[0]
                if length == 0 or data[pos + 4] & 0x80:
                    return False
                pos += 4 + length
            return pos == end
        while pos < end:
            if pos + size >= end:
                return False
            length = int.from_bytes(data[pos:pos + size], "big")
            if length == 0 or data[pos + size] & 0x80:
                return False
            pos += size + length
        return pos == end

    def timestamps(self, track: TrackTables) -> None:
        remaining = len(track.sizes) - 1  # the last sample's delta orders nothing
        first = 0
        for count, delta in track.stts:
            checked = min(count, remaining)
            if checked > 0 and delta <= 0:
                raise_dts(self.name, track, first, delta)
            remaining -= checked
            first += count
            if remaining <= 0:
                break

    def interleave(self, tracks: list[TrackTables], dts: list[list[int]], firsts: list[list[int]]) -> None:
        if len(tracks) < 2:
            return
        chunks: list[tuple[int, float, int]] = []
        for n, (track, times, first) in enumerate(zip(tracks, dts, firsts, strict=True)):
            if not track.timescale:
                continue
            scale = 1 / track.timescale
            chunks.extend(zip(track.chunk_offsets, (times[i] * scale for i in first if i < len(times)),
                              itertools.repeat(n)))
        chunks.sort()
        # the latest time stored so far per track; top: the highest of them and its track, second: the
        # highest of another track's, so that "the furthest any other track got" costs no loop
        best = [float("-inf")] * len(tracks)
        top, top_track, second = float("-inf"), -1, float("-inf")
        for _pos, at, n in chunks:
            other = second if top_track == n else top
            if other - at > INTERLEAVE_LIMIT:
                self.fail(f"{tracks[n].kind} at {at:.1f} s is stored after {other:.1f} s of another track "
                          f"(more than {INTERLEAVE_LIMIT:.0f} s apart: players must buffer or seek)")
                return
            if at > best[n]:
                best[n] = at
                if n == top_track:
                    top = at
                elif at > top:
                    top, top_track, second = at, n, top
                elif at > second:
                    second = at


class DtsBackwards(Exception):
    def __init__(self, name: str, track: TrackTables, sample: int, delta: int) -> None:
        super().__init__(f"{name}: {track.kind} timestamps go backwards or repeat (sample {sample + 1} "
                         f"is {delta} ticks after sample {sample})")
        self.details = {"track": track.kind, "sample": sample + 1, "delta": delta}


def raise_dts(name: str, track: TrackTables, sample: int, delta: int) -> None:
    raise DtsBackwards(name, track, sample, delta)


@dataclass(frozen=True, slots=True)
class Checked:
    tracks: list[TrackTables]
    dts: list[list[int]]
    offsets: list[list[int]]
    errors: list[str]
    damaged: int


def check_file(path: Path) -> Checked | None:
    """Check ``path``'s structure (see the module docstring); None if it is not a plain MP4."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        tracks = read_tables(data)
        if tracks is None:
            return None
        checker = _Checker(data, path.name)
        dts: list[list[int]] = []
        offsets: list[list[int]] = []
        firsts: list[list[int]] = []
        for track in tracks:
            checker.timestamps(track)
            where, first = track.layout()
            checker.samples(track, where)
            offsets.append(where)
            firsts.append(first)
            dts.append(track.dts())
        checker.interleave(tracks, dts, firsts)
        return Checked(tracks, dts, offsets, checker.errors, checker.damaged)
