"""Storage backends for finished recordings (local disk, S3-compatible)."""
