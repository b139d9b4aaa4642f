"""Screenshots of the Generate page with a job RUNNING, and of the model manager.

    python tools/screenshot_generate.py [--out-dir screenshots] [--size 1480x940]

Runs under Xvfb (re-executing itself through ``xvfb-run -a`` without a display). Builds a
temporary Studio home with the identities of ``tools/screenshot.py``, opens the real window,
generates two quick takes on the built-in tiny model through the real queue and worker, then
queues three slower takes (more steps, larger size) and grabs the window while the first of them
is about half-way, with its live preview showing: ``generate_panel.png``. Then it opens the
model manager, runs "Check this machine" (the real self-test, tiny generation included) and grabs
it: ``model_manager.png``. Nothing is staged: every row, bar and picture comes from real work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--size", default="1480x940")
    args = ap.parse_args(argv)

    if not os.environ.get("DISPLAY") and not os.environ.get("IDLORA_SCREENSHOT_CHILD"):
        env = dict(os.environ, IDLORA_SCREENSHOT_CHILD="1", QT_QPA_PLATFORM="xcb")
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable, __file__]
        return subprocess.call([*cmd, *(argv if argv is not None else sys.argv[1:])], env=env)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from studio_harness import studio_window

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with studio_window("idlora-shot-") as (_app, window, wait, settle):
        return shoot(window, args, wait, settle)


def shoot(window, args, wait, settle) -> int:  # noqa: ANN001
    """Drive the window and save the two pictures."""
    from idlora_studio.ui.model_manager import ModelManager

    width, height = (int(v) for v in args.size.lower().split("x"))
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    wait(lambda: window.state.loaded)
    panel = window.generate_panel
    window.show_page("generate")
    maya = next(s.id for s in window.state.summaries if s.name == "Maya Lindqvist")
    panel.set_identity(maya)
    wait(lambda: panel.form.identity.detail is not None and panel.form.identity.detail.id == maya)
    wait(lambda: panel.form.model.status_known)
    panel.select_model_set("tiny")
    panel.form.prompt.visual_edit.setPlainText(
        "Medium close-up of a woman in a blue sweater in a bright studio, soft key light "
        "from the left, she smiles and talks to the camera."
    )
    panel.form.prompt.speech_edit.setPlainText(
        "Welcome back to the channel. Today we build a studio."
    )
    panel.form.prompt.sounds_edit.setPlainText("Quiet room tone, a faint keyboard.")
    panel.form.output.random_seed.setChecked(False)
    panel.form.output.size_mode.setCurrentIndex(panel.form.output.size_mode.findData("custom"))
    panel.form.output.width_spin.setValue(96)
    panel.form.output.height_spin.setValue(96)
    panel.form.output.length_mode.setCurrentIndex(panel.form.output.length_mode.findData("frames"))
    panel.form.output.frames_spin.setValue(17)
    panel.form.advanced.steps_spin.setValue(4)
    panel.form.output.seed_spin.setValue(1201)
    panel.form.output.takes_spin.setValue(2)
    queue = panel.queue
    finished: list[int] = []
    queue.job_finished.connect(lambda _j, t: finished.append(t))
    assert panel.queue_takes() == 2, panel.form.reason_label.text()
    if not wait(lambda: len(finished) == 2, 600000):
        print("the quick takes did not finish", file=sys.stderr)
        return 1
    wait(lambda: len(panel.takes.take_ids()) == 2, 10000)

    # Slow takes: a larger size and many steps, so one is caught half-way.
    panel.form.output.width_spin.setValue(256)
    panel.form.output.height_spin.setValue(160)
    panel.form.output.frames_spin.setValue(33)
    panel.form.advanced.steps_spin.setValue(80)
    panel.form.output.seed_spin.setValue(4242)
    panel.form.output.takes_spin.setValue(3)
    progress: dict[str, int] = {}
    queue.job_progress.connect(lambda j, s, n, _eta: progress.update(job=j, step=s, total=n))
    panel.queue_takes()
    ok = wait(
        lambda: progress.get("total") and progress["step"] >= progress["total"] * 0.45, 900000
    )
    if not ok:
        print("the slow take did not progress", file=sys.stderr)
        return 1
    panel.queue_view.select_job(progress["job"])
    panel.takes.takes_list.setCurrentRow(0)
    settle(400)
    shot = window.grab()
    out1 = args.out_dir / "generate_panel.png"
    shot.save(str(out1))
    print(f"saved {out1} ({shot.width()}x{shot.height()}) at step {progress['step']}")
    # The settings further down the form (size, length, memory, advanced).
    from PySide6.QtWidgets import QScrollArea

    panel.form.advanced.set_expanded(True)
    panel.form.output.width_spin.setValue(500)  # shows the 32-multiple rounding
    scroll = panel.findChild(QScrollArea)
    settle(200)
    scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    settle(300)
    out3 = args.out_dir / "generate_panel_settings.png"
    window.grab().save(str(out3))
    print(f"saved {out3}")
    for job in queue.jobs():
        queue.cancel(job.id)

    # The model manager, with the self-test report.
    panel.models_requested.emit()
    manager = window.findChild(ModelManager)
    manager.resize(940, 900)
    wait(lambda: all(c.badge.text() for c in manager.cards.values()), 10000)
    manager.run_self_test()
    wait(lambda: manager.last_report is not None, 120000)
    settle(300)
    out2 = args.out_dir / "model_manager.png"
    manager.grab().save(str(out2))
    print(f"saved {out2}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
