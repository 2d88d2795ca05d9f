"""`POST /downloads` and the download shapes (seed 003)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from livevault.api.schemas.common import RequestModel

VideoUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
Strategy = Literal["yt-dlp", "scrapling-api", "http-api"]
DownloadState = Literal["pending", "running", "completed", "failed"]


class DownloadCreate(RequestModel):
    """Up to 100 video page URLs (TikTok, or any site yt-dlp knows), fetched in parallel as one job."""

    urls: list[VideoUrl] = Field(
        min_length=1, max_length=100, examples=[["https://www.tiktok.com/@scout2015/video/6718335390845095173"]]
    )
    strategy: Strategy | None = Field(
        default=None,
        description="yt-dlp, or scrapling-api (the HTTP resolver; `http-api` is an alias). "
        "Default: TIKTOK_DOWNLOAD_STRATEGY",
        examples=[None],
    )
    keyframes: bool = Field(default=False, description="Also write a JPEG of every keyframe (up to 60 per video)")


class DownloadRef(BaseModel):
    id: str
    url: str


class DownloadAccepted(BaseModel):
    task_id: str = Field(description="The batch's job: poll `/jobs/{task_id}`; also `?batch=` of `/downloads`")
    status: str = Field(examples=["PENDING"])
    strategy: str = Field(examples=["yt-dlp"])
    downloads: list[DownloadRef]


class DownloadOut(BaseModel):
    id: str
    task_id: str = Field(description="The batch (= job) this video belongs to")
    position: int
    url: str
    strategy: str
    status: DownloadState
    file_path: str | None = Field(description="Relative to RECORDINGS_DIR")
    file_size: int
    title: str | None
    author: str | None
    duration: float | None
    video_info: dict[str, Any] | None
    keyframes: dict[str, Any] | None = Field(
        description="{requested, count, total, times, files} when keyframes were asked for"
    )
    execution_time: float | None = Field(description="Seconds the strategy took to resolve the video")
    attempts: int = Field(description="Resolver calls made (2 when the headful retry ran)")
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class DownloadList(BaseModel):
    downloads: list[DownloadOut]
    total: int
    page: int
    page_size: int
