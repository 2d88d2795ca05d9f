"""Object storage settings (S3, MinIO, Cloudflare R2)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from livevault.settings_groups.fields import _env


class StorageSettings(BaseModel):
    """The S3 bucket recordings are uploaded to, and how uploads go."""

    # Object storage (S3, MinIO, Cloudflare R2; seed names, with seed 002's MINIO_* and seed 004's
    # CLOUDFLARE_R2_* accepted as aliases). docs/storage.md.
    s3_bucket: str = Field(
        "", validation_alias=_env("S3_BUCKET", "MINIO_BUCKET", "CLOUDFLARE_R2_STORAGE_BUCKET_NAME", "s3_bucket")
    )
    s3_endpoint_url: str = Field(
        "", validation_alias=_env("S3_ENDPOINT_URL", "CLOUDFLARE_R2_ENDPOINT_URL", "s3_endpoint_url")
    )
    minio_endpoint: str = Field("", validation_alias=_env("MINIO_ENDPOINT", "minio_endpoint"))
    minio_use_ssl: bool = Field(False, validation_alias=_env("MINIO_USE_SSL", "minio_use_ssl"))
    aws_access_key_id: str = Field(
        "", validation_alias=_env("AWS_ACCESS_KEY_ID", "MINIO_ACCESS_KEY", "CLOUDFLARE_R2_ACCESS_KEY_ID",
                                  "aws_access_key_id")
    )
    aws_secret_access_key: str = Field(
        "", validation_alias=_env("AWS_SECRET_ACCESS_KEY", "MINIO_SECRET_KEY", "CLOUDFLARE_R2_SECRET_ACCESS_KEY",
                                  "aws_secret_access_key"), repr=False
    )
    aws_region: str = Field(
        "us-east-1", validation_alias=_env("AWS_REGION", "CLOUDFLARE_R2_REGION_NAME", "aws_region")
    )
    s3_force_path_style: bool = Field(False, validation_alias=_env("S3_FORCE_PATH_STYLE", "s3_force_path_style"))
    s3_key_prefix: str = Field("", validation_alias=_env("S3_KEY_PREFIX", "s3_key_prefix"))
    s3_public_base_url: str = Field(
        "", validation_alias=_env("S3_PUBLIC_BASE_URL", "CLOUDFLARE_R2_CUSTOM_DOMAIN", "s3_public_base_url")
    )
    s3_upload_default: bool = Field(False, validation_alias=_env("S3_UPLOAD_DEFAULT", "s3_upload_default"))
    s3_keep_local: bool = Field(False, validation_alias=_env("S3_KEEP_LOCAL", "s3_keep_local"))
    s3_multipart_threshold: int = Field(
        16 * 1024**2, ge=5 * 1024**2, validation_alias=_env("S3_MULTIPART_THRESHOLD", "s3_multipart_threshold")
    )
    s3_part_size: int = Field(
        8 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3, validation_alias=_env("S3_PART_SIZE", "s3_part_size")
    )
    s3_upload_attempts: int = Field(
        3, ge=1, le=20, validation_alias=_env("S3_UPLOAD_ATTEMPTS", "s3_upload_attempts")
    )
    s3_retry_backoff: float = Field(
        2.0, ge=0, le=600, validation_alias=_env("S3_RETRY_BACKOFF", "s3_retry_backoff")
    )
    s3_retry_interval: float = Field(
        60.0, gt=0, validation_alias=_env("S3_RETRY_INTERVAL", "s3_retry_interval")
    )
    s3_retry_max_interval: float = Field(
        900.0, gt=0, validation_alias=_env("S3_RETRY_MAX_INTERVAL", "s3_retry_max_interval")
    )
    s3_upload_claim_ttl: float = Field(
        120.0, ge=1, validation_alias=_env("S3_UPLOAD_CLAIM_TTL", "s3_upload_claim_ttl")
    )
    storage_sweep_interval: float = Field(
        10.0, gt=0, validation_alias=_env("LIVEVAULT_STORAGE_SWEEP_INTERVAL", "storage_sweep_interval")
    )
    url_signing_key: str = Field(
        "", validation_alias=_env("LIVEVAULT_URL_SIGNING_KEY", "url_signing_key"), repr=False
    )

    @property
    def s3_endpoint(self) -> str:
        """S3_ENDPOINT_URL, else seed 002's MINIO_ENDPOINT (host:port) with MINIO_USE_SSL; empty for AWS."""
        if self.s3_endpoint_url:
            return self.s3_endpoint_url
        if self.minio_endpoint:
            if "://" in self.minio_endpoint:
                return self.minio_endpoint
            return f"{'https' if self.minio_use_ssl else 'http'}://{self.minio_endpoint}"
        return ""

    @property
    def s3_path_style(self) -> bool:
        """MinIO needs path-style addressing; S3_FORCE_PATH_STYLE asks for it elsewhere."""
        return self.s3_force_path_style or bool(self.minio_endpoint and not self.s3_endpoint_url)

    @property
    def s3_enabled(self) -> bool:
        return bool(self.s3_bucket)
