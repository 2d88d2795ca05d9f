"""Many liveness checks at once (watchers): room ids go to `check_alive` in chunks; users are looked up.

A user is checked with a fresh `api-live/user/room` lookup every time, which tells live / offline by itself:
each LIVE gets a new room id, so checking a cached room id would miss a user's next LIVE (the lookup's
room id is still cached for `resolve()`). TikTok has no batched user lookup, so user watchers cost one
request per check; room-id watchers share one `check_alive` request per `batch_size`. Room ids are grouped
by egress (proxy, cookies); an error of one `check_alive` call (WAF, 429, budget) is the answer for every
target in it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livevault.domain.stream import LiveState, LiveStatus
from livevault.errors import LiveOffline, LivevaultError
from livevault.sources.tiktok import markers
from livevault.sources.tiktok.payloads import read_user_room
from livevault.sources.tiktok.targets import TargetKind

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from livevault.sources.tiktok.api import CallContext, TikTokApi
    from livevault.sources.tiktok.targets import TikTokTarget

    Expand = Callable[[str, CallContext], Awaitable[TikTokTarget]]

MAX_CACHED_USERS = 100_000
LOOKUP_CONCURRENCY = 8
CHECK_CONCURRENCY = 4


def status_of(exc: LivevaultError) -> LiveStatus:
    """A failure as the status a watcher stores: not live is OFFLINE, the rest ERROR, both with code and advice."""
    state = LiveState.OFFLINE if isinstance(exc, LiveOffline) else LiveState.ERROR
    return LiveStatus(state, error_code=exc.code, error_message=exc.message)


class UserRooms:
    """user → last known room id ("" = none yet), each kept `ttl` seconds; oldest dropped past the cap."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, user: str) -> str | None:
        entry = self._entries.get(user)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._entries[user]
            return None
        return entry[0]

    def put(self, user: str, room_id: str) -> None:
        self._entries[user] = (room_id, self._clock() + self.ttl)
        self._entries.move_to_end(user)
        while len(self._entries) > MAX_CACHED_USERS:
            self._entries.popitem(last=False)

    def forget(self, user: str) -> None:
        self._entries.pop(user, None)


@dataclass(slots=True)
class _Group:
    """Targets sharing one egress: room id → indexes of the targets asking for it, and their labels."""

    ctx: CallContext
    rooms: dict[str, list[int]] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)


class BatchChecker:
    def __init__(self, api: TikTokApi, rooms: UserRooms, *, batch_size: int, expand: Expand) -> None:
        self._api = api
        self._rooms = rooms
        self._batch_size = max(1, batch_size)
        self._expand = expand

    async def check(self, items: Sequence[tuple[int, TikTokTarget, CallContext]]) -> dict[int, LiveStatus]:
        """Status per index of `items`; every index gets one. Equal targets on one egress are asked once."""
        results: dict[int, LiveStatus] = {}
        groups: dict[tuple[str | None, str], _Group] = {}
        same: dict[tuple[TikTokTarget, tuple[str | None, str]], tuple[CallContext, list[int]]] = {}
        for index, target, ctx in items:
            same.setdefault((target, ctx.key), (ctx, []))[1].append(index)
        lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def prepare(target: TikTokTarget, ctx: CallContext, indexes: list[int]) -> None:
            async with lookups:
                try:
                    room, label = await self._room_of(target, ctx)
                except LivevaultError as exc:
                    results.update(dict.fromkeys(indexes, status_of(exc)))
                    return
            if isinstance(room, LiveStatus):
                results.update(dict.fromkeys(indexes, room))
                return
            group = groups.setdefault(ctx.key, _Group(ctx))
            group.rooms.setdefault(room, []).extend(indexes)
            group.labels.update(dict.fromkeys(indexes, label))

        await asyncio.gather(*(prepare(target, ctx, indexes) for (target, _), (ctx, indexes) in same.items()))
        checks = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def check_chunk(group: _Group, chunk: list[str]) -> None:
            async with checks:
                await self._check_chunk(group, chunk, results)

        await asyncio.gather(*(
            check_chunk(group, chunk) for group in groups.values() for chunk in self._chunks(list(group.rooms))
        ))
        return results

    def _chunks(self, room_ids: list[str]) -> list[list[str]]:
        return [room_ids[i:i + self._batch_size] for i in range(0, len(room_ids), self._batch_size)]

    async def _room_of(self, target: TikTokTarget, ctx: CallContext) -> tuple[str | LiveStatus, str]:
        """The room id to ask `check_alive` about, or (for a fresh user lookup) the answer itself."""
        if target.kind is TargetKind.SHORT_LINK:
            target = await self._expand(target.value, ctx)
        if target.kind is TargetKind.ROOM:
            return target.value, f"TikTok LIVE room {target.value}"
        user, label = target.value, f"@{target.value}"
        room = read_user_room(await self._api.user_room(user, ctx), user)
        self._rooms.put(user, room.room_id)
        if room.live:
            return LiveStatus(LiveState.LIVE), label
        return status_of(markers.offline(label)), label

    async def _check_chunk(self, group: _Group, chunk: list[str], results: dict[int, LiveStatus]) -> None:
        try:
            alive = await self._api.check_alive(chunk, group.ctx)
        except LivevaultError as exc:
            failed = status_of(exc)
            for room_id in chunk:
                results.update(dict.fromkeys(group.rooms[room_id], failed))
            return
        for room_id in chunk:
            for index in group.rooms[room_id]:
                if alive.get(room_id):
                    results[index] = LiveStatus(LiveState.LIVE)
                else:
                    results[index] = status_of(markers.offline(group.labels[index]))
