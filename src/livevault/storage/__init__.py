"""Where finished files live: one `Store` interface (base.py), the local disk (local.py), S3-compatible
object storage (s3.py: AWS S3, MinIO, Cloudflare R2), and the checksums both agree on (checksums.py)."""
