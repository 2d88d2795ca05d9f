"""s3:// addresses become presigned GETs of the segments bucket only; a capture without a signer refuses them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from livevault.capture.http import HttpClient
from livevault.errors import InvalidUrl
from livevault.services.bucketsource import presigner
from livevault.storage.s3 import S3Config, S3Store


def store() -> S3Store:
    return S3Store(S3Config(bucket="live-segments", endpoint_url="http://127.0.0.1:9", access_key_id="k",
                            secret_access_key="s", force_path_style=True, public_base_url=""))


def test_presigner_signs_objects_of_the_segments_bucket_only() -> None:
    sign = presigner(store(), expires=60)
    url = sign("s3://live-segments/abc/seg_000001.ts")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:9", "/live-segments/abc/seg_000001.ts")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["60"]
    assert "X-Amz-Signature" in query
    with pytest.raises(InvalidUrl):
        sign("s3://recordings/abc.mp4")
    with pytest.raises(InvalidUrl):
        sign("s3://live-segments/abc/../../etc")


async def test_a_capture_without_a_signer_refuses_s3_addresses() -> None:
    async with aiohttp.ClientSession() as session:
        client = HttpClient(session)
        with pytest.raises(InvalidUrl, match="object store"):
            await client.get_text("s3://live-segments/abc/index.m3u8")
        with pytest.raises(InvalidUrl, match="object store"):
            await client.get_body("s3://live-segments/abc/seg.ts")
