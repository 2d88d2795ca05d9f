"""Recording requests and responses (seeds 000/001 for the request, 002 for the recording shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from livevault.api.schemas.common import RequestModel


class RecordingOptions(RequestModel):

    upload_s3: bool | None = Field(
        default=None, description="upload the finished files to S3/MinIO/R2 (default: S3_UPLOAD_DEFAULT)"
    )
    keep_local: bool | None = Field(
        default=None, description="keep the local copy after a verified upload (default: S3_KEEP_LOCAL)"
    )
    proxy: str | None = Field(
        default=None, description="http(s):// proxy for this recording (`http://user:password@host:port`); "
        "returned masked",
    )
    cookies: str | None = Field(default=None, description="cookies file under LIVEVAULT_SECRETS_DIR")
    engine: Literal["native", "ffmpeg", "command"] | None = Field(
        default=None,
        description="capture engine: native (default; asyncio HLS/FLV/TS), ffmpeg (needs the ffmpeg binary), "
        "command (an external recorder CLI, e.g. tiktok-live-recorder)",
    )
    format: Literal["hls", "flv"] | None = Field(default=None, description="TikTok: which stream format to record")
    codec: Literal["h264", "avc", "h265", "hevc"] | None = Field(default=None, description="TikTok: preferred codec")
    probe: bool | None = Field(default=None, description="TikTok: probe candidate streams before choosing one")
    reconnect_window: float | None = Field(
        default=None, ge=0, le=3600,
        description="seconds to keep re-resolving after the stream goes away while the source may still be "
        "live (default LIVEVAULT_RECONNECT_WINDOW); the media after it goes into a new part",
    )
    notify_url: str | None = Field(
        default=None, max_length=2048,
        description="Also send this recording's notifications here (besides LIVEVAULT_WEBHOOK_URLS); checked like "
        "a source URL",
    )
    split_every: int | None = Field(
        default=None, ge=5, le=86400,
        description="Split into pieces of about this many seconds (cut at the first keyframe past it); each "
        "piece is finalized as its own MP4 while the stream goes on",
    )
    split_bytes: int | None = Field(
        default=None, ge=64 * 1024, le=1 << 40,
        description="Split into pieces of about this many bytes (cut at the first keyframe past it)",
    )


class RecordingCreate(RequestModel):
    """Give `url` (a TikTok LIVE page, HLS, FLV, MPEG-TS, or any site yt-dlp/streamlink know), `room_id`
    (TikTok) or `user` (TikTok); everything else is optional. An unknown field is a 422."""

    room_id: str | None = Field(default=None, max_length=64, examples=[None])
    user: str | None = Field(default=None, max_length=64, description="TikTok user name (`@name` or `name`)",
                             examples=[None])
    source: str | None = Field(
        default=None, max_length=32,
        description="force a source: tiktok, url, ytdlp, streamlink, push, bucket (default: chosen from the URL; "
        "for a `stream_key`, LIVEVAULT_PUSH_SOURCE)",
        examples=[None],
    )
    stream_key: str | None = Field(
        default=None, max_length=128,
        description="a stream published to your streaming server: recorded from its HTTP origin (`push`) or from "
        "the segments bucket (`bucket`, see docs/bucket-source.md)",
        examples=[None],
    )
    url: str | None = Field(
        default=None, max_length=4096, examples=["http://127.0.0.1:8080/live/demo/master.m3u8"]
    )
    duration: int | None = Field(
        default=None, ge=1, le=86400,
        description="Seconds of media to record (max 24 h), ± one segment; outages do not count", examples=[20],
    )
    start: Literal["live_edge", "window"] = Field(
        default="live_edge",
        description="live_edge: begin at the newest segment; window: also take the whole window the server "
        "still offers (back-fill), which does not count against `duration`",
    )
    output_template: str | None = Field(
        default=None,
        max_length=512,
        description="Relative path under RECORDINGS_DIR; fields {room_id} {source} {title} {author} "
        "{recording_id} {timestamp} {YYYY} {MM} {DD} {hh} {mm} {ss}",
        examples=["{room_id}/{YYYY}/{MM}/{DD}/{timestamp}_{title}.mp4"],
    )
    quality: str | None = Field(
        default=None, max_length=32, description="best, worst, 720p, or a max bandwidth in bit/s"
    )
    title: str | None = Field(default=None, max_length=200)
    options: RecordingOptions = Field(default_factory=RecordingOptions)
    room: str | None = Field(
        default=None, max_length=128,
        description="LiveKit room name, with `source: livekit`: LiveKit Egress records the room into the bucket",
        examples=[None],
    )
    layout: Literal["speaker", "grid", "single-speaker"] = Field(
        default="speaker", description="LiveKit room composite layout (`source: livekit`)"
    )
    file_format: Literal["mp4", "webm"] = Field(
        default="mp4", description="`source: livekit`: mp4 (room composite egress has no WebM: webm is refused)"
    )
    audio_only: bool = Field(default=False, description="`source: livekit`: record the room's audio only")


class RecordingAccepted(BaseModel):
    task_id: str
    status: str = Field(examples=["PENDING"])
    recording_id: str


class GapOut(BaseModel):
    part: int
    started_at: datetime
    ended_at: datetime
    cause: str
    from_sequence: int | None
    to_sequence: int | None
    missing_segments: int
    duration: float


class IntegrityOut(BaseModel):
    """What was captured and what is missing."""

    segments_captured: int
    segments_missing: int
    bytes_captured: int
    captured_duration: float
    missing_duration: float
    completeness_pct: float
    parts: int
    discontinuities: int
    sequence_resets: int
    gaps: list[GapOut] | None = None
    verify: str | None = Field(
        default=None,
        description="how the finished file was checked: `sampled` (every sample's structure, a few GOPs "
        "decoded), `full` (every frame decoded) or `off`; null until the recording is finished",
    )


class StoredFileOut(BaseModel):
    """One finished file and where it is: `local` (RECORDINGS_DIR), `s3` (the bucket), or `both`."""

    kind: str = Field(examples=["video"])
    piece: int
    path: str
    size: int
    location: str = Field(examples=["both"])
    state: str = Field(description="local, pending, uploading, uploaded, failed (retried), deleting")
    bucket: str | None
    key: str | None
    error_code: str | None = None
    error_message: str | None = None


class LinkOut(BaseModel):
    """A URL that downloads the file without an API key."""

    url: str
    expires_at: datetime | None = Field(description="None for a public URL (S3_PUBLIC_BASE_URL)")
    location: str
    kind: str = Field(description="signed (local file via this API), presigned (S3) or public (S3)")
class PieceOut(BaseModel):
    """One piece of a split recording (`options.split_every` / `split_bytes`), in order."""

    index: int = Field(description="1-based, in recording order")
    file_path: str = Field(description="relative to RECORDINGS_DIR")
    name: str
    size: int
    duration: float = Field(description="seconds")
    start_time: float = Field(description="media seconds from the start of the recording where the piece begins")
    end_time: float = Field(description="media seconds from the start of the recording where the piece ends")
    thumbnail_path: str | None = None


class RecordingOut(BaseModel):
    """Seed 002's recording fields first, then livevault's."""

    id: str
    stream_id: str | None
    video_id: str | None
    file_path: str | None
    duration: int
    file_size: int
    status: str = Field(description="On `/recording/{id}` and the `/recordings` list one of seed 002's four: "
                        "recording, processing, completed, failed (a recording not yet picked up is "
                        "`recording`); on `/recordings/{id}` livevault's own, which adds `pending`")
    state: str = Field(description="livevault's own status: pending, recording, processing, completed, failed")
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    task_id: str | None
    source_kind: str
    source: str
    url: str | None
    room_id: str | None
    title: str | None
    quality: str
    duration_limit: int | None
    duration_seconds: float
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    thumbnail_path: str | None
    error_code: str | None
    error_message: str | None
    stop_requested: bool
    options: dict[str, Any]
    integrity: IntegrityOut
    location: str | None = Field(default=None, description="where the video is: local, s3 or both")
    files: list[StoredFileOut] = Field(default_factory=list)
    pieces: list[PieceOut] | None = Field(
        default=None,
        description="split recordings: the finished pieces in order, growing while the stream goes on "
        "(`[]` for a recording that is not split; left out of list pages)",
    )
    pinned: bool = Field(default=False, description="A pinned recording is never deleted by retention")


class RecordingUpdate(RequestModel):
    """`PATCH /recordings/{id}`: pin a recording so retention never deletes it, or unpin it."""

    pinned: bool = Field(
        strict=True, description="true: never deleted by retention (record scope); false: unpin (admin scope)")


class RecordingList(BaseModel):
    recordings: list[RecordingOut]
    total: int
    page: int
    page_size: int


class RecordingEnvelope(BaseModel):
    """`GET /recording/{id}` (seed 002) wraps the recording."""

    recording: RecordingOut


class PartOut(BaseModel):
    index: int
    name: str
    size: int
    download_url: str


class PartList(BaseModel):
    recording_id: str
    parts: list[PartOut]


class PartLedgerOut(BaseModel):
    index: int
    path: str
    container: str
    reason: str
    started_at: datetime


class SegmentOut(BaseModel):
    part: int
    sequence: int
    discontinuity_sequence: int
    discontinuity: bool
    duration: float
    bytes: int
    offset: int
    program_date_time: str | None
    fetched_at: datetime


class LedgerOut(BaseModel):
    """Every part, every captured segment and every gap of a recording."""

    recording_id: str
    parts: list[PartLedgerOut]
    segments: list[SegmentOut]
    gaps: list[GapOut]
