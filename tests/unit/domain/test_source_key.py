"""The source key: what makes two recording requests the same source."""

from __future__ import annotations

import pytest

from livevault.domain.source_key import MAX_KEY_LENGTH, normalize_url, recording_source_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://Example.COM/live/a.m3u8", "https://example.com/live/a.m3u8"),
        ("https://example.com:443/live/a.m3u8", "https://example.com/live/a.m3u8"),
        ("http://example.com:80/a.flv", "http://example.com/a.flv"),
        ("https://example.com/a.m3u8#t=10", "https://example.com/a.m3u8"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a.m3u8?b=2&a=1", "https://example.com/a.m3u8?a=1&b=2"),
        # per-request signatures and expiry times never select a different stream
        ("https://cdn.example.com/a.m3u8?token=abc&expires=1", "https://cdn.example.com/a.m3u8?token=xyz&expires=2"),
        ("https://b.s3.amazonaws.com/a.m3u8?X-Amz-Signature=1&X-Amz-Date=2", "https://b.s3.amazonaws.com/a.m3u8"),
        ("https://pull.example.com/live/s.flv?txSecret=1&txTime=2&quality=hd",
         "https://pull.example.com/live/s.flv?quality=hd&txTime=9&txSecret=8"),
    ],
)
def test_same_source(a: str, b: str) -> None:
    assert recording_source_key("url", a) == recording_source_key("url", b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/live/A.m3u8", "https://example.com/live/a.m3u8"),  # paths are case-sensitive
        ("https://example.com:8443/a.m3u8", "https://example.com/a.m3u8"),
        ("http://example.com/a.m3u8", "https://example.com/a.m3u8"),
        ("https://example.com/a.m3u8?stream=1", "https://example.com/a.m3u8?stream=2"),
    ],
)
def test_different_sources(a: str, b: str) -> None:
    assert recording_source_key("url", a) != recording_source_key("url", b)


def test_url_sources_share_a_key_whatever_source_records_them() -> None:
    url = "https://example.com/watch?v=1"
    assert recording_source_key("ytdlp", url) == recording_source_key("streamlink", url) == (
        recording_source_key("url", url))


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("7212345678901234567", "tiktok:room:7212345678901234567"),
        ("@Some.User", "tiktok:user:some.user"),
        ("some.user", "tiktok:user:some.user"),
        ("https://www.tiktok.com/@Some.User/live", "tiktok:user:some.user"),
        ("https://www.tiktok.com/@some.user", "tiktok:user:some.user"),
        ("https://m.tiktok.com/share/live/123/", "tiktok:room:123"),
        ("https://vm.tiktok.com/ZMabc/", "tiktok:url:https://vm.tiktok.com/ZMabc/"),
    ],
)
def test_tiktok_keys(source: str, key: str) -> None:
    assert recording_source_key("tiktok", source) == key


def test_push_key() -> None:
    assert recording_source_key("push", "push:cam-1") == "push:cam-1"


def test_long_urls_are_bounded_and_still_distinct() -> None:
    base = "https://example.com/" + "a" * 5000
    one, two = recording_source_key("url", base + "1"), recording_source_key("url", base + "2")
    assert len(one) <= MAX_KEY_LENGTH
    assert len(two) <= MAX_KEY_LENGTH
    assert one != two


def test_normalize_keeps_credentials_and_ipv6() -> None:
    assert normalize_url("http://u@[::1]:80/x") == "http://u@[::1]/x"
