"""The signature of an outbound notification: HMAC-SHA256 over `<timestamp>.<body>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Livevault-Signature"
TIMESTAMP_HEADER = "X-Livevault-Timestamp"
EVENT_HEADER = "X-Livevault-Event"
EVENT_ID_HEADER = "X-Livevault-Event-Id"
DELIVERY_HEADER = "X-Livevault-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, f"{timestamp}." + body)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (also used by the tests): recompute and compare in constant time."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature.strip().lower())
