"""livevault's finalize vs ffmpeg's remux of the same recorded part, at several lengths of 720p30 media.

livevault: the steps ``Finalizer._produce`` runs, in the same order with the same arguments (remux of the
spool's parts into a faststart MP4, verify in the configured mode, probe, thumbnail), in one long-lived
Python process (``--child``) like the service's finalize thread; CPU is that process's user+system time
(``getrusage``, all threads) around the steps. A warm-up finalize of the shortest part runs first and is
not counted (a service has its codecs loaded already). ffmpeg: ``ffmpeg -i part-0001.ts -c copy -movflags
+faststart out.mp4``, one process per run (its start-up is part of its cost), CPU from ``wait4``.
Each length is measured ``--repeat`` times, the two sides taking turns; the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ffmpeg import ensure_ffmpeg, ffmpeg_version
from _media import RENDITION, part
from _metrics import Row, render, save_result
from _procfs import loadavg

TARGET = 1.5  # livevault finalize CPU <= 1.5 x ffmpeg's remux


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(verify_mode: str) -> None:
    """Read part paths from stdin, finalize each into a temporary directory, print one JSON line each."""
    from livevault.domain.capture import PartContainer, PartInfo, PartReason
    from livevault.postprocess.probe import probe
    from livevault.postprocess.remux import remux_parts
    from livevault.postprocess.thumbnail import make_thumbnail
    from livevault.postprocess.verify import verify

    for line in sys.stdin:
        path, _, seconds = line.rstrip("\n").partition("\t")
        source = Path(path)
        info = PartInfo(1, source.name, PartContainer.TS, PartReason.START, 0.0)
        with tempfile.TemporaryDirectory(prefix="lv-finalize-", dir=os.environ.get("TMPDIR")) as tmp:
            target = Path(tmp) / "out.mp4"
            steps: dict[str, float] = {}
            started, wall = _cpu(), time.monotonic()
            # the service passes the spool index's media seconds (a whole recording): here, the part's length
            remux_parts([(info, source)], target, media_seconds=float(seconds) if seconds else None)
            steps["remux"] = _cpu() - started
            mark = _cpu()
            if verify_mode != "off":
                verify(target, mode=verify_mode)  # type: ignore[arg-type]
            steps["verify"] = _cpu() - mark
            mark = _cpu()
            probe(target)
            make_thumbnail(target, target.with_suffix(".jpg"))
            steps["probe+thumbnail"] = _cpu() - mark
            steps["total"] = _cpu() - started
            out = {"cpu": steps, "wall": time.monotonic() - wall, "bytes": target.stat().st_size,
                   "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        print(json.dumps(out), flush=True)


class Livevault:
    def __init__(self, verify_mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(Path(__file__).resolve().parent.parent / "src"), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", "--verify", verify_mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def run(self, source: Path, seconds: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{source}\t{seconds}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the livevault finalize process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run_ffmpeg(binary: str, source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ff-finalize-") as tmp:
        target = Path(tmp) / "out.mp4"
        command = [binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(source),
                   "-c", "copy", "-movflags", "+faststart", str(target)]
        wall = time.monotonic()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")
        return {"cpu": {"total": usage.ru_utime + usage.ru_stime}, "wall": time.monotonic() - wall,
                "bytes": target.stat().st_size, "maxrss_kb": usage.ru_maxrss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="1,10,60", help="comma-separated media lengths (default 1,10,60)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per length and side (default 3)")
    parser.add_argument("--verify", default="sampled", choices=["sampled", "full", "off"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.verify)
        return 0
    binary, how = ensure_ffmpeg()
    if binary is None:
        print(f"ffmpeg is needed for the comparison: {how}")
        return 2
    started = datetime.now(UTC)
    lengths = [float(m) for m in args.minutes.split(",")]
    print(f"media: {RENDITION.width}x{RENDITION.height}p{RENDITION.fps}, ~2.5 Mbit/s, 2 s GOPs; "
          f"verify={args.verify}; {args.repeat} runs per side; load {loadavg()}")
    sources = {}
    for minutes in lengths:
        mark = time.monotonic()
        sources[minutes] = part(minutes)
        print(f"  part for {minutes:g} min: {sources[minutes]} ({sources[minutes].stat().st_size / 1e6:.0f} MB, "
              f"{time.monotonic() - mark:.1f} s)", flush=True)
    livevault = Livevault(args.verify)
    runs: dict[float, dict[str, list[dict[str, Any]]]] = {}
    try:
        livevault.run(sources[min(lengths)], 60 * min(lengths))  # warm-up, not counted
        for minutes in lengths:
            runs[minutes] = {"livevault": [], "ffmpeg": []}
            for _ in range(args.repeat):
                runs[minutes]["livevault"].append(livevault.run(sources[minutes], 60 * minutes))
                runs[minutes]["ffmpeg"].append(run_ffmpeg(binary, sources[minutes]))
            lv = statistics.median(r["cpu"]["total"] for r in runs[minutes]["livevault"])
            ff = statistics.median(r["cpu"]["total"] for r in runs[minutes]["ffmpeg"])
            print(f"  {minutes:g} min: livevault {lv:.3f} CPU-s, ffmpeg {ff:.3f} CPU-s, ratio {lv / ff:.2f}",
                  flush=True)
    finally:
        livevault.close()
    rows: list[Row] = []
    summary: dict[str, Any] = {}
    for minutes, sides in runs.items():
        lv = statistics.median(r["cpu"]["total"] for r in sides["livevault"])
        ff = statistics.median(r["cpu"]["total"] for r in sides["ffmpeg"])
        steps = {k: statistics.median(r["cpu"][k] for r in sides["livevault"])
                 for k in sides["livevault"][0]["cpu"]}
        rows.append(Row(f"finalize CPU-s, {minutes:g} min", lv, ff, target=f"<= {TARGET}x",
                        passed=lv <= TARGET * ff))
        rows.append(Row(f"  per stream-minute, {minutes:g} min", lv / minutes, ff / minutes, ratio=False))
        for name in ("remux", "verify", "probe+thumbnail"):
            rows.append(Row(f"  livevault {name}, {minutes:g} min", steps[name], None, ratio=False))
        summary[f"{minutes:g}"] = {"livevault": lv, "ffmpeg": ff, "ratio": lv / ff, "steps": steps}
    print()
    print(render(rows))
    save_result("finalize", started, {
        "started": started.isoformat(), "ffmpeg": ffmpeg_version(binary), "verify": args.verify,
        "repeat": args.repeat, "load_at_start": loadavg(), "summary": summary,
        "table": [row.as_dict() for row in rows],
        "runs": {f"{m:g}": sides for m, sides in runs.items()},
        "notes": ["the machine may be shared: compare the ratios of one run, not figures across runs"],
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
