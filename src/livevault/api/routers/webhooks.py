"""Inbound stream events (seed 002): authenticated by their HMAC signature, not by X-API-Key."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from livevault.api.deps import ContainerDep
from livevault.api.errors import error_body
from livevault.api.schemas.common import ErrorBody
from livevault.api.schemas.webhooks import InvalidEventType, StreamEventIn, WebhookProcessed
from livevault.errors import PayloadTooLarge, UnknownEventType
from livevault.services.push.webhooks import StreamEvent, StreamEventType, WebhookOutcome, verify_signature

router = APIRouter(tags=["webhooks"])

MAX_BODY_BYTES = 64 * 1024
PROCESSED = "Webhook processed successfully"
INVALID_EVENT_TYPE = "Invalid event type"
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "`X-Livevault-Signature` missing or wrong (`INVALID_SIGNATURE`)"},
    413: {"model": ErrorBody, "description": f"Body over {MAX_BODY_BYTES} bytes"},
    422: {"model": InvalidEventType, "description": "Not a stream event: `INVALID_EVENT_TYPE` (with seed 002's "
          "`error` field) or `VALIDATION_ERROR`"},
    503: {"model": ErrorBody, "description": "`WEBHOOK_NOT_CONFIGURED` (LIVEVAULT_WEBHOOK_SECRET is empty) or "
          "`PUSH_NOT_CONFIGURED` (LIVEVAULT_PUSH_HLS_URL_TEMPLATE is empty)"},
}
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": StreamEventIn.model_json_schema()}},
    },
}


async def read_body(request: Request) -> bytes:
    """The raw body, exactly as signed; refused past MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"webhook body must be at most {MAX_BODY_BYTES} bytes",
                              details={"limit": MAX_BODY_BYTES})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"webhook body must be at most {MAX_BODY_BYTES} bytes",
                              details={"limit": MAX_BODY_BYTES})
        chunks.append(chunk)
    return b"".join(chunks)


def invalid_event_type(event: object) -> JSONResponse:
    allowed = [t.value for t in StreamEventType]
    body = error_body(UnknownEventType.code, INVALID_EVENT_TYPE, {"event": str(event)[:64], "allowed": allowed})
    return JSONResponse(status_code=422, content={"error": INVALID_EVENT_TYPE, **body})


def parse_event(raw: bytes) -> StreamEvent | JSONResponse:
    """The event, or the seed's `Invalid event type` answer; other malformed bodies raise a 422."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"body is not valid JSON: {exc}", "type": "json_invalid"}]
        ) from exc
    if isinstance(data, dict) and "event" in data:
        event = data["event"]
        if not isinstance(event, str) or event not in {t.value for t in StreamEventType}:
            return invalid_event_type(event)
    try:
        body = StreamEventIn.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        raise RequestValidationError(errors) from exc
    return StreamEvent(
        event=StreamEventType(body.event), stream_key=body.stream_key, stream_id=body.stream_id,
        user_id=body.user_id, timestamp=body.timestamp, title=body.title, metadata=body.metadata or {},
        event_id=body.event_id,
    )


@router.post("/webhooks/stream", response_model=WebhookProcessed, responses=RESPONSES, openapi_extra=REQUEST_BODY)
@router.post("/webhook/stream", response_model=WebhookProcessed, include_in_schema=False)
async def stream_webhook(
    request: Request,
    container: ContainerDep,
    x_livevault_signature: Annotated[
        str | None, Header(description="`sha256=` + hex HMAC-SHA256 of the raw body with LIVEVAULT_WEBHOOK_SECRET")
    ] = None,
) -> JSONResponse:
    """`stream.started` starts recording the stream from the origin; `stream.ended` stops it (finalized).

    Idempotent: repeated and out-of-order events answer 200 without a second recording. What an event did is
    in the `X-Livevault-Webhook-Result` header (and `X-Livevault-Recording-Id`). `/webhook/stream` (seed 002's
    path) is an alias.
    """
    raw = await read_body(request)
    verify_signature(container.settings.webhook_secret, raw, x_livevault_signature)
    event = parse_event(raw)
    if isinstance(event, JSONResponse):
        return event
    if container.push.check_replay(event):
        return JSONResponse(status_code=200, content={"message": PROCESSED},
                            headers={"X-Livevault-Webhook-Result": WebhookOutcome.DUPLICATE.value})
    if event.event is StreamEventType.STARTED:
        result = await asyncio.to_thread(container.push.started, event)
    else:
        result = container.push.ended(event)
    headers = {"X-Livevault-Webhook-Result": result.outcome.value}
    if result.recording_id:
        headers["X-Livevault-Recording-Id"] = result.recording_id
    return JSONResponse(status_code=200, content={"message": PROCESSED}, headers=headers)
