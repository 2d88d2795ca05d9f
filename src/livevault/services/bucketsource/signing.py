"""`s3://` addresses of the segments bucket as presigned GET URLs, made just before each request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from livevault.capture.s3url import split_s3
from livevault.errors import InvalidUrl

if TYPE_CHECKING:
    from collections.abc import Callable

    from livevault.storage.base import Store

PRESIGN_SECONDS = 300
"""Long enough for one segment read; each request gets a fresh URL anyway."""


def presigner(store: Store, expires: int = PRESIGN_SECONDS) -> Callable[[str], str]:
    """A signer for `CaptureOptions.url_signer`: only objects of `store`'s bucket are readable through it.

    Raises (from the signer):
        InvalidUrl: the address is not `s3://<that bucket>/<key>`.
    """

    def sign(url: str) -> str:
        bucket, key = split_s3(url)
        if bucket != store.bucket:
            raise InvalidUrl(f"only the segments bucket {store.bucket!r} can be read",
                             details={"bucket": bucket[:63]})
        return store.url(key, expires)

    return sign
