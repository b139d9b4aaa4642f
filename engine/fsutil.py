"""Crash-safe file writing shared by the media store, recorder, engine output and exports.

Every file the Studio keeps is written to a temporary name in the target folder, flushed and
fsynced, then renamed over the final name (and the folder fsynced), so a process killed at any
moment leaves either the old file, the new file, or an orphan temp file -- never a half file
under the final name. Temp names start with ``.tmp-`` so collectors can find and remove them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.api import DiskFullError, InvalidRequestError

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_prefix(prefix: str = TMP_PREFIX) -> str:
    """``.tmp-<pid>-``: temp names carry their process, so a later start can tell debris
    (its process is gone) from a file another running Studio is still writing."""
    return f"{prefix}{os.getpid()}-"


# Folders outside the Studio's own that hold its temp files (render and batch outputs) are
# recorded in a small journal, so the next start can remove what a killed run left there.
_journal: Path | None = None
_noted: set[Path] = set()
_journal_lock = threading.Lock()


def record_temp_folders(journal: Path | None) -> None:
    """Record folders that receive temp files in ``journal`` (one path a line); None: stop."""
    global _journal
    with _journal_lock:
        _journal = Path(journal) if journal is not None else None
        _noted.clear()


def _note_temp_folder(folder: Path) -> None:
    with _journal_lock:
        if _journal is None or folder in _noted:
            return
        _noted.add(folder)
        try:
            known = set(temp_folders(_journal))
            if folder.resolve() not in known:
                _journal.parent.mkdir(parents=True, exist_ok=True)
                with open(_journal, "a", encoding="utf-8", errors="surrogateescape") as fh:
                    fh.write(str(folder.resolve()) + "\n")
        except OSError:
            pass  # housekeeping only


def temp_folders(journal: Path) -> list[Path]:
    """The folders recorded in ``journal``."""
    try:
        text = Path(journal).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    return [Path(line) for line in dict.fromkeys(text.splitlines()) if line.strip()]


def forget_temp_folders(journal: Path, folders: list[Path]) -> None:
    """Drop ``folders`` from ``journal`` (they hold no temp files any more)."""
    if not folders:
        return
    drop = set(folders)
    keep = [f for f in temp_folders(journal) if f not in drop]
    with contextlib.suppress(OSError):
        atomic_write_text(Path(journal), "".join(f"{f}\n" for f in keep))


def check_writable(target: Path | str) -> None:
    """Raise an ``OSError`` naming the place when a file cannot be written at ``target``: a
    folder given for a file, or a folder (the nearest existing one) that is read-only or not
    ours to write in. Cheap; commands call it before work that takes minutes."""
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "this is a folder; give a file name in it", str(target)
        )
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        why = "the disk is read-only" if read_only else "no permission to write there"
        raise PermissionError(
            errno.EROFS if read_only else errno.EACCES,
            f"cannot write a file in this folder ({why})",
            str(folder),
        )


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success fsync it and rename it to ``target``.

    The temp file keeps ``target``'s suffix (or ``suffix``) so encoders that pick a
    container from the extension (PyAV, Pillow) work. On error the temp file is removed.
    """
    target = Path(target)
    check_writable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _note_temp_folder(target.parent)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent,
        prefix=temp_prefix(),
        suffix=suffix if suffix is not None else target.suffix,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8", "surrogateescape"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    st = os.statvfs(p)
    return st.f_bavail * st.f_frsize


#: SQLite's result code for "database or disk is full" (``sqlite3.Error.sqlite_errorcode``).
SQLITE_FULL = 13
MB = 1_000_000


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an exception it was raised from) is ENOSPC / EDQUOT, or SQLite's
    "database or disk is full" (SQLAlchemy wraps it; the original is its cause)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError
        if orig is not None and orig is not exc and is_disk_full(orig):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_message(folder: Path | str, needed_bytes: int | float, what: str = "") -> str:
    """``"disk full: 12 MB needed in /folder (for clip.mp4), 3 MB free"``: what the user must
    free, and where; ``what`` names the file or action that needed it."""
    needed = max(1, math.ceil(float(needed_bytes) / MB))
    try:
        free = f", {free_bytes(Path(folder)) / MB:.0f} MB free"
    except OSError:
        free = ""
    for_what = f" (for {what})" if what else ""
    return f"disk full: {needed} MB needed in {folder}{for_what}{free}"


def disk_full(folder: Path | str, needed_bytes: int | float, what: str = "") -> DiskFullError:
    """A :class:`~engine.api.DiskFullError` carrying :func:`disk_full_message`."""
    err = DiskFullError(disk_full_message(folder, needed_bytes, what))
    err.folder = Path(folder)  # type: ignore[attr-defined]
    err.needed_bytes = int(needed_bytes)  # type: ignore[attr-defined]
    return err


def require_free(folder: Path | str, needed_bytes: int | float, what: str = "") -> None:
    """Raise :func:`disk_full` unless ``folder``'s disk has ``needed_bytes`` free.

    A folder on a virtual file system (``/proc``, ``/sys``: no blocks at all, so "0 bytes
    free") is refused as :class:`~engine.api.InvalidRequestError` saying so: no amount of
    freed space would make it writable, so "disk full" would send the user the wrong way."""
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    if os.statvfs(p).f_blocks == 0:
        raise InvalidRequestError(
            f"{folder} is on a virtual file system ({p}: no disk behind it), where files "
            f"cannot be written{f' ({what})' if what else ''}; choose a folder on a disk"
        )
    if free_bytes(Path(folder)) < needed_bytes:
        raise disk_full(folder, needed_bytes, what)


class FailOnceWriter:
    """A binary file for PyAV's custom I/O that fails once and then stays quiet.

    When a write fails (a full disk), FFmpeg keeps calling write/seek while it unwinds (the
    trailer, flushes on close). Each of those failures would make PyAV print "PyAV library
    exception being dropped: Traceback..." for the one before it. Here the first error is
    raised to PyAV (which reports it to the caller), later calls do nothing, and leaving the
    ``with`` block re-raises the first error if nothing else is propagating -- so a swallowed
    error can never leave a half-written file looking finished.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return len(data)
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def seek(self, offset: int, whence: int = 0) -> int:
        if self.error is not None:
            return offset
        try:
            return self._fh.seek(offset, whence)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        if self.error is None:
            try:
                self._fh.flush()
            except OSError as exc:
                self.error = exc
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> FailOnceWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._fh.close()
        except OSError:
            if exc is None and self.error is None:
                raise
        if exc is None and self.error is not None:
            raise self.error
