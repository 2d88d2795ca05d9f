"""Push ingest that is not configured: the webhook secret or the push HLS URL template is missing."""

from __future__ import annotations

from livevault.errors.base import ErrorKind, LivevaultError


class WebhookNotConfigured(LivevaultError):
    """LIVEVAULT_WEBHOOK_SECRET is empty: unsigned events are never accepted."""

    code = "WEBHOOK_NOT_CONFIGURED"
    kind = ErrorKind.UNAVAILABLE


class PushNotConfigured(LivevaultError):
    """LIVEVAULT_PUSH_HLS_URL_TEMPLATE is empty or has no `{stream_key}`."""

    code = "PUSH_NOT_CONFIGURED"
    kind = ErrorKind.UNAVAILABLE
