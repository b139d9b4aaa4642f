"""Asking before quitting while takes are being generated or wait in the queue.

The main window calls :meth:`QuitGuard.confirm` when the user closes it (a close guard). With a
running or queued job it asks: keep the jobs for the next start (the running one goes back
to the queue in its place; the next start offers to resume them), cancel them, or keep
working. :attr:`QuitGuard.keep_jobs` is what the queue's ``close`` then does.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

KEEP, CANCEL, STAY = "keep", "cancel", "stay"


def ask_about_jobs(parent: QWidget | None, running: bool, queued: int) -> str:
    """Ask what to do with the jobs; returns :data:`KEEP`, :data:`CANCEL` or :data:`STAY`."""
    parts = []
    if running:
        parts.append("a take is being generated")
    if queued:
        parts.append(f"{queued} more {'is' if queued == 1 else 'are'} waiting in the queue")
    text = " and ".join(parts)
    box = QMessageBox(parent)
    box.setObjectName("quitWithJobs")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit ID-LoRA Studio?")
    box.setText(text[0].upper() + text[1:] + ".")
    box.setInformativeText(
        "Quit now and the Studio offers to resume them the next time it opens"
        + (" (the running take starts over)." if running else ".")
    )
    keep = box.addButton("Quit, resume next time", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton("Cancel them and quit", QMessageBox.ButtonRole.DestructiveRole)
    stay = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(stay)
    box.exec()
    clicked = box.clickedButton()
    if clicked is keep:
        return KEEP
    if clicked is cancel:
        return CANCEL
    return STAY


class QuitGuard:
    """Close guard for the main window around a ``JobQueue``."""

    def __init__(self, queue: Any, parent: QWidget | None = None) -> None:
        self.queue = queue
        self.parent = parent
        self.keep_jobs = True

    def confirm(self) -> bool:
        """True: the window may close. Asks only when there is a job to lose: not while the
        queue waits for the user to resume the last session's jobs (nothing runs; quitting
        leaves them to be offered again)."""
        if self.queue.closed:  # already shut down (a second close): nothing to ask
            return True
        running = self.queue.running_job is not None
        queued = len(self.queue.queued())
        if not running and (not queued or self.queue.paused):
            return True
        choice = ask_about_jobs(self.parent, running, queued)
        if choice == STAY:
            return False
        self.keep_jobs = choice == KEEP
        return True
