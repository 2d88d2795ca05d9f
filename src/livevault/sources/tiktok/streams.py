"""TikTok's stream data (research/tiktok.md §4) as ranked candidates: format, then codec, then quality.

`pull_data.stream_data` is a JSON string inside JSON: `{"data": {<sdk_key>: {"main": {"flv", "hls",
"sdk_params": "<JSON string>"}}}}`; `pull_data.options.qualities[]` gives each sdk key its `level`
(origin 10 … ld 1; `ao`, audio only, has none). Rooms without it still carry the legacy
`flv_pull_url.{FULL_HD1,HD1,SD2,SD1}` / `hls_pull_url` / `rtmp_pull_url` fields.

Ranking: the requested format first (FLV unless `hls` was asked for; the other one only as a fallback),
then the preferred codec (H.264 unless H.265 is preferred: FLV players and the remuxer handle H.264
everywhere), then quality: `best`/`origin` highest level down, `worst` lowest up, a named quality
(`1080p`, `720p`, `hd`, `sd_60`, …) at that level then the next lower levels, then the higher ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livevault.domain.stream import StreamFormat
from livevault.errors import NoMatchingQuality

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

H264 = "h264"
H265 = "h265"
AUDIO_ONLY = "ao"
DEFAULT_LEVELS = {"origin": 10, "uhd_60": 6, "uhd": 5, "hd_60": 4, "hd": 3, "sd": 2, "ld": 1, AUDIO_ONLY: 0}
LEGACY_KEYS = {"ORIGION": "origin", "FULL_HD1": "uhd", "HD1": "hd", "SD2": "sd", "SD1": "ld"}
QUALITY_LEVELS = {
    "uhd_60": 6, "1080p60": 6, "uhd": 5, "1080p": 5, "fullhd": 5, "full_hd": 5, "full_hd1": 5, "bd": 5,
    "hd_60": 4, "720p60": 4, "hd": 3, "720p": 3, "hd1": 3, "sd": 2, "540p": 2, "480p": 2, "sd2": 2,
    "ld": 1, "360p": 1, "sd1": 1, "low": 1,
}
_BEST = frozenset({"best", "origin", "original", "source", "ori", "highest", "max"})
_WORST = frozenset({"worst", "lowest", "min"})
_AUDIO = frozenset({"ao", "audio", "audio_only"})
_HEIGHT = re.compile(r"(?P<height>\d{3,4})p(?P<fps>60)?")
_CODECS = {"h264": H264, "avc": H264, "avc1": H264, "bytevc0": H264, "h265": H265, "hevc": H265, "bytevc1": H265}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One quality of one codec, with its FLV and/or HLS URL."""

    sdk_key: str
    level: int
    codec: str
    flv: str | None = None
    hls: str | None = None
    name: str = ""
    bitrate: int = 0

    def url(self, fmt: StreamFormat) -> str | None:
        return self.flv if fmt is StreamFormat.FLV else self.hls


@dataclass(frozen=True, slots=True)
class Choice:
    candidate: Candidate
    url: str
    format: StreamFormat


def _loads(value: Any) -> dict[str, Any]:
    """A nested JSON string (or an already decoded object) as a dict; anything else is empty."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def codec_of(value: Any) -> str | None:
    return _CODECS.get(str(value).strip().lower()) if value else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_pull_data(pull_data: Mapping[str, Any], *, default_codec: str = H264) -> list[Candidate]:
    """Candidates of one `pull_data` object (`streamData`, `hevcStreamData`, `live_core_sdk_data`)."""
    qualities = {
        str(q["sdk_key"]): q for q in _dict(pull_data.get("options")).get("qualities") or []
        if isinstance(q, dict) and q.get("sdk_key")
    }
    candidates = []
    for key, entry in _dict(_loads(pull_data.get("stream_data")).get("data")).items():
        main = _dict(_dict(entry).get("main"))
        flv, hls = _str(main.get("flv")), _str(main.get("hls"))
        if flv is None and hls is None:
            continue
        params, quality = _loads(main.get("sdk_params")), _dict(qualities.get(key))
        codec = codec_of(params.get("VCodec") or params.get("v_codec") or quality.get("v_codec")) or default_codec
        level = _int(quality["level"]) if "level" in quality else DEFAULT_LEVELS.get(key, 0)
        candidates.append(Candidate(key, level, codec, flv, hls, str(quality.get("name") or key),
                                    _int(params.get("vbitrate"))))
    return candidates


def parse_legacy(stream_url: Mapping[str, Any]) -> list[Candidate]:
    """Candidates from room/info's legacy `flv_pull_url` / `hls_pull_url` / `rtmp_pull_url` fields."""
    flv_urls, flv_params = _dict(stream_url.get("flv_pull_url")), _dict(stream_url.get("flv_pull_url_params"))
    candidates = []
    for legacy, key in LEGACY_KEYS.items():
        url = _str(flv_urls.get(legacy))
        if url is not None:
            codec = codec_of(_loads(flv_params.get(legacy)).get("VCodec")) or H264
            candidates.append(Candidate(key, DEFAULT_LEVELS[key], codec, flv=url, name=legacy))
    rtmp = _str(stream_url.get("rtmp_pull_url"))
    if rtmp and ".flv" in rtmp and not any(c.sdk_key == "origin" for c in candidates):
        candidates.append(Candidate("origin", DEFAULT_LEVELS["origin"], H264, flv=rtmp, name="rtmp_pull_url"))
    hls = _str(stream_url.get("hls_pull_url"))
    if hls is not None:
        codec = codec_of(_loads(stream_url.get("hls_pull_url_params")).get("VCodec")) or H264
        top = max((c.level for c in candidates), default=DEFAULT_LEVELS["origin"])
        candidates.append(Candidate("hls_pull", top, codec, hls=hls, name="hls_pull_url"))
    return candidates


def _wanted_level(quality: str, candidates: Sequence[Candidate]) -> int | str:
    """`best`, `worst`, `audio`, a bit rate (`bps:<n>`) or a level, from a quality name."""
    name = quality.strip().lower()
    if name in _BEST or not name:
        return "best"
    if name in _WORST:
        return "worst"
    if name in _AUDIO:
        return "audio"
    if name.isdigit():
        return f"bps:{name}"
    if name in QUALITY_LEVELS:
        return QUALITY_LEVELS[name]
    for candidate in candidates:
        if name in {candidate.sdk_key.lower(), candidate.name.lower()}:
            return candidate.level
    height = _HEIGHT.fullmatch(name)
    if height:
        return _level_of_height(int(height["height"]), sixty=bool(height["fps"]))
    names = sorted({c.name for c in candidates} | {"best", "worst"})
    raise NoMatchingQuality(f"unknown TikTok quality {quality!r}; use one of {', '.join(names)}",
                            details={"quality": quality[:64], "available": names})


def _level_of_height(lines: int, *, sixty: bool) -> int:
    """`NNNp`: 1080 and up is uhd, 720 hd, 480 and 540 sd, less ld (the `60` variants one level up)."""
    if lines >= 1080:
        return 6 if sixty else 5
    if lines >= 720:
        return 4 if sixty else 3
    return 2 if lines >= 480 else 1


def _quality_rank(candidate: Candidate, wanted: int | str) -> tuple[int, int]:
    if wanted in ("best", "audio"):
        return 0, -candidate.level
    if wanted == "worst":
        return 0, candidate.level
    if isinstance(wanted, str):  # a bit rate: the highest at or under it, then the lowest above it
        limit = int(wanted.removeprefix("bps:"))
        return (0, -candidate.bitrate) if candidate.bitrate <= limit else (1, candidate.bitrate)
    return (0, -candidate.level) if candidate.level <= wanted else (1, candidate.level)


def rank(candidates: Sequence[Candidate], quality: str, *, prefer_h265: bool,
         fmt: StreamFormat = StreamFormat.FLV) -> list[Choice]:
    """Every usable (candidate, URL, format), best first; empty when there is nothing to record.

    Raises:
        NoMatchingQuality: `quality` names no quality TikTok knows.
    """
    wanted = _wanted_level(quality, candidates)
    pool = [c for c in candidates if (c.sdk_key == AUDIO_ONLY) == (wanted == "audio")]
    codecs = [H265, H264] if prefer_h265 else [H264, H265]
    other = StreamFormat.HLS if fmt is StreamFormat.FLV else StreamFormat.FLV
    choices: list[tuple[tuple[int, int, tuple[int, int]], Choice]] = []
    for candidate in pool:
        codec_rank = codecs.index(candidate.codec) if candidate.codec in codecs else len(codecs)
        for fmt_rank, each in enumerate((fmt, other)):
            url = candidate.url(each)
            if url is not None:
                key = (fmt_rank, codec_rank, _quality_rank(candidate, wanted))
                choices.append((key, Choice(candidate, url, each)))
    choices.sort(key=lambda item: item[0])
    seen: set[str] = set()
    ordered = []
    for _, choice in choices:
        if choice.url not in seen:
            seen.add(choice.url)
            ordered.append(choice)
    return ordered
