"""The child process the Studio runs GIL-heavy work in (``idlora_studio.child_pool``)."""

from __future__ import annotations

import os

import pytest

from idlora_studio.child_pool import ChildCrashed, ChildPool, ChildTimedOut


def boom(text: str) -> None:
    raise ValueError(f"bad value: {text}")


@pytest.fixture(scope="module")
def pool():
    child = ChildPool("test")
    yield child
    child.close()


def test_results_and_exceptions_come_back(pool):
    assert pool.run(divmod, 17, 5) == (3, 2)
    with pytest.raises(ValueError, match="bad value: x"):
        pool.run(boom, "x")
    assert pool.child_pid() != os.getpid()


def test_a_dead_child_is_reported_and_replaced(pool):
    first = pool.child_pid()
    with pytest.raises(ChildCrashed) as err:
        pool.run(os._exit, 7)
    assert err.value.exitcode == 7
    assert pool.child_pid() not in (first, os.getpid())


def test_an_overrunning_call_is_stopped(pool):
    first = pool.child_pid()
    with pytest.raises(ChildTimedOut, match="longer than 1 s"):
        pool.run(__import__("time").sleep, 600, timeout=1)
    assert pool.child_pid() != first  # the stuck child was terminated
    assert pool.run(divmod, 7, 2) == (3, 1)


def test_closed_pool_refuses(tmp_path):
    child = ChildPool("closing")
    assert child.run(divmod, 4, 2) == (2, 0)
    child.close()
    with pytest.raises(RuntimeError, match="closing process was closed"):
        child.run(divmod, 4, 2)


def test_close_releases_every_caller():
    # pebble leaves some futures of a stopped pool unresolved (measured: 15 of 24 callers
    # hung before); a caller waiting on one must give up, or whoever waits for its thread
    # (a window's thread pool at shutdown) hangs with it
    import threading
    import time

    for _ in range(3):
        child = ChildPool("busy")
        child.run(divmod, 1, 1)
        stop = threading.Event()
        errors: list[BaseException] = []

        def call(
            child: ChildPool = child, stop: threading.Event = stop, errors: list = errors
        ) -> None:
            while not stop.is_set():
                try:
                    child.run(time.sleep, 0.01)
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                    return

        callers = [threading.Thread(target=call) for _ in range(4)]
        for t in callers:
            t.start()
        time.sleep(0.3)
        child.close()
        stop.set()
        for t in callers:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in callers)
        assert all("was closed" in str(e) for e in errors)
