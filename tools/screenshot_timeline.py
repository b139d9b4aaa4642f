"""Screenshot of the Studio with a timeline project of several real takes.

Usage (under Xvfb): ``xvfb-run -a python tools/screenshot_timeline.py OUT.png``. Builds a
temporary Studio home, makes small real MP4 takes (moving colour gradients with tones),
places them on the timeline, waits for thumbnails, waveforms and frames, and grabs the window.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _take(path: Path, hue: int, frames: int, freq: float) -> Path:
    from engine.media.video import write_mp4

    h, w = 144, 256
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    video = np.empty((frames, h, w, 3), np.uint8)
    base = np.array([(hue >> 16) & 255, (hue >> 8) & 255, hue & 255], np.float32)
    for i in range(frames):
        cx, cy = w * (0.3 + 0.4 * i / frames), h * 0.5
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        glow = np.clip(1.2 - d / 120.0, 0.15, 1.0)[..., None]
        video[i] = np.clip(base * glow + 20 * (x[..., None] / w), 0, 255).astype(np.uint8)
    rate = 24_000
    t = np.arange(int(frames / 25 * rate)) / rate
    env = np.abs(np.sin(2 * np.pi * 1.7 * t)) * (0.4 + 0.6 * np.abs(np.sin(2 * np.pi * 0.3 * t)))
    audio = 0.8 * env * np.sin(2 * np.pi * freq * t) + 0.05 * np.random.default_rng(
        1
    ).standard_normal(t.size)
    write_mp4(path, video, 25.0, audio[None, :].astype(np.float32), rate)
    return path


def launch_teaser(
    library,  # noqa: ANN001
    work: Path,
    identity_id: int | None = None,
    clips: tuple[tuple[int, int, int, int], ...] = ((0, 0, 0, 70), (1, 70, 10, 90)),
) -> tuple[int, list[int]]:
    """Project "Launch teaser" with four real MP4 takes in its bin (of ``identity_id`` when
    given) and ``clips`` = (take index, position, in, out) on its timeline."""
    from engine.api import GenerationRequest, PromptParts
    from idlora_studio.library.jobs_repo import JobSpec, TakeFiles, TakesRepository
    from idlora_studio.library.projects_repo import ClipPlacement, ProjectsRepository

    takes = TakesRepository.from_library(library)
    projects = ProjectsRepository.from_library(library)
    pid = projects.create("Launch teaser")
    colours = [(0xD0603A, 70, 220), (0x3A8FD0, 90, 330), (0x6AD05A, 60, 260), (0xB05AD0, 80, 180)]
    labels = ["Intro – hello there", "Product close-up", "Laugh take", "Sign-off"]
    ids = []
    for n, (hue, frames, freq) in enumerate(colours):
        mp4 = _take(work / f"t{n}.mp4", hue, frames, freq)
        req = GenerationRequest(parts=PromptParts(speech=labels[n]), seed=100 + n, steps=8)
        recipe = {
            "request": req.to_dict(),
            "effective": {"seed": 100 + n},
            "output": {
                "width": 256,
                "height": 144,
                "num_frames": frames,
                "fps": 25.0,
                "duration_s": frames / 25,
            },
        }
        spec = JobSpec(identity_id=identity_id)
        ids.append(takes.add_take(TakeFiles(mp4), recipe, spec=spec, label=labels[n]))
        projects.add_to_bin(pid, ids[-1])
    projects.set_clips(pid, [ClipPlacement(ids[i], pos, a, b) for i, pos, a, b in clips])
    return pid, ids


def main(out: str) -> int:
    home = Path(tempfile.mkdtemp(prefix="idlora-shot-"))
    os.environ["IDLORA_STUDIO_HOME"] = str(home)
    from PySide6.QtWidgets import QApplication

    from idlora_studio.app import apply_style, build_main_window
    from idlora_studio.library import Library
    from idlora_studio.paths import Paths
    from idlora_studio.settings import Settings

    app = QApplication([])
    apply_style(app)
    paths = Paths.from_env().ensure()
    library = Library.open(paths)
    _, ids = launch_teaser(
        library, home, clips=((0, 0, 0, 70), (1, 70, 10, 90), (2, 150, 0, 60), (3, 210, 0, 80))
    )
    window = build_main_window(paths, Settings.load(paths.settings_path), library)
    window.resize(1440, 960)
    window.show()
    window.show_page("edit")
    panel = window.timeline_panel
    state = panel.state

    def wait(cond, ms: int = 15000) -> None:  # noqa: ANN001
        from PySide6.QtCore import QElapsedTimer

        timer = QElapsedTimer()
        timer.start()
        while not cond() and timer.elapsed() < ms:
            app.processEvents()

    wait(lambda: len(state.clips) == 4)
    for t in ids:
        m = state.media(t)
        wait(
            lambda m=m: (
                panel.canvas.cache.thumbnails(m) is not None
                and panel.canvas.cache.waveform(m) is not None
                and panel.canvas.cache.frames(m) is not None
            )
        )
    panel.canvas.zoom_to_fit()
    state.select(state.clips[1].key)
    state.set_in(160)
    state.set_out(230)
    state.set_playhead(118)
    for _ in range(30):
        app.processEvents()
    window.grab().save(out)
    print(out)
    window.shutdown()
    library.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots/timeline.png"))
