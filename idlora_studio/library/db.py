"""SQLite engine for the library: WAL journal, foreign keys, busy timeout, explicit BEGINs.

A library on a read-only folder (or a full disk) is opened read-only (:func:`make_engine`
with ``read_only``): ``mode=ro`` where SQLite can still use the WAL's shared-memory file,
else ``immutable=1`` (nothing can change the file while it is open read-only). Writes then
raise :class:`ReadOnlyLibraryError`; a write that hits a full disk raises
:class:`~engine.api.DiskFullError` saying how much space is needed where.

Every pooled connection gets the pragmas (SQLite forgets ``foreign_keys`` per connection).
pysqlite's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself:
plain ``BEGIN`` for reads and ``BEGIN IMMEDIATE`` for writes (see :func:`writer`), so two
writers (GUI and CLI, or two worker threads) queue on the busy timeout instead of failing
with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

BUSY_TIMEOUT_MS = 15_000
#: Space a database write transaction may need in the WAL (reported when the disk is full).
DB_WRITE_BYTES = 4_000_000


class LibraryError(Exception):
    """Base of the library's own errors; ``str(err)`` is a message for the user."""


class ReadOnlyLibraryError(LibraryError):
    """A change asked of a library that is open read-only; ``reason`` says why it is."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the library is open read-only ({reason}); nothing was changed")


def _ro_uri(db_path: Path, immutable: bool) -> str:
    from urllib.parse import quote

    return f"file:{quote(str(Path(db_path).resolve()))}?mode=ro" + (
        "&immutable=1" if immutable else ""
    )


def connect_read_only(db_path: Path, timeout: float = 15) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro``, or ``immutable=1`` when SQLite cannot create the
    WAL's shared-memory file beside the database (read-only folder, full disk)."""
    last: sqlite3.Error | None = None
    for immutable in (False, True):
        con = sqlite3.connect(
            _ro_uri(db_path, immutable), uri=True, timeout=timeout, check_same_thread=False
        )
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.Error as exc:
            con.close()
            last = exc
    assert last is not None
    raise last


_BEGIN_OPTION = "idlora_sqlite_begin"


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch the library to WAL (got {mode})")
        # FULL: a committed transaction survives a power cut, not only a killed process.
        cur.execute("PRAGMA synchronous = FULL")
    finally:
        cur.close()


def _on_begin(conn: Any) -> None:
    kind = conn.get_execution_options().get(_BEGIN_OPTION, "")
    conn.exec_driver_sql(f"BEGIN {kind}".strip())


def _on_connect_read_only(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def make_engine(db_path: Path, *, echo: bool = False, read_only: bool = False) -> Engine:
    """Engine for the database file at ``db_path`` (created if missing, unless ``read_only``:
    then the file must exist and nothing is ever written to it)."""
    db_path = Path(db_path)
    if read_only:
        engine = create_engine(
            "sqlite://",
            echo=echo,
            creator=lambda: connect_read_only(db_path, BUSY_TIMEOUT_MS / 1000),
            poolclass=QueuePool,
        )
        event.listen(engine, "connect", _on_connect_read_only)
        event.listen(engine, "begin", _on_begin)
        return engine
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{db_path}",
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        pool_pre_ping=False,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, but transactions start with ``BEGIN IMMEDIATE`` (write lock first)."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def integrity_check(db_path: Path) -> list[str]:
    """``PRAGMA integrity_check`` and ``foreign_key_check`` problems ([] when healthy)."""
    con = sqlite3.connect(db_path)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        problems = [r for r in rows if r != "ok"]
        problems += [f"foreign key: {r}" for r in con.execute("PRAGMA foreign_key_check")]
        return problems
    finally:
        con.close()


ChangeListener = Callable[[frozenset[str]], None]
_TOUCHED = "idlora_touched_tables"


class ChangeFeed:
    """Tells listeners, after each committed write transaction, which tables it touched.

    Listeners run on the thread that wrote (a worker, usually) and must be quick: the Qt
    layer re-emits them as a queued signal (``idlora_studio.state.changes``). A failing
    listener is dropped from that notification, never the write.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[ChangeListener] = []

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, tables: frozenset[str]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):
                listener(tables)


def _record_flush(session: Session, _context: Any) -> None:
    touched = session.info.setdefault(_TOUCHED, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        if table is not None:
            touched.add(table.name)


def _record_statement(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None:
            state.session.info.setdefault(_TOUCHED, set()).add(table.name)


class SessionScopes:
    """Read and write transactions on one library database, for repositories.

    ``_read()`` yields a session in a plain transaction; ``_write()`` one in a
    ``BEGIN IMMEDIATE`` transaction that commits on success, then tells ``changes`` (a
    :class:`ChangeFeed`, shared by every repository made with :meth:`from_library`) which
    tables it touched. One session per call, so a repository is safe to use from several
    threads. ``store`` is the media store, if any.
    """

    def __init__(self, engine: Engine, store: Any = None) -> None:
        self._engine = engine
        self.store = store
        self.changes = ChangeFeed()
        self._read_session = sessionmaker(bind=engine, expire_on_commit=False)
        self._write_session = sessionmaker(bind=writer(engine), expire_on_commit=False)
        event.listen(self._write_session, "after_flush", _record_flush)
        event.listen(self._write_session, "do_orm_execute", _record_statement)

    @property
    def engine(self) -> Engine:
        return self._engine

    @classmethod
    def from_library(cls, library: SessionScopes) -> Any:
        """A repository sharing an open library's database engine, media store and change
        feed."""
        repo = cls(library.engine, library.store)
        repo.changes = library.changes
        return repo

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._read_session() as s:
            yield s

    @property
    def read_only(self) -> str | None:
        """Why the library is open read-only, or None when it can be changed."""
        return getattr(self.store, "read_only", None)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A ``BEGIN IMMEDIATE`` transaction; refused on a read-only library. A full disk
        becomes :class:`~engine.api.DiskFullError` (the transaction is rolled back)."""
        if self.read_only:
            raise ReadOnlyLibraryError(self.read_only)
        try:
            with self._write_session() as s:
                with s.begin():
                    yield s
                touched = frozenset(s.info.pop(_TOUCHED, ()))
        except LibraryError:
            raise
        except Exception as exc:
            _raise_if_disk_full(exc, self._engine)
            raise
        if touched:
            self.changes.publish(touched)


def _raise_if_disk_full(exc: BaseException, engine: Engine) -> None:
    from engine.api import DiskFullError
    from engine.fsutil import disk_full, is_disk_full

    if not isinstance(exc, DiskFullError) and is_disk_full(exc):
        database = engine.url.database
        folder = Path(database).parent if database else Path.cwd()
        raise disk_full(folder, DB_WRITE_BYTES, "the library database") from exc
