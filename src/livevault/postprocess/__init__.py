"""Finalization: turn a recording's parts into one MP4 that plays, prove it plays, and take a thumbnail.

All of it runs on PyAV (bundled FFmpeg libraries); no ffmpeg binary is needed.
"""

from livevault.postprocess.keyframes import keyframe_times
from livevault.postprocess.probe import MediaInfo, probe
from livevault.postprocess.remux import Cut, RemuxResult, SkippedPart, Split, remux_parts
from livevault.postprocess.thumbnail import make_thumbnail
from livevault.postprocess.verify import VerifyResult, verify

__all__ = [
    "Cut",
    "MediaInfo",
    "RemuxResult",
    "SkippedPart",
    "Split",
    "VerifyResult",
    "keyframe_times",
    "make_thumbnail",
    "probe",
    "remux_parts",
    "verify",
]
