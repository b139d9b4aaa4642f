"""Benchmark timeline export: a 60 s timeline at 512x512, 25 fps, to MP4 and MOV/ProRes.

Builds 12 clips of 5 s with ``write_mp4`` (moving synthetic frames and a tone; not timed),
places them on a timeline with trims and a reorder (60 s in total) and times
:func:`engine.export.export_timeline` per format and quality. Prints seconds, the realtime
factor (timeline seconds per second of work), the output size and peak RSS.

    .venv/bin/python tools/bench_export.py [--seconds 60] [--formats mp4,mov] [--quality high]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.export import ClipSpec, TimelineSpec, export_timeline  # noqa: E402
from engine.media.video import write_mp4  # noqa: E402

FPS = 25
SIZE = 512
SR = 48_000


def make_clip(path: Path, seed: int, seconds: float) -> None:
    n = int(seconds * FPS)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    frames = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for i in range(n):
        frames[i, ..., 0] = (x + 4 * i + 30 * seed) % 256
        frames[i, ..., 1] = (y + 2 * i) % 256
        frames[i, ..., 2] = ((x + y) // 2 + 8 * seed) % 256
    t = np.arange(int(seconds * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t)).astype(np.float32)[None]
    write_mp4(path, frames, FPS, audio, SR)


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (Linux), so each export is measured alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--formats", default="mp4,mov")
    ap.add_argument("--quality", default="high")
    ap.add_argument("--no-c2pa", action="store_true", help="skip Content Credentials")
    ap.add_argument("--make-inputs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    clips = 12
    clip_s = args.seconds / clips
    if args.make_inputs:  # child process: keeps the input frames out of the measured RSS
        for k in range(clips):
            # each source is one second longer than used, so every clip is trimmed
            make_clip(args.make_inputs / f"clip{k}.mp4", k, clip_s + 1.0)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-export-") as d:
        root = Path(d)
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--make-inputs", d]
        subprocess.run(cmd, check=True)
        sources = [root / f"clip{k}.mp4" for k in range(clips)]
        print(
            f"inputs: {clips} clips of {clip_s + 1:.1f} s made in {time.perf_counter() - t0:.1f} s"
        )
        per = int(round(clip_s * FPS))
        order = list(range(clips))[::-1]  # reordered
        spec = TimelineSpec(
            fps=FPS,
            width=SIZE,
            height=SIZE,
            clips=tuple(
                ClipSpec(sources[k], 12, 12 + per, pos * per, recipe={"clip": k})
                for pos, k in enumerate(order)
            ),
        )
        duration = spec.duration_s
        print(f"timeline: {duration:.1f} s, {spec.duration_frames} frames, {SIZE}x{SIZE} @ {FPS}")
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            out = root / f"out.{fmt}"
            _reset_peak_rss()
            t0 = time.perf_counter()
            result = export_timeline(
                spec, out, fmt, quality=args.quality, content_credentials=not args.no_c2pa
            )
            dt = time.perf_counter() - t0
            size = result.path.stat().st_size / 1e6
            print(
                f"{fmt} ({args.quality}): {dt:.1f} s, realtime x{duration / dt:.2f}, "
                f"{size:.1f} MB, C2PA {'yes' if result.content_credentials else 'no'}, "
                f"peak RSS {_peak_rss_mb():.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
