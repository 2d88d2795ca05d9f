"""Every user URL goes through one gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from livevault.errors import InvalidUrl
from livevault.sources.urls import check_url_syntax, is_public_address, validate_source_url


@pytest.mark.parametrize(
    "url",
    ["", "ftp://a/b", "file:///etc/passwd", "javascript:alert(1)", "http://", "http:///x", "http://a b/c",
     "http://host:0/x", "http://host:99999/x", "gopher://x", "http://x/\na", "h" * 5000],
)
def test_bad_urls_are_invalid(url: str) -> None:
    with pytest.raises(InvalidUrl):
        check_url_syntax(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254",
                                     "::1", "fc00::1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1", "224.0.0.1"])
def test_non_public_addresses_are_detected(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(address)


def test_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(InvalidUrl, match="LIVEVAULT_ALLOW_PRIVATE_SOURCES"):
        validate_source_url("http://127.0.0.1:8080/live.m3u8", allow_private=False)
    assert validate_source_url(" http://127.0.0.1:8080/live.m3u8 ", allow_private=True) == (
        "http://127.0.0.1:8080/live.m3u8"
    )


def test_unresolvable_hosts_are_invalid() -> None:
    with pytest.raises(InvalidUrl, match="does not resolve"):
        validate_source_url("http://does-not-exist.invalid/a.m3u8", allow_private=False)


def test_proxies_must_be_http_urls() -> None:
    from livevault.sources.urls import InvalidProxy, check_proxy_url

    assert check_proxy_url(" http://user:pass@proxy:8080 ") == "http://user:pass@proxy:8080"
    for bad in ("socks4://p:1", "http://", "http://p:0x", "http://p q:1"):
        with pytest.raises(InvalidProxy):
            check_proxy_url(bad)


def test_cookies_files_must_lie_in_the_secrets_dir(tmp_path: Path) -> None:
    from livevault.errors import InvalidInput
    from livevault.sources.urls import check_secret_file

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "c.txt").write_text("# Netscape HTTP Cookie File\n")
    (tmp_path / "outside.txt").write_text("x")
    assert check_secret_file("c.txt", tmp_path / "secrets") == (tmp_path / "secrets" / "c.txt").resolve()
    for bad in ("../outside.txt", "/etc/passwd", "missing.txt"):
        with pytest.raises(InvalidInput):
            check_secret_file(bad, tmp_path / "secrets")
    with pytest.raises(InvalidInput, match="LIVEVAULT_SECRETS_DIR"):
        check_secret_file("c.txt", None)
