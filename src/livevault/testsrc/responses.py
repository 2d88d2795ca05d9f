"""HTTP answers for media bytes: Content-Type, Content-Length, single byte ranges, completion tracking."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

TS_TYPE = "video/mp2t"
M4S_TYPE = "video/iso.segment"
MP4_TYPE = "video/mp4"
FLV_TYPE = "video/x-flv"
KEY_TYPE = "application/octet-stream"
NO_CACHE = {"Cache-Control": "no-cache, no-store"}


def parse_range(header: str, total: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range; None if unsatisfiable.

    Raises ValueError for anything this server does not honour (then the whole body is sent).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise ValueError("only one bytes range is supported")
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise ValueError("malformed range")
    if not first:
        length = int(last)
        if length <= 0:
            return None
        return max(0, total - length), total
    start = int(first)
    end = total if not last else min(total, int(last) + 1)
    if start >= total or end <= start:
        return None
    return start, end


@dataclass(frozen=True, slots=True)
class Reply:
    """A prepared answer: the response and which bytes of the body it carries."""

    response: web.Response
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


def plan_bytes(request: web.Request, body: bytes, content_type: str, *, cache_seconds: int = 60) -> Reply:
    """The answer with ``body`` or the requested range of it (416 if the range cannot be met)."""
    total = len(body)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": f"max-age={cache_seconds}"}
    start, end, status = 0, total, 200
    header = request.headers.get("Range")
    if header:
        try:
            parsed = parse_range(header, total)
        except ValueError:
            parsed = (0, total)
        else:
            if parsed is None:
                raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{total}"})
            status = 206
            headers["Content-Range"] = f"bytes {parsed[0]}-{parsed[1] - 1}/{total}"
        start, end = parsed
    part = body if (start, end) == (0, total) else body[start:end]
    response = web.Response(body=part, status=status, content_type=content_type, headers=headers)
    if request.method == "HEAD":
        return Reply(response, start, start)
    return Reply(response, start, end)


async def deliver(request: web.Request, response: web.Response) -> bool:
    """Write the whole response now; False if the client went away before it was all written."""
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        return False
    return True


async def send_bytes(request: web.Request, body: bytes, content_type: str, *, cache_seconds: int = 60) -> web.Response:
    reply = plan_bytes(request, body, content_type, cache_seconds=cache_seconds)
    await deliver(request, reply.response)
    return reply.response
