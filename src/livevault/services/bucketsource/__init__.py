"""Bucket sources: live HLS read from an object-store bucket a streaming server writes into.

Owns the two rules that are not capture or storage: how an `s3://bucket/key` address becomes a presigned
URL for the capture's HTTP client (`presigner`, only for the configured segments bucket), and the bucket
poller (`BucketPoller`), which starts a recording for a stream key whose playlist changes without a
`stream.started` webhook and stops it once no new segment came for LIVEVAULT_BUCKET_IDLE_GRACE. Starting and
stopping go through `PushService`, so a webhook and the poller share one recording per stream key.
"""

from livevault.services.bucketsource.poller import BucketPoller, PollResult
from livevault.services.bucketsource.signing import presigner

__all__ = ["BucketPoller", "PollResult", "presigner"]
