"""Screenshots of the identity editor's actionable advice and of the Edit page's drag-out grip.

Usage (under Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" python tools/screenshot_editor.py OUT_DIR [--size 1366x768]

Builds a temporary Studio home with one identity made of a real three-person group photo
(composed from scikit-image's photographs, checked by the real face check) and a long spoken
clip (espeak-ng), opens it, and saves ``editor_top.png`` (a note typed, saved by itself),
``editor_faces.png`` (the group photo with its faces
and suggested crop), ``editor_cropped.png`` (after "Use suggested crop"), ``editor_clip.png``
(the clip's reference window moved on the waveform) and ``edit_dragout.png`` (the Edit page
with takes on the timeline once the background render is ready).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1366x768")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    home = Path(tempfile.mkdtemp(prefix="idlora-shot-"))
    os.environ["IDLORA_STUDIO_HOME"] = str(home)

    from PySide6.QtWidgets import QApplication, QScrollArea

    from idlora_studio.app import apply_style, build_main_window
    from idlora_studio.library import Library
    from idlora_studio.library.projects_repo import ClipPlacement
    from idlora_studio.paths import Paths
    from idlora_studio.settings import Settings
    from tests import media_fixtures as mf
    from tests.app.timeline_helpers import make_project
    from tools.shot_helpers import waiters

    app = QApplication([sys.argv[0]])
    apply_style(app)
    paths = Paths.from_env().ensure()
    work = home / "work"
    work.mkdir()
    env = make_project(paths, work, identity="Maya Lindqvist")
    a, b, c = env.take_ids
    env.projects.set_clips(
        env.project_id,
        [ClipPlacement(a, 0, 0, 25), ClipPlacement(b, 25, 0, 35), ClipPlacement(c, 60, 5, 45)],
    )
    env.library.close()
    library = Library.open(paths)
    ident = library.create_identity("Three Friends", tags=("group", "test"))
    library.add_image(ident, mf.group_photo(work / "friends.jpg", (1600, 1200)))
    text = (
        "Welcome back to the studio. Today I will read a slightly longer passage, so that "
        "the reference window has somewhere to go. Drag it to the clearest five seconds."
    )
    clip = library.add_voice_clip(ident, mf.speech_wav(work / "long_read.wav", text))

    width, height = (int(v) for v in args.size.lower().split("x"))
    window = build_main_window(paths, Settings.load(paths.settings_path), library)
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    wait, settle = waiters(app)

    args.out.mkdir(parents=True, exist_ok=True)
    wait(lambda: window.state.loaded)
    window.show_page("library")
    window.library_panel.select_identity(ident)
    editor = window.editor
    wait(lambda: editor.detail is not None and editor.detail.id == ident)
    scroll = editor.findChild(QScrollArea)
    bar = scroll.verticalScrollBar()
    editor.notes_edit.setPlainText("Group shot from the team day; crop to the one in front.")
    settle(1500)  # the note saves by itself
    window.grab().save(str(args.out / "editor_top.png"))
    bar.setValue(editor.images.y() - 10)
    settle(600)
    window.grab().save(str(args.out / "editor_faces.png"))

    editor.images.crop_button.click()
    wait(lambda: editor.detail is not None and len(editor.detail.images) == 2, 60000)
    settle(1500)
    bar.setValue(editor.images.y() - 10)
    settle(600)
    window.grab().save(str(args.out / "editor_cropped.png"))

    row = editor.clips.clips_list.row(clip.clip_id)
    start, end = row.waveform.highlight()
    duration = row.waveform.duration_s() or 0.0
    editor.clips.set_window(clip.clip_id, duration - (end - start) - 0.5, duration - 0.5)
    wait(lambda: editor.detail.clips[0].window_moved, 20000)
    settle(800)
    bar.setValue(editor.clips.y() - 10)
    settle(600)
    window.grab().save(str(args.out / "editor_clip.png"))

    window.show_page("edit")
    exporter = window.timeline_panel.exporter
    wait(lambda: len(window.timeline_panel.state.clips) == 3, 20000)
    wait(lambda: exporter.background_state()[0] == "ready", 120000)
    settle(1500)
    window.grab().save(str(args.out / "edit_dragout.png"))
    print("background render:", exporter.background_state(), exporter.background_file())
    window.shutdown()
    window.close()
    library.close()
    shutil.rmtree(home, ignore_errors=True)
    print(f"saved screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
