"""Reloads reuse what the previous parse built (ReloadCache) and the window skips segments it already holds.

Whatever is reused, a reload must parse exactly as a fresh parse does, and a segment whose name comes back
with another date time must still be seen as an encoder restart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from livevault.capture.hls_window import SequenceWindow, Verdict
from livevault.capture.m3u8 import ReloadCache, parse_media_playlist, parse_playlist
from livevault.domain.capture import PartReason
from tests.unit.capture.harness import part_bytes, record
from tests.unit.capture.origin import Origin, media, seg_bytes

URL = "https://cdn.example/live/hi/index.m3u8?token=abc"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def pdt(seq: int, shift: float = 0.0) -> str:
    when = T0 + timedelta(seconds=2 * seq + shift)
    return f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}"


def live(first: int, count: int = 6, *, shift: float = 0.0, endlist: bool = False) -> str:
    """A live window with date times, a key change, a discontinuity, a byte range and a map."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}",
             f"#EXT-X-DISCONTINUITY-SEQUENCE:{first // 5}",
             '#EXT-X-MAP:URI="init.mp4",BYTERANGE="700@0"']
    for seq in range(first, first + count):
        if seq % 5 == 0 and seq != first:
            lines.append("#EXT-X-DISCONTINUITY")
        if seq % 4 == 0:
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="k{seq // 4}.key",IV=0x{seq:032x}')
        lines.append(pdt(seq, shift))
        lines.append("#extinf: 2.000 , title " + str(seq) if seq % 3 == 0 else "#EXTINF:2.000,")
        if seq % 7 == 0:
            lines.append("#EXT-X-BYTERANGE:1000@0")
        lines.append(f"../seg/s{seq}.m4s" if seq % 2 else f"s{seq}.m4s?part={seq}")
    if endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\r\n".join(lines) + "\r\n"


def test_reloads_through_one_cache_parse_exactly_as_fresh_parses() -> None:
    cache = ReloadCache()
    for first in range(40):
        text = live(first, endlist=first == 39)
        assert parse_media_playlist(text, URL, cache) == parse_media_playlist(text, URL)


def test_a_segment_listed_again_is_the_same_object() -> None:
    cache = ReloadCache()
    before = parse_media_playlist(live(10), URL, cache)
    after = parse_media_playlist(live(11), URL, cache)
    assert all(a is b for a, b in zip(before.segments[1:], after.segments, strict=False))
    assert after.segments[-1].sequence == 16


def test_the_cache_keeps_about_two_playlists_however_long_it_runs() -> None:
    cache = ReloadCache()
    for first in range(500):
        parse_media_playlist(live(first), URL, cache)
    assert len(cache._segments) <= 2 * 6 + 16
    assert len(cache._uris) <= 2 * 6 + 16


def test_a_new_playlist_url_resolves_against_itself_not_the_cached_one() -> None:
    cache = ReloadCache()
    parse_media_playlist(live(0), URL, cache)
    moved = parse_media_playlist(live(0), "https://other.example/a/b/index.m3u8", cache)
    assert moved.segments[0].uri == "https://other.example/a/b/s0.m4s?part=0"
    assert moved.segments[1].uri == "https://other.example/a/seg/s1.m4s"


def test_the_common_tags_read_the_same_in_any_case_and_spacing() -> None:
    text = ("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3.5,\na.ts\n#extinf: 2.25 , Title, with comma\nb.ts\n"
            "#EXT-X-PROGRAM-DATE-TIME:  2024-05-01T12:00:00.000Z  \n#EXTINF\nc.ts\n"
            "#ext-x-program-date-time:2024-05-01T12:00:04.000Z\n#EXTINF:x,\nd.ts\n")
    playlist = parse_playlist(text, "http://h/p/index.m3u8")
    assert [(s.duration, s.title) for s in playlist.segments] == [
        (3.5, ""), (2.25, "Title, with comma"), (4.0, ""), (4.0, "")]
    assert [s.program_date_time for s in playlist.segments] == [
        None, None, "2024-05-01T12:00:00.000Z", "2024-05-01T12:00:04.000Z"]


def test_the_window_sees_a_retimed_segment_among_the_very_same_ones_as_a_restart() -> None:
    # Given a window that remembered a playlist parsed through the cache
    cache = ReloadCache()
    window = SequenceWindow()
    first = parse_media_playlist(live(0, endlist=False), URL, cache)
    window.remember(first)
    window.next_seq = first.last_sequence + 1
    # When the next reload lists the same objects plus one, it is live progress
    verdict, playlist = window.classify(parse_media_playlist(live(1), URL, cache))
    assert verdict is Verdict.OK
    window.remember(playlist)
    window.next_seq = playlist.last_sequence + 1
    # Then a reload whose last known segment carries another date time is an encoder restart
    text = live(2).replace(pdt(6), pdt(6, shift=3600.0))
    assert window.classify(parse_media_playlist(text, URL, cache))[0] is Verdict.RESET


async def test_names_coming_back_with_other_date_times_open_a_new_part(origin: Origin, tmp_path: Path) -> None:
    # Given an encoder that restarts and numbers and names its segments as before, an hour later
    data = {n: origin.add(f"s{n}.ts", seg_bytes(f"s{n}")) for n in range(5)}

    def window(first: int, shift: float = 0.0, endlist: bool = False) -> str:
        return media(first, 3, before={seq: pdt(seq, shift) for seq in range(first, first + 3)}, endlist=endlist)

    origin.script("live.m3u8", window(0), window(1), window(1, 3600.0), window(2, 3600.0, endlist=True))
    # When it is recorded
    _outcome, spool = await record(origin.url("live.m3u8"), tmp_path)
    # Then the restart opens a new part that takes the re-used names again
    assert [s.sequence for s in spool.segments()] == [0, 1, 2, 3, 1, 2, 3, 4]
    assert [p.reason for p in spool.parts()] == [PartReason.START, PartReason.SEQUENCE_RESET]
    assert part_bytes(spool) == [b"".join(data[n] for n in (0, 1, 2, 3)), b"".join(data[n] for n in (1, 2, 3, 4))]
