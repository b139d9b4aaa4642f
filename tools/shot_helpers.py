"""Helpers shared by the screenshot tools: wait on the event loop for a condition."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QElapsedTimer
from PySide6.QtWidgets import QApplication


def waiters(
    app: QApplication, default_ms: int = 20000
) -> tuple[Callable[..., bool], Callable[[int], None]]:
    """``wait(cond, ms)`` runs the event loop until ``cond()`` or ``ms`` pass (returns
    ``cond()``); ``settle(ms)`` runs it for ``ms`` (layouts, thumbnails, repaints)."""
    clock = QElapsedTimer()
    clock.start()

    def wait(cond: Callable[[], object], ms: int = default_ms) -> bool:
        end = clock.elapsed() + ms
        while not cond() and clock.elapsed() < end:
            app.processEvents()
        return bool(cond())

    def settle(ms: int) -> None:
        end = clock.elapsed() + ms
        wait(lambda: clock.elapsed() > end, ms + 1000)

    return wait, settle
