"""TikTok inputs: which targets the source claims, and what each one parses to (no network)."""

from __future__ import annotations

import pytest

from livevault.errors import InvalidInput, InvalidRoomId, InvalidUrl
from livevault.sources.tiktok import TikTokConfig, TikTokSource
from livevault.sources.tiktok.targets import (
    TargetKind,
    TikTokHosts,
    TikTokTarget,
    looks_like_tiktok,
    parse_target,
    user_from_url,
)

# Checked by tests/contract/test_sources.py against the source built from default settings.
should_match = [
    "7503448765740976902",
    "1",
    "123456789012345678901234",  # too long for a room id: TikTok's to refuse, with INVALID_ROOM_ID
    "@fakeuser",
    "@Fake.User_1",
    "https://www.tiktok.com/@fakeuser/live",
    "https://www.tiktok.com/@fakeuser/live?lang=en&_r=1",
    "http://www.tiktok.com/@fakeuser/live/",
    "https://tiktok.com/@fakeuser/live",
    "https://www.tiktok.com/@fakeuser",
    "https://m.tiktok.com/share/live/7503448765740976902/?language=en",
    "https://vm.tiktok.com/ZMabc123/",
    "https://vt.tiktok.com/ZSabc123",
    "https://www.tiktok.com/t/ZTabc123/",
    "https://www.tiktok.com/@fakeuser/video/7300000000000000000",  # a TikTok URL: resolve says what is wrong
]
should_not_match = [
    "fakeuser",  # a bare word could be anything; the API sends users as "@name"
    "",
    "@",
    "@bad name",
    "abc123",
    "12ab",
    "www.tiktok.com/@fakeuser/live",
    "ftp://www.tiktok.com/@fakeuser/live",
    "https://example.com/@fakeuser/live",
    "https://tiktok.com.evil.example/@fakeuser/live",
    "https://eviltiktok.com/@fakeuser/live",
    "https://webcast.tiktok.com/webcast/room/info/?room_id=1",
    "https://www.youtube.com/watch?v=abc",
    "http://127.0.0.1:8080/live/demo/master.m3u8",
]

FAKE_WEB = "http://127.0.0.1:18080"


def test_matcher_examples_with_default_settings() -> None:
    source = TikTokSource(None, TikTokConfig())  # type: ignore[arg-type]  # matching needs no HTTP
    assert [t for t in should_match if not source.matches(t)] == []
    assert [t for t in should_not_match if source.matches(t)] == []


def test_the_configured_web_host_counts_as_tiktok_but_only_on_its_port() -> None:
    hosts = TikTokHosts(FAKE_WEB)
    assert looks_like_tiktok(f"{FAKE_WEB}/@fakeuser/live", hosts)
    assert looks_like_tiktok("https://www.tiktok.com/@fakeuser/live", hosts)
    assert not looks_like_tiktok("http://127.0.0.1:18081/@fakeuser/live", hosts)
    assert not looks_like_tiktok(f"{FAKE_WEB}/@fakeuser/live", TikTokHosts())


@pytest.mark.parametrize(
    ("target", "kind", "value"),
    [
        ("7503448765740976902", TargetKind.ROOM, "7503448765740976902"),
        (" 42 ", TargetKind.ROOM, "42"),
        ("@FakeUser", TargetKind.USER, "fakeuser"),
        ("fake.user-1", TargetKind.USER, "fake.user-1"),  # a bare word, once the caller chose TikTok
        ("https://www.tiktok.com/@FakeUser/live?lang=en", TargetKind.USER, "fakeuser"),
        ("https://www.tiktok.com/@fakeuser/live/", TargetKind.USER, "fakeuser"),
        ("https://www.tiktok.com/@fakeuser", TargetKind.USER, "fakeuser"),
        ("https://tiktok.com/@fakeuser?is_from_webapp=1", TargetKind.USER, "fakeuser"),
        ("https://m.tiktok.com/share/live/7503448765740976902/?language=en", TargetKind.ROOM, "7503448765740976902"),
        ("https://vm.tiktok.com/ZMabc123/", TargetKind.SHORT_LINK, "https://vm.tiktok.com/ZMabc123/"),
        ("https://vt.tiktok.com/ZSabc123", TargetKind.SHORT_LINK, "https://vt.tiktok.com/ZSabc123"),
        ("https://www.tiktok.com/t/ZTabc123/", TargetKind.SHORT_LINK, "https://www.tiktok.com/t/ZTabc123/"),
    ],
)
def test_parse_target(target: str, kind: TargetKind, value: str) -> None:
    assert parse_target(target, TikTokHosts()) == TikTokTarget(kind, value)


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("https://vm.tiktok.com/ZMabc123/", f"{FAKE_WEB}/t/ZMabc123/"),
        ("https://vt.tiktok.com/ZSabc123", f"{FAKE_WEB}/t/ZSabc123/"),
        ("https://www.tiktok.com/t/ZTabc123", f"{FAKE_WEB}/t/ZTabc123/"),
        (f"{FAKE_WEB}/t/ZTabc123", f"{FAKE_WEB}/t/ZTabc123/"),
    ],
)
def test_short_links_go_to_the_configured_web_url_when_it_is_overridden(target: str, value: str) -> None:
    assert parse_target(target, TikTokHosts(FAKE_WEB)) == TikTokTarget(TargetKind.SHORT_LINK, value)


def test_paths_on_the_configured_host_parse_like_tiktok_paths() -> None:
    hosts = TikTokHosts(FAKE_WEB + "/")
    assert parse_target(f"{FAKE_WEB}/@alice/live", hosts) == TikTokTarget(TargetKind.USER, "alice")
    assert parse_target(f"{FAKE_WEB}/share/live/77", hosts) == TikTokTarget(TargetKind.ROOM, "77")


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("123456789012345678901", InvalidRoomId),
        ("https://m.tiktok.com/share/live/123456789012345678901", InvalidRoomId),
        ("https://example.com/@fakeuser/live", InvalidUrl),
        ("https://www.tiktok.com/@fakeuser/video/7300000000000000000", InvalidUrl),
        ("https://www.tiktok.com/explore", InvalidUrl),
        ("https://www.tiktok.com/@bad%20name/live", InvalidUrl),
        ("ftp://www.tiktok.com/@fakeuser/live", InvalidUrl),
        ("@bad name", InvalidInput),
        ("@", InvalidInput),
        ("x" * 65, InvalidInput),
    ],
)
def test_invalid_targets_raise_the_matching_error(target: str, error: type[InvalidInput]) -> None:
    with pytest.raises(error) as caught:
        parse_target(target, TikTokHosts())
    assert type(caught.value) is error


def test_a_short_link_must_lead_to_a_tiktok_live_profile_or_share() -> None:
    hosts = TikTokHosts()
    assert user_from_url("https://www.tiktok.com/@fakeuser/live?_r=1", hosts) == TikTokTarget(TargetKind.USER,
                                                                                             "fakeuser")
    with pytest.raises(InvalidUrl):
        user_from_url("https://example.com/@fakeuser/live", hosts)
    with pytest.raises(InvalidUrl):
        user_from_url("https://vm.tiktok.com/ZMother/", hosts)
    with pytest.raises(InvalidUrl):
        user_from_url("https://www.tiktok.com/@fakeuser/video/1", hosts)
