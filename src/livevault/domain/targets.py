"""The one set of rules for a TikTok room id and user name, used by the API, the CLI, the watcher service,
the TikTok source and the external recorder's command line alike."""

from __future__ import annotations

import re

from livevault.errors import InvalidInput, InvalidRoomId

MAX_ROOM_ID_DIGITS = 20
ROOM_ID_PATTERN = r"[0-9]{1,20}"
USER_PATTERN = r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}"
"""1-64 of letters, digits, `_`, `.` and `-`, not starting with `-` (so it can never read as an option)."""

_ROOM_ID = re.compile(ROOM_ID_PATTERN, re.ASCII)
_USER = re.compile(USER_PATTERN, re.ASCII)


def is_room_id(value: str) -> bool:
    return bool(_ROOM_ID.fullmatch(value))


def is_user(value: str) -> bool:
    """A user name with or without its leading `@`."""
    return bool(_USER.fullmatch(value[1:] if value.startswith("@") else value))


def check_room_id(value: str) -> str:
    if not is_room_id(value):
        raise InvalidRoomId("a TikTok room id is 1 to 20 digits", details={"room_id": value[:64]})
    return value


def check_user(value: str) -> str:
    """A TikTok unique id without its `@`, lower-cased as the web API expects it."""
    if not is_user(value):
        raise InvalidInput("a TikTok user name is 1 to 64 letters, digits, '_', '.' or '-' (not starting with '-')",
                           details={"user": value[:64]})
    return (value[1:] if value.startswith("@") else value).lower()
