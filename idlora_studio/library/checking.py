"""Where the import checks run: in this process, or in a child process of their own.

Checking a file decodes it (Pillow, PyAV), looks for faces (OpenCV), measures loudness and
speech (pyloudnorm, Silero VAD on torch) and re-encodes it. In the Studio these calls ran on a
worker *thread* of the GUI process, and some of them hold Python's GIL for long stretches:
loading OpenCV's and torch's extension modules on the first import, Pillow copying a large
picture (``exif_transpose``), re-encoding. A 2560 x 2560 photo stalled the GUI thread for
130-180 ms here and 794 ms on the CI machine (a cold disk). No amount of threading helps
with a held GIL, so the window's library checks files in a separate interpreter:
:class:`ChildProcessChecks`, on a :class:`~idlora_studio.child_pool.ChildPool`. A hostile file
that crashes a decoder (a segfault in a C library) or makes it spin also costs only that
child: the import is refused with a message naming the file, and the next check starts a
fresh child.

:class:`LocalChecks` runs the same functions in the calling thread: the CLI, scripts and
tests, where no event loop waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from idlora_studio.child_pool import (
    START_TIMEOUT_S,
    ChildCrashed,
    ChildPool,
    ChildTimedOut,
    ChildUnavailable,
)

from .importer import check_image_file, check_voice_file
from .media_types import ImageImport, ImportRejected, VoiceImport

#: the longest one file may take to check before the child is stopped and the file refused
#: (a 50-megapixel photo or a 10-minute recording takes seconds; a file that takes this long
#: is damaged or built to hang a decoder)
CHECK_TIMEOUT_S = 180.0


class MediaChecks(Protocol):
    """What the library calls to check a file before it stores anything."""

    def image(self, path: Path | str) -> ImageImport: ...

    def voice(self, path: Path | str) -> VoiceImport: ...

    def crop(
        self, path: Path | str, box: tuple[int, int, int, int], source_name: str
    ) -> ImageImport: ...

    def warm(self) -> None:
        """Get ready for the first check without waiting (returns at once)."""

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

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


def warm_up() -> bool:
    """Import what the checks need, so the first real check does not wait for it."""
    from . import audio_checks, image_checks  # noqa: F401 - numpy, Pillow, PyAV, pyloudnorm

    image_checks._face_cascade()  # OpenCV and its cascade file
    return True


class ChildProcessChecks:
    """The checks in a child process of their own (a :class:`~idlora_studio.child_pool.ChildPool`),
    started on first use or :meth:`warm`.

    Safe to call from several threads; the child checks one file at a time. A child that
    dies or overruns :data:`CHECK_TIMEOUT_S` refuses that file with :class:`ImportRejected`;
    the next file gets a new child. A child that cannot start leaves the checks in this
    process (:attr:`fallback_reason` says why): slower for the window, never stuck.
    """

    def __init__(
        self, timeout_s: float = CHECK_TIMEOUT_S, start_timeout_s: float = START_TIMEOUT_S
    ) -> None:
        self.timeout_s = timeout_s
        self._child = ChildPool("import checker", warm=warm_up, start_timeout_s=start_timeout_s)

    @property
    def fallback_reason(self) -> str | None:
        """Why the checks run in this process instead of the child, or None."""
        return self._child.unavailable

    def warm(self) -> None:
        """Start the child and load the checkers' libraries in it (returns at once)."""
        self._child.start()

    def _run(self, path: Path | str, fn: Any, *args: Any) -> Any:
        try:
            return self._child.run(fn, path, *args, timeout=self.timeout_s)
        except ChildUnavailable:
            return fn(path, *args)
        except ChildTimedOut:
            raise ImportRejected(
                path,
                f"checking the file took longer than {self.timeout_s:.0f} s and was stopped; "
                "the file may be damaged",
            ) from None
        except ChildCrashed:
            raise ImportRejected(
                path,
                "the file made the decoder crash; it is damaged or not what its name says. "
                "Nothing was imported",
            ) from None

    def image(self, path: Path | str) -> ImageImport:
        return self._run(path, check_image_file)

    def voice(self, path: Path | str) -> VoiceImport:
        return self._run(path, check_voice_file)

    def crop(
        self, path: Path | str, box: tuple[int, int, int, int], source_name: str
    ) -> ImageImport:
        return self._run(path, _crop, tuple(int(v) for v in box), source_name)

    def close(self) -> None:
        """Stop the child (a check in flight is cut short). Idempotent."""
        self._child.close()
