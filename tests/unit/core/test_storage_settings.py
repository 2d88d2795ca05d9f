"""Object storage settings: the S3 names, and the MinIO-style and Cloudflare R2 names accepted as aliases."""

from __future__ import annotations

import pytest

from livevault.bootstrap import object_store
from livevault.config import Settings
from livevault.storage.s3 import S3Store

CLEAR = ("S3_BUCKET", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
         "S3_FORCE_PATH_STYLE", "S3_PUBLIC_BASE_URL", "MINIO_ENDPOINT", "MINIO_BUCKET", "MINIO_ACCESS_KEY",
         "MINIO_SECRET_KEY", "MINIO_USE_SSL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAR:
        monkeypatch.delenv(name, raising=False)


def test_no_bucket_means_local_only() -> None:
    settings = Settings()
    assert not settings.s3_enabled
    assert object_store(settings) is None


def test_minio_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"MINIO_ENDPOINT": "minio:9000", "MINIO_ACCESS_KEY": "ak", "MINIO_SECRET_KEY": "sk",
                        "MINIO_BUCKET": "recordings", "MINIO_USE_SSL": "false"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.s3_bucket, settings.s3_endpoint, settings.aws_access_key_id) == (
        "recordings", "http://minio:9000", "ak")
    assert settings.s3_path_style
    store = object_store(settings)
    assert isinstance(store, S3Store)
    assert store.object_url("a/b.mp4") == "http://minio:9000/recordings/a/b.mp4"


def test_cloudflare_r2_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CLOUDFLARE_R2_ACCESS_KEY_ID": "ak", "CLOUDFLARE_R2_SECRET_ACCESS_KEY": "sk",
                        "CLOUDFLARE_R2_STORAGE_BUCKET_NAME": "bucket",
                        "CLOUDFLARE_R2_ENDPOINT_URL": "https://acc.r2.cloudflarestorage.com",
                        "CLOUDFLARE_R2_REGION_NAME": "auto",
                        "CLOUDFLARE_R2_CUSTOM_DOMAIN": "media.example.com"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.s3_bucket, settings.s3_endpoint, settings.aws_region) == (
        "bucket", "https://acc.r2.cloudflarestorage.com", "auto")
    store = object_store(settings.model_copy(update={"s3_key_prefix": "rec/"}))
    assert isinstance(store, S3Store)
    assert store.public_urls
    assert store.url("a b.mp4", 60) == "https://media.example.com/rec/a%20b.mp4"


def test_s3_names_win_over_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_BUCKET", "primary")
    monkeypatch.setenv("MINIO_BUCKET", "alias")
    assert Settings().s3_bucket == "primary"
