"""Every fault switch, observed over HTTP and in the stream's records."""

from __future__ import annotations

import io
import threading
import time

import av
import httpx

from livevault.testsrc import StreamServer
from tests.unit.testsrc.conftest import SEGMENT, Playlist, decode, numbers


def _playlist(client: httpx.Client, url: str) -> Playlist:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return Playlist(response.text)


def test_error_rate_answers_503_deterministically(server: StreamServer, client: httpx.Client) -> None:
    patterns = []
    for name in ("flaky-a", "flaky-b"):
        stream = server.stream(name, preroll=2)
        stream.error_rate(0.5, seed=7)
        patterns.append([client.get(stream.url("hi/seg-1.ts")).status_code for _ in range(20)])
    assert patterns[0] == patterns[1]
    assert {200, 503} == set(patterns[0])
    served = server.streams["flaky-a"].served("hi")
    assert [s.status for s in served] == patterns[0]
    assert all(s.completed == (s.status == 200) for s in served)
    server.streams["flaky-a"].error_rate(0.0)
    assert client.get(server.streams["flaky-a"].url("hi/seg-1.ts")).status_code == 200
    assert server.streams["flaky-a"].faults[0].kind == "error_rate"


def test_stall_holds_every_request_while_the_clock_runs(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("stall", preroll=2)
    before = _playlist(client, stream.playlist_url("hi"))
    stream.stall(1.2)
    started = time.monotonic()
    after = _playlist(client, stream.playlist_url("hi"))
    assert time.monotonic() - started >= 1.0
    assert len(after.segments) >= len(before.segments) + 2  # segments kept coming during the stall
    assert stream.faults[-1].kind == "stall"


def test_sequence_reset_restarts_numbering_but_not_frames(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("reset", preroll=4)
    before = _playlist(client, stream.playlist_url("hi"))
    last_frame = numbers(client.get(stream.url(f"hi/{before.uris[-1]}")).content)[-1]
    fmp4_before = _playlist(client, stream.playlist_url("fmp4"))
    stream.sequence_reset()
    stream.wait_for_segments(stream.count() + 1, timeout=5)
    after = _playlist(client, stream.playlist_url("hi"))
    assert after.media_sequence == 0
    assert after.uris[0] == "seg-0.ts"
    assert len(after.segments) < len(before.segments)  # the window restarted
    first = client.get(stream.url("hi/seg-0.ts")).content
    frames, _ = decode(first)
    assert frames[0][1] is not None
    assert frames[0][1] > last_frame
    assert frames[0][0] == 900_000  # encoder timestamps restarted
    assert stream.served("hi")[-1].epoch == 1
    assert stream.served("hi")[-1].sequence == 0
    fmp4_after = _playlist(client, stream.playlist_url("fmp4"))
    assert fmp4_before.segments[0]["map"] == "init-0.mp4"
    assert fmp4_after.segments[0]["map"] == "init-1.mp4"
    assert [e.causes[-1] for e in stream.epochs()] == ["start", "sequence_reset"]


def test_discontinuity_tags_a_segment_and_jumps_timestamps(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("disco", preroll=3)
    stream.discontinuity()
    stream.wait_for_segments(stream.count() + 1, timeout=5)
    playlist = _playlist(client, stream.playlist_url("hi"))
    flagged = [i for i, segment in enumerate(playlist.segments) if segment.get("discontinuity")]
    assert len(flagged) == 1
    assert flagged[0] > 0
    assert playlist.tags["EXT-X-DISCONTINUITY-SEQUENCE"] == "0"
    assert playlist.uris == [f"seg-{n}.ts" for n in range(playlist.media_sequence, playlist.media_sequence + 4)]
    cut = flagged[0]
    pair = b"".join(client.get(stream.url(f"hi/{uri}")).content for uri in playlist.uris[cut - 1 : cut + 1])
    frames, _ = decode(pair)
    assert [n for _, n in frames] == list(range(frames[0][1] or 0, (frames[0][1] or 0) + 24))
    assert frames[12][0] - frames[11][0] > 900 * 90_000  # the timestamp jump
    produced = stream.produced()
    assert [p.discontinuity for p in produced].count(True) == 1
    assert produced[-1].discontinuity_sequence == 1


def test_init_change_switches_resolution_with_a_new_map(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("reinit", preroll=2)
    stream.init_change()
    stream.wait_for_segments(stream.count() + 1, timeout=5)
    playlist = _playlist(client, stream.playlist_url("fmp4"))
    maps = [(i, segment["map"]) for i, segment in enumerate(playlist.segments) if "map" in segment]
    assert maps[0] == (0, "init-0.mp4")
    assert maps[1][1] == "init-1.mp4"
    assert playlist.segments[maps[1][0]].get("discontinuity")
    init = client.get(stream.url("fmp4/init-1.mp4")).content
    fragment = client.get(stream.url(f"fmp4/{playlist.uris[maps[1][0]]}")).content
    with av.open(io.BytesIO(init + fragment)) as container:
        assert (container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height) == (
            384,
            216,
        )
    assert numbers(init + fragment)[0] == (stream.epochs()[-1].start) * 12


def test_offline_hides_playlists_then_comes_back(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("down", preroll=2)
    stream.offline(1.0)
    assert client.get(stream.master_url).status_code == 404
    assert client.get(stream.playlist_url("hi")).status_code == 404
    assert client.get(stream.flv_url).status_code == 404
    assert client.get(stream.url("hi/seg-0.ts")).status_code == 200  # what was published stays fetchable
    time.sleep(1.05)
    assert client.get(stream.playlist_url("hi")).status_code == 200


def test_offline_with_reset_comes_back_numbered_from_zero(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("down-reset", preroll=10)
    before = _playlist(client, stream.playlist_url("hi"))
    assert before.media_sequence > 0
    stream.offline(2.0, reset=True)
    assert client.get(stream.playlist_url("hi")).status_code == 404
    time.sleep(2.0 + SEGMENT)
    after = _playlist(client, stream.playlist_url("hi"))
    assert after.media_sequence == 0, "the encoder restarted during the outage"
    assert [f.kind for f in stream.faults][-2:] == ["offline", "sequence_reset"]


def test_forbidden_and_login_wall_answer_403_and_a_login_redirect(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("walls", preroll=2)
    stream.forbidden(0.6)
    assert client.get(stream.playlist_url("hi")).status_code == 403
    assert client.get(stream.flv_url).status_code == 403
    time.sleep(0.65)
    stream.login_wall(0.6)
    walled = client.get(stream.playlist_url("hi"), follow_redirects=False)
    assert walled.status_code == 302
    assert walled.headers["Location"].startswith("/login")
    assert "Log in" in client.get(stream.playlist_url("hi"), follow_redirects=True).text
    time.sleep(0.65)
    assert client.get(stream.playlist_url("hi")).status_code == 200


def test_freeze_keeps_the_playlist_answering_without_new_segments(
    server: StreamServer, client: httpx.Client
) -> None:
    stream = server.stream("frozen", preroll=2)
    stream.freeze(1.2)
    before = _playlist(client, stream.playlist_url("hi"))
    time.sleep(2 * SEGMENT + 0.1)
    assert _playlist(client, stream.playlist_url("hi")).uris == before.uris
    time.sleep(1.2)
    assert _playlist(client, stream.playlist_url("hi")).uris != before.uris


def test_end_appends_endlist_and_stops_the_clock(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("ending", preroll=3)
    stream.end()
    playlist = _playlist(client, stream.playlist_url("hi"))
    assert playlist.ended
    assert len(playlist.segments) == 3
    time.sleep(SEGMENT * 1.5)
    assert len(_playlist(client, stream.playlist_url("hi")).segments) == 3
    assert client.get(stream.ts_url).status_code == 404
    assert stream.ended()
    assert stream.final_count() == 3
    stream.discontinuity()  # too late: recorded, ignored
    assert stream.faults[-1].params == {"ignored": "stream ended"}


def test_max_segments_ends_the_playlist(server: StreamServer, client: httpx.Client) -> None:
    stream = server.stream("short", max_segments=2, preroll=5)
    playlist = _playlist(client, stream.playlist_url("hi"))
    assert playlist.ended
    assert playlist.uris == ["seg-0.ts", "seg-1.ts"]
    assert [p.global_index for p in stream.produced()] == [0, 1]


def test_drop_connections_aborts_progressive_bodies(server: StreamServer) -> None:
    stream = server.stream("dropper", preroll=1)
    received: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with httpx.stream("GET", stream.ts_url, timeout=10) as response:
                for chunk in response.iter_bytes():
                    received.append(len(chunk))
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    stream.drop_connections()
    thread.join(5)
    assert not thread.is_alive()
    connection = stream.connections()[-1]
    assert connection.reason == "dropped"
    # The client normally sees an incomplete chunked body (an error). Once in a loaded CI run (1 in ~3 runs
    # of the whole suite) it saw a clean end instead; the server-side record above is the reliable signal.
    assert errors or sum(received) > 0
    assert not connection.open
    assert connection.segments
