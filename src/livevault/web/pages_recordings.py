"""The recording pages: the list, one recording, watching live, and stop / copy link / delete / pin."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from livevault.domain.recording import Recording, RecordingStatus
from livevault.errors import InvalidInput, LivevaultError, NotFound
from livevault.services.access import Scope
from livevault.web import timeline
from livevault.web.auth import Viewer, container_of, current_viewer, safe_next
from livevault.web.pages_common import _STATUS, PAGE_SIZE, action, back_to, error_page, render

router = APIRouter(include_in_schema=False)
LINK_SECONDS = 24 * 3600


def _day(raw: str | None, *, end: bool) -> datetime | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD", details={"date": raw[:32]}) from None
    moment = datetime.combine(day, time.min, tzinfo=UTC)
    return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment


@router.get("/")
async def recordings_page(request: Request) -> Response:
    viewer = current_viewer(request)
    container = container_of(request)
    q = request.query_params
    filters = {name: q.get(name, "").strip() for name in ("status", "kind", "source", "watcher", "from", "to")}
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    try:
        status = RecordingStatus(filters["status"]) if filters["status"] else None
        found = await asyncio.to_thread(
            container.recordings.search, status=status, source_kind=filters["kind"] or None,
            source=filters["source"] or None, watcher_key=filters["watcher"] or None,
            created_from=_day(filters["from"], end=False), created_to=_day(filters["to"], end=True),
            page=page, page_size=PAGE_SIZE,
        )
    except (LivevaultError, ValueError) as exc:
        err = exc if isinstance(exc, LivevaultError) else InvalidInput("unknown status")
        return error_page(request, viewer, err)
    files = await asyncio.to_thread(container.storage.files_for, [r.id for r in found.items])
    pages = max(1, -(-found.total // PAGE_SIZE))
    keep = {k: v for k, v in filters.items() if v}
    return render(
        request, "recordings.html", viewer, recordings=found.items, files=files, total=found.total, page=page,
        pages=pages,
        filters=filters, statuses=[s.value for s in RecordingStatus], kinds=container.sources.names,
        prev_url="/?" + urlencode({**keep, "page": page - 1}) if page > 1 else None,
        next_url="/?" + urlencode({**keep, "page": page + 1}) if page < pages else None,
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


def _detail(container: Any, recording_id: str) -> dict[str, Any]:
    rec: Recording = container.recordings.get(recording_id)
    parts, segments, gaps = container.recordings.ledger(rec)
    report = container.recordings.report(rec)
    try:
        job = container.recordings.get_job(rec.job_id) if rec.job_id else None
    except NotFound:
        job = None
    files = container.recordings.parts_of(rec)
    stored = container.storage.files_of(rec.id)
    return {
        "rec": rec, "report": report, "job": job, "gaps": gaps, "stored": stored,
        "timeline": timeline.build(segments, gaps),
        "parts": [{"index": idx, "name": path.name, "size": path.stat().st_size if path.exists() else 0,
                   "info": next((p for p in parts if p.index == idx), None)} for idx, path in files],
    }


@router.get("/ui/recordings/{recording_id}")
async def recording_page(recording_id: str, request: Request) -> Response:
    viewer = current_viewer(request)
    try:
        context = await asyncio.to_thread(_detail, container_of(request), recording_id)
    except LivevaultError as exc:
        return error_page(request, viewer, exc)
    return render(request, "recording.html", viewer, back=request.url.path, **context)


@router.get("/ui/recordings/{recording_id}/live")
async def live_page(recording_id: str, request: Request) -> Response:
    viewer = current_viewer(request)
    try:
        rec = await asyncio.to_thread(container_of(request).recordings.get, recording_id)
    except LivevaultError as exc:
        return error_page(request, viewer, exc)
    # After Stop (or any action) from the live view, go to the recording's page: it shows the finalize.
    return render(request, "live.html", viewer, rec=rec, back=f"/ui/recordings/{recording_id}")


@router.post("/ui/recordings/{recording_id}/stop")
async def stop_recording(recording_id: str, request: Request) -> Response:
    async def work(viewer: Viewer, form: dict[str, str]) -> Response:
        await container_of(request).recordings.stop_any(recording_id)  # livevault's capture or an external one
        return back_to(request, form, f"/ui/recordings/{recording_id}", "stopped")

    return await action(request, Scope.RECORD, work)


@router.get("/ui/recordings/{recording_id}/link")
async def recording_link(recording_id: str, request: Request) -> Response:
    """For "Copy link": a download URL that works without signing in (signed, or presigned in S3), 24 h."""
    current_viewer(request)  # signed in (any scope may share a link to what it can read)
    container = container_of(request)
    try:
        rec = await asyncio.to_thread(container.recordings.get, recording_id)
        link = await asyncio.to_thread(container.storage.link, rec, expires=LINK_SECONDS,
                                       base_url=str(request.base_url))
    except LivevaultError as exc:
        return JSONResponse({"error_code": exc.code, "message": exc.message}, status_code=_STATUS.get(exc.kind, 500))
    return JSONResponse({"url": link.url, "kind": link.kind,
                         "expires_at": link.expires_at.isoformat() if link.expires_at else None},
                        headers={"Cache-Control": "no-store"})


@router.post("/ui/recordings/{recording_id}/delete")
async def delete_recording(recording_id: str, request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        container_of(request).recordings.delete(recording_id)
        target = safe_next(form.get("back"), "/")
        if target.startswith(f"/ui/recordings/{recording_id}"):
            target = "/"
        return back_to(request, {"back": target}, "/", "deleted")

    return await action(request, Scope.ADMIN, work)


@router.post("/ui/recordings/{recording_id}/pin")
async def pin_recording(recording_id: str, request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        pinned = form.get("pinned", "true") != "false"
        container_of(request).recordings.set_pinned(recording_id, pinned)
        return back_to(request, form, f"/ui/recordings/{recording_id}", "pinned" if pinned else "unpinned")

    return await action(request, Scope.ADMIN, work)
