"""Revision 0003 (jobs, takes, projects): upgrade from 0002 with data, deletion rules, GC."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from idlora_studio.library import Library
from idlora_studio.library import migrate as mig
from idlora_studio.library.db import make_engine
from tests.library.conftest import voice_import

NOW = "2024-06-01 10:00:00.000000"


def _seed_revision_0002(paths) -> str:  # noqa: ANN001
    engine = make_engine(paths.db_path)
    mig.upgrade(engine, "0002")
    engine.dispose()
    assert mig.current_revision(paths.db_path) == "0002"
    clip = voice_import(5, seconds=1.0)
    sha = hashlib.sha256(clip.wav).hexdigest()
    target = paths.media_dir / sha[:2] / sha
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(clip.wav)
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO identities (id, name, name_key, notes, created_at, updated_at) "
            "VALUES (4, 'Ada', 'ada', 'from 0002', ?, ?)",
            (NOW, NOW),
        )
        con.execute(
            "INSERT INTO voice_clips (id, identity_id, sha256, duration_s, source_duration_s, "
            "sample_rate, channels, loudness_lufs, gain_db, trim_start_s, trim_end_s, "
            "best_start_s, best_end_s, clipping, noisy, noise_floor_db, source, original_name, "
            "warnings_json, is_default, created_at, peaks) VALUES (9, 4, ?, 1.0, 1.0, 16000, 1, "
            "-20, 0, 0, 1, 0, 1, 0, 0, -60, 'imported', 'a.wav', '[]', 1, ?, ?)",
            (sha, NOW, bytes(range(10))),
        )
    con.close()
    return sha


def _put(paths, data: bytes) -> str:  # noqa: ANN001
    sha = hashlib.sha256(data).hexdigest()
    p = paths.media_dir / sha[:2] / sha
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return sha


def test_upgrade_from_0002_keeps_data_and_adds_generation_tables(paths) -> None:  # noqa: ANN001
    sha = _seed_revision_0002(paths)
    lib = Library.open(paths)
    try:
        assert lib.migration is not None and lib.migration.from_revision == "0002"
        d = lib.get_identity(4)
        assert d.name == "Ada" and d.notes == "from 0002"
        assert d.clips[0].sha256 == sha and d.clips[0].path.is_file()
        assert lib.migration.backup_path is not None
        assert mig.current_revision(lib.migration.backup_path) == "0002"
    finally:
        lib.close()
    assert mig.current_revision(paths.db_path) == mig.HEAD_REVISION
    con = sqlite3.connect(paths.db_path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert {"jobs", "takes", "projects", "project_bin", "timeline_clips"} <= tables


def test_deletion_rules_and_media_collection(paths) -> None:  # noqa: ANN001
    clip_sha = _seed_revision_0002(paths)
    Library.open(paths).close()  # migrate
    video = _put(paths, b"not really an mp4 but referenced")
    con = sqlite3.connect(paths.db_path)
    con.execute("PRAGMA foreign_keys = ON")
    with con:
        con.execute(
            "INSERT INTO takes (id, created_at, identity_id, clip_id, video_hash, recipe_json, "
            "seed, width, height, num_frames, fps, duration_s) "
            "VALUES (1, ?, 4, 9, ?, '{}', 3, 64, 64, 9, 25, 0.36)",
            (NOW, video),
        )
        con.execute(
            "INSERT INTO jobs (id, created_at, updated_at, position, state, request_json, "
            "identity_id, clip_id, model_set, take_id) "
            "VALUES (1, ?, ?, 0, 'finished', '{}', 4, 9, 'tiny', 1)",
            (NOW, NOW),
        )
        con.execute(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'P', ?, ?)",
            (NOW, NOW),
        )
        con.execute("INSERT INTO project_bin VALUES (1, 1, 0)")
        con.execute(
            "INSERT INTO timeline_clips (project_id, take_id, track, position_frames, in_frame, "
            "out_frame) VALUES (1, 1, 0, 0, 0, 9)"
        )
    with pytest.raises(sqlite3.IntegrityError):  # unknown state
        with con:
            con.execute(
                "INSERT INTO jobs (created_at, updated_at, position, state, request_json, "
                "model_set) VALUES (?, ?, 1, 'sleeping', '{}', 'tiny')",
                (NOW, NOW),
            )
    # A take on a timeline cannot be deleted (RESTRICT) ...
    with pytest.raises(sqlite3.IntegrityError):
        with con:
            con.execute("DELETE FROM takes WHERE id = 1")
    con.close()

    # ... deleting the identity keeps the take and the job (SET NULL), and the open-time
    # garbage collection keeps the take's media because takes.video_hash is a media ref.
    lib = Library.open(paths)
    try:
        lib.delete_identity(4)
        lib.collect_garbage()
    finally:
        lib.close()
    assert (paths.media_dir / video[:2] / video).is_file()
    assert not (paths.media_dir / clip_sha[:2] / clip_sha).exists()  # the clip's audio went
    con = sqlite3.connect(paths.db_path)
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("SELECT identity_id, clip_id FROM takes").fetchall() == [(None, None)]
    assert con.execute("SELECT identity_id, take_id FROM jobs").fetchall() == [(None, 1)]
    # Deleting the project cascades to bin and timeline; then the take can go, and the
    # job forgets it.
    with con:
        con.execute("DELETE FROM projects WHERE id = 1")
    assert con.execute("SELECT count(*) FROM project_bin").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM timeline_clips").fetchone() == (0,)
    with con:
        con.execute("DELETE FROM takes WHERE id = 1")
    assert con.execute("SELECT take_id FROM jobs").fetchall() == [(None,)]
    con.close()
