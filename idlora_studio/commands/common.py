"""What the library commands share: opening the library, the errors they report, one-line
messages (never a traceback), and text safe to print whatever bytes a file name held."""

from __future__ import annotations

import sys
from typing import Any


def shown(value: object) -> str:
    """``value`` as printable text: bytes that were not UTF-8 (kept by Python as lone
    surrogates in file names and arguments) appear as ``\\xff`` escapes."""
    from engine.text import printable

    return printable(value)


def fail(message: str) -> int:
    """Print ``error: <message>.`` on stderr; returns exit code 1."""
    message = shown(message).strip()
    if message and message[-1] not in ".!?)":
        message += "."
    print(f"error: {message or 'failed.'}", file=sys.stderr)
    return 1


def errors() -> tuple[type[BaseException], ...]:
    """The exceptions a command turns into one sentence (the library's, the engine's, files)."""
    from engine.api import EngineError
    from idlora_studio.library.media_types import ImportRejected
    from idlora_studio.library.migrate import MigrationError
    from idlora_studio.library.repository import LibraryError

    return (EngineError, LibraryError, MigrationError, ImportRejected, LookupError, OSError)


def describe(exc: BaseException) -> str:
    """One sentence for ``exc``: an OSError as "problem: file", anything else as its text."""
    if isinstance(exc, OSError) and not str(exc).startswith("disk full") and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc)


def open_library(*, writing: bool) -> Any:
    """Open the library of ``Paths.from_env()``. Warnings (a skipped backup) go to stderr. A
    read-only library is said once on stderr for reading commands; ``writing`` commands are
    refused at once (:class:`ReadOnlyLibraryError`) rather than after their checks."""
    from idlora_studio.library.repository import Library, ReadOnlyLibraryError
    from idlora_studio.paths import Paths

    lib = Library.open(Paths.from_env())
    for warning in lib.migration.warnings if lib.migration else ():
        print(f"warning: {shown(warning)}", file=sys.stderr)
    if lib.read_only:
        if writing:
            reason = lib.read_only
            lib.close()
            raise ReadOnlyLibraryError(reason)
        print(f"note: the library is open read-only ({shown(lib.read_only)})", file=sys.stderr)
    return lib
