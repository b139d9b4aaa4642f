"""The thread helper: work off the GUI thread, callbacks on it, errors delivered, order kept."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread

from idlora_studio.workers import TaskRunner, run_in_thread


def test_run_in_thread_calls_back_on_gui_thread(qtbot):
    gui = threading.get_ident()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 41 + 1

    def done(value: int) -> None:
        seen["value"] = value
        seen["callback"] = threading.get_ident()
        seen["is_main"] = QThread.currentThread().isMainThread()

    run_in_thread(work, done)
    qtbot.waitUntil(lambda: "value" in seen, timeout=3000)
    assert seen["value"] == 42
    assert seen["worker"] != gui
    assert seen["callback"] == gui and seen["is_main"]


def test_errors_reach_on_error_not_on_done(qtbot):
    errors: list[BaseException] = []
    done: list[object] = []

    def boom() -> None:
        raise ValueError("bad file")

    run_in_thread(boom, done.append, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=3000)
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "bad file"
    assert done == []


def test_serial_runner_keeps_submit_order_and_reports_busy(qtbot):
    runner = TaskRunner(max_threads=1)
    order: list[int] = []
    busy: list[bool] = []
    runner.idle_changed.connect(lambda idle: busy.append(not idle))

    def slow(n: int) -> int:
        time.sleep(0.02 if n == 0 else 0.0)
        return n

    for n in range(5):
        runner.submit(lambda n=n: slow(n), order.append)
    assert runner.pending() == 5
    qtbot.waitUntil(lambda: len(order) == 5, timeout=3000)
    assert order == [0, 1, 2, 3, 4]
    assert busy == [True, False]
    assert runner.pending() == 0
