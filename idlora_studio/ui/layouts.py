"""Per-user window layout: geometry, current page, each page's docks and splitters.

Kept in its own small class, the way Kdenlive's ``LayoutManagement`` keeps workspace layouts
apart from the window: :class:`LayoutManager` captures the default layout once every panel
exists (so View > Reset Layout can return to it), restores the user's saved layout at start
and saves it when the window closes, in ``<config_dir>/layout.json`` (written atomically).

Each page's docks are saved with ``QMainWindow.saveState(version)``; a layout saved by an
older build (``LAYOUT_VERSION`` differs, e.g. a panel was added) is ignored rather than
restored half-way. Splitters are saved by object name (``QSplitter.saveState``): any splitter
inside a page that has an object name is persisted without further wiring.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

#: Bump when the default layouts change shape (panels added, removed or renamed).
LAYOUT_VERSION = 1
LAYOUT_FILE = "layout.json"


def _b64(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _bytes(text: Any) -> QByteArray | None:
    if not isinstance(text, str):
        return None
    try:
        return QByteArray(base64.b64decode(text.encode("ascii"), validate=True))
    except ValueError:
        return None


def named_splitters(page: QMainWindow) -> dict[str, QSplitter]:
    """The page's splitters that have an object name (Qt's own start with ``qt_``)."""
    out: dict[str, QSplitter] = {}
    for sp in page.findChildren(QSplitter):
        name = sp.objectName()
        if name and not name.startswith("qt_"):
            out.setdefault(name, sp)
    return out


class LayoutManager:
    """Default, saved and restored layouts of ``window``'s pages (see the module docstring).

    ``window`` provides ``pages()`` (key -> page), ``current_page_key()`` and ``show_page(key)``.
    ``path`` None keeps nothing on disk (tests of other things).
    """

    def __init__(self, window: Any, path: Path | None, version: int = LAYOUT_VERSION) -> None:
        self.window = window
        self.path = Path(path) if path is not None else None
        self.version = version
        self._defaults: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # saved layouts of pages not shown yet

    # ------------------------------------------------------------------ capture
    def _page_state(self, page: Any) -> dict[str, Any]:
        return {
            "state": _b64(page.saveState(self.version)),
            "splitters": {n: _b64(sp.saveState()) for n, sp in named_splitters(page).items()},
        }

    def _apply_page_state(self, page: Any, data: dict[str, Any]) -> bool:
        ok = True
        state = _bytes(data.get("state"))
        if state is not None:
            ok = bool(page.restoreState(state, self.version))
        splitters = data.get("splitters")
        if isinstance(splitters, dict):
            for name, sp in named_splitters(page).items():
                raw = _bytes(splitters.get(name))
                if raw is not None:
                    sp.restoreState(raw)
        return ok

    def capture_defaults(self) -> None:
        """Remember the current layout of every page as its default (call once all panels
        exist, before :meth:`restore`)."""
        self._defaults = {key: self._page_state(page) for key, page in self.window.pages().items()}

    def _apply_when_shown(self, page: Any, data: dict[str, Any], *, default: bool) -> None:
        """Apply ``data`` to ``page`` now if it is shown, else when it next is (a hidden
        page has no real size yet, and dock sizes are in pixels of that size)."""

        def apply() -> None:
            self._pending.pop(page.key, None)
            self._apply_page_state(page, data)
            if default:
                page.apply_default_sizes()

        if page.isVisible():
            apply()
            return
        page.sizes_pending = False
        page.pending_layout = apply
        if not default:
            self._pending[page.key] = data

    def snapshot(self) -> dict[str, Any]:
        pages = {}
        for key, page in self.window.pages().items():
            # A page never shown this session keeps the layout it was saved with.
            pending = self._pending.get(key) if page.pending_layout is not None else None
            pages[key] = pending if pending is not None else self._page_state(page)
        return {
            "version": self.version,
            "geometry": _b64(self.window.saveGeometry()),
            "page": self.window.current_page_key(),
            "pages": pages,
        }

    # ------------------------------------------------------------------ disk
    def save(self) -> None:
        if self.path is None:
            return
        payload = json.dumps(self.snapshot(), indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".layout-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, self.path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a layout is not worth an error dialog

    def load(self) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != self.version:
            return None
        return data

    def restore(self) -> bool:
        """Apply the saved layout; False (defaults kept) when there is none or it is stale."""
        data = self.load()
        if data is None:
            return False
        geometry = _bytes(data.get("geometry"))
        if geometry is not None:
            self.window.restoreGeometry(geometry)
        pages = data.get("pages")
        if isinstance(pages, dict):
            for key, page in self.window.pages().items():
                if isinstance(pages.get(key), dict):
                    self._apply_when_shown(page, pages[key], default=False)
        page = data.get("page")
        if isinstance(page, str) and page in self.window.pages():
            self.window.show_page(page)
        return True

    # ------------------------------------------------------------------ reset
    def reset(self, key: str | None = None) -> None:
        """Return page ``key`` (default: every page) to its default layout."""
        for k, page in self.window.pages().items():
            if key is not None and k != key:
                continue
            self._pending.pop(k, None)
            self._apply_when_shown(page, self._defaults.get(k) or {}, default=True)
