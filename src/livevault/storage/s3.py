"""`S3Store`: keys are objects in one bucket of an S3-compatible service (AWS S3, MinIO, Cloudflare R2).

Large files go up in parts; the multipart upload id and the finished parts are handed to a `checkpoint`
after every part, so a caller that keeps them (the database) can resume after a crash or a takeover: parts the
server already holds, with the checksum of the local bytes, are not sent again. Every request carries
Content-MD5 (the server checks it on receipt), and `base.verify` compares the stored object's size and ETag with
the local file's; for SSE-KMS and SSE-C objects, whose ETag is no MD5, the size.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from livevault.storage.base import ObjectInfo, Progress, PutResult, StoreError
from livevault.storage.checksums import b64, clean_etag, file_md5, multipart_etag, part_count

# botocore logs canonical requests, strings to sign and signatures at DEBUG: with LOG_LEVEL=DEBUG they would
# reach livevault's log handlers. Its INFO and above carry none of them.
for _name in ("botocore", "boto3", "s3transfer"):
    logging.getLogger(_name).setLevel(max(logging.getLogger(_name).level, logging.INFO))

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

MIN_PART_SIZE = 5 * 1024 * 1024
_ETAG_NOT_MD5 = frozenset({"aws:kms", "aws:kms:dsse"})  # server-side encryptions whose ETag is no MD5
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    force_path_style: bool = False
    key_prefix: str = ""
    public_base_url: str = ""
    multipart_threshold: int = 16 * 1024 * 1024
    part_size: int = 8 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


class S3Store:
    kind = "s3"

    def __init__(self, config: S3Config, client: Any = None) -> None:
        self.config = config
        self.bucket: str | None = config.bucket
        self.public_urls = bool(config.public_base_url)
        self._client = client or boto3.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            region_name=config.region or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if config.force_path_style else "auto"},
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
            ),
        )

    def object_key(self, key: str) -> str:
        return f"{self.config.key_prefix}{key}"

    def _call(self, what: str, key: str, func: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return func(Bucket=self.config.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"S3 {what} of {key} failed: {exc}", details={"key": key, "bucket": self.bucket}) from exc

    # -- Store -------------------------------------------------------------------------------------

    def put_file(
        self, key: str, source: Path, *, progress: Progress | None = None,
        checkpoint: Callable[[Progress], None] | None = None,
    ) -> PutResult:
        size = source.stat().st_size
        if size < self.config.multipart_threshold:
            return self._put_single(key, source, size)
        return self._put_multipart(key, source, size, progress or Progress(), checkpoint)

    def _put_single(self, key: str, source: Path, size: int) -> PutResult:
        digest = file_md5(source)
        with source.open("rb") as body:
            self._call("upload", key, self._client.put_object, Key=self.object_key(key), Body=body,
                       ContentLength=size, ContentMD5=b64(digest), ContentType=_content_type(key))
        return PutResult(key=key, size=size, etag=digest.hex(), parts_sent=1, multipart=False)

    def _put_multipart(self, key: str, source: Path, size: int, progress: Progress,
                       checkpoint: Callable[[Progress], None] | None) -> PutResult:
        okey = self.object_key(key)
        done = self._resumable_parts(key, source, progress)
        if progress.upload_id is None:
            progress.part_size = max(MIN_PART_SIZE, self.config.part_size)
            created = self._call("multipart start", key, self._client.create_multipart_upload, Key=okey,
                                 ContentType=_content_type(key))
            progress.upload_id = str(created["UploadId"])
            progress.parts = []
            if checkpoint is not None:
                checkpoint(progress)
        part_size = progress.part_size
        sent = 0
        with source.open("rb") as fh:
            for number in range(1, part_count(size, part_size) + 1):
                if number in done:
                    continue
                fh.seek((number - 1) * part_size)
                data = fh.read(part_size)
                digest = file_md5(source, offset=(number - 1) * part_size, length=part_size)
                answer = self._call("part upload", key, self._client.upload_part, Key=okey,
                                    UploadId=progress.upload_id, PartNumber=number, Body=data,
                                    ContentMD5=b64(digest))
                done[number] = clean_etag(answer.get("ETag")) or digest.hex()
                sent += 1
                progress.parts = sorted(done.items())
                if checkpoint is not None:
                    checkpoint(progress)
        parts = [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in sorted(done.items())]
        self._call("multipart completion", key, self._client.complete_multipart_upload, Key=okey,
                   UploadId=progress.upload_id, MultipartUpload={"Parts": parts})
        return PutResult(key=key, size=size, etag=multipart_etag(source, part_size), parts_sent=sent,
                         multipart=True)

    def _resumable_parts(self, key: str, source: Path, progress: Progress) -> dict[int, str]:
        """Parts of `progress.upload_id` the server holds whose ETag is the MD5 of the local bytes; a vanished
        upload (aborted, expired, or another server) starts over."""
        if not progress.upload_id or progress.part_size < MIN_PART_SIZE:
            progress.upload_id = None
            return {}
        held: dict[int, str] = {}
        try:
            paginator = self._client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.config.bucket, Key=self.object_key(key),
                                           UploadId=progress.upload_id):
                for part in page.get("Parts", []):
                    held[int(part["PartNumber"])] = clean_etag(part.get("ETag")) or ""
        except ClientError as exc:
            if not _missing(exc):
                raise StoreError(f"S3 part listing of {key} failed: {exc}", details={"key": key}) from exc
            progress.upload_id = None
            return {}
        except BotoCoreError as exc:
            raise StoreError(f"S3 part listing of {key} failed: {exc}", details={"key": key}) from exc
        size = source.stat().st_size
        good: dict[int, str] = {}
        for number, etag in held.items():
            offset = (number - 1) * progress.part_size
            if offset < size and etag == file_md5(source, offset=offset, length=progress.part_size).hex():
                good[number] = etag
        return good

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self._client.head_object(Bucket=self.config.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise StoreError(f"S3 stat of {key} failed: {exc}", details={"key": key}) from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 stat of {key} failed: {exc}", details={"key": key}) from exc
        encrypted = head.get("ServerSideEncryption") in _ETAG_NOT_MD5 or bool(head.get("SSECustomerAlgorithm"))
        return ObjectInfo(key=key, size=int(head["ContentLength"]), etag=clean_etag(head.get("ETag")),
                          etag_is_md5=not encrypted)

    def read(self, key: str) -> bytes:
        answer = self._call("read", key, self._client.get_object, Key=self.object_key(key))
        return bytes(answer["Body"].read())

    def download(self, key: str, target: Path) -> None:
        self._call("download", key, self._client.download_file, Key=self.object_key(key), Filename=str(target))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        strip = len(self.config.key_prefix)
        try:
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=self.object_key(prefix)):
                for item in page.get("Contents", []):
                    yield ObjectInfo(key=str(item["Key"])[strip:], size=int(item["Size"]),
                                     etag=clean_etag(item.get("ETag")), modified=_timestamp(item.get("LastModified")))
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"S3 listing of {prefix!r} failed: {exc}", details={"prefix": prefix}) from exc

    def delete(self, key: str) -> None:
        self._call("delete", key, self._client.delete_object, Key=self.object_key(key))

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.config.bucket, Key=self.object_key(key),
                                                UploadId=upload_id)
        except ClientError as exc:
            if not _missing(exc):
                raise StoreError(f"S3 abort of {key} failed: {exc}", details={"key": key}) from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 abort of {key} failed: {exc}", details={"key": key}) from exc

    def url(self, key: str, expires: int) -> str:
        """The public URL under S3_PUBLIC_BASE_URL when one is set, else a presigned GET (at most 7 days)."""
        if self.config.public_base_url:
            return self.public_url(key)
        seconds = max(1, min(int(expires), MAX_PRESIGN_SECONDS))
        return str(self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.config.bucket, "Key": self.object_key(key)}, ExpiresIn=seconds
        ))

    # -- naming ------------------------------------------------------------------------------------

    def public_url(self, key: str) -> str:
        base = self.config.public_base_url.rstrip("/")
        if "://" not in base:  # seed 004's CLOUDFLARE_R2_CUSTOM_DOMAIN is a bare domain
            base = f"https://{base}"
        return f"{base}/{quote(self.object_key(key))}"

    def object_url(self, key: str) -> str:
        """A stable, non-expiring address of the object (public URL, else the endpoint's path-style URL)."""
        if self.config.public_base_url:
            return self.public_url(key)
        endpoint = (self.config.endpoint_url or f"https://s3.{self.config.region}.amazonaws.com").rstrip("/")
        return f"{endpoint}/{self.config.bucket}/{quote(self.object_key(key))}"


def _timestamp(value: Any) -> float | None:
    return float(value.timestamp()) if hasattr(value, "timestamp") else None


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
