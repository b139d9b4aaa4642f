"""Content-addressed media store: files named by their SHA-256, in two-level shards.

``<root>/ab/abcdef...`` holds the bytes whose SHA-256 is ``abcdef...``. Files carry no
extension (every reader the Studio uses sniffs the content); the database keeps the original
extension where it matters. Writing the same bytes twice stores them once.

Crash safety: every write goes through :func:`engine.fsutil.atomic_path` (temp file, fsync,
rename, fsync of the folder), so a final name always holds complete bytes. Callers write the
file *first* and commit the database row that references it *afterwards*; a crash in between
leaves only an unreferenced file, which :meth:`MediaStore.collect` removes later.

Concurrency with the collector: writers hold :meth:`writing` (a shared lock) from the first
write until their referencing row is committed; the collector takes the exclusive lock, so it
never deletes a file that a transaction in flight is about to reference. The lock is a
``flock`` on ``<root>/.lock`` (so it also covers a CLI process running beside the GUI) plus a
thread counter for writers inside one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.api import DiskFullError
from engine.fsutil import (
    TMP_PREFIX,
    atomic_path,
    disk_full,
    is_disk_full,
    require_free,
    sha256_file,
)

from .db import ReadOnlyLibraryError

try:  # POSIX only; elsewhere the in-process lock still protects the GUI.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
STALE_TMP_AGE_S = 60.0
#: Free space kept on top of a file's size before it is written (file system overhead).
WRITE_MARGIN_BYTES = 1 << 20


class MediaStoreError(Exception):
    pass


def is_sha256(value: str) -> bool:
    return bool(_SHA_RE.match(value))


class _SharedExclusive:
    """Readers-writer lock inside one process: many writers (shared) or one collector."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, blocking: bool) -> Iterator[bool]:
        with self._cond:
            if self._exclusive or self._shared:
                if not blocking:
                    yield False
                    return
                while self._exclusive or self._shared:
                    self._cond.wait()
            self._exclusive = True
        try:
            yield True
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class MediaStore:
    """Hash-named files under ``root``. Thread-safe; safe beside other processes (POSIX).

    ``read_only`` (the reason, e.g. "the data folder is read-only") opens an existing store
    for reading only: :meth:`writing` refuses, nothing is locked, created or collected.
    """

    def __init__(self, root: Path, read_only: str | None = None) -> None:
        self.root = Path(root)
        self.read_only = read_only
        if not read_only:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_path = self.root / ".lock"
        self._local = _SharedExclusive()

    # ------------------------------------------------------------------ paths
    def path(self, sha256: str) -> Path:
        """Where the file with this hash lives (whether or not it exists)."""
        if not is_sha256(sha256):
            raise MediaStoreError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _flock(self, mode: int) -> Iterator[bool]:
        if fcntl is None:
            yield True
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold while writing files and committing the rows that reference them.

        Refused (:class:`ReadOnlyLibraryError`) on a read-only store; a full disk inside
        the block becomes :class:`~engine.api.DiskFullError` naming the store's folder."""
        if self.read_only:
            raise ReadOnlyLibraryError(self.read_only)
        with self._local.shared(), self._flock(fcntl.LOCK_SH if fcntl else 0):
            try:
                yield
            except DiskFullError:
                raise
            except Exception as exc:
                if is_disk_full(exc):
                    raise disk_full(self.root, WRITE_MARGIN_BYTES, "the media store") from exc
                raise

    def require_space(self, nbytes: int, what: str = "") -> None:
        """Refuse (:class:`~engine.api.DiskFullError`) before writing ``nbytes`` that cannot fit."""
        require_free(self.root, nbytes + WRITE_MARGIN_BYTES, what or "the media store")

    # ------------------------------------------------------------------ writing
    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its hash. Existing content is not rewritten."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if self._present(target, len(data)):
            return sha
        self.require_space(len(data))
        with atomic_path(target, suffix="") as tmp:
            tmp.write_bytes(data)
        return sha

    def put_file(self, source: Path) -> str:
        """Copy the file at ``source`` into the store; return its hash."""
        source = Path(source)
        sha = sha256_file(source)
        target = self.path(sha)
        if self._present(target, source.stat().st_size):
            return sha
        self.require_space(source.stat().st_size, source.name)
        with atomic_path(target, suffix="") as tmp:
            shutil.copyfile(source, tmp)
        if sha256_file(target) != sha:  # the source changed while we copied it
            target.unlink(missing_ok=True)
            raise MediaStoreError(f"{source.name}: the file changed while it was being copied")
        return sha

    @staticmethod
    def _present(target: Path, size: int) -> bool:
        try:
            st = target.stat()
        except FileNotFoundError:
            return False
        if st.st_size != size:  # damaged copy (should not happen): rewrite it
            return False
        # Refresh the time stamp so an age-based collector in another tool sees it as new.
        with contextlib.suppress(OSError):
            os.utime(target)
        return True

    # ------------------------------------------------------------------ reading
    def iter_hashes(self) -> Iterator[str]:
        for shard in self.root.iterdir() if self.root.is_dir() else ():
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for f in shard.iterdir():
                if is_sha256(f.name) and f.name[:2] == shard.name:
                    yield f.name

    def verify(self, sha256: str) -> bool:
        """True if the file exists and its content still has this hash."""
        p = self.path(sha256)
        return p.is_file() and sha256_file(p) == sha256

    # ------------------------------------------------------------------ collecting
    def collect(
        self,
        referenced: Iterable[str] | None,
        *,
        candidates: Iterable[str] | None = None,
        tmp_age_s: float = STALE_TMP_AGE_S,
    ) -> int:
        """Delete unreferenced hash files and stale temp files; return how many were removed.

        ``referenced`` is a snapshot of the hashes the database references; call this while
        holding :meth:`collecting` (the ``Library`` does) so that no writer is between writing
        a file and committing its row. ``candidates`` limits the work to these hashes (the
        cheap pass after a delete); without it every file and stale temp file is considered.
        """
        keep = set(referenced or ())
        removed = 0
        hashes = self.iter_hashes() if candidates is None else candidates
        for sha in list(hashes):
            if sha in keep or not is_sha256(sha):
                continue
            try:
                self.path(sha).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        if candidates is None:
            removed += self._collect_tmp(tmp_age_s)
            self._remove_empty_shards()
        return removed

    @contextlib.contextmanager
    def collecting(self, blocking: bool = True) -> Iterator[bool]:
        """Exclusive lock for the collector; yields False if ``blocking`` is off and busy
        (and always on a read-only store: nothing may be removed there)."""
        if self.read_only:
            yield False
            return
        with self._local.exclusive(blocking) as got:
            if not got:
                yield False
                return
            mode = fcntl.LOCK_EX if fcntl else 0
            if fcntl and not blocking:
                mode |= fcntl.LOCK_NB
            with self._flock(mode) as got_file:
                yield got_file

    def _collect_tmp(self, age_s: float) -> int:
        now = time.time()
        removed = 0
        for d in [self.root, *(p for p in self.root.iterdir() if p.is_dir())]:
            for f in d.glob(TMP_PREFIX + "*"):
                try:
                    if now - f.stat().st_mtime >= age_s:
                        f.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def _remove_empty_shards(self) -> None:
        for shard in self.root.iterdir():
            if shard.is_dir() and len(shard.name) == 2:
                with contextlib.suppress(OSError):
                    shard.rmdir()  # only succeeds when empty
