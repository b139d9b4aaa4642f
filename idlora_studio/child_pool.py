"""One child process for work that must not share the GUI process's GIL.

Decoding (Pillow, PyAV), OpenCV and torch hold Python's GIL for long stretches: loading their
extension modules, copying large pictures, scaling frames. On a worker *thread* of the GUI
process that stalls the event loop (measured: 130-180 ms for one 2560 px photo here, 794 ms on
the CI machine; 64 ms for the first take's thumbnail strip), so the Studio runs such work in a
separate interpreter: the import checks (``library.checking``) and the timeline's thumbnails
and waveforms (``workers.timeline_media``) each get a :class:`ChildPool`.

The pool is `pebble <https://pypi.org/project/Pebble/>`_'s ``ProcessPool`` with one worker,
started with *spawn* (the same on every OS; the child never imports Qt). Pebble because a
per-task timeout that *terminates* the worker and a worker replaced after a crash are what
this needs; ``concurrent.futures.ProcessPoolExecutor`` has neither (a crashed worker breaks the
whole executor, a timed-out task keeps running). A file that crashes a decoder (a segfault in
a C library) or hangs it costs only the child; the caller gets :class:`ChildCrashed` or
:class:`ChildTimedOut` and the next call gets a fresh child.

A child that cannot start at all (a script without a ``__main__`` guard re-running itself
under *spawn*, a broken install) would leave every call waiting forever: :meth:`ChildPool.run`
waits at most ``start_timeout_s`` for it and then raises :class:`ChildUnavailable` (and keeps
raising it), so callers can do the work in their own process instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: niceness added to the child: on a busy machine the GUI process gets the CPU first
CHILD_NICENESS = 10
#: how long a child may take to start and run its warm-up
START_TIMEOUT_S = 90.0
#: how often a waiting caller looks whether the pool was stopped under it
POLL_S = 0.2


class _NotReady(Exception):
    """The child did not finish its start within the limit."""


class ChildUnavailable(RuntimeError):
    """The child process did not start; ``str()`` says why."""


class ChildCrashed(RuntimeError):
    """The child died during the call (a signal, ``os._exit``, out of memory)."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the child process ended unexpectedly (exit code {exitcode})")


class ChildTimedOut(RuntimeError):
    """The call overran its timeout; the child was stopped."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"the call took longer than {timeout_s:g} s and was stopped")


def _child_started() -> None:
    """Runs in each new child before its first call."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    with contextlib.suppress(OSError, AttributeError):
        os.nice(CHILD_NICENESS)


def _ready() -> bool:
    return True


class ChildPool:
    """One child process, started on first use (or :meth:`start`) and kept for later calls.

    ``warm`` (a module-level function, or None) runs first in every new pool, to load what the
    calls need. Thread-safe: calls from several threads wait their turn in the child.
    :meth:`close` at shutdown.
    """

    def __init__(
        self,
        name: str,
        *,
        warm: Callable[[], Any] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.start_timeout_s = start_timeout_s
        self._warm = warm or _ready
        self._lock = threading.Lock()
        self._pool: Any = None
        self._ready: concurrent.futures.Future | None = None
        self._closed = False
        #: why the child is not used (it did not start), or None
        self.unavailable: str | None = None

    def start(self) -> None:
        """Start the child and its warm-up now (returns at once)."""
        if self.unavailable is None:
            self._get_pool()

    def _get_pool(self) -> tuple[Any, concurrent.futures.Future]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} process was closed")
            if self._pool is None:
                from pebble import ProcessPool

                self._pool = ProcessPool(
                    max_workers=1, initializer=_child_started, context=mp.get_context("spawn")
                )
                self._ready = self._pool.schedule(self._warm)
            assert self._ready is not None
            return self._pool, self._ready

    def _result(self, pool: Any, future: concurrent.futures.Future, limit: float | None) -> Any:
        """``future.result()``, given up (RuntimeError) as soon as ``pool`` is stopped: pebble
        leaves the futures of a stopped pool unresolved, and a thread waiting on one forever
        would hang whoever waits for that thread (a window's thread pool at shutdown).
        ``limit``: raise :class:`_NotReady` after that many seconds."""
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            try:
                return future.result(timeout=POLL_S)
            except concurrent.futures.TimeoutError:
                if future.done():  # the task's own timeout (pebble stopped it)
                    raise
            if self._pool is not pool:
                raise RuntimeError(f"the {self.name} process was closed")
            if deadline is not None and time.monotonic() > deadline:
                raise _NotReady

    def _wait_ready(self, pool: Any, ready: concurrent.futures.Future) -> None:
        try:
            self._result(pool, ready, self.start_timeout_s)
        except _NotReady:
            self.unavailable = (
                f"the {self.name} process did not start within {self.start_timeout_s:g} s"
            )
            log.warning("%s", self.unavailable)
            self._stop()
        except BrokenProcessPool:  # every child died before it could take work
            self.unavailable = f"the {self.name} process could not start"
            log.warning("%s", self.unavailable)
            self._stop()
        except RuntimeError:
            raise
        except Exception:  # noqa: BLE001 - a failed warm-up shows again in the call itself
            pass

    def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """``fn(*args)`` in the child (``fn`` module-level; blocks the calling thread: never
        call it on the GUI thread): what it returned, or the exception it raised. Raises
        :class:`ChildCrashed`, :class:`ChildTimedOut` (after ``timeout`` seconds of running),
        :class:`ChildUnavailable`, or RuntimeError after :meth:`close`."""
        if self.unavailable is not None:
            raise ChildUnavailable(self.unavailable)
        pool, ready = self._get_pool()
        self._wait_ready(pool, ready)
        if self.unavailable is not None:
            raise ChildUnavailable(self.unavailable)
        future = pool.schedule(fn, args=args, timeout=timeout)
        try:
            return self._result(pool, future, None)
        except concurrent.futures.TimeoutError:
            raise ChildTimedOut(float(timeout or 0)) from None
        except concurrent.futures.CancelledError:
            raise RuntimeError(f"the {self.name} process was closed") from None
        except Exception as exc:
            from pebble import ProcessExpired

            if isinstance(exc, ProcessExpired):
                log.warning("the %s process died: %s", self.name, exc)
                raise ChildCrashed(exc.exitcode) from None
            raise

    def child_pid(self) -> int:
        """The child's process id (starts it if needed)."""
        return self.run(os.getpid)

    def _stop(self) -> None:
        with self._lock:
            pool, self._pool, self._ready = self._pool, None, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=10)

    def close(self) -> None:
        """Stop the child (a call in flight is cut short); later calls raise. Idempotent."""
        with self._lock:
            self._closed = True
        self._stop()
