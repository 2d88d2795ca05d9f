"""Turn the watcher form into a WatchRequest (the same rules as `POST /watchers`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from livevault.errors import InvalidInput, MissingSource
from livevault.observability import current_correlation_id
from livevault.services.watch import WatchRequest

if TYPE_CHECKING:
    from livevault.bootstrap import Container

_ROOM_ID = re.compile(r"^\d{1,20}$")
_USER = re.compile(r"^@?[A-Za-z0-9_.]{1,64}$")
_QUALITY = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _int(form: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", details={name: raw[:32]}) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", details={name: value})
    return value


def watch_request(container: Container, form: dict[str, str]) -> WatchRequest:
    """`target` is a URL, `@user` or a room id; `source` forces a source; the rest are watcher options."""
    target = form.get("target", "").strip()
    if not target:
        raise MissingSource("give a URL, an @user or a room id to watch", details={"fields": ["target"]})
    options: dict[str, Any] = {}
    quality = form.get("quality", "").strip()
    if quality:
        if not _QUALITY.fullmatch(quality):
            raise InvalidInput("quality is best, worst, a height like 720p or a bandwidth", details={})
        options["quality"] = quality
    if form.get("upload_s3") == "on":
        options["upload_s3"] = True
    for name, low, high in (("max_duration", 1, 86400), ("split_every", 60, 86400), ("retention_days", 1, 36500)):
        value = _int(form, name, low, high)
        if value is not None:
            options[name] = value
    interval = _int(form, "poll_interval", 1, 86400)
    poll_interval = float(interval if interval is not None else container.settings.watcher_default_interval)
    url = room_id = user = None
    if target.lower().startswith(("http://", "https://")):
        url = target
    elif _ROOM_ID.fullmatch(target):
        room_id = target
    elif _USER.fullmatch(target):
        user = "@" + target.lstrip("@")
    else:
        raise InvalidInput("give an http(s) URL, an @user or a room id (digits)", details={"target": target[:64]})
    kind, resolved = container.targets.resolve(url=url, room_id=room_id, user=user,
                                               source=form.get("source", "").strip() or None)
    url = url and resolved
    return WatchRequest(
        key=resolved, source_kind=kind, target=resolved, poll_interval=poll_interval, room_id=room_id, url=url,
        user=user, options=options, correlation_id=current_correlation_id(),
    )
