"""LiveKit: start, stop and list room-composite egresses through the official `livekit-api` client (Twirp), and
verify LiveKit's signed webhooks with its receiver. No hand-written JWT or Twirp code.

Room composite egress writes MP4 (or OGG/MP3 for audio); LiveKit has no WebM for it, so `file_format: webm`
is refused here with a clear error instead of being silently recorded as something else.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from livekit import api as lk
from livekit.protocol import egress as proto

from livevault.domain.livekit import EgressOutput, EgressPhase, EgressState, RoomEvent
from livevault.errors import (
    InvalidSignature,
    LiveKitError,
    LiveKitNotConfigured,
    NotFound,
    UnsupportedOutputFormat,
)

log = logging.getLogger(__name__)

_LAYOUTS = {"speaker": "speaker", "grid": "grid", "single-speaker": "single-speaker"}
_PHASES = {
    proto.EgressStatus.EGRESS_STARTING: EgressPhase.STARTING,
    proto.EgressStatus.EGRESS_ACTIVE: EgressPhase.ACTIVE,
    proto.EgressStatus.EGRESS_ENDING: EgressPhase.ENDING,
    proto.EgressStatus.EGRESS_COMPLETE: EgressPhase.COMPLETE,
    proto.EgressStatus.EGRESS_FAILED: EgressPhase.FAILED,
    proto.EgressStatus.EGRESS_ABORTED: EgressPhase.ABORTED,
    proto.EgressStatus.EGRESS_LIMIT_REACHED: EgressPhase.LIMIT_REACHED,
}


def _time(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns else None


def egress_state(info: proto.EgressInfo) -> EgressState:
    result = info.file_results[0] if info.file_results else (info.file if info.HasField("file") else None)
    return EgressState(
        egress_id=info.egress_id,
        room=info.room_name,
        phase=_PHASES.get(info.status, EgressPhase.FAILED),
        error=info.error or None,
        file_key=(result.filename or None) if result is not None else None,
        file_size=(int(result.size) or None) if result is not None else None,
        duration=(result.duration / 1e9 or None) if result is not None else None,
        started_at=_time(info.started_at),
        ended_at=_time(info.ended_at),
    )


class LiveKitClient:
    """The server API of one LiveKit deployment (`LIVEKIT_HOST`), on livevault's HTTP session."""

    def __init__(self, host: str, api_key: str, api_secret: str, http: aiohttp.ClientSession) -> None:
        if not (host and api_key and api_secret):
            raise LiveKitNotConfigured(
                "LiveKit recording needs LIVEKIT_HOST, LIVEKIT_API_KEY and LIVEKIT_API_SECRET",
                details={"missing": [n for n, v in (("LIVEKIT_HOST", host), ("LIVEKIT_API_KEY", api_key),
                                                    ("LIVEKIT_API_SECRET", api_secret)) if not v]},
            )
        self._api = lk.LiveKitAPI(host, api_key, api_secret, session=http)
        self._receiver = lk.WebhookReceiver(lk.TokenVerifier(api_key, api_secret))

    async def start_room_composite(
        self, room: str, *, layout: str, audio_only: bool, file_format: str, key: str, output: EgressOutput,
    ) -> EgressState:
        if file_format != "mp4":
            raise UnsupportedOutputFormat(
                "LiveKit room composite egress writes MP4 only (LiveKit has no WebM for it); use file_format mp4",
                details={"file_format": file_format, "supported": ["mp4"]},
            )
        request = proto.RoomCompositeEgressRequest(
            room_name=room, layout=_LAYOUTS.get(layout, "speaker"), audio_only=audio_only,
            file_outputs=[proto.EncodedFileOutput(
                file_type=proto.EncodedFileType.MP4, filepath=key,
                s3=proto.S3Upload(access_key=output.access_key, secret=output.secret, region=output.region,
                                  endpoint=output.endpoint, bucket=output.bucket,
                                  force_path_style=output.force_path_style),
            )],
        )
        return egress_state(await self._call(self._api.egress.start_room_composite_egress(request), room=room))

    async def stop(self, egress_id: str) -> EgressState:
        request = proto.StopEgressRequest(egress_id=egress_id)
        return egress_state(await self._call(self._api.egress.stop_egress(request)))

    async def list(self, *, room: str | None = None, egress_id: str | None = None,
                   active: bool = False) -> list[EgressState]:
        request = proto.ListEgressRequest(room_name=room or "", egress_id=egress_id or "", active=active)
        answer = await self._call(self._api.egress.list_egress(request))
        return [egress_state(item) for item in answer.items]

    def verify(self, body: bytes, authorization: str | None) -> RoomEvent:
        """A webhook whose token is signed with our secret and whose `sha256` claim matches the body.

        Raises:
            InvalidSignature: no token, a bad token, or a changed body.
        """
        if not authorization:
            raise InvalidSignature("the Authorization token of the LiveKit webhook is missing")
        token = authorization[7:] if authorization.lower().startswith("bearer ") else authorization
        try:
            event = self._receiver.receive(body.decode("utf-8"), token)
        except Exception as exc:  # the receiver raises plain Exceptions and jwt errors
            raise InvalidSignature("the LiveKit webhook's signature does not match its body") from exc
        egress = egress_state(event.egress_info) if event.HasField("egress_info") else None
        room = event.room.name if event.HasField("room") else (egress.room if egress else None)
        participants = int(event.room.num_participants) if event.HasField("room") else None
        return RoomEvent(event=event.event, event_id=event.id or None, room=room, egress=egress,
                         participants=participants)

    async def close(self) -> None:
        await self._api.aclose()

    @staticmethod
    async def _call(awaitable: Any, *, room: str | None = None) -> Any:
        try:
            return await awaitable
        except lk.TwirpError as exc:
            if exc.code == "not_found":
                raise NotFound(f"LiveKit: {exc.message or 'not found'}",
                               details={"room": room} if room else {}) from exc
            raise LiveKitError(f"LiveKit refused the request: {exc.code}",
                               details={"livekit_code": exc.code, "status": exc.status}) from exc
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise LiveKitError("LiveKit could not be reached", details={"error": type(exc).__name__}) from exc
