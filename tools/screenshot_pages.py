"""Screenshots of every page of the real Studio window at laptop and desktop sizes.

    python tools/screenshot_pages.py [--out-dir screenshots/pages] [--sizes 1366x768,1920x1080]

Runs under Xvfb (re-executing itself through ``xvfb-run -a`` when there is no display) with the
xcb platform, in a temporary Studio home: the identities of ``tools/screenshot.py`` (generated
portraits, spoken clips, consent records) and a project "Launch teaser" whose bin holds four
real MP4 takes of Maya (moving gradients with tones, from ``tools/screenshot_timeline.py``),
three of them on the timeline. For each size it grabs the Library, Generate and Edit pages
(``<page>-<W>x<H>.png``, and the identity editor scrolled to its voice clips,
``identity-clips-<W>x<H>.png``) and prints, per page, the widgets :mod:`tests.app.clipping`
finds clipped (none is the goal); then the recorder (``recorder.png``), Tools > Settings… where
the build has it (``settings.png``) and the first-start panel after its machine check
(``first-run.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "screenshots" / "pages")
    ap.add_argument("--sizes", default="1366x768,1920x1080")
    args = ap.parse_args(argv)

    from screenshot import rerun_under_xvfb

    code = rerun_under_xvfb(__file__, argv, "3840x2160")
    if code is not None:
        return code
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QApplication
    from screenshot import fill
    from screenshot_timeline import launch_teaser
    from shot_helpers import waiters

    from idlora_studio.app import apply_style, build_main_window
    from idlora_studio.library import Library
    from idlora_studio.paths import Paths
    from idlora_studio.settings import Settings
    from tests.app.clipping import clipped_widgets

    app = QApplication([sys.argv[0]])
    app.setApplicationName("ID-LoRA Studio")
    apply_style(app)
    wait, settle = waiters(app)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    problems = 0
    with tempfile.TemporaryDirectory(prefix="idlora-pages-") as home:
        paths = Paths(Path(home) / "data", Path(home) / "config", Path(home) / "cache").ensure()
        work = Path(home) / "work"
        work.mkdir()
        library = Library.open(paths)
        fill(library, work)
        maya = next(s.id for s in library.list_identities() if s.name == "Maya Lindqvist")
        pid, _ = launch_teaser(
            library, work, maya, clips=((0, 0, 0, 70), (1, 70, 10, 90), (3, 150, 0, 80))
        )
        settings = Settings.load(paths.settings_path)
        settings.set("first_run_done", True)
        window = build_main_window(paths, settings, library)
        window.move(0, 0)
        window.show()
        wait(lambda: window.state.loaded)
        timeline = window.timeline_panel.state
        wait(lambda: timeline.project_id is not None)
        if timeline.project_id != pid:
            timeline.load(pid)
            wait(lambda: timeline.project_id == pid)
        window.library_panel.select_identity(maya)
        wait(lambda: window.editor.detail is not None and window.editor.detail.id == maya)
        panel = window.generate_panel
        panel.set_identity(maya)
        panel.form.prompt.visual_edit.setPlainText(
            "Medium close-up of a woman in a blue sweater in a bright studio, soft key light "
            "from the left; she smiles and talks to the camera."
        )
        panel.form.prompt.speech_edit.setPlainText(
            "Welcome back to the channel. Today we build a studio."
        )
        panel.form.prompt.sounds_edit.setPlainText("Quiet room tone, a faint keyboard.")
        canvas = window.timeline_panel.canvas
        cache = canvas.cache

        def clips_painted() -> bool:
            return all(cache.thumbnails(timeline.media(c.take_id)) for c in timeline.clips)

        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.lower().split("x"))
            window.resize(w, h)
            for key in window.pages():
                window.show_page(key)
                if key == "edit":
                    wait(clips_painted)
                    settle(300)
                    canvas.zoom_to_fit()
                    timeline.select(timeline.clips[1].key)
                    timeline.set_playhead(96)
                settle(600)
                out = args.out_dir / f"{key}-{w}x{h}.png"
                shot = window.grab()
                shot.save(str(out))
                bad = clipped_widgets(window, QSize(w, h))
                problems += len(bad)
                print(f"{out} ({shot.width()}x{shot.height()}): {len(bad)} clipped")
                for line in bad[:20]:
                    print("   ", line)
                if key == "library":  # the editor further down: images, voice clips
                    from PySide6.QtWidgets import QScrollArea

                    scroll = window.editor.findChild(QScrollArea)
                    scroll.ensureWidgetVisible(window.editor.clips, 0, 0)
                    settle(400)
                    out = args.out_dir / f"identity-clips-{w}x{h}.png"
                    window.grab().save(str(out))
                    print(out)
                    scroll.verticalScrollBar().setValue(0)
        # The recorder over the window (the editor's Record… button), then Tools > Settings…
        # where this build has it.
        from PySide6.QtWidgets import QDialog

        window.show_page("library")
        window.editor.record_button.click()
        wait(lambda: window.editor._recorder is not None and window.editor._recorder.isVisible())
        recorder = window.editor._recorder
        settle(800)
        out = args.out_dir / "recorder.png"
        recorder.grab().save(str(out))
        print(f"{out} ({recorder.width()}x{recorder.height()})")
        recorder.close_button.click()
        settle(300)
        settings_action = next(
            (a for a in window.tools_menu.actions() if a.text().replace("&", "") == "Settings…"),
            None,
        )
        if settings_action is not None:
            settings_action.trigger()
            settle(800)
            dialogs = [d for d in window.findChildren(QDialog) if d.isVisible()]
            for i, dialog in enumerate(dialogs):
                out = args.out_dir / f"settings{i or ''}.png"
                dialog.grab().save(str(out))
                print(f"{out} ({dialog.width()}x{dialog.height()})")
                dialog.close()
        else:
            print("no Tools > Settings… in this build")
        # The first-start panel over the window (the real machine check, on a worker).
        from idlora_studio.app import offer_first_run

        panel = offer_first_run(window, force=True)
        wait(lambda: panel.report is not None, 90000)
        settle(500)
        out = args.out_dir / "first-run.png"
        panel.grab().save(str(out))
        print(out)
        panel.close()
        window.shutdown()
        window.close()
        library.close()
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
