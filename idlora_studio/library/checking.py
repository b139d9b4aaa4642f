"""Where the import checks run: in this process, or in a child process of their own.

Checking a file decodes it (Pillow, PyAV), looks for faces (OpenCV), measures loudness and
speech (pyloudnorm, Silero VAD on torch) and re-encodes it. In the Studio these calls ran on a
worker *thread* of the GUI process, and some of them hold Python's GIL for long stretches:
loading OpenCV's and torch's extension modules on the first import, Pillow copying a large
picture (``exif_transpose``), re-encoding. A 2560 x 2560 photo stalled the GUI thread for
130-180 ms here and 794 ms on the CI machine (a cold disk). No amount of threading helps
with a held GIL, so the window's library checks files in a separate interpreter:
:class:`ChildProcessChecks`. A hostile file that crashes a decoder (a segfault in a C
library) or makes it spin also costs only that child: the import is refused with a message
naming the file, and the next check starts a fresh child.

The process pool is `pebble <https://pypi.org/project/Pebble/>`_'s ``ProcessPool``: a
per-task timeout that *terminates* the worker and a replaced worker after a crash are what
this needs, and ``concurrent.futures.ProcessPoolExecutor`` has neither (a crashed worker
breaks the whole executor; a timed-out task keeps running).

:class:`LocalChecks` runs the same functions in the calling thread: the CLI, scripts and
tests, where no event loop waits.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing as mp
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from .importer import check_image_file, check_voice_file
from .media_types import ImageImport, ImportRejected, VoiceImport

log = logging.getLogger(__name__)

#: the longest one file may take to check before the child is stopped and the file refused
#: (a 50-megapixel photo or a 10-minute recording takes seconds; a file that takes this long
#: is damaged or built to hang a decoder)
CHECK_TIMEOUT_S = 180.0
#: the longest the child may take to start and load its libraries; a child that cannot start
#: (a script without a ``__main__`` guard re-running itself under *spawn*, a broken install)
#: would otherwise leave every import waiting forever: the checks then run in this process
START_TIMEOUT_S = 90.0
#: niceness added to the child: the GUI process gets the CPU first on a busy machine
CHILD_NICENESS = 5


class MediaChecks(Protocol):
    """What the library calls to check a file before it stores anything."""

    def image(self, path: Path | str) -> ImageImport: ...

    def voice(self, path: Path | str) -> VoiceImport: ...

    def crop(
        self, path: Path | str, box: tuple[int, int, int, int], source_name: str
    ) -> ImageImport: ...

    def close(self) -> None: ...


def _crop(path: Path | str, box: tuple[int, int, int, int], source_name: str) -> ImageImport:
    from .image_checks import crop_image

    return crop_image(Path(path), box, source_name=source_name)


class LocalChecks:
    """The checks in the calling thread (no event loop to keep answering)."""

    def image(self, path: Path | str) -> ImageImport:
        return check_image_file(path)

    def voice(self, path: Path | str) -> VoiceImport:
        return check_voice_file(path)

    def crop(
        self, path: Path | str, box: tuple[int, int, int, int], source_name: str
    ) -> ImageImport:
        return _crop(path, box, source_name)

    def close(self) -> None:
        pass


def _child_started() -> None:
    """Runs once in each new child, before its first check."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(CHILD_NICENESS)


def warm_up() -> bool:
    """Import what the checks need, so the first real check does not wait for it."""
    from . import audio_checks, image_checks  # noqa: F401 - numpy, Pillow, PyAV, pyloudnorm

    image_checks._face_cascade()  # OpenCV and its cascade file
    return True


class ChildProcessChecks:
    """The checks in one child process (see the module docstring), started on first use.

    Safe to call from several threads; the child checks one file at a time. A child that
    dies or overruns :data:`CHECK_TIMEOUT_S` refuses that file with
    :class:`ImportRejected`; the pool starts a new child for the next one.
    """

    def __init__(
        self, timeout_s: float = CHECK_TIMEOUT_S, start_timeout_s: float = START_TIMEOUT_S
    ) -> None:
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._pool: Any = None
        self._ready: concurrent.futures.Future | None = None
        self._closed = False
        #: why the checks run in this process instead (the child could not start), or None
        self.fallback_reason: str | None = None

    def _get_pool(self) -> tuple[Any, concurrent.futures.Future]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the media checks were closed")
            if self._pool is None:
                from pebble import ProcessPool

                self._pool = ProcessPool(
                    max_workers=1, initializer=_child_started, context=mp.get_context("spawn")
                )
                self._ready = self._pool.schedule(warm_up)
            assert self._ready is not None
            return self._pool, self._ready

    def warm(self) -> None:
        """Start the child and load the checkers' libraries in it (returns at once)."""
        if self.fallback_reason is None:
            self._get_pool()

    def _child_ready(self, ready: concurrent.futures.Future) -> bool:
        """Wait for the child's start; False (and checks in this process from now on) when
        it did not start in time."""
        try:
            ready.result(timeout=self.start_timeout_s)
        except concurrent.futures.TimeoutError:
            self.fallback_reason = (
                f"the import checker's process did not start within {self.start_timeout_s:.0f} s"
            )
            log.warning("%s; files are checked in the Studio's own process", self.fallback_reason)
            self._stop_pool()
            return False
        except Exception:  # noqa: BLE001 - a failed warm-up shows again in the check itself
            pass
        return True

    def _run(self, path: Path | str, fn: Any, *args: Any) -> Any:
        if self.fallback_reason is None:
            pool, ready = self._get_pool()
            if self._child_ready(ready):
                return self._in_child(pool, path, fn, *args)
        return fn(path, *args)

    def _in_child(self, pool: Any, path: Path | str, fn: Any, *args: Any) -> Any:
        future = pool.schedule(fn, args=(path, *args), timeout=self.timeout_s)
        try:
            return future.result()
        except ImportRejected:
            raise
        except concurrent.futures.TimeoutError:
            raise ImportRejected(
                path,
                f"checking the file took longer than {self.timeout_s:.0f} s and was stopped; "
                "the file may be damaged",
            ) from None
        except Exception as exc:
            from pebble import ProcessExpired

            if isinstance(exc, ProcessExpired):
                log.warning("the media check child died on %s: %s", path, exc)
                raise ImportRejected(
                    path,
                    "the file made the decoder crash; it is damaged or not what its name says. "
                    "Nothing was imported",
                ) from None
            raise

    def image(self, path: Path | str) -> ImageImport:
        return self._run(path, check_image_file)

    def voice(self, path: Path | str) -> VoiceImport:
        return self._run(path, check_voice_file)

    def crop(
        self, path: Path | str, box: tuple[int, int, int, int], source_name: str
    ) -> ImageImport:
        return self._run(path, _crop, tuple(int(v) for v in box), source_name)

    def _stop_pool(self) -> None:
        with self._lock:
            pool, self._pool, self._ready = self._pool, None, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=10)

    def close(self) -> None:
        """Stop the child (a check in flight is cut short). Idempotent."""
        with self._lock:
            self._closed = True
        self._stop_pool()
