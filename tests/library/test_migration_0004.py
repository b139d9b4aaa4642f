"""Revision 0004 (a take's voice match): upgrade from 0003 keeps takes, scores are stored."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from idlora_studio.library import Library
from idlora_studio.library import migrate as mig
from idlora_studio.library.db import make_engine
from idlora_studio.library.jobs_repo import TakeNotFoundError, TakesRepository

NOW = "2024-06-01 10:00:00.000000"


def _seed_revision_0003_take(paths) -> None:  # noqa: ANN001
    engine = make_engine(paths.db_path)
    mig.upgrade(engine, "0003")
    engine.dispose()
    data = b"a take's video bytes"
    sha = hashlib.sha256(data).hexdigest()
    (paths.media_dir / sha[:2]).mkdir(parents=True, exist_ok=True)
    (paths.media_dir / sha[:2] / sha).write_bytes(data)
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO takes (id, created_at, video_hash, recipe_json, seed, width, height, "
            "num_frames, fps, duration_s, label) "
            "VALUES (7, ?, ?, '{}', 3, 64, 64, 9, 25, 0.36, 'from 0003')",
            (NOW, sha),
        )
    con.close()


def test_upgrade_from_0003_keeps_takes_without_a_score(paths) -> None:  # noqa: ANN001
    _seed_revision_0003_take(paths)
    lib = Library.open(paths)
    try:
        assert lib.migration is not None and lib.migration.from_revision == "0003"
        take = TakesRepository.from_library(lib).get_take(7)
        assert take.label == "from 0003"
        assert take.voice_match is None and take.voice_match_model is None
    finally:
        lib.close()
    assert mig.current_revision(paths.db_path) == mig.HEAD_REVISION


def test_voice_match_is_stored_and_survives_reopening(paths) -> None:  # noqa: ANN001
    _seed_revision_0003_take(paths)
    lib = Library.open(paths)
    try:
        takes = TakesRepository.from_library(lib)
        takes.set_voice_match(7, 0.81, "resemblyzer-ge2e")
        with pytest.raises(TakeNotFoundError):
            takes.set_voice_match(99, 0.5, "resemblyzer-ge2e")
    finally:
        lib.close()
    lib = Library.open(paths)
    try:
        take = TakesRepository.from_library(lib).get_take(7)
        assert take.voice_match == pytest.approx(0.81)
        assert take.voice_match_model == "resemblyzer-ge2e"
        TakesRepository.from_library(lib).set_voice_match(7, None, "ignored")
        cleared = TakesRepository.from_library(lib).get_take(7)
        assert cleared.voice_match is None and cleared.voice_match_model is None
    finally:
        lib.close()
