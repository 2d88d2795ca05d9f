"""Opening spool parts for the remux: what each part holds, whether it decodes, and bitstream facts.

A fragmented-MP4 part cut off inside a ``moof`` (SIGKILL mid-write) makes FFmpeg refuse the whole file,
so such a part is read through a window that ends before the incomplete box (a cut-off ``mdat`` is fine
as it is: the demuxer reads up to the cut).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import av.error

from livevault.domain.capture import PartContainer, PartInfo

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from av.container import InputContainer
    from av.stream import Stream

FORMAT_HINT = {PartContainer.TS: "mpegts", PartContainer.FLV: "flv", PartContainer.FMP4: "mp4",
               PartContainer.AAC: "aac"}
TO_ANNEXB = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
PROBE_PACKETS = 5000  # packets read per part, at most, to find one decodable frame of each stream


@dataclass(frozen=True, slots=True)
class Sig:
    """What a part's stream looks like; decides the output layout and which parts fit it."""

    codec: str
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0

    @property
    def known(self) -> bool:
        return self.width > 0 or self.sample_rate > 0


@dataclass(frozen=True, slots=True)
class Survey:
    info: PartInfo
    path: Path
    video: Sig | None
    audio: Sig | None
    notes: tuple[str, ...] = ()
    limit: int | None = None  # read only this many bytes (a part still being written: what is committed)


class _Window(io.RawIOBase):
    """Bytes ``start`` to ``limit`` of a file, as a seekable binary stream whose offset 0 is ``start``."""

    def __init__(self, path: Path, limit: int, start: int = 0) -> None:
        self._fh = path.open("rb")
        self._limit = limit
        self._start = start
        self._fh.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        room = max(0, self._limit - self._fh.tell())
        view = memoryview(buffer)[:room]
        return self._fh.readinto(view)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._fh.tell(), io.SEEK_END: self._limit}[whence]
        return self._fh.seek(max(self._start, min(base + offset, self._limit))) - self._start

    def tell(self) -> int:
        return self._fh.tell() - self._start

    def close(self) -> None:
        self._fh.close()
        super().close()


def cut_off_box(path: Path) -> int | None:
    """Where an incomplete top-level box other than ``mdat`` starts, if the file ends inside one."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos + 8 <= size:
            fh.seek(pos)
            head = fh.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            if length == 0:
                return None  # "to the end of the file"
            if length < 8:
                return None  # not ISO BMFF (or damaged): leave it to FFmpeg
            if pos + length > size:
                return None if kind == b"mdat" else pos
            pos += length
        return pos if pos < size else None


@contextlib.contextmanager
def open_part(info: PartInfo, path: Path, limit: int | None = None, start: int = 0) -> Iterator[InputContainer]:
    """Open a part for reading; ``limit`` reads only its first bytes (a part that is still growing);
    ``start`` skips its first bytes (MPEG-TS only: the demuxer finds the next packet; positions are then
    counted from ``start``)."""
    hint = FORMAT_HINT.get(info.container)
    if start > 0:
        end = path.stat().st_size if limit is None else min(limit, path.stat().st_size)
        with _Window(path, end, start) as window, av.open(window, "r", format=hint) as container:
            yield container
        return
    if limit is not None and limit >= path.stat().st_size:
        limit = None
    if info.container is PartContainer.FMP4:
        box = cut_off_box(path)
        limit = box if limit is None or (box is not None and box < limit) else limit
    if limit is not None:
        with _Window(path, limit) as window, av.open(window, "r", format=hint) as container:
            yield container
        return
    try:
        container = av.open(str(path), "r", format=hint)
    except av.error.FFmpegError:
        container = av.open(str(path), "r")  # mislabelled part: let FFmpeg probe it
    with container:
        yield container


def pick(container: InputContainer) -> tuple[Stream | None, Stream | None]:
    """The first usable video stream and the first audio stream of an opened part."""
    video = next((s for s in container.streams.video
                  if s.time_base and not s.disposition & av.stream.Disposition.attached_pic), None)
    audio = next((s for s in container.streams.audio if s.time_base), None)
    return video, audio


def codec_name(stream: Stream) -> str:
    """The codec's own name ("mp3", not the decoder's "mp3float")."""
    return stream.codec_context.codec.canonical_name if stream.codec_context is not None else ""


def _sig(stream: Stream | None) -> Sig | None:
    if stream is None or stream.codec_context is None:
        return None
    ctx = stream.codec_context
    if stream.type == "video":
        return Sig(codec_name(stream), width=getattr(ctx, "width", 0), height=getattr(ctx, "height", 0))
    return Sig(codec_name(stream), sample_rate=getattr(ctx, "sample_rate", 0),
               channels=getattr(ctx, "channels", 0))


def survey_part(info: PartInfo, path: Path, limit: int | None = None) -> Survey | str:
    """A part's streams, or why the part cannot be used (``limit``: only its first bytes count)."""
    if not path.is_file():
        return "file is missing"
    if path.stat().st_size == 0 or limit == 0:
        return "file is empty"
    try:
        with open_part(info, path, limit) as container:  # stream objects die with their container
            streams = pick(container)
            sigs = [_sig(s) for s in streams]
            working = _decodable(container, streams)
    except (av.error.FFmpegError, OSError) as exc:
        return f"not a readable {info.container.value} file ({exc})"
    if not working:
        return "nothing in it decodes" if any(sigs) else "no audio or video stream found"
    kinds = ("video", "audio")
    video, audio = (sig if kind in working else None for kind, sig in zip(kinds, sigs, strict=True))
    notes = tuple(f"part {info.index}: its {kind} does not decode; left out"
                  for kind, sig in zip(kinds, sigs, strict=True) if sig and kind not in working)
    if info.container is PartContainer.FMP4 and cut_off_box(path) is not None:
        notes += (f"part {info.index}: ends inside a fragment header (cut-off write); that fragment is lost",)
    return Survey(info, path, video, audio, notes, limit)


def _decodable(container: InputContainer, streams: tuple[Stream | None, Stream | None]) -> set[str]:
    """The kinds of the streams that give a frame within their first packets (one frame each is decoded,
    from the first keyframe on: a part can open fine and still hold nothing but noise)."""
    pending = {s.index: s for s in streams if s is not None}
    working: set[str] = set()
    try:
        for count, packet in enumerate(container.demux(*pending.values())):
            if count > PROBE_PACKETS:
                break
            stream = pending.get(packet.stream_index)
            if stream is None or (packet.size and stream.type == "video" and not packet.is_keyframe):
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                frames = []
            if frames:
                working.add(pending.pop(packet.stream_index).type)
            if not pending:
                break
    except av.error.FFmpegError:
        pass  # damage further in is dealt with while copying
    return working


def adts_config(data: bytes) -> bytes | None:
    """The AudioSpecificConfig an ADTS header describes, if ``data`` starts with one."""
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF0 != 0xF0:
        return None
    profile, rate, chans = (data[2] >> 6) + 1, (data[2] >> 2) & 0xF, ((data[2] & 1) << 2) | (data[3] >> 6)
    return ((profile << 11) | (rate << 7) | (chans << 3)).to_bytes(2, "big")


def first_adts_config(container: InputContainer, stream: Stream) -> bytes | None:
    for count, packet in enumerate(container.demux(stream)):
        config = adts_config(bytes(memoryview(packet)[:7]))
        if config is not None or count > PROBE_PACKETS // 10:
            return config
    return None


def avcc_form(stream: Stream) -> bool:
    """Whether H.264/HEVC packets are length-prefixed (FLV, MP4) rather than Annex B (TS)."""
    extradata = stream.codec_context.extradata if stream.codec_context is not None else None
    return extradata is not None and extradata[:1] == b"\x01" and codec_name(stream) in TO_ANNEXB
