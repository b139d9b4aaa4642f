"""Open the real Studio window with a few identities and save a screenshot.

    python tools/screenshot.py screenshots/library.png [--size 1440x900]

Runs under Xvfb (re-executing itself through ``xvfb-run -a`` when there is no display) with
the xcb platform, in a temporary Studio home filled with generated portraits, spoken voice
clips (espeak-ng when installed, else a tone) and consent records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEOPLE = [
    # name, tags, consent (given_by, scope) or None, skin, hair, shirt, background
    (
        "Maya Lindqvist",
        ("myself", "narrator"),
        ("Maya Lindqvist", "All my own channels"),
        (233, 196, 170),
        (60, 40, 30),
        (70, 110, 190),
        ((120, 150, 220), (40, 60, 120)),
    ),
    (
        "Jonas Berg",
        ("actor", "client"),
        ("Jonas Berg", "Product explainers for Nordlys AB"),
        (214, 170, 140),
        (140, 100, 60),
        (40, 40, 48),
        ((210, 160, 110), (110, 60, 40)),
    ),
    (
        "Amara Okafor",
        ("actor",),
        ("Amara Okafor", "Short films, festival release"),
        (120, 80, 60),
        (25, 20, 20),
        (200, 80, 70),
        ((90, 170, 150), (30, 80, 80)),
    ),
    (
        "Kenji Tanaka",
        ("host", "client"),
        ("Kenji Tanaka", "Weekly podcast video"),
        (225, 190, 155),
        (20, 20, 25),
        (60, 140, 90),
        ((200, 200, 210), (90, 95, 120)),
    ),
    (
        "Lucía Moreau",
        ("narrator",),
        None,
        (236, 200, 175),
        (150, 60, 30),
        (150, 90, 170),
        ((240, 190, 150), (170, 90, 90)),
    ),
    (
        "Captain Nova",
        ("character",),
        ("Studio Nordlys (owner)", "Character we own"),
        (200, 215, 235),
        (230, 230, 240),
        (30, 60, 110),
        ((40, 40, 70), (10, 10, 25)),
    ),
    (
        "Omar Haddad",
        ("actor", "voice-only"),
        ("Omar Haddad", "Radio spots 2025"),
        (180, 130, 95),
        (35, 30, 28),
        (220, 180, 70),
        ((160, 200, 230), (60, 100, 150)),
    ),
]


def portrait(skin, hair, shirt, bg, side: int = 512) -> bytes:
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.new("RGB", (side, side))
    d = ImageDraw.Draw(img)
    top, bottom = bg
    for y in range(side):
        t = y / side
        d.line(
            [(0, y), (side, y)], fill=tuple(int(top[i] * (1 - t) + bottom[i] * t) for i in range(3))
        )
    s = side
    d.rounded_rectangle((s * 0.16, s * 0.70, s * 0.84, s * 1.2), radius=int(s * 0.22), fill=shirt)
    d.rectangle((s * 0.43, s * 0.58, s * 0.57, s * 0.74), fill=tuple(int(c * 0.9) for c in skin))
    d.ellipse((s * 0.29, s * 0.16, s * 0.71, s * 0.66), fill=hair)
    d.ellipse((s * 0.33, s * 0.24, s * 0.67, s * 0.66), fill=skin)
    d.chord((s * 0.30, s * 0.14, s * 0.70, s * 0.44), 180, 360, fill=hair)
    for ex in (0.42, 0.58):
        d.ellipse((s * (ex - 0.025), s * 0.40, s * (ex + 0.025), s * 0.435), fill=(40, 35, 35))
    d.arc(
        (s * 0.44, s * 0.48, s * 0.56, s * 0.56),
        20,
        160,
        fill=(150, 70, 70),
        width=max(2, s // 120),
    )
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def voice(path: Path, text: str) -> Path:
    import numpy as np
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe:
        subprocess.run([exe, "-s", "150", "-w", str(path), text], check=True)
        return path
    sr = 22050
    t = np.arange(int(sr * 4.0)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    sf.write(path, 0.3 * env * np.sin(2 * np.pi * 180 * t), sr)
    return path


def fill(library, work: Path) -> None:
    from idlora_studio.library import ConsentRecord
    from idlora_studio.library.media_types import FaceBox, ImageImport

    for n, (name, tags, consent, skin, hair, shirt, bg) in enumerate(PEOPLE):
        images = []
        for k in range(1 if n else 3):
            data = portrait(skin, hair, shirt, bg if k == 0 else (bg[1], bg[0]))
            thumb = portrait(skin, hair, shirt, bg if k == 0 else (bg[1], bg[0]), side=200)
            warnings = ("the face is small: crop closer for better identity",) if k == 2 else ()
            images.append(
                ImageImport(
                    source=Path(f"{name.split()[0].lower()}_{k + 1}.jpg"),
                    data=data,
                    extension=".jpg",
                    width=512,
                    height=512,
                    thumbnail=thumb,
                    faces=(FaceBox(170, 120, 172, 220),),
                    warnings=warnings,
                )
            )
        clips = []
        if n < 5:
            clips.append(
                voice(
                    work / f"{name.split()[0].lower()}_intro.wav",
                    f"Hi, I am {name}. This is a short sample of my voice.",
                )
            )
        if n == 0:
            clips.append(
                voice(
                    work / "maya_take2.wav",
                    "Welcome back to the channel. Today we are building a studio.",
                )
            )
        rec = (
            ConsentRecord(
                given_by=consent[0], date=dt.date(2025, 1 + n, 3 + 2 * n), scope=consent[1]
            )
            if consent
            else None
        )
        library.create_identity_with_media(
            name,
            images,
            clips,
            rec,
            tags=tags,
            notes="Soft key light from the left; calm delivery." if n == 0 else "",
        )


def rerun_under_xvfb(script: str, argv: list[str] | None, screen: str = "1920x1200") -> int | None:
    """Without a display, run ``script`` again under ``xvfb-run`` (xcb platform, a
    ``screen`` sized virtual screen) and return its exit code; None when this process
    should draw itself."""
    if not os.environ.get("DISPLAY") and not os.environ.get("IDLORA_SCREENSHOT_CHILD"):
        env = dict(os.environ, IDLORA_SCREENSHOT_CHILD="1", QT_QPA_PLATFORM="xcb")
        cmd = ["xvfb-run", "-a", "-s", f"-screen 0 {screen}x24", sys.executable, script]
        return subprocess.call([*cmd, *(argv if argv is not None else sys.argv[1:])], env=env)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1440x900")
    args = ap.parse_args(argv)

    code = rerun_under_xvfb(__file__, argv)
    if code is not None:
        return code

    from PySide6.QtCore import QElapsedTimer
    from PySide6.QtWidgets import QApplication

    from idlora_studio.app import apply_style, build_main_window
    from idlora_studio.library import Library
    from idlora_studio.paths import Paths
    from idlora_studio.settings import Settings

    width, height = (int(v) for v in args.size.lower().split("x"))
    app = QApplication([sys.argv[0]])
    app.setApplicationName("ID-LoRA Studio")
    apply_style(app)
    with tempfile.TemporaryDirectory(prefix="idlora-shot-") as home:
        paths = Paths(Path(home) / "data", Path(home) / "config", Path(home) / "cache").ensure()
        work = Path(home) / "work"
        work.mkdir()
        library = Library.open(paths)
        fill(library, work)
        window = build_main_window(paths, Settings.load(paths.settings_path), library)
        window.resize(width, height)
        window.move(0, 0)
        window.show()

        clock = QElapsedTimer()
        clock.start()

        def wait(cond, ms: int = 10000) -> None:
            while not cond() and clock.elapsed() < ms:
                app.processEvents()

        wait(lambda: window.state.loaded)
        panel = window.library_panel
        first = next(s.id for s in window.state.summaries if s.name == "Maya Lindqvist")
        panel.select_identity(first)
        wait(lambda: window.editor.detail is not None and window.editor.detail.id == first)
        end = clock.elapsed() + 1200  # thumbnails and layout settle
        wait(lambda: clock.elapsed() > end, ms=20000)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shot = window.grab()
        ok = shot.save(str(args.out))
        # a second picture with the editor scrolled down to the voice clips
        from PySide6.QtWidgets import QScrollArea

        scroll = window.editor.findChild(QScrollArea)
        scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
        end = clock.elapsed() + 300
        wait(lambda: clock.elapsed() > end, ms=30000)
        second = args.out.with_name(args.out.stem + "_clips" + args.out.suffix)
        window.grab().save(str(second))
        window.shutdown()
        window.close()
        library.close()
    print(f"saved {args.out} ({shot.width()}x{shot.height()})" if ok else "could not save")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
