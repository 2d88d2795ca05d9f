"""`POST /webhooks/stream` (seed 002): the stream event body and the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from livevault.api.schemas.common import RequestModel
from livevault.services.push.webhooks import STREAM_KEY_PATTERN

_ID_PATTERN = r"^[\x21-\x7e]{1,128}$"


class StreamEventIn(RequestModel):
    """What the streaming server sends when a stream starts or ends; an unknown field is a 422 (put extra
    facts in `metadata`)."""

    event: str = Field(description="`stream.started` or `stream.ended`", examples=["stream.started"])
    stream_id: str | None = Field(
        default=None, pattern=_ID_PATTERN, description="The stream's id (a UUID in seed 002); recorded on the "
        "recording and used to tell a late or repeated event from a new stream",
        examples=["bb52ba50-edc5-4056-a62c-6ef211d72d25"],
    )
    stream_key: str = Field(
        pattern=STREAM_KEY_PATTERN, description="Substituted into LIVEVAULT_PUSH_HLS_URL_TEMPLATE: 1-128 of "
        "A-Z a-z 0-9 . _ ~ -, starting with a letter or digit", examples=["d1eb2fe800d01c797c84f0b622e474d9"],
    )
    user_id: str | None = Field(default=None, pattern=_ID_PATTERN, examples=["a781b655-d4e4-46a0-89da-c4f655bb24f0"])
    event_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="A unique id of this event; an "
                                 "id seen before is answered as a duplicate and not processed again")
    timestamp: datetime | None = Field(default=None, description="When the event happened; refused when it is "
                                       "further than LIVEVAULT_WEBHOOK_TOLERANCE from now",
                                       examples=["2025-10-05T18:00:00Z"])
    title: str | None = Field(default=None, max_length=200, description="Used by `{title}` in the output template")
    metadata: dict[str, Any] | None = Field(default=None, description="Kept on the recording under "
                                            "`options.webhook.metadata`")


class WebhookProcessed(BaseModel):
    """Seed 002's answer; what the event did is in the `X-Livevault-Webhook-Result` header."""

    message: str = Field(examples=["Webhook processed successfully"])


class InvalidEventType(BaseModel):
    """Seed 002's `{"error": "Invalid event type"}` with the project's error fields."""

    error: str = Field(examples=["Invalid event type"])
    error_code: str = Field(examples=["INVALID_EVENT_TYPE"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
