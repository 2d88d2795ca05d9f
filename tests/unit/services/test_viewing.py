"""Web sessions (encrypted cookie, expiry, tampering) and the live HLS playlist over a real spool."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from livevault.bootstrap import Container, build_container
from livevault.capture.spool import Spool
from livevault.config import Settings
from livevault.db.repositories import RecordingRepository
from livevault.domain.capture import PartContainer, PartReason
from livevault.domain.recording import Recording, RecordingStatus
from livevault.errors import NotFound
from livevault.services.viewing import SessionService
from livevault.services.viewing.sessions import load_or_create_secret
from tests.conftest import make_settings


def test_a_session_cookie_round_trips_and_hides_the_key() -> None:
    sessions = SessionService("s" * 32, max_age=60)
    cookie, session = sessions.issue("secret-api-key")
    assert "secret-api-key" not in cookie
    opened = sessions.open(cookie)
    assert opened is not None
    assert opened.api_key == "secret-api-key"
    assert opened.csrf_ok(session.csrf_token)
    assert not opened.csrf_ok("wrong")
    assert not opened.csrf_ok(None)


def test_forged_tampered_foreign_and_expired_cookies_are_refused() -> None:
    sessions = SessionService("s" * 32, max_age=60)
    cookie, _ = sessions.issue("k")
    assert sessions.open(None) is None
    assert sessions.open("not-a-token") is None
    assert sessions.open(cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")) is None
    assert SessionService("t" * 32, max_age=60).open(cookie) is None  # another secret
    old = SessionService("s" * 32, max_age=60)
    stale = old._fernet.encrypt_at_time(b'{"k":"k","c":"c"}', int(time.time()) - 120).decode()
    assert sessions.open(stale) is None


def test_the_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    first = load_or_create_secret(settings)
    assert load_or_create_secret(settings) == first
    assert (tmp_path / "data" / "session_secret").stat().st_mode & 0o077 == 0
    assert load_or_create_secret(make_settings(tmp_path / "data", session_secret="x" * 20)) == "x" * 20


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    import asyncio

    loop = asyncio.new_event_loop()
    settings: Settings = make_settings(tmp_path / "data")

    async def build() -> Container:
        return build_container(settings)

    built = loop.run_until_complete(build())
    try:
        yield built
    finally:
        loop.run_until_complete(built.http.close())
        built.engine.dispose()
        loop.close()


def _add(container: Container, status: RecordingStatus) -> str:
    """A recording row as the recorder leaves it (no job is run)."""
    recording = Recording(id=str(uuid.uuid4()), source_kind="url", source="http://example.test/x.m3u8",
                          status=status, created_at=datetime.now(UTC))
    container.db.run(lambda s: RecordingRepository(s).add(recording))
    return recording.id


def test_the_live_playlist_lists_ts_segments_as_byte_ranges_and_ends_when_finished(container: Container) -> None:
    recording_id = _add(container, RecordingStatus.RECORDING)
    with pytest.raises(NotFound):
        container.live.playlist(recording_id)
    spool = Spool(container.recordings.spool_dir(recording_id))
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.append_segment(b"a" * 188 * 2, sequence=1, duration=2.0)
    part.append_segment(b"b" * 188, sequence=2, duration=1.5)
    second = spool.open_part(PartContainer.TS, PartReason.RECONNECT)
    second.append_segment(b"c" * 188, sequence=3, duration=2.5)
    flv = spool.open_part(PartContainer.FLV, PartReason.RECONNECT)
    flv.append_segment(b"F" * 100, sequence=4, duration=2.0)
    spool.close()

    playlist = container.live.playlist(recording_id)
    lines = playlist.text.splitlines()
    assert lines[:5] == ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:3", "#EXT-X-PLAYLIST-TYPE:EVENT",
                         "#EXT-X-MEDIA-SEQUENCE:0"]
    assert playlist.segments == 3
    assert not playlist.ended
    assert lines[5:] == [
        "#EXTINF:2.000,", "#EXT-X-BYTERANGE:376@0", "parts/1",
        "#EXTINF:1.500,", "#EXT-X-BYTERANGE:188@376", "parts/1",
        "#EXT-X-DISCONTINUITY",
        "#EXTINF:2.500,", "#EXT-X-BYTERANGE:188@0", "parts/2",
    ]
    container.db.run(lambda s: RecordingRepository(s).set_status(recording_id, RecordingStatus.FAILED))
    ended = container.live.playlist(recording_id)
    assert ended.ended
    assert ended.text.endswith("#EXT-X-ENDLIST\n")


def test_progressive_ts_ranges_are_moved_to_packet_boundaries(container: Container) -> None:
    recording_id = _add(container, RecordingStatus.RECORDING)
    spool = Spool(container.recordings.spool_dir(recording_id))
    part = spool.open_part(PartContainer.TS, PartReason.START)
    part.append_segment(b"G" * 300, sequence=1, duration=1.0)  # a chunk run that ends mid-packet
    part.append_segment(b"G" * 400, sequence=2, duration=1.0)
    spool.close()
    ranges = [line for line in container.live.playlist(recording_id).text.splitlines() if "BYTERANGE" in line]
    assert ranges == ["#EXT-X-BYTERANGE:188@0", "#EXT-X-BYTERANGE:376@188"]


def _box(kind: bytes, size: int) -> bytes:
    return size.to_bytes(4, "big") + kind + b"\0" * (size - 8)


def test_a_fragmented_mp4_part_gets_its_init_section_as_the_map(container: Container) -> None:
    recording_id = _add(container, RecordingStatus.RECORDING)
    spool = Spool(container.recordings.spool_dir(recording_id))
    part = spool.open_part(PartContainer.FMP4, PartReason.START)
    init = _box(b"ftyp", 24) + _box(b"moov", 100)
    part.append_segment(init + _box(b"moof", 50) + _box(b"mdat", 150), sequence=1, duration=2.0)
    part.append_segment(_box(b"moof", 50) + _box(b"mdat", 250), sequence=2, duration=2.0)
    spool.close()
    lines = container.live.playlist(recording_id).text.splitlines()
    assert "#EXT-X-VERSION:6" in lines
    assert '#EXT-X-MAP:URI="parts/1",BYTERANGE="124@0"' in lines
    assert [line for line in lines if "BYTERANGE:" in line] == ["#EXT-X-BYTERANGE:200@124",
                                                                 "#EXT-X-BYTERANGE:300@324"]
