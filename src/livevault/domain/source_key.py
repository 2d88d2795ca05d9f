"""One source, one recording: the key that says two recording requests are for the same source.

`recording_source_key(source_kind, source)` is the only function that computes it; the database keeps it
on each recording and a partial unique index allows one capturing recording per key.

- TikTok: `tiktok:room:<room id>` or `tiktok:user:<lower-cased user>`, whether the user gave a room id,
  `@user`, or a LIVE / profile / share URL (a short link, which only the network can resolve, is keyed by its
  URL). A room id and the user who owns it are two keys: telling them apart needs a request to TikTok.
- Push streams: `push:<stream key>`.
- Every other source (plain HLS/FLV/TS URLs, yt-dlp, streamlink): `url:<normalized URL>`, whatever source was
  chosen for it, so the same URL through two sources is still one source.

URL normalization: scheme and host lower-cased, the default port (80 for http, 443 for https) dropped, the
fragment dropped, an empty path made `/`; the path is kept as given (paths are case-sensitive), and the query
is kept with its parameters sorted — except the parameters in `SIGNED_QUERY_PARAMS`, which CDNs use for
per-request signatures and expiry times (AWS/CloudFront, Akamai, Tencent, Wowza/Nimble-style tokens). Those
change with every request for the same stream, so keeping them would let one stream be recorded twice;
they never select a different stream. A source whose stream is chosen by some other per-request parameter
gets one key per distinct URL: watch it through its platform (a TikTok user, a push key) instead.

Keys longer than `MAX_KEY_LENGTH` keep a readable prefix and end in a SHA-256 of the whole key, so they fit
an index entry on every database.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_KEY_LENGTH = 255
PUSH_PREFIX = "push:"
DEFAULT_PORTS = {"http": 80, "https": 443}

# Lower-cased names; `x-amz-*` is matched by prefix.
SIGNED_QUERY_PARAMS = frozenset({
    "expires", "expire", "expiry", "signature", "sig", "sign", "token", "key-pair-id", "policy",
    "hdnts", "hdnea", "__token__", "txsecret", "txtime", "wssecret", "wstime", "auth_key", "nimblesessionid",
})
SIGNED_QUERY_PREFIXES = ("x-amz-", "x-goog-")

_DIGITS = re.compile(r"[0-9]{1,20}")
_USER = re.compile(r"@?([\w.-]{1,64})", re.ASCII)
_TIKTOK_PROFILE = re.compile(r"/@(?P<user>[\w.-]{1,64})(?:/live)?/?", re.ASCII)
_TIKTOK_SHARE = re.compile(r"/share/live/(?P<room>[0-9]{1,20})/?", re.ASCII)
TIKTOK_KIND = "tiktok"
PUSH_KIND = "push"


def _is_signed(name: str) -> bool:
    lowered = name.lower()
    return lowered in SIGNED_QUERY_PARAMS or lowered.startswith(SIGNED_QUERY_PREFIXES)


def normalize_url(url: str) -> str:
    """The URL in the form two requests for the same stream share (see the module docstring)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_signed(k))
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:MAX_KEY_LENGTH - len(digest) - 8]}#sha256:{digest}"


def _tiktok_key(source: str) -> str:
    target = source.strip()
    if _DIGITS.fullmatch(target):
        return f"tiktok:room:{target}"
    if "://" not in target:
        user = _USER.fullmatch(target)
        return f"tiktok:user:{(user[1] if user else target).lower()}"
    path = urlsplit(target).path or "/"
    if profile := _TIKTOK_PROFILE.fullmatch(path):
        return f"tiktok:user:{profile['user'].lower()}"
    if share := _TIKTOK_SHARE.fullmatch(path):
        return f"tiktok:room:{share['room']}"
    return f"tiktok:url:{normalize_url(target)}"


def recording_source_key(source_kind: str, source: str) -> str:
    """The key of the source a recording reads (one capturing recording per key)."""
    if source_kind == PUSH_KIND or source.startswith(PUSH_PREFIX):
        key = source[len(PUSH_PREFIX):] if source.startswith(PUSH_PREFIX) else source
        return _bounded(f"push:{key}")
    if source_kind == TIKTOK_KIND:
        return _bounded(_tiktok_key(source))
    if "://" in source:
        return _bounded(f"url:{normalize_url(source)}")
    return _bounded(f"{source_kind}:{source.strip()}")
