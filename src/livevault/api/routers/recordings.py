"""Record on demand, list, inspect, stop, delete and download recordings."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from livevault.api.deps import (
    AdminScopeDep,
    ApiKeyDep,
    ContainerDep,
    KeyOrSignedLinkDep,
    RecordScopeDep,
    SessionOrKeyDep,
)
from livevault.api.files import OpenedFileResponse
from livevault.api.schemas.common import ERROR_RESPONSES, MAX_PAGE, ErrorBody
from livevault.api.schemas.recordings import (
    GapOut,
    IntegrityOut,
    LedgerOut,
    LinkOut,
    PartLedgerOut,
    PartList,
    PartOut,
    PieceOut,
    RecordingAccepted,
    RecordingCreate,
    RecordingEnvelope,
    RecordingList,
    RecordingOut,
    RecordingUpdate,
    SegmentOut,
    StoredFileOut,
)
from livevault.bootstrap import Container
from livevault.domain.capture import GapRecord, IntegrityReport
from livevault.domain.files import FileKind, StoredFile
from livevault.domain.livekit import LIVEKIT_SOURCE, RoomRequest
from livevault.domain.recording import SEED_STATUS, Recording, RecordingRequest, RecordingStatus
from livevault.domain.secrets import mask_credentials, mask_optional, mask_options
from livevault.domain.targets import check_room_id, check_user
from livevault.errors import MissingSource, NotFound, Unauthorized
from livevault.observability import current_correlation_id
from livevault.services.access import Scope

router = APIRouter(tags=["recordings"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such recording"}}


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def gap_out(gap: GapRecord) -> GapOut:
    return GapOut(**{**asdict(gap), "cause": gap.cause.value, "started_at": _utc(gap.started_at),
                     "ended_at": _utc(gap.ended_at)})


def integrity_out(report: IntegrityReport, *, with_gaps: bool) -> IntegrityOut:
    gaps = [gap_out(g) for g in report.gaps] if with_gaps else None
    return IntegrityOut(
        segments_captured=report.segments_captured,
        segments_missing=report.segments_missing,
        bytes_captured=report.bytes_captured,
        captured_duration=report.captured_duration,
        missing_duration=report.missing_duration,
        completeness_pct=report.completeness_pct,
        parts=report.parts,
        discontinuities=report.discontinuities,
        sequence_resets=report.sequence_resets,
        gaps=gaps,
    )


def summary_report(rec: Recording) -> IntegrityReport:
    """Counters kept on the row: cheap enough for list pages."""
    return IntegrityReport(
        segments_captured=rec.segments_captured, segments_missing=rec.segments_missing,
        bytes_captured=rec.bytes_captured, captured_duration=0.0, missing_duration=0.0,
        parts=rec.parts_count, discontinuities=0, sequence_resets=0,
    )


def stored_file_out(file: StoredFile) -> StoredFileOut:
    return StoredFileOut(kind=file.kind.value, piece=file.piece, path=file.local_path, size=file.size,
                         location=file.location.value, state=file.state.value, bucket=file.bucket, key=file.key,
                         error_code=file.error_code, error_message=file.error_message)


def video_location(files: list[StoredFile]) -> str | None:
    for file in files:
        if file.kind is FileKind.VIDEO and file.piece == 0:
            return file.location.value
    return None


def recording_out(container: Container, rec: Recording, *, full: bool,
                  files: list[StoredFile] | None = None, seed: bool = False) -> RecordingOut:
    """`seed`: the status as one of seed 002's four (`pending` reads `recording`)."""
    report = container.recordings.report(rec) if full else summary_report(rec)
    status = SEED_STATUS.get(rec.status, rec.status) if seed else rec.status
    if files is None:
        files = container.storage.files_of(rec.id)
    return RecordingOut(
        id=rec.id, stream_id=rec.stream_id, video_id=rec.video_id, file_path=rec.file_path,
        duration=round(rec.duration), file_size=rec.file_size, status=status.value, state=rec.status.value,
        started_at=rec.started_at, completed_at=rec.completed_at, created_at=rec.created_at,
        task_id=rec.job_id, source_kind=rec.source_kind, source=mask_credentials(rec.source),
        url=mask_optional(rec.url),
        room_id=rec.room_id, title=rec.title, quality=rec.quality, duration_limit=rec.duration_limit,
        duration_seconds=rec.duration, video_codec=rec.video_codec, audio_codec=rec.audio_codec,
        width=rec.width, height=rec.height, fps=rec.fps, thumbnail_path=rec.thumbnail_path,
        error_code=rec.error_code, error_message=mask_optional(rec.error_message), stop_requested=rec.stop_requested,
        options=mask_options(rec.options), pinned=rec.pinned,
        integrity=integrity_out(report, with_gaps=full).model_copy(update={"verify": rec.verify_mode}),
        location=video_location(files), files=[stored_file_out(f) for f in files],
        pieces=[PieceOut(**p.public()) for p in container.recordings.pieces(rec)] if full else None,
    )


async def build_request(container: Container, body: RecordingCreate) -> RecordingRequest:
    if not body.url and not body.room_id and not body.user and not body.stream_key:
        raise MissingSource(
            "give a `url`, a `room_id`, a `user` or a `stream_key` to record",
            details={"fields": ["url", "room_id", "user", "stream_key"]},
        )
    if body.room_id is not None:
        check_room_id(body.room_id)
    if body.user is not None:
        check_user(body.user)
    container.validate_options(body.options.proxy, body.options.cookies, body.options.notify_url)
    kind, source = await resolve_target(container, url=body.url, room_id=body.room_id, user=body.user,
                                        source=body.source, stream_key=body.stream_key)
    return RecordingRequest(
        source_kind=kind, source=source, url=body.url and source, room_id=body.room_id,
        duration=body.duration, output_template=body.output_template,
        quality=body.quality or container.settings.default_quality,
        options={**body.options.model_dump(exclude_none=True), "start": body.start}, title=body.title,
        correlation_id=current_correlation_id(),
    )


async def resolve_target(
    container: Container, *, url: str | None, room_id: str | None, user: str | None, source: str | None,
    stream_key: str | None = None,
) -> tuple[str, str]:
    """(source kind, target) for what the user gave; URLs pass the one validation function."""
    return await asyncio.to_thread(container.targets.resolve, url=url, room_id=room_id, user=user, source=source,
                                   stream_key=stream_key)


@router.post("/recordings", status_code=202, response_model=RecordingAccepted, responses={
    409: {"model": ErrorBody, "description": "ALREADY_RECORDING: this source is being recorded; `details` has "
                                             "that recording's `recording_id` and `task_id`"},
    503: {"model": ErrorBody, "description": "DISK_FULL: free space is below LIVEVAULT_MIN_FREE_BYTES"},
})
async def create_recording(body: RecordingCreate, container: ContainerDep, key: RecordScopeDep) -> RecordingAccepted:
    """Start recording now; poll `/jobs/{task_id}` or `/recordings/{recording_id}`. A managed key with a
    recordings quota gets 403 QUOTA_EXCEEDED while it holds that many active recordings (not for LiveKit rooms).

    One source, one recording: while a recording of the same source (the same normalized URL, TikTok room or
    user, or push stream key) is pending or recording, another request answers 409 `ALREADY_RECORDING` with
    that recording's id. Below the free-space watermark no recording starts (503 `DISK_FULL`).

    `{"source": "livekit", "room": ...}` asks LiveKit Egress to record a room into the S3 bucket instead."""
    if body.source == LIVEKIT_SOURCE:
        recording, job = await container.rooms.start(RoomRequest(
            room=body.room or "", layout=body.layout, file_format=body.file_format, audio_only=body.audio_only,
            correlation_id=current_correlation_id(),
        ))
        return RecordingAccepted(task_id=job.id, status=job.status.value, recording_id=recording.id)
    request = await build_request(container, body)
    recording, job = await asyncio.to_thread(container.recordings.create, request, quota=key.quota)
    return RecordingAccepted(task_id=job.id, status=job.status.value, recording_id=recording.id)


@router.get("/recordings", response_model=RecordingList)
async def list_recordings(
    container: ContainerDep,
    _key: ApiKeyDep,
    status: RecordingStatus | None = None,
    source_kind: str | None = None,
    source: str | None = None,
    room_id: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RecordingList:
    """Recordings, newest first, filtered by status and source."""
    result = await asyncio.to_thread(
        container.recordings.search,
        status=status, source_kind=source_kind, source=source, room_id=room_id, page=page, page_size=page_size,
    )
    files = await asyncio.to_thread(container.storage.files_for, [r.id for r in result.items])
    return RecordingList(
        recordings=[recording_out(container, r, full=False, files=files.get(r.id, []), seed=True)
                    for r in result.items],
        total=result.total, page=page, page_size=page_size,
    )


@router.get("/recordings/{recording_id}", response_model=RecordingOut, responses=NOT_FOUND)
async def get_recording(recording_id: str, container: ContainerDep, _key: ApiKeyDep) -> RecordingOut:
    """One recording with its integrity report (segments, gaps with times and causes, completeness)."""
    rec = container.recordings.get(recording_id)
    return await asyncio.to_thread(recording_out, container, rec, full=True)


@router.get("/recording/{recording_id}", response_model=RecordingEnvelope, responses=NOT_FOUND)
async def get_recording_seed(recording_id: str, container: ContainerDep, _key: ApiKeyDep) -> RecordingEnvelope:
    """Seed 002's shape: `{"recording": {...}}`; 404 `{"error": "Recording not found", ...}`."""
    rec = container.recordings.get(recording_id)
    out = await asyncio.to_thread(partial(recording_out, container, rec, full=True, seed=True))
    return RecordingEnvelope(recording=out)


@router.post("/recordings/{recording_id}/stop", status_code=202, response_model=RecordingOut,
             responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "Not active"}})
async def stop_recording(recording_id: str, container: ContainerDep, _key: RecordScopeDep) -> RecordingOut:
    """Stop gracefully: what was captured is finalized into the MP4."""
    rec = await container.recordings.stop_any(recording_id)
    return recording_out(container, rec, full=False)


@router.patch("/recordings/{recording_id}", response_model=RecordingOut, responses=NOT_FOUND)
async def update_recording(
    recording_id: str, body: RecordingUpdate, container: ContainerDep, principal: RecordScopeDep
) -> RecordingOut:
    """Pin a recording (`{"pinned": true}`, record scope): retention never deletes it. Unpinning
    (`{"pinned": false}`) lets retention delete it again and needs the admin scope."""
    if not body.pinned:
        principal.require(Scope.ADMIN)
    rec = await asyncio.to_thread(container.recordings.set_pinned, recording_id, body.pinned)
    return recording_out(container, rec, full=False)


@router.delete("/recordings/{recording_id}", status_code=204, response_class=Response,
               responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "Still active"},
                          503: {"model": ErrorBody, "description": "Some files could not be deleted yet; retried"}})
async def delete_recording(recording_id: str, container: ContainerDep, _key: AdminScopeDep) -> Response:
    """Delete the recording everywhere: its S3 objects (video, thumbnail), its local files, then the row.
    An active recording must be stopped first (409). When object storage fails part way, the answer is 503
    STORAGE_UNAVAILABLE, the rest stays marked for deletion and is retried automatically; asking again is safe."""
    await asyncio.to_thread(container.recordings.delete, recording_id)
    return Response(status_code=204)


def _check_link(container: Container, recording_id: str, kind: FileKind, piece: int, expires: int | None,
                signature: str | None) -> None:
    if expires is None or not signature or not container.storage.check_link(
        recording_id, kind, piece, expires, signature
    ):
        raise Unauthorized("the download link is invalid or has expired")


async def _serve(container: Container, recording_id: str, kind: FileKind, piece: int, media_type: str,
                 principal: object, expires: int | None, signature: str | None) -> Response:
    if principal is None:
        _check_link(container, recording_id, kind, piece, expires, signature)
    rec = container.recordings.get(recording_id)
    for _ in range(2):  # the local copy can go between locate and open (a verified upload): locate again
        located = await asyncio.to_thread(container.storage.locate, rec, kind, piece)
        if located.path is None:
            assert located.url is not None
            return RedirectResponse(located.url, status_code=307)
        try:
            return await asyncio.to_thread(OpenedFileResponse, located.path, media_type=media_type,
                                           filename=located.path.name)
        except FileNotFoundError:
            rec = await asyncio.to_thread(container.recordings.get, recording_id)
    raise NotFound("the file was removed while it was being fetched; try again", details={"kind": kind.value})


LINK_QUERY: dict[str, Any] = {
    "description": "with `signature`: a signed link from `/recordings/{id}/url` (no API key needed)",
}
EXPIRES_QUERY: dict[str, Any] = {**LINK_QUERY, "ge": 0, "le": 2**40}  # a Unix time: larger is a 422, not a 500


@router.get("/recordings/{recording_id}/download", response_class=FileResponse,
            responses={**NOT_FOUND, 206: {"description": "Partial content (Range)"},
                       307: {"description": "The file is only in S3: redirect to a presigned (or public) URL"}})
async def download_recording(
    recording_id: str, container: ContainerDep, principal: KeyOrSignedLinkDep,
    expires: Annotated[int | None, Query(**EXPIRES_QUERY)] = None,
    signature: Annotated[str | None, Query(max_length=128, **LINK_QUERY)] = None,
    piece: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
) -> Response:
    """The MP4, with HTTP Range support; a 307 redirect to S3 when the local copy is gone. A failed recording
    has no MP4: use its parts. Opens without an API key through a signed link (`GET /recordings/{id}/url`)."""
    return await _serve(container, recording_id, FileKind.VIDEO, piece, "video/mp4", principal, expires, signature)


@router.get("/recordings/{recording_id}/thumbnail", response_class=FileResponse, responses=NOT_FOUND)
async def recording_thumbnail(
    recording_id: str, container: ContainerDep, principal: KeyOrSignedLinkDep,
    expires: Annotated[int | None, Query(**EXPIRES_QUERY)] = None,
    signature: Annotated[str | None, Query(max_length=128, **LINK_QUERY)] = None,
    piece: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
) -> Response:
    """The JPEG thumbnail written at finalize (a 307 redirect when it is only in S3)."""
    return await _serve(container, recording_id, FileKind.THUMBNAIL, piece, "image/jpeg", principal, expires,
                        signature)


@router.get("/recordings/{recording_id}/url", response_model=LinkOut, responses=NOT_FOUND)
async def recording_url(
    recording_id: str, request: Request, container: ContainerDep, _key: ApiKeyDep,
    expires: Annotated[int, Query(ge=1, le=604800, description="seconds the link works (at most 7 days)")] = 3600,
    kind: Annotated[FileKind, Query(description="video or thumbnail")] = FileKind.VIDEO,
    piece: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
) -> LinkOut:
    """A download URL that needs no API key: a presigned S3 GET (or the public URL under S3_PUBLIC_BASE_URL)
    when the file is in S3, else a signed, expiring link to `/recordings/{id}/download` on this API."""
    rec = container.recordings.get(recording_id)
    link = await asyncio.to_thread(container.storage.link, rec, expires=expires, base_url=str(request.base_url),
                                   kind=kind, piece=piece)
    return LinkOut(url=link.url, expires_at=link.expires_at, location=link.location.value, kind=link.kind)


@router.get("/recordings/{recording_id}/parts", response_model=PartList, responses=NOT_FOUND)
async def list_parts(recording_id: str, request: Request, container: ContainerDep, _key: ApiKeyDep) -> PartList:
    """Raw part files still on disk (while recording, or kept after a failed finalize)."""
    rec = container.recordings.get(recording_id)
    parts = [
        PartOut(index=idx, name=path.name, size=path.stat().st_size,
                download_url=str(request.url_for("download_part", recording_id=rec.id, index=idx)))
        for idx, path in container.recordings.parts_of(rec)
    ]
    return PartList(recording_id=rec.id, parts=parts)


@router.get("/recordings/{recording_id}/parts/{index}", response_class=FileResponse, responses=NOT_FOUND)
async def download_part(recording_id: str, index: int, container: ContainerDep, _key: SessionOrKeyDep) -> Response:
    """One raw part (.ts, .flv or fragmented .mp4), with HTTP Range support."""
    rec = container.recordings.get(recording_id)
    for idx, path in container.recordings.parts_of(rec):
        if idx == index:
            media = {".ts": "video/mp2t", ".flv": "video/x-flv"}.get(path.suffix, "video/mp4")
            try:  # once opened, the part is sent whole even if the finalize removes it meanwhile
                return await asyncio.to_thread(OpenedFileResponse, path, media_type=media, filename=path.name)
            except FileNotFoundError:
                break
    raise NotFound("no such part", details={"index": index})


@router.get("/recordings/{recording_id}/pieces/{index}", response_class=FileResponse, responses=NOT_FOUND)
async def download_piece(
    recording_id: str, index: Annotated[int, Path(ge=1, le=100_000)], container: ContainerDep, key: ApiKeyDep,
) -> Response:
    """One finished piece of a split recording (already while the stream goes on), with HTTP Range support;
    the same as `/download?piece={index}`."""
    return await _serve(container, recording_id, FileKind.VIDEO, index, "video/mp4", key, None, None)


@router.get("/recordings/{recording_id}/ledger", response_model=LedgerOut, responses=NOT_FOUND)
async def recording_ledger(recording_id: str, container: ContainerDep, _key: ApiKeyDep) -> LedgerOut:
    """The whole segment index and gap ledger: which media sequence landed in which part, and what is missing."""
    rec = container.recordings.get(recording_id)
    parts, segments, gaps = await asyncio.to_thread(container.recordings.ledger, rec)
    return LedgerOut(
        recording_id=rec.id,
        parts=[PartLedgerOut(index=p.index, path=p.path, container=p.container.value, reason=p.reason.value,
                             started_at=_utc(p.started_at)) for p in parts],
        segments=[SegmentOut(**{**asdict(s), "fetched_at": _utc(s.fetched_at)}) for s in segments],
        gaps=[gap_out(g) for g in gaps],
    )
