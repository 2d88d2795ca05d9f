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

import mmap
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

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
    sizes: NDArray[np.int64]
    chunk_offsets: NDArray[np.int64]
    stsc: NDArray[np.int64]  # rows (first chunk, samples per chunk)
    stts: NDArray[np.int64]  # rows (count, delta as signed 32-bit)
    sync: NDArray[np.int64] | None  # 1-based sample numbers of keyframes; None: every sample is one

    def per_chunk(self) -> NDArray[np.int64]:
        """Samples in each chunk (``stsc`` expanded)."""
        chunks = len(self.chunk_offsets)
        if not len(self.stsc):
            return np.zeros(chunks, np.int64)
        firsts = np.clip(self.stsc[:, 0], 1, chunks + 1)
        runs = np.diff(np.append(firsts, chunks + 1)).clip(0)
        return np.repeat(self.stsc[:, 1], runs)

    def layout(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(file offset of every sample placed by the chunk tables, index of each chunk's first sample)."""
        per = self.per_chunk()
        firsts = np.cumsum(per) - per
        placed = int(per.sum())
        if placed > len(self.sizes):
            raise Malformed(f"{self.kind} track: the chunk tables place {placed} of {len(self.sizes)} samples")
        if placed and bool((per == 1).all()):
            return self.chunk_offsets[:placed].copy(), firsts
        chunk_of = np.repeat(np.arange(len(per)), per)
        sizes = self.sizes[:placed]
        before = np.cumsum(sizes) - sizes  # bytes of the samples before each one, over the whole track
        return self.chunk_offsets[chunk_of] + before - before[firsts[chunk_of]], firsts

    def deltas(self) -> NDArray[np.int64]:
        return np.repeat(self.stts[:, 1], self.stts[:, 0]) if len(self.stts) else np.zeros(0, np.int64)

    def dts(self) -> NDArray[np.int64]:
        """Every sample's DTS in timescale units (the first is 0)."""
        count = len(self.sizes)
        deltas = self.deltas()[:max(0, count - 1)]
        out = np.zeros(count, np.int64)
        out[1:1 + len(deltas)] = np.cumsum(deltas)
        return out


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


def _u32s(data: mmap.mmap, start: int, count: int, end: int) -> NDArray[np.int64]:
    if start + 4 * count > end:
        raise Malformed("a sample table is shorter than its entry count")
    return np.frombuffer(data, ">u4", count, start).astype(np.int64)


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
    sizes = np.full(count, fixed, np.int64) if fixed else _u32s(data, stsz[0] + 12, count, stsz[1])
    if b"stco" in boxes:
        n, at = _full_box_count(data, boxes[b"stco"])
        chunks = _u32s(data, at, n, boxes[b"stco"][1])
    elif b"co64" in boxes:
        n, at = _full_box_count(data, boxes[b"co64"])
        if at + 8 * n > boxes[b"co64"][1]:
            raise Malformed("co64 is shorter than its entry count")
        chunks = np.frombuffer(data, ">u8", n, at).astype(np.int64)
    else:
        raise Malformed("a track has no chunk offsets")
    n, at = _full_box_count(data, boxes[b"stsc"])
    stsc = _u32s(data, at, 3 * n, boxes[b"stsc"][1]).reshape(n, 3)[:, :2]
    n, at = _full_box_count(data, boxes[b"stts"])
    stts = _u32s(data, at, 2 * n, boxes[b"stts"][1]).reshape(n, 2)
    stts[:, 1] = np.where(stts[:, 1] >= 1 << 31, stts[:, 1] - (1 << 32), stts[:, 1])  # signed deltas
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
        self.bytes = np.frombuffer(data, np.uint8)
        self.name = name
        self.errors: list[str] = []
        self.damaged = 0

    def release(self) -> None:
        """Drop the array over the mapping, so that the mapping can be closed."""
        self.bytes = np.zeros(0, np.uint8)

    def fail(self, message: str, count: int = 1) -> None:
        self.damaged += count
        if len(self.errors) < _KEPT:
            self.errors.append(message)

    def samples(self, track: TrackTables, offsets: NDArray[np.int64]) -> None:
        if len(offsets) != len(track.sizes):
            raise Malformed(f"{track.kind} track: the chunk tables place {len(offsets)} of "
                            f"{len(track.sizes)} samples")
        sizes, size_of_file = track.sizes, len(self.data)
        for index in np.flatnonzero(sizes == 0)[:_KEPT]:
            self.fail(f"{track.kind} sample {index} is empty")
        ends = offsets + sizes
        cut = np.flatnonzero(ends > size_of_file)
        if len(cut):
            self.fail(f"{track.kind} sample {cut[0]} is cut off (ends {ends[cut[0]] - size_of_file} bytes past "
                      "the end of the file)", len(cut))
            return
        if track.nal_size:
            bad = self.framing(offsets[sizes > 0], ends[sizes > 0], track.nal_size)
            if len(bad):
                index = int(np.flatnonzero(sizes > 0)[bad[0]])
                self.fail(f"{track.kind} sample {index} is not well-formed length-prefixed NAL units", len(bad))

    def framing(self, starts: NDArray[np.int64], ends: NDArray[np.int64], size: int) -> NDArray[np.intp]:
        """Indexes of the samples that are not a whole number of NAL units, each a ``size``-byte big-endian
        length, non-zero, then a header whose forbidden_zero_bit is clear. All samples walk their NAL units
        in step: one round per NAL unit, each round vectorized over the samples that still have bytes."""
        data = self.bytes
        pos = starts.copy()
        bad = np.zeros(len(starts), bool)
        active = np.flatnonzero(pos < ends)
        while len(active):
            at, end = pos[active], ends[active]
            short = at + size >= end  # no room for a length and at least one byte
            bad[active[short]] = True
            active, at = active[~short], at[~short]
            length = np.zeros(len(at), np.int64)
            for k in range(size):
                length = (length << 8) | data[at + k]
            wrong = (length == 0) | (data[at + size] & 0x80 != 0)
            bad[active[wrong]] = True
            active, at, length = active[~wrong], at[~wrong], length[~wrong]
            pos[active] = at + size + length
            active = active[pos[active] < ends[active]]
        bad |= pos != ends
        return np.flatnonzero(bad)

    def timestamps(self, track: TrackTables) -> None:
        deltas = track.deltas()[:max(0, len(track.sizes) - 1)]  # the last sample's delta orders nothing
        back = np.flatnonzero(deltas <= 0)
        if len(back):
            raise_dts(self.name, track, int(back[0]), int(deltas[back[0]]))

    def interleave(self, tracks: list[TrackTables], dts: list[NDArray[np.int64]],
                   firsts: list[NDArray[np.int64]]) -> None:
        timed = [n for n, track in enumerate(tracks) if track.timescale and len(firsts[n])]
        if len(timed) < 2:
            return
        where = np.concatenate([tracks[n].chunk_offsets[:len(firsts[n])] for n in timed])
        when = np.concatenate([dts[n][np.minimum(firsts[n], max(0, len(dts[n]) - 1))] / tracks[n].timescale
                               for n in timed])
        owner = np.concatenate([np.full(len(firsts[n]), n) for n in timed])
        order = np.argsort(where, kind="stable")
        when, owner = when[order], owner[order]
        for n in timed:
            # the furthest any other track got, among the chunks stored before each chunk of track n
            others = np.maximum.accumulate(np.where(owner != n, when, -np.inf))
            ahead = np.concatenate([[-np.inf], others[:-1]])
            late = np.flatnonzero((owner == n) & (ahead - when > INTERLEAVE_LIMIT))
            if len(late):
                i = late[0]
                self.fail(f"{tracks[n].kind} at {when[i]:.1f} s is stored after {ahead[i]:.1f} s of another track "
                          f"(more than {INTERLEAVE_LIMIT:.0f} s apart: players must buffer or seek)")
                return


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
    dts: list[NDArray[np.int64]]
    offsets: list[NDArray[np.int64]]
    errors: list[str]
    damaged: int


def check_file(path: Path) -> Checked | None:
    """Check ``path``'s structure (see the module docstring); None if it is not a plain MP4."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        tracks = read_tables(data)
        if tracks is None:
            return None
        checker = _Checker(data, path.name)
        try:
            return _check(checker, tracks)
        finally:
            checker.release()


def _check(checker: _Checker, tracks: list[TrackTables]) -> Checked:
    dts: list[NDArray[np.int64]] = []
    offsets: list[NDArray[np.int64]] = []
    firsts: list[NDArray[np.int64]] = []
    for track in tracks:
        checker.timestamps(track)
        where, first = track.layout()
        checker.samples(track, where)
        offsets.append(where)
        firsts.append(first)
        dts.append(track.dts())
    checker.interleave(tracks, dts, firsts)
    return Checked(tracks, dts, offsets, checker.errors, checker.damaged)
