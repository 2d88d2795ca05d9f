"""The pages: recordings, one recording, watching live, watchers, system, sign-in. Each calls one service."""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from livevault import __version__
from livevault.domain.files import FileKind, StoredFile
from livevault.domain.recording import (
    ACTIVE_RECORDING_STATUSES,
    CAPTURING_RECORDING_STATUSES,
    Recording,
    RecordingStatus,
)
from livevault.domain.secrets import mask_credentials
from livevault.domain.watcher import Watcher, WatcherStatus
from livevault.errors import ErrorKind, InvalidInput, LivevaultError, NotFound
from livevault.observability import current_correlation_id
from livevault.services.access import Scope
from livevault.web import timeline
from livevault.web.auth import (
    SignInRequired,
    Viewer,
    check_csrf,
    check_same_origin,
    clear_session_cookie,
    container_of,
    current_viewer,
    safe_next,
    set_session_cookie,
)
from livevault.web.forms import watch_request

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
LINK_SECONDS = 24 * 3600
_STATUS = {ErrorKind.INVALID: 400, ErrorKind.UNAUTHORIZED: 401, ErrorKind.FORBIDDEN: 403,
           ErrorKind.NOT_FOUND: 404, ErrorKind.CONFLICT: 409, ErrorKind.RATE_LIMITED: 429,
           ErrorKind.UNAVAILABLE: 503, ErrorKind.INTERNAL: 500}
NOTICES = {
    "stopped": "Stop requested: what was captured is being finalized.",
    "deleted": "Recording deleted.",
    "pinned": "Recording pinned: retention will keep it.",
    "unpinned": "Recording unpinned.",
    "watcher-added": "Watcher added: its first check is due now.",
    "watcher-paused": "Watcher paused.",
    "watcher-resumed": "Watcher resumed.",
    "watcher-deleted": "Watcher deleted.",
    "signed-out": "Signed out.",
}


# -- formatting ---------------------------------------------------------------------------------------------


def human_size(value: int | float | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    total = round(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_time(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def completeness(rec: Recording) -> float:
    total = rec.segments_captured + rec.segments_missing
    return 100.0 if total == 0 else round(100.0 * rec.segments_captured / total, 1)


def shown_duration(rec: Recording) -> float:
    if rec.status is RecordingStatus.RECORDING and rec.started_at is not None:
        return max(0.0, (datetime.now(UTC) - rec.started_at).total_seconds())
    return rec.duration


def where_stored(rec: Recording, files: list[StoredFile] | None = None) -> str:
    """Where the video is: local disk, S3 or both (and an upload in progress or failed), else the spool."""
    for file in files or []:
        if file.kind is FileKind.VIDEO and file.piece == 0:
            where = {"local": "this server", "s3": "S3", "both": "this server + S3"}.get(file.location.value,
                                                                                      file.location.value)
            state = file.state.value
            return where if state in ("uploaded", "local") else f"{where} ({state})"
    if rec.file_path:
        return f"this server: {rec.file_path}"
    return "spool (recording)" if rec.status in ACTIVE_RECORDING_STATUSES else "—"


def watcher_state(watcher: Watcher) -> tuple[str, str]:
    """(state, why): idle / live / recording / backing off / paused."""
    if watcher.status is WatcherStatus.PAUSED:
        return "paused", ""
    if watcher.live_state == "recording":
        return "recording", ""
    if watcher.failures > 0:
        why = f"{watcher.error_code or 'error'}: {watcher.error_message or ''}".strip(": ")
        return "backing off", f"{why} ({watcher.failures} failed checks)"
    if watcher.live_state == "live":
        return "live", ""
    return "idle", watcher.live_state or "not checked yet"


def human_epoch(value: float | None) -> str:
    return "—" if value is None else human_time(datetime.fromtimestamp(value, UTC))


# Every value a page shows has URL credentials masked, like the API's responses (docs/security.md).
templates.env.finalize = lambda value: (
    mask_credentials(value) if isinstance(value, str) and not hasattr(value, "__html__") else value)
templates.env.filters.update(size=human_size, duration=human_duration, when=human_time, epoch=human_epoch)
templates.env.globals.update(version=__version__, completeness=completeness, shown_duration=shown_duration,
                             where_stored=where_stored, watcher_state=watcher_state,
                             active_statuses=ACTIVE_RECORDING_STATUSES,
                             capturing_statuses=CAPTURING_RECORDING_STATUSES)


# -- rendering ----------------------------------------------------------------------------------------------


def render(request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    response = templates.TemplateResponse(
        request, name, {"viewer": viewer, "notice": notice, "path": request.url.path, **context},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, viewer: Viewer | None, exc: LivevaultError) -> Response:
    return render(request, "error.html", viewer, status_code=_STATUS.get(exc.kind, 500), error=exc,
                  correlation_id=current_correlation_id())


def back_to(request: Request, form: dict[str, str], default: str, notice: str) -> RedirectResponse:
    target = safe_next(form.get("back"), default)
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}notice={notice}", status_code=303)


async def form_of(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def action(request: Request, needed: Scope, work: Any) -> Response:
    """A form post: signed in, same origin, CSRF token, the scope; then `work(viewer, form)` in a thread."""
    viewer = current_viewer(request)
    form = await form_of(request)
    try:
        check_csrf(request, viewer, form.get("csrf"))
        viewer.principal.require(needed)
        await asyncio.to_thread(container_of(request).rate_limits.check, viewer.principal.rate_key)
        if inspect.iscoroutinefunction(work):
            result: Response = await work(viewer, form)
        else:
            result = await asyncio.to_thread(work, viewer, form)
    except LivevaultError as exc:
        return error_page(request, viewer, exc)
    return result


# -- sign-in --------------------------------------------------------------------------------------------------


@router.get("/ui/signin")
async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", None, next=safe_next(request.query_params.get("next")))


@router.post("/ui/signin")
async def signin(request: Request) -> Response:
    container = container_of(request)
    form = await form_of(request)
    next_path = safe_next(form.get("next"))
    try:
        check_same_origin(request)
        container.access.authenticate(form.get("api_key", "").strip())
    except LivevaultError as exc:
        return render(request, "signin.html", None, status_code=_STATUS.get(exc.kind, 403), next=next_path,
                      failed=exc.message if exc.kind is not ErrorKind.FORBIDDEN else "That API key is not valid.")
    value, _session = container.sessions.issue(form.get("api_key", "").strip())
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, value, container.sessions.max_age,
                       secure=container.settings.session_cookie_secure)
    return response


@router.post("/ui/signout")
async def signout(request: Request) -> Response:
    try:
        viewer = current_viewer(request)
        form = await form_of(request)
        check_csrf(request, viewer, form.get("csrf"))
    except LivevaultError as exc:
        return error_page(request, None, exc)
    response = RedirectResponse("/ui/signin?notice=signed-out", status_code=303)
    clear_session_cookie(response)
    return response


# -- recordings -------------------------------------------------------------------------------------------------


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


# -- watchers ---------------------------------------------------------------------------------------------------


@router.get("/ui/watchers")
async def watchers_page(request: Request) -> Response:
    viewer = current_viewer(request)
    container = container_of(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    found = await asyncio.to_thread(container.watchers.search, page=page, page_size=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(request, "watchers.html", viewer, watchers=found.items, total=found.total, page=page,
                  pages=pages, sources=container.sources.names,
                  default_interval=int(container.settings.watcher_default_interval),
                  min_interval=container.settings.watcher_min_interval, back=request.url.path)


@router.post("/ui/watchers")
async def add_watcher(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        container = container_of(request)
        container.watchers.create(watch_request(container, form))
        return back_to(request, form, "/ui/watchers", "watcher-added")

    return await action(request, Scope.RECORD, work)


@router.post("/ui/watchers/change")
async def change_watcher(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, str]) -> Response:
        watchers = container_of(request).watchers
        key, what = form.get("key", ""), form.get("do", "")
        if what == "pause":
            watchers.update(key, status=WatcherStatus.PAUSED)
        elif what == "resume":
            watchers.update(key, status=WatcherStatus.ACTIVE)
        elif what == "delete":
            watchers.delete(key)
        else:
            raise InvalidInput("unknown watcher action", details={"do": what[:16]})
        return back_to(request, form, "/ui/watchers", {"pause": "watcher-paused", "resume": "watcher-resumed",
                                                       "delete": "watcher-deleted"}[what])

    return await action(request, Scope.RECORD, work)


# -- system ------------------------------------------------------------------------------------------------------


@router.get("/ui/system")
async def system_page(request: Request) -> Response:
    viewer = current_viewer(request)
    overview = await asyncio.to_thread(container_of(request).overview.system)
    return render(request, "system.html", viewer, system=overview)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on pages that name no icon (/metrics, a downloaded file): the same SVG."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


async def _signin_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.method != "GET":  # a post without a session: refuse it (a cross-site form lands here too)
        return HTMLResponse("Sign in first.", status_code=401)
    return RedirectResponse(exc.next_path, status_code=303)


def install_pages(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
    app.include_router(router)
    app.add_exception_handler(SignInRequired, _signin_redirect)
