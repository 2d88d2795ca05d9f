"""`livevault doctor`: check what a deployment needs, each check with a hint when it fails."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livevault.db.session import check, create_engine_for, current_revision

if TYPE_CHECKING:
    from livevault.config import Settings

MIN_FREE = 1024**3


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def check_database(settings: Settings) -> Check:
    try:
        engine = create_engine_for(settings.database_url)
        try:
            ok = check(engine)
            revision = current_revision(engine) if ok else None
        finally:
            engine.dispose()
    except Exception as exc:
        return Check("database", False, f"cannot connect: {exc}")
    if not ok:
        return Check("database", False, "does not answer SELECT 1")
    if revision is None:
        return Check("database", False, "not migrated: run `livevault db upgrade`")
    return Check("database", True, f"reachable, schema revision {revision}")


def check_disk(settings: Settings) -> Check:
    root = settings.recordings_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
        free = shutil.disk_usage(root).free
    except OSError as exc:
        return Check("disk", False, f"{root} is not writable: {exc}")
    ok = free >= MIN_FREE
    return Check("disk", ok, f"{root}: {free / 1024**3:.1f} GiB free" + ("" if ok else " (less than 1 GiB)"))


def check_pyav() -> Check:
    try:
        import av

        av.codec.Codec("h264", "r")
        av.codec.Codec("aac", "r")
    except Exception as exc:
        return Check("pyav", False, f"PyAV cannot decode H.264/AAC: {exc}")
    return Check("pyav", True, f"PyAV {av.__version__} with H.264 and AAC decoders")


def check_ffmpeg() -> Check:
    path = shutil.which("ffmpeg")
    if path is None:
        return Check("ffmpeg", False, "not installed (optional: only the `ffmpeg` engine needs it)", required=False)
    return Check("ffmpeg", True, f"found at {path}", required=False)


def run_checks(settings: Settings) -> list[Check]:
    return [check_database(settings), check_disk(settings), check_pyav(), check_ffmpeg()]
