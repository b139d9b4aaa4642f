"""Migrations: from an empty database, from the previous revision with data, backups."""

from __future__ import annotations

import sqlite3
import time

import pytest

from idlora_studio.library import Library, MigrationError
from idlora_studio.library import migrate as mig
from idlora_studio.library.db import make_engine
from idlora_studio.library.models import Base
from tests.library.conftest import voice_import


def test_head_constant_matches_scripts() -> None:
    assert mig.script_head() == mig.HEAD_REVISION
    assert mig.known_revisions() >= {"0001", "0002"}


def test_empty_database_migrates_to_a_schema_matching_the_models(paths) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    lib = Library.open(paths)
    try:
        assert lib.migration is not None
        assert lib.migration.from_revision is None
        assert lib.migration.to_revision == mig.HEAD_REVISION
        assert lib.migration.backup_path is None  # nothing worth backing up yet
    finally:
        lib.close()
    engine = make_engine(paths.db_path)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        fks = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    engine.dispose()
    assert diff == [], diff
    assert mode == "wal" and fks == 1


def _seed_revision_0001(paths) -> str:
    """A database at revision 0001 holding one identity with a tag, an image and a clip."""
    engine = make_engine(paths.db_path)
    mig.upgrade(engine, "0001")
    engine.dispose()
    assert mig.current_revision(paths.db_path) == "0001"
    clip = voice_import(3, seconds=1.0)
    sha = __import__("hashlib").sha256(clip.wav).hexdigest()
    target = paths.media_dir / sha[:2] / sha
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(clip.wav)
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO identities (id, name, name_key, notes, consent_given_by, consent_date, "
            "consent_scope, created_at, updated_at) VALUES (7, 'Old Timer', 'old timer', "
            "'from 0001', 'Old Timer', '2023-04-05', 'anything', '2023-04-05 10:00:00.000000', "
            "'2023-04-05 10:00:00.000000')"
        )
        con.execute("INSERT INTO tags (id, name) VALUES (1, 'veteran')")
        con.execute("INSERT INTO identity_tags VALUES (7, 1)")
        con.execute(
            "INSERT INTO voice_clips (id, identity_id, sha256, duration_s, source_duration_s, "
            "sample_rate, channels, loudness_lufs, gain_db, trim_start_s, trim_end_s, "
            "best_start_s, best_end_s, clipping, noisy, noise_floor_db, source, original_name, "
            "warnings_json, is_default, created_at) VALUES (3, 7, ?, 1.0, 1.2, 16000, 1, -20, "
            "-3, 0, 1, 0, 1, 0, 0, -60, 'recorded', 'old.wav', '[]', 1, "
            "'2023-04-05 10:00:00.000000')",
            (sha,),
        )
    con.close()
    return sha


def test_upgrade_from_previous_revision_keeps_data_and_backs_up(paths) -> None:
    sha = _seed_revision_0001(paths)
    lib = Library.open(paths)
    try:
        assert lib.migration is not None and lib.migration.from_revision == "0001"
        backup = lib.migration.backup_path
        d = lib.get_identity(7)
        assert d.name == "Old Timer" and d.notes == "from 0001" and d.tags == ("veteran",)
        assert d.consent is not None and d.consent.date.isoformat() == "2023-04-05"
        clip = d.clips[0]
        assert clip.sha256 == sha and clip.is_default and clip.source == "recorded"
        # Revision 0002's column was back-filled from the stored audio on open.
        assert len(clip.peaks) == 400 and 0.25 < max(clip.peaks) <= 0.35
        # The media survived the open-time garbage collection: it is referenced.
        assert clip.path.is_file()
    finally:
        lib.close()
    assert mig.current_revision(paths.db_path) == mig.HEAD_REVISION
    # The backup is the database as it was before the upgrade, self-contained.
    assert backup is not None and backup.parent == paths.backups_dir
    assert mig.current_revision(backup) == "0001"
    con = sqlite3.connect(backup)
    assert con.execute("SELECT name FROM identities").fetchall() == [("Old Timer",)]
    cols = [r[1] for r in con.execute("PRAGMA table_info(voice_clips)")]
    assert "peaks" not in cols
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_backup_includes_uncheckpointed_wal_content_and_is_pruned(paths) -> None:
    lib = Library.open(paths)
    try:
        lib.create_identity("Only In Wal")
        # The library is still open: the row may live only in the -wal file.
        for _ in range(mig.KEEP_BACKUPS + 2):
            last = mig.backup_database(paths.db_path, paths.backups_dir)
            time.sleep(0.002)
    finally:
        lib.close()
    backups = mig.list_backups(paths.backups_dir)
    assert len(backups) == mig.KEEP_BACKUPS and backups[-1] == last
    con = sqlite3.connect(last)
    assert con.execute("SELECT name FROM identities").fetchall() == [("Only In Wal",)]
    con.close()
    assert not last.with_name(last.name + "-wal").exists()
    assert not list(paths.backups_dir.glob(".tmp-*"))


def test_open_makes_a_periodic_backup_only_when_due(paths) -> None:
    Library.open(paths).close()  # creates the database
    Library.open(paths).close()  # at head, no backup yet: one is due
    first = mig.list_backups(paths.backups_dir)
    assert len(first) == 1
    Library.open(paths).close()  # the recent backup suffices
    assert mig.list_backups(paths.backups_dir) == first


def test_database_from_a_newer_studio_is_refused(paths) -> None:
    Library.open(paths).close()
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.close()
    with pytest.raises(MigrationError, match="newer version"):
        Library.open(paths)


def test_foreign_database_is_refused(paths) -> None:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute("CREATE TABLE something_else (x)")
    con.close()
    with pytest.raises(MigrationError, match="not a library database"):
        Library.open(paths)
    paths.db_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(MigrationError, match="not a readable library database"):
        Library.open(paths)
