"""GUI event-loop probe: how long does generation ever keep the GUI thread from running?

    python tools/probe_gui_latency.py [--takes 3] [--steps 8] [--size 192x128] [--frames 25]
                                      [--limit-ms 50] [--json OUT]

Opens the real Studio window (under Xvfb, re-executing itself through ``xvfb-run -a`` when there
is no display), fills a temporary library (``tools/screenshot.py``), then queues ``--takes``
generations on the built-in tiny model through the real Generate page, queue and worker thread
(model load, denoising with live previews, MP4/WAV/thumbnail writing, the take landing in the
bin). A ``QTimer`` on the GUI thread ticks every 5 ms the whole time; every gap between two
ticks beyond the interval is time the event loop could not run. Prints one JSON object (ticks,
max / p99 / p99.9 gap, gaps over the limit with the job phase they fell in, the machine's load)
and exits 1 when a gap exceeds ``--limit-ms``.

A gap can also come from the OS not scheduling the process at all (a loaded machine): the
probe also runs a separate process that sleeps 5 ms in a loop; a GUI gap that this process saw
too (at least half as long, overlapping) is counted as the machine's, not the Studio's. The
engine's first import (torch, diffusers) happens when the Generate page is first shown
(``JobQueue.warm_up``); its stalls are reported apart, as ``warm_up``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from screenshot import rerun_under_xvfb  # noqa: E402
from studio_harness import studio_window  # noqa: E402

INTERVAL_MS = 5


SLEEPER = """
import struct, sys, time
out = open(sys.argv[1], "wb", buffering=0)
while True:
    out.write(struct.pack("d", time.perf_counter()))
    time.sleep(0.005)
"""


class Sleeper:
    """A separate process (no shared GIL) that wakes every ``INTERVAL_MS`` and records when:
    the baseline for stalls of the whole machine (CLOCK_MONOTONIC is shared by processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(path)])

    def stop(self) -> list[float]:
        self.proc.terminate()
        self.proc.wait(10)
        data = self.path.read_bytes()
        n = len(data) // 8
        return list(struct.unpack(f"{n}d", data[: n * 8]))


def gaps(stamps: list[float]) -> list[tuple[float, float]]:
    """(start time, gap in ms beyond the interval) between consecutive stamps."""
    return [(a, (b - a) * 1000 - INTERVAL_MS) for a, b in zip(stamps, stamps[1:], strict=False)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--takes", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--size", default="192x128")
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--limit-ms", type=float, default=50.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = ap.parse_args(argv)

    code = rerun_under_xvfb(__file__, argv)
    if code is not None:
        return code
    from PySide6.QtCore import Qt, QTimer

    with studio_window("idlora-probe-") as (app, window, wait, _settle):
        report = probe(app, window, args, wait, QTimer, Qt)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0 if report["passed"] else 1


def probe(app, window, args, wait, QTimer, Qt) -> dict:  # noqa: ANN001
    """Tick the GUI thread from before the Generate page is shown until the takes are in the
    bin; return the report (warm-up and generation phases apart)."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    stamps: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    sleeper = Sleeper(Path(tempfile.mkdtemp(prefix="idlora-probe-")) / "sleeper.bin")
    # and a plain thread of this process: it needs the GIL but not the GUI event loop, so a
    # GUI gap it shares is the GIL (another thread holding it); one it does not share is the
    # GUI thread's own work
    py_stamps: list[float] = []
    py_stop = threading.Event()

    def py_sleeper() -> None:
        while not py_stop.is_set():
            py_stamps.append(time.perf_counter())
            time.sleep(INTERVAL_MS / 1000)

    threading.Thread(target=py_sleeper, daemon=True).start()

    window.resize(1366, 768)
    window.show()
    wait(lambda: window.state.loaded, 60000)
    panel = window.generate_panel
    queue = panel.queue
    ready: list[float] = []
    queue.engine_ready.connect(lambda: ready.append(time.perf_counter()))
    timer.start()
    w0 = time.perf_counter()
    window.show_page("generate")  # first show: GPU probe and engine warm-up start
    warm_ok = wait(lambda: bool(ready), 120000)
    w1 = time.perf_counter()

    who = window.state.summaries[0].id
    panel.set_identity(who)
    wait(lambda: panel.form.identity.detail is not None, 30000)
    wait(lambda: panel.form.model.status_known, 30000)
    panel.select_model_set("tiny")
    panel.form.prompt.visual_edit.setPlainText("A woman talks to the camera in a bright studio.")
    panel.form.prompt.speech_edit.setPlainText("Hello, and welcome back.")
    panel.form.output.size_mode.setCurrentIndex(panel.form.output.size_mode.findData("custom"))
    panel.form.output.width_spin.setValue(width)
    panel.form.output.height_spin.setValue(height)
    panel.form.output.length_mode.setCurrentIndex(panel.form.output.length_mode.findData("frames"))
    panel.form.output.frames_spin.setValue(args.frames)
    panel.form.advanced.steps_spin.setValue(args.steps)
    panel.form.output.takes_spin.setValue(args.takes)

    events: list[tuple[float, str]] = []
    finished: list[int] = []
    queue.job_changed.connect(lambda j: events.append((time.perf_counter(), f"job {j} changed")))
    queue.job_progress.connect(
        lambda j, s, n, _e: events.append((time.perf_counter(), f"job {j} step {s}/{n}"))
    )
    queue.job_finished.connect(
        lambda j, t: (finished.append(t), events.append((time.perf_counter(), f"job {j} done")))
    )
    t0 = time.perf_counter()
    queued = panel.queue_takes()
    ok = wait(lambda: len(finished) >= queued, 600000)
    t1 = time.perf_counter()
    wait(lambda: time.perf_counter() > t1 + 0.5, 2000)  # the take landing in the bin
    t2 = time.perf_counter()
    timer.stop()
    py_stop.set()
    base = gaps(sleeper.stop())
    py_base = gaps(py_stamps)

    def phase(t: float) -> str:
        before = [e for e in events if e[0] <= t]
        return before[-1][1] if before else "queueing"

    def shared(a: float, g: float, other: list[tuple[float, float]]) -> bool:
        return any(b < a + g / 1000 and b + bg / 1000 > a and bg > g / 2 for b, bg in other)

    def machine_too(a: float, g: float) -> bool:  # the sleeper process was stalled as well
        return shared(a, g, base)

    def summary(lo: float, hi: float, label) -> dict:  # noqa: ANN001
        gui = [(a, g) for a, g in gaps(stamps) if lo <= a < hi]
        values = [g for _, g in gui]
        over = sorted((x for x in gui if x[1] > args.limit_ms), key=lambda x: -x[1])
        own = [x for x in over if not machine_too(*x)]
        return {
            "seconds": round(hi - lo, 1),
            "ticks": len(gui),
            "max_gap_ms": round(max(values, default=0.0), 1),
            "p99_gap_ms": round(pct(values, 0.99), 1),
            "p999_gap_ms": round(pct(values, 0.999), 1),
            "over_limit": len(over),
            "over_limit_studio": len(own),
            "worst": [
                {
                    "ms": round(g, 1),
                    "at": label(a),
                    "machine_stalled_too": machine_too(a, g),
                    "gil_held_elsewhere": shared(a, g, py_base),
                }
                for a, g in over[:8]
            ],
        }

    generation = summary(t0, t2, phase)
    return {
        "passed": ok and warm_ok and generation["over_limit_studio"] == 0,
        "limit_ms": args.limit_ms,
        "takes": queued,
        "finished": len(finished),
        "warm_up": summary(w0, w1, lambda _a: "engine import on the worker"),
        "generation": generation,
        "machine_max_gap_ms": round(max((g for a, g in base if a >= w0), default=0.0), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
