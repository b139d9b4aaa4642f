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
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from screenshot import rerun_under_xvfb  # noqa: E402
from studio_harness import studio_window  # noqa: E402

INTERVAL_MS = 5
SAMPLE_MS = 20  # the stack sampler's period while the GUI thread is late
SAMPLE_LATE_MS = 30  # how late the GUI thread's tick must be for stacks to be sampled


SLEEPER = """
import os, struct, sys, time
out = open(sys.argv[1], "wb", buffering=0)
parent = os.getppid()
while os.getppid() == parent:  # ends with the probe, even one that crashed
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


def short_frame(file: str, line: int | None, func: str) -> str:
    """``path:line function`` with the path relative to the project or site-packages."""
    path = Path(file)
    if path.is_relative_to(ROOT) and ".venv" not in path.parts:
        where = str(path.relative_to(ROOT))
    elif "site-packages" in path.parts:
        where = "/".join(path.parts[path.parts.index("site-packages") + 1 :])
    else:
        where = path.name
    return f"{where}:{line} {func}"


#: innermost frames of a thread that is only waiting (a lock, a sleep, an idle pool thread)
IDLE = ("threading.py", "queue.py", "selectors.py", "connection.py")
INNER, OUTER = 10, 4


def thread_stacks(names: dict[int, str], skip: set[int]) -> dict[str, list[str]]:
    """Every thread's Python stack now (innermost ``INNER`` and outermost ``OUTER`` frames),
    without idle threads and ``skip``; read from frame objects (no source lines: cheap)."""
    out: dict[str, list[str]] = {}
    for ident, frame in sys._current_frames().items():  # noqa: SLF001 - a diagnostic tool
        if ident in skip:
            continue
        frames: list[str] = []
        f = frame
        while f is not None:
            frames.append(short_frame(f.f_code.co_filename, f.f_lineno, f.f_code.co_name))
            f = f.f_back
        if not frames or Path(frames[0].split(":")[0]).name in IDLE:
            continue
        if len(frames) > INNER + OUTER + 1:
            frames = [*frames[:INNER], "...", *frames[-OUTER:]]
        out[names.get(ident, f"thread {ident:#x}")] = frames
    return out


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
    ap.add_argument("--worst", type=int, default=8, help="gaps listed (with their stacks)")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    ap.add_argument(
        "--offscreen",
        action="store_true",
        help="Qt's offscreen platform instead of Xvfb (no X server: its round trips, which a "
        "loaded machine slows, are left out)",
    )
    args = ap.parse_args(argv)

    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    else:
        code = rerun_under_xvfb(__file__, argv)
        if code is not None:
            return code
    from PySide6.QtCore import Qt, QTimer

    with studio_window("idlora-probe-", fill_elsewhere=True) as (app, window, _wait, _settle):
        report = probe(app, window, args, blocking_wait, QTimer, Qt)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0 if report["passed"] else 1


def blocking_wait(cond: Callable[[], object], ms: int) -> bool:
    """Run the event loop until ``cond()`` (checked every 10 ms) or ``ms`` pass, as the
    Studio's own ``exec()`` does: sleeping between events. (A ``processEvents()`` loop would
    keep the GUI thread busy, holding the GIL and a core, and the OS would treat it as the CPU
    hog it then is: it measured stalls of its own.)"""
    from PySide6.QtCore import QEventLoop, QTimer

    if cond():
        return True
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(10)
    check.timeout.connect(lambda: loop.quit() if cond() else None)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    check.start()
    deadline.start(ms)
    loop.exec()
    check.stop()
    deadline.stop()
    return bool(cond())


def probe(app, window, args, wait, QTimer, Qt) -> dict:  # noqa: ANN001
    """Tick the GUI thread from before the Generate page is shown until the takes are in the
    bin; return the report (warm-up and generation phases apart)."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    stamps: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    scratch = Path(tempfile.mkdtemp(prefix="idlora-probe-"))

    def tick() -> None:
        stamps.append(time.perf_counter())

    timer.timeout.connect(tick)
    sleeper = Sleeper(scratch / "sleeper.bin")
    # and a plain thread of this process: it needs the GIL but not the GUI event loop, so a
    # GUI gap it shares is the GIL (another thread holding it); one it does not share is the
    # GUI thread's own work. While the GUI thread is late it also samples every thread's stack
    # (at most every SAMPLE_MS): what the GUI thread, or the thread that held the GIL until
    # then, was doing. (A sampler that needs no GIL -- faulthandler's watchdog -- reads the
    # frames of running threads unsafely, and crashed this probe.)
    py_stamps: list[float] = []
    py_stop = threading.Event()
    samples: list[tuple[float, dict[str, list[str]]]] = []  # (time, thread -> frames)

    def py_sleeper() -> None:
        last_sample = 0.0
        while not py_stop.is_set():
            now = time.perf_counter()
            py_stamps.append(now)
            late = stamps and now - stamps[-1] > SAMPLE_LATE_MS / 1000
            if late and now - last_sample >= SAMPLE_MS / 1000:
                samples.append((now, thread_stacks(names, skip)))
                last_sample = now
            time.sleep(INTERVAL_MS / 1000)

    names = {threading.main_thread().ident: "GUI thread"}
    skip: set[int | None] = set()
    py_thread = threading.Thread(target=py_sleeper, daemon=True)
    py_thread.start()
    skip.add(py_thread.ident)

    window.resize(1366, 768)
    window.show()
    wait(lambda: window.state.loaded, 60000)
    panel = window.generate_panel
    queue = panel.queue
    ready: list[float] = []
    queue.engine_ready.connect(lambda: ready.append(time.perf_counter()))
    load_start = [round(x, 2) for x in os.getloadavg()]
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
    # the generation workers (a GPU pool has several), their threads named in the stack
    # samples (a direct connection runs in the emitting thread)
    pool = queue._worker  # noqa: SLF001 - a diagnostic tool
    workers = getattr(pool, "workers", None) or [pool]
    for worker in workers:
        worker.started.connect(
            lambda _j: names.setdefault(threading.get_ident(), "generation worker"),
            Qt.ConnectionType.DirectConnection,
        )
    engine_pid = getattr(workers[0], "engine_pid", None)
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

    def stacks(a: float, g: float) -> list[dict]:
        """The stacks sampled in the gap of ``g`` ms starting at ``a`` (or just after it: the
        sampler may itself have waited for the GIL), consecutive equal samples once with how
        many times they were seen (one sample per ``SAMPLE_MS``)."""
        out: list[dict] = []
        for _t, sample in (x for x in samples if a < x[0] <= a + g / 1000 + 0.05):
            if out and out[-1]["threads"] == sample:
                out[-1]["samples"] += 1
            else:
                out.append({"samples": 1, "threads": sample})
        return out

    def cause(a: float, g: float) -> str:
        """The gap's likely cause, in words, from the flags and the samples."""
        if machine_too(a, g):
            return "the machine (the sleeper process stalled too)"
        sampled = [s for t, s in samples if a < t <= a + g / 1000 + 0.05]
        others = sorted({n for s in sampled for n in s if n != "GUI thread"})
        if shared(a, g, py_base):
            return "the GIL, held by " + (", ".join(others) or "a thread not sampled")
        gui = [s["GUI thread"][0] for s in sampled if "GUI thread" in s]
        if not gui:
            return "the GUI thread (not sampled)"
        if all(f.endswith(" blocking_wait") for f in gui):
            return "the GUI thread in Qt's native code (painting, layout, X server round trips)"
        return "the GUI thread's own Python: " + gui[0]

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
                    "cause": cause(a, g),
                    "stacks": stacks(a, g),
                }
                for a, g in over[: args.worst]
            ],
        }

    generation = summary(t0, t2, phase)
    warm_up = summary(w0, w1, lambda _a: "engine start (warm-up)")
    report = {
        "passed": ok
        and warm_ok
        and generation["over_limit_studio"] == 0
        and warm_up["over_limit_studio"] == 0,
        "limit_ms": args.limit_ms,
        "takes": queued,
        "finished": len(finished),
        "engine_process": engine_pid is not None,
        # the GUI's process never needs torch: imported there, it held the GIL for seconds
        "torch_in_gui_process": "torch" in sys.modules,
        "warm_up": warm_up,
        "generation": generation,
        "machine_max_gap_ms": round(max((g for a, g in base if a >= w0), default=0.0), 1),
        "load_average_start": load_start,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    shutil.rmtree(scratch, ignore_errors=True)
    return report


if __name__ == "__main__":
    raise SystemExit(main())
