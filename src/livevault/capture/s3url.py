"""`s3://bucket/key` addresses: media read from an object store through the capture HTTP client.

A playlist at `s3://bucket/live/key/index.m3u8` lists its segments relative to itself; `join_url` resolves
them within the bucket (the standard `urljoin` does not know the scheme). Just before each request the
HTTP client turns an `s3://` address into a short-lived presigned HTTP URL with the signer the composition
root gave it, so bucket reads share the timeouts, retries and error mapping of every other HLS fetch.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urljoin, urlsplit

from livevault.errors import InvalidUrl

SCHEME = "s3"
PREFIX = "s3://"


def is_s3(url: str) -> bool:
    return url[:5].lower() == PREFIX


def s3_url(bucket: str, key: str) -> str:
    return f"{PREFIX}{bucket}/{key.lstrip('/')}"


def split_s3(url: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` address (query and fragment dropped).

    Raises:
        InvalidUrl: not an s3:// address with a bucket and a key, or the key climbs out with `..`.
    """
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme.lower() != SCHEME or not parts.netloc or not key:
        raise InvalidUrl("expected s3://bucket/key", details={"url": url[:200]})
    if ".." in key.split("/"):
        raise InvalidUrl("an s3:// key may not contain '..'", details={"url": url[:200]})
    return parts.netloc, key


def join_url(base: str, uri: str) -> str:
    """`uri` resolved against `base` like `urljoin`, also for `s3://` bases (within the same bucket)."""
    if not is_s3(base) or "://" in uri:
        return urljoin(base, uri)
    bucket, key = split_s3(base)
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if path.startswith("/"):
        joined = path.lstrip("/")
    else:
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(key), path))
        if joined == "." or joined.startswith("../") or joined == "..":
            raise InvalidUrl("a segment URI climbs out of the bucket", details={"uri": uri[:200]})
    return s3_url(bucket, joined)
