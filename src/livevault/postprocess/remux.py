"""Copy the packets of a recording's parts, in order, into one MP4 that plays and seeks (no re-encoding).

What the copy does beyond moving packets:

* **Timeline.** Every part, and every discontinuity inside a part (a DTS going backwards, or jumping
  more than ``JUMP_THRESHOLD`` past the expected next DTS), starts an *epoch*. An epoch's packets are
  held back until each of the part's streams has reached it, then all of them get one shared shift that
  puts the epoch right after everything written so far (A/V sync is kept). A part whose timestamps
  already continue the previous one keeps its shift. Output DTS is strictly increasing per stream.
* **Resent media.** A ``reconnect``/``resume`` part whose server resent the end of the previous part (a
  GOP cache: same timestamps, same bytes) keeps the previous shift and its repeats are dropped, so no
  frame appears twice (see ``_overlap``).
* **Bitstreams.** H.264/HEVC go into the muxer in Annex B form (FLV/MP4 parts are converted), so parts
  from different containers can be mixed and the muxer writes the avcC/hvcC; ADTS AAC is stripped to
  raw AAC (by the MP4 muxer's own ``aac_adtstoasc``, as ``ffmpeg -c copy`` does) and the
  AudioSpecificConfig is put in the track header.
* **Damage.** Empty, unreadable, undecodable or incompatible parts are skipped and reported; a read
  error ends a part where it happened; a corrupt packet at the end of a part (cut mid-write) is dropped.
  The MP4 is written as ``*.partial.mp4`` next to ``output`` and renamed into place only when complete.
* **Faststart.** The index goes before the media. Given the media's length, room for it is reserved up
  front (``_moov``), so the media is written once; otherwise FFmpeg's faststart moves the media after.
* **Pieces.** With a ``Split``, the copy starts at a ``Cut`` (a packet of a part, counted in demux order)
  and, given a duration or a size, ends at the first video keyframe past it that the timeline writes as
  new media (not while a part is still settling or dropping resent packets); that keyframe is the next
  piece's ``Cut``. A cut is only taken once the demuxer has returned the next video packet after it (or
  the part is finished), so re-reading a part that has grown since yields the same packets before it:
  consecutive pieces neither lose nor repeat a frame.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
from av.bitstream import BitStreamFilterContext

from livevault.domain.capture import PartReason
from livevault.errors import NothingRecorded, RemuxFailed
from livevault.postprocess import _moov
from livevault.postprocess._overlap import DIFFERS
from livevault.postprocess._parts import (
    TO_ANNEXB,
    Sig,
    Survey,
    avcc_form,
    codec_name,
    first_adts_config,
    open_part,
    pick,
    survey_part,
)
from livevault.postprocess._timeline import OutTrack, Timeline, Track
from livevault.postprocess.remux_types import SEEK_BACK as SEEK_BACK
from livevault.postprocess.remux_types import Cut as Cut
from livevault.postprocess.remux_types import RemuxResult as RemuxResult
from livevault.postprocess.remux_types import SkippedPart as SkippedPart
from livevault.postprocess.remux_types import Split as Split
from livevault.postprocess.remux_types import _fsync_and_rename, _StartNotFound, _write_error

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
    from av.stream import Stream

    from livevault.domain.capture import PartInfo

log = logging.getLogger(__name__)

_MAX_MUX_FAILURES = 200  # consecutive rejected packets before the remux is declared failed
_REJOIN = (PartReason.RECONNECT, PartReason.RESUME)  # parts that may start by resending the previous one's end


class _Remuxer:
    def __init__(self, surveys: list[Survey], tmp: Path, name: str, split: Split | None = None,
                 media_seconds: float | None = None) -> None:
        self._surveys = surveys
        self._media_seconds = media_seconds
        self._index_rate = 0.0  # upper estimate of index bytes per second of media (``_moov``)
        self.reserved: int | None = None
        self._split = split or Split()
        self.cut: Cut | None = None
        self.bytes = 0
        self._name = name
        self._out: OutputContainer = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        self._outs: dict[str, tuple[OutTrack, Sig]] = {}
        self.timeline = Timeline(self._mux, remember=any(s.info.reason in _REJOIN for s in surveys[1:]))
        self.used: list[int] = []
        self.skipped: list[SkippedPart] = []
        self.warnings: list[str] = [note for survey in surveys for note in survey.notes]
        self._failures = 0
        self.rejected = 0

    def run(self) -> None:
        try:
            self._add_outputs()
            self._reserve_index()
            self._out.start_encoding()
            for track, _sig in self._outs.values():
                track.tb = Fraction(track.stream.time_base or Fraction(1, 90000))
            for survey in self._surveys:
                self._copy_part(survey)
                if self.cut is not None:
                    break
        except BaseException:
            with contextlib.suppress(Exception):  # the file is discarded; keep the first error
                self._out.close()
            raise
        try:
            self._out.close()  # writes the index into its room, or moves it to the front (faststart)
        except av.error.FFmpegError as exc:
            if self.reserved is None:
                raise
            raise _moov.ReservedTooSmall(str(exc)) from exc

    def _reserve_index(self) -> None:
        media = sum(s.limit if s.limit is not None else s.path.stat().st_size for s in self._surveys)
        self.reserved = _moov.reserve_in(self._out, self._media_seconds, self._index_rate, media)

    def _add_outputs(self) -> None:
        """One output stream per kind, from the first part whose stream of that kind is fully known (a
        part that gives both is opened once)."""
        with contextlib.ExitStack() as stack:
            current: tuple[Survey, InputContainer] | None = None
            for kind in ("video", "audio"):
                found = [s for s in self._surveys if getattr(s, kind) is not None]
                if not found:
                    continue
                survey = next((s for s in found if getattr(s, kind).known), found[0])
                if current is None or current[0] is not survey:
                    current = (survey, stack.enter_context(open_part(survey.info, survey.path, survey.limit)))
                self._add_output(kind, survey, current[1])

    def _add_output(self, kind: str, survey: Survey, container: InputContainer) -> None:
        template = pick(container)[0 if kind == "video" else 1]
        assert template is not None
        try:
            ostream = self._out.add_stream_from_template(template, opaque=True)
        except ValueError as exc:  # a codec MP4 cannot carry: keep the other stream
            self.warnings.append(f"{kind} ({codec_name(template)}) cannot go into MP4; left out ({exc})")
            return
        ctx = ostream.codec_context
        if kind == "video" and avcc_form(template):
            BitStreamFilterContext(TO_ANNEXB[codec_name(template)], template, ostream)
        if kind == "video" and codec_name(template) == "hevc":
            ctx.codec_tag = "hvc1"
        if kind == "audio" and codec_name(template) == "aac" and not ctx.extradata:
            ctx.extradata = first_adts_config(container, template)
        self._outs[kind] = (OutTrack(ostream, kind), getattr(survey, kind))
        self._index_rate += _moov.index_bytes_per_second(kind, template)

    def _compatible(self, survey: Survey, kind: str) -> bool:
        sig: Sig | None = getattr(survey, kind)
        if sig is None or kind not in self._outs:
            return False
        want, n = self._outs[kind][1], survey.info.index
        if sig.codec != want.codec or (kind == "audio" and (sig.sample_rate, sig.channels) != (
                want.sample_rate, want.channels) and sig.sample_rate and sig.channels):
            self.warnings.append(f"part {n}: {kind} ({sig}) does not fit the output track ({want}); left out")
            return False
        if kind == "video" and sig.width and (sig.width, sig.height) != (want.width, want.height):
            self.warnings.append(f"part {n}: resolution changes to {sig.width}x{sig.height} (track header "
                                 f"says {want.width}x{want.height}; in-band parameter sets carry the change)")
        return True

    def _tracks_for(self, container: InputContainer, survey: Survey) -> dict[int, Track]:
        tracks: dict[int, Track] = {}
        for kind, stream in zip(("video", "audio"), pick(container), strict=True):
            if stream is not None and self._compatible(survey, kind):
                bsf = BitStreamFilterContext(TO_ANNEXB[codec_name(stream)], stream) \
                    if avcc_form(stream) else None
                tracks[stream.index] = Track(stream, self._outs[kind][0], bsf)
        return tracks

    def _copy_part(self, survey: Survey) -> None:
        n, muxed, stats = survey.info.index, self.timeline.muxed, self.timeline.stats
        resent, cut = stats.overlap, stats.overlap_cut
        base = self._split.read_from(survey.info)
        try:
            try:
                self._read_part(survey, base)
            except _StartNotFound:
                if base == 0:
                    raise RemuxFailed(f"part {n}: the piece's first keyframe is not where it was") from None
                self.warnings.append(f"part {n}: piece start not found from byte {base}; read from the start")
                self._read_part(survey, 0)
        except (av.error.FFmpegError, OSError) as exc:
            self.warnings.append(f"part {n}: could not be read ({exc})")
        self._report_overlap(survey, stats.overlap - resent, stats.overlap_cut - cut)
        self._note_used(survey, muxed)

    def _read_part(self, survey: Survey, base: int) -> None:
        with open_part(survey.info, survey.path, survey.limit, base) as container:
            tracks = self._tracks_for(container, survey)
            if tracks:
                self.timeline.begin_part(list(tracks.values()), rejoin=survey.info.reason in _REJOIN)
                try:
                    self._demux(container, tracks, survey.info.index, base=base,
                                finished=survey.info.index != self._split.growing)
                finally:
                    self.timeline.end_part()  # while the part's streams still exist

    def _note_used(self, survey: Survey, muxed: int) -> None:
        n = survey.info.index
        if self.timeline.muxed > muxed:
            self.used.append(n)
        else:
            self.skipped.append(SkippedPart(n, str(survey.path), "no usable packets"))

    def _report_overlap(self, survey: Survey, resent: int, cut: int) -> None:
        n, reason = survey.info.index, survey.info.reason.value
        if resent:
            log.info("part %s (%s): dropped %d packets the server resent (already written from before)",
                     n, reason, resent)
        if cut:
            self.warnings.append(f"part {n} ({reason}): resent video differs from what was written; "
                                 f"{cut} video packets dropped up to the next keyframe")
        if self.timeline.rejoined == DIFFERS:
            self.warnings.append(f"part {n} ({reason}): its timestamps go back into what was already written "
                                 "but its content differs; taken as a new timeline and appended")

    def _demux(self, container: InputContainer, tracks: dict[int, Track], n: int, *, base: int,
               finished: bool) -> None:
        """Copy a part's packets; a read error ends the part there (what came before is kept). ``base``: the
        byte the read began at (packet positions count from it)."""
        start = self._split.start
        here = start is not None and start.part == n
        by_pos = here and start is not None and (base > 0 or start.packet < 0)
        skip = start.packet if here and start is not None and not by_pos else 0
        looking = start.pos - base if by_pos and start is not None else None
        ordinal, candidate = -1, None
        feed, bounded = self.timeline.feed, self._split.bounded  # unbounded: no packet can begin a piece
        try:
            # every picked stream is read, copied or not, so that packet counts (cuts) never depend on
            # which streams fit this piece's output
            for packet in container.demux(*[s for s in pick(container) if s is not None]):
                if packet.size <= 0:
                    continue
                ordinal += 1
                if looking is not None:
                    if packet.pos != looking or not packet.is_keyframe or packet.stream.type != "video":
                        continue
                    looking = None
                track = tracks.get(packet.stream_index)
                if ordinal < skip or track is None:
                    continue
                if candidate is not None:  # a cut waits for the next video packet; until then, the next piece's
                    if track.out.kind == "video":
                        self.cut = candidate
                        return
                    continue
                if bounded and self._cuttable(track, packet):
                    candidate = Cut(n, ordinal if base == 0 else -1, base + max(0, packet.pos or 0))
                    continue
                if track.bsf is None and track.held is None and not packet.is_corrupt:
                    feed(track, packet)  # the common case of _feed and _convert, without the calls
                else:
                    self._feed(track, packet)
        except av.error.FFmpegError as exc:
            self.warnings.append(f"part {n}: reading stopped at a damaged spot ({exc})")
        if looking is not None:
            raise _StartNotFound
        if candidate is not None and finished:
            self.cut = candidate

    def _cuttable(self, track: Track, packet: Packet[Stream]) -> bool:
        """Whether this packet can begin the next piece: a keyframe of new media once the piece is long enough."""
        split = self._split
        if not split.bounded or not packet.is_keyframe or track.waiting or track.trimming or track.held:
            return False
        if track.out.kind != "video" and "video" in self._outs:
            return False
        if self.timeline.muxed == 0:
            return False
        if split.seconds is not None and self.timeline.duration() >= split.seconds:
            return True
        return split.size is not None and self.bytes >= split.size

    def _feed(self, track: Track, packet: Packet[Stream]) -> None:
        """Hand a packet on, one packet late for corrupt ones: a corrupt last packet is a cut-off write."""
        held, track.held = track.held, None
        if held is not None:
            self._convert(track, held)
        if packet.is_corrupt:
            track.held = packet
        else:
            self._convert(track, packet)

    def _convert(self, track: Track, packet: Packet[Stream]) -> None:
        if track.bsf is None:
            self.timeline.feed(track, packet)
            return
        try:
            converted = track.bsf.filter(packet)
        except av.error.FFmpegError:
            self.timeline.stats.dropped += 1
            return
        for out in converted:
            self.timeline.feed(track, out)

    def _mux(self, packet: Packet[Stream]) -> bool:
        """Write one packet; False if the muxer rejected just this packet. Anything worse is raised as a
        livevault error at once, so that no read-error handler mistakes it for a damaged part."""
        size = packet.size
        try:
            self._out.mux_one(packet)
        except av.error.FFmpegError as exc:
            if not isinstance(exc, ValueError):
                raise _write_error(exc, self._name) from exc
            self._failures += 1
            self.rejected += 1
            self.timeline.stats.dropped += 1
            if self._failures > _MAX_MUX_FAILURES:
                raise RemuxFailed(f"the MP4 muxer rejected {self._failures} packets in a row: {exc}") from exc
            return False
        except OSError as exc:
            raise _write_error(exc, self._name) from exc
        self._failures = 0
        self.bytes += size
        return True

    @property
    def outputs(self) -> int:
        return len(self._outs)

    def result(self, output: Path) -> RemuxResult:
        count, stats = {kind: pair[0].packets for kind, pair in self._outs.items()}, self.timeline.stats
        return RemuxResult(output, self.timeline.duration(), count.get("video", 0), count.get("audio", 0),
                           tuple(self.used), tuple(self.skipped), stats.adjustments, stats.repaired,
                           stats.dropped, tuple(self.warnings), stats.overlap, self.cut)


def _run(surveys: list[Survey], skipped: list[SkippedPart], tmp: Path, output: Path,
         split: Split | None, media_seconds: float | None) -> RemuxResult:
    try:
        remuxer = _Remuxer(surveys, tmp, output.name, split, media_seconds)
        try:
            remuxer.run()
        except _moov.ReservedTooSmall as exc:
            log.warning("remux %s: the room reserved for the index (%s bytes) was too small (%s); writing "
                        "the file again with faststart", output.name, remuxer.reserved, exc)
            remuxer = _Remuxer(surveys, tmp, output.name, split)
            remuxer.run()
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise _write_error(exc, output.name) from exc
    if not remuxer.outputs:
        raise RemuxFailed(f"none of the recorded streams can go into MP4: {'; '.join(remuxer.warnings)}")
    remuxer.skipped = sorted([*skipped, *remuxer.skipped], key=lambda s: s.index)
    result = remuxer.result(output)
    if result.video_packets + result.audio_packets == 0:
        if remuxer.rejected:
            raise RemuxFailed(f"the MP4 muxer rejected all {remuxer.rejected} packets of {output.name}")
        raise NothingRecorded("none of the parts held a usable audio or video packet",
                              details={"skipped": [s.reason for s in result.parts_skipped]})
    return result


def remux_parts(parts: Sequence[tuple[PartInfo, Path]], output: Path, split: Split | None = None,
                limits: Mapping[int, int] | None = None, media_seconds: float | None = None) -> RemuxResult:
    """Copy the parts, in order, into one faststart MP4 at ``output``; see the module docstring.
    ``split``: copy one piece only (``result.cut`` says where it ended; with a bounded split and no cut
    found yet, nothing is written and ``result.cut`` is None). ``limits``: bytes to read of some parts.
    ``media_seconds``: how much media the parts hold (the spool index knows), so the MP4's index gets its
    room up front and the media is written once."""
    surveys: list[Survey] = []
    skipped: list[SkippedPart] = []
    first = split.start.part if split is not None and split.start is not None else None
    for info, path in parts:
        if first is not None and info.index < first:
            continue
        found = survey_part(info, path, (limits or {}).get(info.index))
        if isinstance(found, str):
            log.warning("skipping part %s (%s): %s", info.index, path, found)
            skipped.append(SkippedPart(info.index, str(path), found))
        else:
            surveys.append(found)
    if not surveys:
        raise NothingRecorded("no part holds readable audio or video",
                              details={"skipped": [f"{s.index}: {s.reason}" for s in skipped]})
    tmp = output.with_suffix(".partial.mp4")
    try:
        result = _run(surveys, skipped, tmp, output, split, media_seconds)
        if split is not None and split.bounded and result.cut is None:
            tmp.unlink(missing_ok=True)
            return result
        _fsync_and_rename(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for warning in result.warnings:
        log.warning("remux %s: %s", output.name, warning)
    return result
