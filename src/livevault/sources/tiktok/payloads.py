"""The JSON answers of `api-live/user/room` (E4) and `webcast/room/info` (E6) as a `Room`, or a marker error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from livevault.sources.tiktok import markers
from livevault.sources.tiktok.streams import H264, H265, Candidate, parse_legacy, parse_pull_data

LIVE_STATUS = 2
ENDED_STATUS = 4


@dataclass(frozen=True, slots=True)
class Room:
    """A TikTok LIVE room as one endpoint described it."""

    room_id: str
    live: bool
    user: str | None = None
    nickname: str | None = None
    title: str | None = None
    candidates: tuple[Candidate, ...] = ()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _code(payload: dict[str, Any], *names: str) -> int:
    for name in names:
        if name in payload:
            try:
                return int(payload[name])
            except (TypeError, ValueError):
                return -1
    return 0


def read_user_room(payload: dict[str, Any], user: str) -> Room:
    """E4: who the user is, their current (or last) room id, whether it is live, and its stream data.

    Raises:
        SourceNotFound: `user_not_found` (19881007), or no user at all.
        SourceUnreachable: any other non-zero `statusCode`.
    """
    code = _code(payload, "statusCode", "status_code")
    if code == markers.USER_NOT_FOUND_CODE or payload.get("message") == "user_not_found":
        raise markers.user_not_found(user)
    if code != 0:
        raise markers.api_error(code, payload.get("message"), "api-live/user/room")
    data = _dict(payload.get("data"))
    owner, live_room = _dict(data.get("user")), _dict(data.get("liveRoom"))
    if not owner and not live_room:
        raise markers.user_not_found(user)
    room_id = _text(owner.get("roomId")) or ""
    status = live_room.get("status", owner.get("status"))
    candidates = [
        *parse_pull_data(_dict(_dict(live_room.get("streamData")).get("pull_data")), default_codec=H264),
        *parse_pull_data(_dict(_dict(live_room.get("hevcStreamData")).get("pull_data")), default_codec=H265),
    ]
    live = bool(room_id) and (status == LIVE_STATUS or (status != ENDED_STATUS and bool(candidates)))
    return Room(
        room_id=room_id, live=live, user=_text(owner.get("uniqueId")) or user, nickname=_text(owner.get("nickname")),
        title=_text(live_room.get("title")), candidates=tuple(candidates) if live else (),
    )


def read_room_info(payload: dict[str, Any], room_id: str, *, what: str, by_room: bool) -> Room:
    """E6: the room's status, owner and stream URLs. `what` names the target in messages; `by_room`: the
    user gave this room id (an ended room never comes back, so say so).

    Raises:
        LoginRequired: 4003110 (restricted) or the follow-only prompt.
        SourceNotFound: neither owner nor status (no such room).
        LiveOffline: status 4 (ended) or any other non-live status.
        SourceUnreachable: any other non-zero `status_code`.
    """
    code = _code(payload, "status_code", "statusCode")
    if code == markers.RESTRICTED_CODE:
        raise markers.restricted(what)
    if markers.FOLLOW_PROMPT in json.dumps(payload, ensure_ascii=False):
        raise markers.follow_only(what)
    if code != 0:
        raise markers.api_error(code, payload.get("message"), "webcast/room/info")
    data = _dict(payload.get("data"))
    owner, status = _dict(data.get("owner")), data.get("status")
    if status is None and not owner:
        if "prompts" in data:
            raise markers.restricted(what)
        raise markers.room_not_found(room_id)
    if status != LIVE_STATUS:
        raise markers.offline(what, ended=by_room and status == ENDED_STATUS)
    stream_url = _dict(data.get("stream_url"))
    pull_data = _dict(_dict(stream_url.get("live_core_sdk_data")).get("pull_data"))
    candidates = parse_pull_data(pull_data) or parse_legacy(stream_url)
    return Room(
        room_id=_text(data.get("id_str")) or room_id, live=True, user=_text(owner.get("display_id")),
        nickname=_text(owner.get("nickname")), title=_text(data.get("title")), candidates=tuple(candidates),
    )
