"""`UrlGuard`: which URLs livevault may fetch, and the aiohttp pieces that enforce it on every connection.

What it refuses (unless `allow_private`, LIVEVAULT_ALLOW_PRIVATE_SOURCES): schemes other than http/https;
hosts that are, or resolve to, loopback, private (RFC 1918, ULA), link-local, shared/CGNAT (100.64/10),
multicast, unspecified, reserved, documentation or cloud-metadata addresses, in every notation a resolver or
socket accepts: IPv4 decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1), short forms (127.1), IPv6,
IPv4-mapped (::ffff:127.0.0.1) and -compatible (::127.0.0.1) IPv6, NAT64 (64:ff9b::/96), 6to4 (2002::/16);
and `localhost`/`*.localhost` and the metadata host names. Numeric hosts that are not a canonical dotted quad
are refused outright, whatever they mean, because libraries disagree on how to read them.

How it is enforced:

* `check_url(url)` - syntax, scheme and address check with one resolution, for a URL before it is stored
  or handed to a library that fetches on its own (yt-dlp, streamlink, an external recorder).
* `GuardedResolver` - the resolver of livevault's aiohttp connector. Every address a name resolves to is
  checked, and aiohttp connects only to the addresses this resolver returned, so the address checked is the
  address connected to (no DNS rebinding between check and connect).
* `middleware` - an aiohttp client middleware; it runs for every request *and every redirect hop*, so a
  redirect to `http://127.0.0.1/` or to the metadata address is refused before a connection is opened. It
  checks IP-literal hosts (aiohttp does not resolve those) and the proxy; when a proxy is used, the target
  name is resolved and checked here too (the proxy resolves it again; see docs/security.md).
* `scope_for(url)` - a playlist may not send the recorder where its own URL could not go: with private
  sources allowed, a playlist fetched from a public address gets a strict guard for its segments, keys and
  init sections.

Refusals raise `AddressNotAllowed` (code ADDRESS_NOT_ALLOWED); messages name the host only, never what an
address answered.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from livevault.domain.secrets import mask_secret_url
from livevault.errors import AddressNotAllowed, InvalidInput, InvalidProxy, InvalidUrl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import aiohttp

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 4096
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")
_REFUSED_NAMES = ("localhost", "metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal")
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200", "192.0.0.192", "fd00:ec2::254",
))
_EXTRA_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "::/96",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """What `inet_aton` (and so getaddrinfo, curl, ffmpeg) makes of a numeric host: 127.1, 0x7f.1, 2130706433."""
    if not _NUMERIC_HOST.match(host):
        return None
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    try:
        values = [int(p, 16) if p.startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p)
                  for p in (q if q != "0x" else "0x0" for q in parts)]
    except ValueError:
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = (number << (8 * (4 - len(head)))) + last
    return ipaddress.IPv4Address(number)


@functools.lru_cache(maxsize=4096)
def parse_host_address(host: str) -> tuple[IPAddress | None, bool]:
    """(the address a host names, whether it is written canonically); (None, True) for a name. Cached: the
    guard asks it for every request a capture makes, mostly about the same few hosts."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None, True
        return address, True
    loose = _parse_ipv4_loose(host)
    if loose is None:
        return None, True
    return loose, str(loose) == host


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why livevault may not connect to `ip` (a short reason), or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(inner)
            return f"{reason} (embedded in IPv6)" if reason else None
    if ip in _METADATA:
        return "cloud metadata address"
    for label, flag in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return f"{label} address"
    if any(ip.version == net.version and ip in net for net in _EXTRA_REFUSED):
        return "non-public address"
    if not ip.is_global:
        return "non-public address"
    return None


def describe_failure(exc: BaseException) -> str:
    """A failed fetch in words that never quote the peer: the exception's kind, and an OS error's own text
    (a parser error would repeat the bytes an internal service answered)."""
    why = type(exc).__name__
    os_error = getattr(exc, "os_error", None) or (exc if isinstance(exc, OSError) else None)
    if isinstance(os_error, OSError) and os_error.strerror:
        why = f"{why}: {os_error.strerror}"
    return why


def system_lookup(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver; an `OSError` when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise OSError(f"host {host!r} is not a valid name") from exc
    return sorted({str(info[4][0]) for info in infos})


def _safe(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return ""
    return host[:200]


class UrlGuard:
    """The outbound policy of one process (see the module docstring)."""

    def __init__(self, *, allow_private: bool = False, lookup: Callable[[str, int], list[str]] | None = None,
                 check_names: bool = False, trusted_hosts: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.trusted_hosts = frozenset(h.strip().rstrip(".").lower() for h in trusted_hosts if h.strip())
        self._lookup = lookup or system_lookup
        self._system = lookup is None
        self._check_names = check_names  # a per-request guard over a lenient connector resolves names itself

    # -- checks -----------------------------------------------------------------------------------

    def check_syntax(self, url: str, *, error: type[InvalidInput] = InvalidUrl) -> str:
        """Scheme, host and characters, without the network; returns the URL stripped."""
        url = url.strip()
        if not url or len(url) > MAX_URL_LENGTH:
            raise error("URL must be 1 to 4096 characters", details={"url": mask_secret_url(url[:200])})
        if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
            raise error("URL may not contain spaces or control characters",
                        details={"url": mask_secret_url(url[:200])})
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise error(f"URL is malformed: {exc}", details={"url": mask_secret_url(url)[:200]}) from exc
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise error("URL scheme must be http or https", details={"url": mask_secret_url(url)[:200]})
        if not parts.hostname:
            raise error("URL has no host", details={"url": mask_secret_url(url)[:200]})
        if port == 0:
            raise error("URL port must be 1-65535", details={"url": mask_secret_url(url)[:200]})
        self.check_host_literal(parts.hostname)
        return url

    def check_host_literal(self, host: str) -> IPAddress | None:
        """Refuse a host by how it is written (numeric forms, reserved names); returns its address if numeric."""
        address, canonical = parse_host_address(host)
        name = host.rstrip(".").lower()
        if address is not None and not canonical:
            raise AddressNotAllowed("a numeric host must be written as a dotted-quad IPv4 or an IPv6 address",
                                    details={"host": host[:200]})
        if self.allow_private or name in self.trusted_hosts:
            return address
        if address is not None:
            reason = address_refusal(address)
            if reason:
                raise self._refused(host, reason)
        elif name in _REFUSED_NAMES or name.endswith(".localhost"):
            raise self._refused(host, "local or metadata host name")
        return address

    def check_address(self, host: str, address: str) -> None:
        if self.allow_private or host.rstrip(".").lower() in self.trusted_hosts:
            return
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as exc:
            raise self._refused(host, "unparsable address") from exc
        reason = address_refusal(ip)
        if reason:
            raise self._refused(host, reason)

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve once and check every answer; raises `InvalidUrl` when the name does not resolve."""
        address = self.check_host_literal(host)
        if address is not None:
            return [str(address)]
        try:
            answers = self._lookup(host, port)
        except OSError as exc:
            raise InvalidUrl(f"host {host[:200]!r} does not resolve", details={"host": host[:200]}) from exc
        if not answers:
            raise InvalidUrl(f"host {host[:200]!r} does not resolve", details={"host": host[:200]})
        for answer in answers:
            self.check_address(host, answer)
        return answers

    def check_url(self, url: str) -> str:
        """A URL livevault will fetch (or hand to a library that fetches it): syntax, then its addresses."""
        url = self.check_syntax(url)
        if self.allow_private:
            return url
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        self.resolve(parts.hostname or "", port)
        return url

    def check_target(self, url: str) -> str:
        """The host of a URL of any scheme another program will open (ffmpeg's rtmp://, srt://, ...)."""
        try:
            parts = urlsplit(url.strip())
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise InvalidUrl(f"URL is malformed: {exc}") from exc
        if not host:
            raise InvalidUrl("URL has no host", details={"url": mask_secret_url(url)[:200]})
        self.check_host_literal(host)
        if not self.allow_private:
            self.resolve(host, port or 0)
        return url

    def check_proxy(self, proxy: str) -> str:
        """A per-recording proxy: http(s):// with a host, which is checked like any target."""
        proxy = proxy.strip()
        try:
            self.check_syntax(proxy, error=InvalidProxy)
        except AddressNotAllowed as exc:
            raise InvalidProxy("proxy points to a private, loopback or metadata address",
                               details=exc.details) from exc
        parts = urlsplit(proxy)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise InvalidProxy("proxy must be scheme://[user:password@]host:port and nothing else")
        if not self.allow_private:
            host = (parts.hostname or "")[:200]
            try:
                self.resolve(parts.hostname or "", parts.port or 80)
            except AddressNotAllowed as exc:
                raise InvalidProxy("proxy points to a private, loopback or metadata address",
                                   details={"host": host}) from exc
            except InvalidUrl as exc:
                raise InvalidProxy("proxy host does not resolve", details={"host": host}) from exc
        return proxy

    def scope_for(self, url: str) -> UrlGuard:
        """The guard for what a document fetched from `url` points to: strict when `url` is itself public."""
        if not self.allow_private:
            return self
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            address, _ = parse_host_address(host)
            addresses = [str(address)] if address is not None else self._lookup(host, parts.port or 80)
            public = bool(addresses) and all(
                address_refusal(ipaddress.ip_address(a.split("%", 1)[0])) is None for a in addresses)
        except (OSError, ValueError):
            return self
        if not public:
            return self
        return UrlGuard(allow_private=False, lookup=self._lookup, check_names=True, trusted_hosts=self.trusted_hosts)

    @staticmethod
    def _refused(host: str, reason: str) -> AddressNotAllowed:
        return AddressNotAllowed(
            f"refused to connect to {host[:200]!r}: {reason} (loopback, private, link-local and metadata "
            "addresses are refused; set LIVEVAULT_ALLOW_PRIVATE_SOURCES=true to record from your own network)",
            details={"host": host[:200], "reason": reason})

    # -- aiohttp ----------------------------------------------------------------------------------

    def resolver(self) -> GuardedResolver:
        return GuardedResolver(self)

    async def middleware(self, req: aiohttp.ClientRequest,
                         handler: Callable[[aiohttp.ClientRequest], object]) -> aiohttp.ClientResponse:
        """Every request and every redirect hop: scheme, IP-literal host, proxy and (through a proxy) name."""
        url = req.url
        if (url.scheme or "").lower() not in ALLOWED_SCHEMES:
            raise AddressNotAllowed("URL scheme must be http or https", details={"url": _safe(str(url))})
        host = url.raw_host or ""
        self.check_host_literal(host)
        if req.proxy is not None:
            await asyncio.to_thread(self.check_proxy, str(req.proxy))
        if (req.proxy is not None or self._check_names) and not self.allow_private \
                and parse_host_address(host)[0] is None:
            await asyncio.to_thread(self.resolve, host, url.port or 80)
        response = await handler(req)  # type: ignore[misc]
        return response  # type: ignore[no-any-return]

    async def resolve_async(self, host: str, port: int) -> list[str]:
        if self._system:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except UnicodeError as exc:
                raise OSError(f"host {host!r} is not a valid name") from exc
            answers = sorted({str(info[4][0]) for info in infos})
        else:
            answers = await asyncio.to_thread(self._lookup, host, port)
        if not answers:
            raise OSError(f"host {host!r} does not resolve")
        for answer in answers:
            self.check_address(host, answer)
        return answers


class GuardedResolver(AbstractResolver):
    """aiohttp resolver: resolves through the guard's lookup and refuses a name if any answer is refused."""

    def __init__(self, guard: UrlGuard) -> None:
        self._guard = guard

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        self._guard.check_host_literal(host)
        answers = await self._guard.resolve_async(host, port)
        results: list[ResolveResult] = []
        for answer in answers:
            ip = ipaddress.ip_address(answer.split("%", 1)[0])
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            if family not in (socket.AF_UNSPEC, 0) and fam != family:
                continue
            results.append(ResolveResult(hostname=host, host=str(ip), port=port, family=fam, proto=0,
                                         flags=socket.AI_NUMERICHOST))
        if not results:
            raise OSError(f"host {host!r} has no address of the wanted family")
        return results

    async def close(self) -> None:
        return None
