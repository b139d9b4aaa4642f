"""How the library's folders are opened: writable or read-only, private, and tidy.

* :func:`read_only_reason` says why a library cannot be changed (its folder or database is
  read-only, or the disk is too full for SQLite to even start a write), or None.
* :func:`make_private` keeps the data, config and cache folders ``0700`` and the database
  files ``0600``: names, notes and consent records are nobody else's business.
* :func:`clean_debris` removes the Studio's own temporaries that an interrupted run left
  behind (bundle-import staging folders, take folders, half-written ``.tmp-*`` files), by age
  and owner: only this user's, only when the process that made them is gone or they are old.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from pathlib import Path

from engine.fsutil import TMP_PREFIX, disk_full_message, free_bytes
from idlora_studio.paths import Paths

#: Below this much free space the library opens read-only (SQLite needs room for its WAL).
MIN_FREE_BYTES = 4_000_000
#: Temporaries of a live process are kept; those of a dead one go at once; anything older
#: than this goes even when its owner cannot be told (a reused process id, another machine).
STALE_AFTER_S = 24 * 3600.0
#: Prefixes of the Studio's own temporary folders: ``<prefix><pid>-<random>``.
IMPORT_STAGING_PREFIX = ".import-"
TAKE_TEMP_PREFIX = "take-"


def read_only_reason(paths: Paths) -> str | None:
    """Why the library at ``paths`` must be opened read-only, or None."""
    data = paths.data_dir
    if data.is_dir() and not os.access(data, os.W_OK | os.X_OK):
        return f"the data folder {data} is read-only"
    db = paths.db_path
    if db.exists() and not os.access(db, os.W_OK):
        return f"the database {db} is read-only"
    try:
        if data.is_dir() and free_bytes(data) < MIN_FREE_BYTES:
            return disk_full_message(data, MIN_FREE_BYTES, "changes to the library")
    except OSError:
        pass
    return None


def disk_too_full(paths: Paths) -> str | None:
    """The disk-full reason when the data folder's disk is nearly full, else None."""
    try:
        if free_bytes(paths.data_dir) < MIN_FREE_BYTES:
            return disk_full_message(paths.data_dir, MIN_FREE_BYTES, "changes to the library")
    except OSError:
        return None
    return None


def make_private(paths: Paths) -> None:
    """Folders ``0700`` and database files ``0600`` (where this user owns them)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    for folder in (paths.data_dir, paths.config_dir, paths.cache_dir):
        _chmod_own(folder, 0o700, uid)
    db = paths.db_path
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        _chmod_own(f, 0o600, uid)


def _chmod_own(path: Path, mode: int, uid: int | None) -> None:
    try:
        st = path.stat()
    except OSError:
        return
    if (uid is None or st.st_uid == uid) and stat.S_IMODE(st.st_mode) != mode:
        with contextlib.suppress(OSError):
            path.chmod(mode)


# ----------------------------------------------------------------------------- debris


def owner_pid(name: str, prefix: str) -> int | None:
    """The process id in ``<prefix><pid>-<random>``, or None for another naming."""
    rest = name[len(prefix) :]
    head, sep, _ = rest.partition("-")
    return int(head) if sep and head.isdigit() else None


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return False
    return True


def _is_debris(
    path: Path, prefix: str, now: float, stale_after_s: float, exiting: bool = False
) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False  # not ours
    pid = owner_pid(path.name, prefix)
    if pid is not None and (not pid_alive(pid) or (exiting and pid == os.getpid())):
        return True
    return now - st.st_mtime >= stale_after_s


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


def clean_debris(
    paths: Paths, *, stale_after_s: float = STALE_AFTER_S, exiting: bool = False
) -> list[Path]:
    """Remove what interrupted runs of the Studio left in its own folders; returns them.

    Looked at: ``.import-*`` staging folders in the data folder, ``take-*`` folders in
    ``cache/tmp``, ``.tmp-*`` files in the data folder, the backups, the drag cache and the
    folders :mod:`engine.fsutil` recorded as holding the Studio's temp files (render and batch
    outputs). Removed only when this user owns them and their process is gone (the pid is
    part of the name) or they are older than ``stale_after_s``; ``exiting`` (at the end of
    this process) counts this process as gone.
    """
    from engine.fsutil import forget_temp_folders, temp_folders

    now = time.time()
    removed: list[Path] = []
    places: list[tuple[Path, str]] = [
        (paths.data_dir, IMPORT_STAGING_PREFIX),
        (paths.cache_dir / "tmp", TAKE_TEMP_PREFIX),
        (paths.data_dir, TMP_PREFIX),
        (paths.backups_dir, TMP_PREFIX),
        (paths.drag_dir, TMP_PREFIX),
        (paths.exports_dir, TMP_PREFIX),
    ]
    journal = paths.cache_dir / "temp-folders"
    recorded = temp_folders(journal)
    places += [(folder, TMP_PREFIX) for folder in recorded]
    for folder, prefix in places:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(prefix) and _is_debris(
                entry, prefix, now, stale_after_s, exiting
            ):
                if _remove(entry):
                    removed.append(entry)
    # Folders with nothing of ours left in them need not be looked at again.
    forget_temp_folders(
        journal,
        [f for f in recorded if not any(p.name.startswith(TMP_PREFIX) for p in _ls(f))],
    )
    return removed


def _ls(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def start(paths: Paths) -> None:
    """At the start of a Studio process: record where it puts temp files (render and batch
    outputs), so the next start can clean what a kill leaves there."""
    from engine.fsutil import record_temp_folders

    record_temp_folders(paths.cache_dir / "temp-folders")


def end(paths: Paths) -> None:
    """At the end of a Studio process: remove its own temporaries that are still there."""
    from engine.fsutil import record_temp_folders

    with contextlib.suppress(Exception):
        clean_debris(paths, exiting=True)
    record_temp_folders(None)
