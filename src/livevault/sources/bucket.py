"""Bucket sources: a streaming server writes each live stream's HLS playlist and segments into a bucket.

Compatible with MinIO-based streaming stacks that publish into `live-segments/{stream_key}/index.m3u8`
(the bucket is LIVEVAULT_BUCKET_SOURCE_BUCKET, the playlist key LIVEVAULT_BUCKET_PLAYLIST). The target is
the push source's `push:<stream_key>`, so a stream has one identity whichever way it is recorded. The
source resolves to an HLS stream at an `s3://bucket/key` address, captured by the `bucket` engine: the
native HLS capture whose HTTP client presigns each request through the object store (see
`capture.s3url`), with the bucket read timeout and retries. Resolving does not probe: a playlist that is
not there yet is retried by the capture for LIVEVAULT_PLAYLIST_GRACE, like an origin that is still starting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from livevault.domain.stream import LiveState, LiveStatus, StreamFormat, StreamInfo
from livevault.errors import InvalidStreamKey
from livevault.sources.push import PLACEHOLDER, check_stream_key, stream_key_of

if TYPE_CHECKING:
    import aiohttp

    from livevault.config import Settings
    from livevault.sources.base import ResolveRequest

ENGINE = "bucket"
"""The capture engine name the composition root registers for bucket streams."""


def playlist_key(layout: str, stream_key: str) -> str:
    """The object key of `stream_key`'s playlist under `layout` (`{stream_key}/index.m3u8`)."""
    return layout.replace(PLACEHOLDER, check_stream_key(stream_key))


def playlist_url(bucket: str, layout: str, stream_key: str) -> str:
    return f"s3://{bucket}/{playlist_key(layout, stream_key)}"


class BucketSource:
    """`push:<stream_key>` read from the segments bucket instead of an HTTP origin."""

    name: ClassVar[str] = "bucket"

    def __init__(self, *, bucket: str, layout: str) -> None:
        self._bucket = bucket
        self._layout = layout

    def matches(self, target: str) -> bool:
        return stream_key_of(target) is not None

    def url_for(self, stream_key: str) -> str:
        return playlist_url(self._bucket, self._layout, stream_key)

    async def resolve(self, request: ResolveRequest) -> LiveStatus:
        key = stream_key_of(request.target)
        if key is None:
            raise InvalidStreamKey("bucket targets look like push:<stream_key>",
                                   details={"target": request.target[:200]})
        stream = StreamInfo(
            url=self.url_for(key), format=StreamFormat.HLS, quality=request.quality, engine=ENGINE,
            extra={"stream_key": key, "bucket": self._bucket},
        )
        return LiveStatus(LiveState.LIVE, stream=stream)


def create(settings: Settings, http: aiohttp.ClientSession) -> BucketSource:
    return BucketSource(bucket=settings.bucket_source_bucket, layout=settings.bucket_playlist)
