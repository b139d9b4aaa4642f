"""Schema migrations at start-up, after a backup of the database file.

The Alembic configuration is built in code (no ``alembic.ini`` needed at run time) and the
scripts are found beside this module, so it works from an installed package. When the
database is already at :data:`HEAD_REVISION` (the normal case), Alembic is not even
imported: the revision is read with one ``sqlite3`` query, which keeps opening fast.

Backups use SQLite's online backup API, so pages still in the WAL file are included and the
copy is consistent even while another process has the database open. The newest
:data:`KEEP_BACKUPS` copies are kept in ``Paths.backups_dir``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from engine.fsutil import atomic_path, disk_full, is_disk_full

from .db import connect_read_only, writer

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Newest revision in ``migrations/versions``; a test checks it matches Alembic's head.
HEAD_REVISION = "0006"
KEEP_BACKUPS = 5
BACKUP_PREFIX = "library-"
#: Also back up on open when the newest backup is older than this (cheap insurance).
PERIODIC_BACKUP = dt.timedelta(days=1)


class MigrationError(Exception):
    """The database cannot be brought to the schema this version of the Studio needs."""


@dataclass(frozen=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str
    backup_path: Path | None
    #: Things the user should know that did not stop the library opening (a skipped backup).
    warnings: tuple[str, ...] = ()


def alembic_config(url: str | None = None):  # noqa: ANN201 - alembic.config.Config, imported lazily
    """An Alembic ``Config`` pointing at the packaged scripts (usable for ``alembic`` commands)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def script_head() -> str:
    """Head revision according to the scripts on disk."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(db_path: Path) -> str | None:
    """The revision stamped in the database, or None (no file, empty, or never migrated)."""
    db_path = Path(db_path)
    if not db_path.exists() or db_path.stat().st_size == 0:
        return None
    try:
        con = connect_read_only(db_path)
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{db_path.name}: not a readable library database ({exc})") from exc
    try:
        row = con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchone()
        if row is None:
            return None
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{db_path.name}: not a readable library database ({exc})") from exc
    finally:
        con.close()


def _has_user_tables(db_path: Path) -> bool:
    if not db_path.exists() or db_path.stat().st_size == 0:
        return False
    con = connect_read_only(db_path)
    try:
        n = con.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        return n > 0
    finally:
        con.close()


def list_backups(backups_dir: Path) -> list[Path]:
    """Backups, oldest first."""
    if not backups_dir.is_dir():
        return []
    return sorted(p for p in backups_dir.glob(BACKUP_PREFIX + "*.sqlite3") if p.is_file())


def backup_database(
    db_path: Path, backups_dir: Path, *, label: str = "", keep: int = KEEP_BACKUPS
) -> Path:
    """Copy the database (WAL included) to ``backups_dir``; prune to the newest ``keep``."""
    backups_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{BACKUP_PREFIX}{stamp}{'-' + label if label else ''}.sqlite3"
    target = backups_dir / name
    src = sqlite3.connect(db_path, timeout=15)
    try:
        with atomic_path(target) as tmp:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                # A self-contained file: no WAL beside the backup.
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
    finally:
        src.close()
    for old in list_backups(backups_dir)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return target


def _backup_bytes(db_path: Path) -> int:
    """Space a backup needs: the database and its WAL."""
    wal = db_path.with_name(db_path.name + "-wal")
    return sum(p.stat().st_size for p in (db_path, wal) if p.exists())


def _backup_is_due(backups_dir: Path) -> bool:
    backups = list_backups(backups_dir)
    if not backups:
        return True
    age = dt.datetime.now().timestamp() - backups[-1].stat().st_mtime
    return age > PERIODIC_BACKUP.total_seconds()


def upgrade(engine: Engine, target: str = "head") -> None:
    """Run Alembic ``upgrade`` to ``target`` on ``engine`` in one write transaction.

    Foreign keys are switched off for the duration (SQLite's table-rebuild pattern would
    otherwise cascade deletes when a referenced table is dropped and re-created) and
    ``PRAGMA foreign_key_check`` must come back empty before the commit.
    """
    from alembic import command

    cfg = alembic_config()
    with writer(engine).connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
                bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise MigrationError(f"migration left broken references: {bad[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


def migrate(engine: Engine, db_path: Path, backups_dir: Path) -> MigrationResult:
    """Bring the database at ``db_path`` to the head revision, backing it up first."""
    before = current_revision(db_path)
    backup = None
    if before == HEAD_REVISION:
        if _backup_is_due(backups_dir):
            try:
                backup = backup_database(db_path, backups_dir, label=f"r{before}")
            except Exception as exc:  # the periodic copy is insurance: never a reason to stop
                if not is_disk_full(exc):
                    raise
                message = disk_full(backups_dir, _backup_bytes(db_path), "the daily backup")
                return MigrationResult(
                    before, HEAD_REVISION, None, (f"The daily backup was skipped: {message}.",)
                )
        return MigrationResult(before, HEAD_REVISION, backup)
    if before is not None and before not in known_revisions():
        raise MigrationError(
            f"{db_path.name}: the library was written by a newer version of the Studio "
            f"(schema revision {before}); update the Studio to open it"
        )
    if before is None and _has_user_tables(db_path):
        raise MigrationError(
            f"{db_path.name}: holds tables but no schema revision; it is not a library database"
        )
    if before is not None:
        try:
            backup = backup_database(db_path, backups_dir, label=f"before-r{before}")
        except Exception as exc:  # no schema change without its backup
            if is_disk_full(exc):
                raise disk_full(
                    backups_dir, _backup_bytes(db_path), "the backup before the upgrade"
                ) from exc
            raise
    upgrade(engine)
    after = current_revision(db_path)
    if after != HEAD_REVISION:
        raise MigrationError(f"{db_path.name}: migration ended at {after}, not {HEAD_REVISION}")
    return MigrationResult(before, HEAD_REVISION, backup)
