"""TikTok stream data, quality and codec choice, cookies files and the request budget (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from livevault.domain.stream import StreamFormat
from livevault.errors import InvalidInput, NoMatchingQuality
from livevault.sources.tiktok.budget import RequestBudget, TokenBucket, retry_after_seconds
from livevault.sources.tiktok.cookies import CookieFiles, cookie_header, parse_cookies
from livevault.sources.tiktok.streams import Candidate, Choice, parse_legacy, parse_pull_data, rank

CDN = "https://pull-flv-l1-va01.tiktokcdn.com/game"


def pull_data(keys: dict[str, tuple[int, str]], *, with_hls: bool = True) -> dict[str, object]:
    """A `pull_data` object as TikTok sends it: `stream_data` and `sdk_params` are JSON strings."""
    data = {}
    for key, (_level, codec) in keys.items():
        data[key] = {"main": {
            "flv": f"{CDN}/stream-1_{key}.flv?expire=1&sign=x&codec={codec}",
            "hls": f"{CDN}/stream-1_{key}/playlist.m3u8?codec={codec}" if with_hls else "", "cmaf": "",
            "sdk_params": json.dumps({"VCodec": codec, "vbitrate": 100_000 * _level}),
        }}
    data["ao"] = {"main": {"flv": f"{CDN}/stream-1.flv?only_audio=1", "hls": "", "sdk_params": "{\"vbitrate\":0}"}}
    qualities = [{"sdk_key": k, "level": level, "name": k.upper(), "v_codec": codec}
                 for k, (level, codec) in keys.items()]
    return {"options": {"qualities": qualities}, "stream_data": json.dumps({"common": {}, "data": data})}


ALL_H264 = {"origin": (10, "h264"), "hd_60": (4, "h264"), "hd": (3, "h264"), "sd": (2, "h264"), "ld": (1, "h264")}


def keys(choices: list[Choice], fmt: StreamFormat = StreamFormat.FLV) -> list[str]:
    return [c.candidate.sdk_key for c in choices if c.format is fmt]


def test_stream_data_is_parsed_from_its_json_strings() -> None:
    candidates = parse_pull_data(pull_data(ALL_H264))
    by_key = {c.sdk_key: c for c in candidates}
    assert set(by_key) == {"origin", "hd_60", "hd", "sd", "ld", "ao"}
    assert by_key["hd"] == Candidate("hd", 3, "h264", f"{CDN}/stream-1_hd.flv?expire=1&sign=x&codec=h264",
                                     f"{CDN}/stream-1_hd/playlist.m3u8?codec=h264", "HD", 300_000)
    assert by_key["ao"].level == 0
    assert by_key["ao"].hls is None


@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        ("best", ["origin", "hd_60", "hd", "sd", "ld"]),
        ("origin", ["origin", "hd_60", "hd", "sd", "ld"]),
        ("worst", ["ld", "sd", "hd", "hd_60", "origin"]),
        ("720p", ["hd", "sd", "ld", "hd_60", "origin"]),
        ("HD", ["hd", "sd", "ld", "hd_60", "origin"]),
        ("720p60", ["hd_60", "hd", "sd", "ld", "origin"]),
        ("1080p", ["hd_60", "hd", "sd", "ld", "origin"]),  # no 1080p: the next level down
        ("540p", ["sd", "ld", "hd", "hd_60", "origin"]),
        ("360p", ["ld", "sd", "hd", "hd_60", "origin"]),
        ("240p", ["ld", "sd", "hd", "hd_60", "origin"]),
        ("350000", ["hd", "sd", "ld", "hd_60", "origin"]),  # a bit rate: the highest at or under it
        ("audio_only", ["ao"]),
    ],
)
def test_quality_names_map_to_levels_with_fallback_to_the_next_lower_one(quality: str, expected: list[str]) -> None:
    choices = rank(parse_pull_data(pull_data(ALL_H264)), quality, prefer_h265=False)
    assert keys(choices) == expected
    flv_count = len(expected)
    assert all(c.format is StreamFormat.HLS for c in choices[flv_count:]), "HLS only after every FLV choice"


def test_an_unknown_quality_is_refused_with_the_available_names() -> None:
    with pytest.raises(NoMatchingQuality) as caught:
        rank(parse_pull_data(pull_data(ALL_H264)), "ultra", prefer_h265=False)
    assert "HD_60" in caught.value.message


def test_h264_comes_before_h265_unless_h265_is_preferred() -> None:
    mixed = [*parse_pull_data(pull_data({"origin": (10, "h265"), "hd": (3, "h265")})),
             *parse_pull_data(pull_data({"hd": (3, "h264"), "sd": (2, "h264")}))]
    h264_first = [c for c in rank(mixed, "best", prefer_h265=False) if c.format is StreamFormat.FLV]
    assert [(c.candidate.sdk_key, c.candidate.codec) for c in h264_first] == [
        ("hd", "h264"), ("sd", "h264"), ("origin", "h265"), ("hd", "h265")]
    assert [(c.candidate.sdk_key, c.candidate.codec) for c in rank(mixed, "best", prefer_h265=True)][:2] == [
        ("origin", "h265"), ("hd", "h265")]


def test_hls_is_chosen_when_asked_for_and_flv_remains_the_fallback() -> None:
    candidates = parse_pull_data(pull_data({"origin": (10, "h264")}, with_hls=False))
    candidates += parse_pull_data(pull_data({"hd": (3, "h264")}))
    choices = rank(candidates, "best", prefer_h265=False, fmt=StreamFormat.HLS)
    assert [(c.candidate.sdk_key, c.format) for c in choices] == [
        ("hd", StreamFormat.HLS), ("origin", StreamFormat.FLV), ("hd", StreamFormat.FLV)]
    assert "/playlist.m3u8" in choices[0].url


def test_legacy_stream_url_fields_are_a_fallback() -> None:
    stream_url = {
        "flv_pull_url": {"FULL_HD1": f"{CDN}/s_uhd.flv", "HD1": f"{CDN}/s_hd.flv", "SD1": f"{CDN}/s_ld.flv"},
        "flv_pull_url_params": {"HD1": "{\"VCodec\":\"h265\"}"},
        "hls_pull_url": f"{CDN}/s/playlist.m3u8",
        "rtmp_pull_url": f"{CDN}/s.flv",
    }
    candidates = {c.sdk_key: c for c in parse_legacy(stream_url)}
    assert candidates["hd"].codec == "h265"
    assert candidates["origin"].flv == f"{CDN}/s.flv"
    choices = rank(list(candidates.values()), "best", prefer_h265=False)
    assert keys(choices) == ["origin", "uhd", "ld", "hd"]
    assert keys(choices, StreamFormat.HLS) == ["hls_pull"]


def test_broken_nested_json_yields_no_candidates() -> None:
    assert parse_pull_data({"stream_data": "{not json"}) == []
    assert parse_pull_data({"stream_data": json.dumps({"data": {"hd": {"main": {"flv": "javascript:x"}}}})}) == []


# --- cookies ----------------------------------------------------------------------------------

NETSCAPE = "\n".join([
    "# Netscape HTTP Cookie File",
    ".tiktok.com\tTRUE\t/\tTRUE\t0\tsessionid\tabc123",
    "#HttpOnly_.tiktok.com\tTRUE\t/\tTRUE\t4102444800\tsessionid_ss\tdef456",
    "www.tiktok.com\tFALSE\t/\tFALSE\t1\tstale\told",
    ".example.com\tTRUE\t/\tFALSE\t0\tother\tnope",
    "",
])


def test_netscape_cookies_keep_only_live_tiktok_cookies() -> None:
    assert parse_cookies(NETSCAPE) == {"sessionid": "abc123", "sessionid_ss": "def456"}


def test_json_cookies_as_an_object_or_a_browser_export() -> None:
    assert parse_cookies('{"sessionid_ss": "abc", "tt-target-idc": "useast2a", "empty": ""}') == {
        "sessionid_ss": "abc", "tt-target-idc": "useast2a"}
    export = [{"name": "sessionid", "value": "v1", "domain": ".tiktok.com"},
              {"name": "other", "value": "v2", "domain": ".example.com"},
              {"name": "bad;name", "value": "v3"}, {"name": "inj", "value": "a;b"}]
    assert parse_cookies(json.dumps(export)) == {"sessionid": "v1"}
    assert cookie_header({"a": "1", "b": "2"}) == "a=1; b=2"


def test_malformed_cookie_files_are_refused_without_echoing_values() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cookies(".tiktok.com\tTRUE\tsecretvalue")
    assert "secretvalue" not in caught.value.message
    with pytest.raises(InvalidInput):
        parse_cookies("{broken")


def test_cookie_files_are_read_only_from_the_secrets_dir(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tiktok.txt").write_text(NETSCAPE)
    (tmp_path / "outside.txt").write_text(NETSCAPE)
    files = CookieFiles(secrets)
    assert files.load("tiktok.txt")["sessionid"] == "abc123"
    for name in ["../outside.txt", str(tmp_path / "outside.txt"), "missing.txt", "."]:
        with pytest.raises(InvalidInput):
            files.load(name)
    with pytest.raises(InvalidInput):
        CookieFiles(None).load("tiktok.txt")


def test_cookie_files_are_reread_when_they_change(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"sessionid": "one"}')
    files = CookieFiles(tmp_path)
    assert files.load("c.json") == {"sessionid": "one"}
    path.write_text('{"sessionid": "two"}')
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert files.load("c.json") == {"sessionid": "two"}


# --- budget -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_its_size_then_refills_at_the_per_minute_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(6, clock)
    assert [bucket.take() for _ in range(6)] == [0.0] * 6
    assert bucket.take() == pytest.approx(10.0)
    clock.now += 10.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0


def test_a_429_pauses_the_bucket_for_retry_after() -> None:
    clock = Clock()
    budget = RequestBudget(600, clock)
    budget.pause(None, 30)
    assert budget.take(None) == pytest.approx(30.0)
    assert budget.take("http://proxy:8080") == 0.0  # another egress, another IP
    clock.now += 30.5
    assert budget.take(None) == 0.0
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 60.0
    assert retry_after_seconds(None, 5.0) == 5.0
