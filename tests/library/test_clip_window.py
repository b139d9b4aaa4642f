"""The chosen reference window of a voice clip: set, validate, reset, migrate (revision 0006)."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from idlora_studio.library import InvalidInputError, Library, NotFoundError
from idlora_studio.library import migrate as mig
from idlora_studio.library.db import make_engine
from tests.library.conftest import voice_import


def _clip(lib: Library, seconds: float = 30.0) -> tuple[int, int]:
    ident = lib.create_identity("Window Person")
    clip = dataclasses.replace(voice_import(3, seconds=seconds), best_window=(12.0, 17.0))
    added = lib.add_checked_clip(ident, clip, source="imported")
    return ident, added.clip_id


def test_new_clip_window_is_the_suggestion(lib: Library) -> None:
    ident, cid = _clip(lib)
    info = lib.get_identity(ident).clips[0]
    assert info.best_window == (12.0, 17.0) and info.suggested_window == (12.0, 17.0)
    assert not info.window_moved


def test_set_window_is_stored_and_keeps_the_suggestion(lib: Library) -> None:
    ident, cid = _clip(lib)
    before = lib.get_identity(ident).updated_at
    info = lib.set_clip_window(cid, 3.25, 8.5)
    assert info.best_window == (3.25, 8.5) and info.suggested_window == (12.0, 17.0)
    assert info.window_moved
    again = lib.get_identity(ident)
    assert again.clips[0].best_window == (3.25, 8.5) and again.updated_at >= before
    # a window may end exactly at the clip's end, and tiny overshoots are clamped
    assert lib.set_clip_window(cid, 25.0, 30.0004).best_window == (25.0, 30.0)
    reset = lib.reset_clip_window(cid)
    assert reset.best_window == (12.0, 17.0) and not reset.window_moved


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (-1.0, 4.0, "before the clip"),
        (26.0, 31.0, "after the end of the 30.00 s clip"),
        (5.0, 5.0, "must end after it starts"),
        (8.0, 3.0, "must end after it starts"),
        (1.0, 2.5, "at least 2 s"),
        (0.0, 20.0, "at most 15 s"),
        (float("nan"), 5.0, "finite number"),
        ("soon", 5.0, "not a number"),
        (None, 5.0, "not a number"),
    ],
)
def test_bad_windows_are_refused_and_change_nothing(lib: Library, start, end, words) -> None:
    ident, cid = _clip(lib)
    lib.set_clip_window(cid, 2.0, 7.0)
    before = lib.get_identity(ident)
    with pytest.raises(InvalidInputError, match=words):
        lib.set_clip_window(cid, start, end)
    after = lib.get_identity(ident)
    assert after.clips[0].best_window == (2.0, 7.0)
    assert after.updated_at == before.updated_at


def test_short_clip_says_the_clip_is_too_short(lib: Library) -> None:
    ident, cid = _clip(lib, seconds=1.5)
    with pytest.raises(InvalidInputError, match="clip is only 1.5 s long"):
        lib.set_clip_window(cid, 0.0, 1.5)


def test_window_bounds_follow_the_voice_checks() -> None:
    from idlora_studio.library import audio_checks, repository

    assert repository.CLIP_WINDOW_MIN_S == audio_checks.MIN_CLIP_S
    assert repository.CLIP_WINDOW_MAX_S == audio_checks.LONG_S
    assert repository.CLIP_WINDOW_TRAINED_S == audio_checks.WINDOW_S


def test_unknown_clip(lib: Library) -> None:
    with pytest.raises(NotFoundError, match="no voice clip with id 999"):
        lib.set_clip_window(999, 0.0, 5.0)
    with pytest.raises(NotFoundError):
        lib.reset_clip_window(999)


def test_upgrade_from_0005_takes_the_window_as_the_suggestion(paths) -> None:  # noqa: ANN001
    engine = make_engine(paths.db_path)
    mig.upgrade(engine, "0005")
    engine.dispose()
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO identities (id, name, name_key, notes, created_at, updated_at) "
            "VALUES (1, 'Old', 'old', '', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
        )
        con.execute(
            "INSERT INTO voice_clips (id, identity_id, sha256, duration_s, source_duration_s, "
            "sample_rate, channels, loudness_lufs, gain_db, trim_start_s, trim_end_s, "
            "best_start_s, best_end_s, clipping, noisy, noise_floor_db, source, original_name, "
            "warnings_json, is_default, created_at) VALUES (7, 1, ?, 20.0, 20.0, 16000, 1, "
            "-20, 0, 0, 20, 4.5, 9.5, 0, 0, -60, 'imported', 'a.wav', '[]', 1, "
            "'2024-01-01 00:00:00')",
            ("ab" * 32,),
        )
    con.close()
    lib = Library.open(paths, collect=False)
    try:
        assert mig.current_revision(paths.db_path) == "0006"
        clip = lib.get_identity(1).clips[0]
        assert clip.best_window == (4.5, 9.5) and clip.suggested_window == (4.5, 9.5)
        assert lib.set_clip_window(7, 0.0, 5.0).suggested_window == (4.5, 9.5)
    finally:
        lib.close()
