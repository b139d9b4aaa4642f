"""Run a plain callable on a ``QThreadPool`` and deliver its result on the GUI thread.

The callable runs on a pool thread and must not touch widgets; it should take and return
ids or frozen dataclasses. Its result (or exception) is carried back through a queued
signal of a small relay ``QObject`` that lives on the thread that started the task (the
GUI thread), so ``on_done``/``on_error`` always run there.

``TaskRunner`` owns a pool and the relays of tasks in flight; the app creates one per
purpose (e.g. one serial runner for database work, one for thumbnails) and passes it in.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Box:
    """Carries a result across a queued ``Signal(object)``.

    Emitting ``None`` itself through a queued object signal under-counts ``None``'s
    references in PySide6 on Python 3.11 (a fatal "deallocating None" after enough
    emissions), so every value travels inside a box.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Task(QRunnable):
    """One unit of work; keep no reference to it, the runner does."""

    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._fn = fn
        self._relay = relay
        self.cancelled = False

    def run(self) -> None:  # pool thread
        if self.cancelled:
            return
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - delivered to on_error
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self._relay.failed.emit(_Box(exc))
        else:
            self._relay.done.emit(_Box(result))


class TaskRunner(QObject):
    """Owns a ``QThreadPool``; ``submit`` runs ``fn`` there and calls back on this thread.

    ``max_threads=1`` makes the runner serial: tasks run one after another in submit order,
    which is what database writes want.
    """

    idle_changed = Signal(bool)

    def __init__(self, max_threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, max_threads))
        self._in_flight: dict[int, tuple[Task, _Relay]] = {}
        self._next_id = 0

    @property
    def pool(self) -> QThreadPool:
        return self._pool

    def pending(self) -> int:
        return len(self._in_flight)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Task:
        relay = _Relay()  # lives on the calling (GUI) thread
        task_id = self._next_id
        self._next_id += 1
        task = Task(fn, relay)
        was_idle = not self._in_flight
        self._in_flight[task_id] = (task, relay)

        def finish(value: Any, callback: Callable[[Any], None] | None) -> None:
            # A result that arrives after the runner (and so the window owning it) was
            # deleted at shutdown has nobody to report to: drop it.
            if not shiboken6.isValid(self):
                return
            self._in_flight.pop(task_id, None)
            try:
                if callback is not None and not task.cancelled:
                    callback(value)
            finally:
                relay.deleteLater()
                if not self._in_flight:
                    self.idle_changed.emit(True)

        def fail(box: _Box) -> None:
            exc = box.value
            if on_error is None:
                text = getattr(exc, "__traceback_text__", repr(exc))
                print(f"background task failed:\n{text}")
            finish(exc, on_error)

        relay.done.connect(
            lambda box: finish(box.value, on_done), Qt.ConnectionType.QueuedConnection
        )
        relay.failed.connect(fail, Qt.ConnectionType.QueuedConnection)
        if was_idle:
            self.idle_changed.emit(False)
        self._pool.start(task)
        return task

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the pool is empty (shutdown and tests only)."""
        return self._pool.waitForDone(timeout_ms)


def run_in_thread(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    runner: TaskRunner | None = None,
) -> Task:
    """Run ``fn()`` on a worker thread; call ``on_done(result)`` or ``on_error(exc)`` on the
    calling thread's event loop. Without ``runner`` a private runner is created for this one
    task and released when the task finishes."""
    if runner is not None:
        return runner.submit(fn, on_done, on_error)
    own = TaskRunner(max_threads=1)

    def release(idle: bool) -> None:
        if idle:
            _keepalive.discard(own)
            own.deleteLater()

    own.idle_changed.connect(release)
    _keepalive.add(own)
    return own.submit(fn, on_done, on_error)


# Runners created by ``run_in_thread`` without an explicit runner, kept alive until idle.
_keepalive: set[TaskRunner] = set()
