"""Benchmark the library grid: time to open it and to filter it, with N identities.

    python tools/bench_library.py [--n 1000] [--width 1280 --height 800]

Fills a library in a temporary Studio home with N identities, each with one small
generated portrait (inserted through ``Library.create_identity_with_media`` with
pre-checked ``ImageImport`` items, so the face check is not what is measured), then under
offscreen Qt measures, in ms:

  list        Library.list_identities() (database, on the calling thread here)
  open grid   from creating the model/view to the first paint in which every visible
              card shows its real thumbnail (thumbnails decoded on worker threads)
  search      typing a search text until the grid has repainted (and clearing it)
  tag         choosing a tag in the tag filter until the grid has repainted
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST = [
    "Ada",
    "Bo",
    "Cleo",
    "Dev",
    "Emil",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lea",
    "Mo",
    "Nia",
    "Oli",
    "Pia",
    "Raf",
    "Sol",
    "Tea",
    "Uma",
    "Vik",
    "Wen",
    "Yara",
    "Zed",
]
LAST = [
    "Quinn",
    "Berg",
    "Adams",
    "Okafor",
    "Silva",
    "Tanaka",
    "Novak",
    "Haddad",
    "Moreau",
    "Larsen",
    "Costa",
    "Ivanova",
    "Khan",
    "Fischer",
    "Rossi",
    "Park",
]
TAGS = ["actor", "client", "narrator", "host", "character", "myself", "archive", "voice-only"]


def _portrait(i: int, side: int) -> bytes:
    from PIL import Image, ImageDraw

    hue = (i * 47) % 360
    img = Image.new("HSV", (side, side), (int(hue / 360 * 255), 90, 200)).convert("RGB")
    d = ImageDraw.Draw(img)
    s = side
    d.ellipse((s * 0.32, s * 0.18, s * 0.68, s * 0.58), fill=(236, 206, 180))
    d.rounded_rectangle(
        (s * 0.18, s * 0.62, s * 0.82, s * 1.1), radius=int(s * 0.2), fill=((i * 70) % 256, 80, 140)
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def fill(library, n: int) -> None:
    from idlora_studio.library.media_types import FaceBox, ImageImport

    for i in range(n):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i}"
        data = _portrait(i, 256)
        thumb = _portrait(i, 160)
        im = ImageImport(
            source=Path(f"portrait_{i}.jpg"),
            data=data,
            extension=".jpg",
            width=256,
            height=256,
            thumbnail=thumb,
            faces=(FaceBox(82, 46, 92, 102),),
        )
        tags = (TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)])
        library.create_identity_with_media(name, [im], [], None, tags=tags)


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument(
        "--cold",
        action="store_true",
        help="include Qt's one-time start-up (first window of the process)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="measurements to take the median of")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QEvent, QObject, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from idlora_studio.app import apply_style
    from idlora_studio.library import Library
    from idlora_studio.paths import Paths
    from idlora_studio.state.library_state import LibraryState
    from idlora_studio.ui.library_panel import THUMB_PATH_ROLE, LibraryPanel
    from idlora_studio.ui.thumbnails import ThumbnailCache
    from idlora_studio.workers.tasks import TaskRunner

    def quiet(mode, context, message):  # the offscreen platform's size-hint notice
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(quiet)
    app = QApplication([])
    apply_style(app)
    with tempfile.TemporaryDirectory(prefix="idlora-bench-") as home:
        paths = Paths(Path(home) / "data", Path(home) / "config", Path(home) / "cache").ensure()
        library = Library.open(paths)
        t = time.perf_counter()
        fill(library, args.n)
        fill_s = time.perf_counter() - t

        t = time.perf_counter()
        summaries = library.list_identities()
        list_ms = (time.perf_counter() - t) * 1000
        assert len(summaries) == args.n

        db_runner = TaskRunner(1)
        state = LibraryState(library, db_runner)
        state._summaries = summaries  # the list just measured; the grid is what is timed next
        state._loaded_once = True

        class PaintWatch(QObject):
            painted = 0

            def eventFilter(self, obj, event):  # noqa: N802
                if event.type() == QEvent.Type.Paint:
                    PaintWatch.painted += 1
                return False

        watch = PaintWatch()

        def visible_ready(panel: LibraryPanel, thumbs: ThumbnailCache) -> tuple[int, bool]:
            vp = panel.grid.viewport().rect()
            count, ready = 0, True
            for row in range(panel.proxy.rowCount()):
                idx = panel.proxy.index(row, 0)
                if not panel.grid.visualRect(idx).intersects(vp):
                    if count:
                        break
                    continue
                count += 1
                if thumbs.cached(idx.data(THUMB_PATH_ROLE)) is None:
                    ready = False
            return count, ready

        def open_panel() -> tuple[LibraryPanel, ThumbnailCache]:
            thumbs = ThumbnailCache(thumb_runner, side=160)
            panel = LibraryPanel(state, thumbs)
            panel.grid.viewport().installEventFilter(watch)
            panel.resize(args.width, args.height)
            panel.show()
            return panel, thumbs

        thumb_runner = TaskRunner(2)
        if not args.cold:
            # Qt's one-time start-up (fonts, style sheet, platform) is not the grid's cost:
            # open and close one empty panel first.
            real = state._summaries
            state._summaries = []
            warm, _ = open_panel()
            app.processEvents()
            warm.grid.viewport().repaint()
            warm.grid.viewport().removeEventFilter(watch)
            warm.close()
            warm.deleteLater()
            app.processEvents()
            state._summaries = real

        # --- open grid: model/view creation -> first paint with all visible thumbnails
        def measure_open() -> tuple[LibraryPanel, float, float, int]:
            t0 = time.perf_counter()
            panel, thumbs = open_panel()
            visible = 0
            first_paint_ms = -1.0
            while True:
                before = PaintWatch.painted
                app.processEvents()
                if PaintWatch.painted > before:
                    if first_paint_ms < 0:
                        first_paint_ms = (time.perf_counter() - t0) * 1000
                    visible, ready = visible_ready(panel, thumbs)
                    if ready and visible:
                        # this paint may have run before the last thumbnail landed: repaint
                        panel.grid.viewport().repaint()
                        break
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("grid did not finish painting in 30 s")
                time.sleep(0.0005)
            return panel, (time.perf_counter() - t0) * 1000, first_paint_ms, visible

        opens, firsts = [], []
        for attempt in range(args.repeat):
            panel, open_ms, first_paint_ms, visible = measure_open()
            opens.append(open_ms)
            firsts.append(first_paint_ms)
            if attempt < args.repeat - 1:  # a fresh panel and thumbnail cache each time
                panel.grid.viewport().removeEventFilter(watch)
                panel.close()
                panel.deleteLater()
                app.processEvents()

        # --- filters: change the filter, then a synchronous repaint of the grid
        def timed(action) -> float:
            t = time.perf_counter()
            action()
            app.processEvents()
            panel.grid.viewport().repaint()
            return (time.perf_counter() - t) * 1000

        search_ms, clear_ms, tag_ms, untag_ms = [], [], [], []
        for _ in range(args.repeat):
            search_ms.append(timed(lambda: panel.search.setText("ada")))
            shown_search = panel.proxy.rowCount()
            clear_ms.append(timed(lambda: panel.search.setText("")))
            tag_ms.append(timed(lambda: panel.set_tag_filter("narrator")))
            shown_tag = panel.proxy.rowCount()
            untag_ms.append(timed(lambda: panel.set_tag_filter("")))

        print(f"identities            {args.n}  (filled in {fill_s:.1f} s)")
        print(f"visible cards         {visible}  at {args.width}x{args.height}")
        print(f"list_identities       {list_ms:7.1f} ms")
        print(
            f"open grid             {median(opens):7.1f} ms  (model creation -> thumbnails"
            f" painted; first paint {median(firsts):.1f} ms; min {min(opens):.1f} ms)"
        )
        print(
            f"filter: search 'ada'  {median(search_ms):7.1f} ms  ({shown_search} shown), "
            f"clear {median(clear_ms):.1f} ms"
        )
        print(
            f"filter: tag narrator  {median(tag_ms):7.1f} ms  ({shown_tag} shown), "
            f"clear {median(untag_ms):.1f} ms"
        )
        ok = max(median(opens), median(search_ms), median(tag_ms)) < 100
        print("target < 100 ms each: " + ("met" if ok else "NOT met"))
        panel.grid.viewport().removeEventFilter(watch)
        panel.close()
        panel.deleteLater()
        thumb_runner.wait()
        db_runner.wait()
        app.processEvents()
        library.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
