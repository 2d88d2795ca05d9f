"""Delivery: what happens to a recording's files once finalize has produced them.

This package owns the life of a finished file: claiming its name (unique on disk and in the database), the
catalog of where each file is (`recording_files`: local, S3 or both), the upload job with its resumable
multipart state, bounded attempts and a durable retry schedule, download links (signed local links, presigned
or public S3 URLs), and deleting a recording's files everywhere. `StorageService` (storage.py) is its one
entry point (removal.py deletes, schedule.py is the retry schedule); finalize (and the piece splitter) hand
it each finished file through `store_finalized`.
"""

from livevault.domain.files import FinalizedFile
from livevault.services.delivery.storage import UPLOAD_JOB, Link, Located, StorageService

__all__ = ["UPLOAD_JOB", "FinalizedFile", "Link", "Located", "StorageService"]
