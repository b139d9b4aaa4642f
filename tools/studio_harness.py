"""The real Studio window over a temporary, filled home, for tools that drive it (not tests).

``studio_window(prefix)`` builds a ``QApplication``, a temporary ``IDLORA_STUDIO_HOME`` with the
identities of ``tools/screenshot.py`` and the real main window, and yields
``(app, window, wait, settle)`` (``wait`` / ``settle`` from ``tools/shot_helpers.py``). Run it
after ``screenshot.rerun_under_xvfb`` (or another Xvfb re-exec).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _fill_home(home: str) -> None:
    """Fill the library of ``home`` like the screenshots' (run in a child process)."""
    from screenshot import fill

    from idlora_studio.library import Library
    from idlora_studio.paths import Paths

    os.environ["IDLORA_STUDIO_HOME"] = home
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(home) / "work"
    library = Library.open(Paths.from_env().ensure())
    try:
        fill(library, work)
    finally:
        library.close()


@contextlib.contextmanager
def studio_window(
    prefix: str, default_ms: int = 60000, fill_elsewhere: bool = False
) -> Iterator[tuple[Any, Any, Callable, Callable]]:
    """The real main window over a temporary library filled like the screenshots'.

    ``fill_elsewhere``: fill it in a child process, so that this process starts as the
    Studio does (filling imports torch for the voice checks; the GUI latency probe must not
    find it already imported)."""
    from PySide6.QtWidgets import QApplication
    from screenshot import fill  # tools/screenshot.py: portraits, voices, consent
    from shot_helpers import waiters

    from idlora_studio.app import apply_style, build_main_window, freeze_startup_heap
    from idlora_studio.library import Library
    from idlora_studio.paths import Paths
    from idlora_studio.settings import Settings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("ID-LoRA Studio")
    apply_style(app)
    wait, settle = waiters(app, default_ms)
    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        os.environ["IDLORA_STUDIO_HOME"] = home
        paths = Paths.from_env().ensure()
        work = Path(home) / "work"
        work.mkdir()
        if fill_elsewhere:
            import multiprocessing

            child = multiprocessing.get_context("spawn").Process(target=_fill_home, args=(home,))
            child.start()
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"filling the library failed (exit code {child.exitcode})")
        library = Library.open(paths)
        if not fill_elsewhere:
            fill(library, work)
        window = build_main_window(paths, Settings.load(paths.settings_path), library)
        freeze_startup_heap()  # as run_gui does
        try:
            yield app, window, wait, settle
        finally:
            window.shutdown()
            window.close()
            library.close()
