"""Bad files through the real checks: a clear message naming the file, nothing left behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from idlora_studio.library import ImportRejected, Library
from tests import media_fixtures as mf
from tests.library.conftest import media_files


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("good")
    return {
        "face": mf.face_image(d / "face.jpg"),
        "speech": mf.speech_wav(d / "speech.wav", lead_silence=0.5, tail_silence=0.5),
    }


BAD_VOICE = {
    "text.wav": lambda d: mf.text_file(d / "text.wav"),
    "truncated.mp3": lambda d: mf.truncated_copy(
        mf.encode_audio(mf.speech_wav(d / "src.wav"), d / "full.mp3"), d / "truncated.mp3", 0.02
    ),
    "empty.wav": lambda d: mf.empty_file(d / "empty.wav"),
    "hour.flac": lambda d: mf.hour_long_flac(d / "hour.flac"),
    "silence.wav": lambda d: mf.silence_wav(d / "silence.wav"),
    "missing.wav": lambda d: d / "missing.wav",
}
BAD_IMAGE = {
    "bomb.png": lambda d: mf.bomb_png(d / "bomb.png"),
    "notes.png": lambda d: mf.text_file(d / "notes.png"),
    "empty.jpg": lambda d: mf.empty_file(d / "empty.jpg"),
    "missing.jpg": lambda d: d / "missing.jpg",
}


def _assert_nothing_stored(lib: Library, paths) -> None:  # noqa: ANN001
    assert lib.list_identities() == []
    con = sqlite3.connect(paths.db_path)
    for table in ("identities", "reference_images", "voice_clips", "tags"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    con.close()
    assert media_files(paths) == set()


@pytest.mark.parametrize("name", sorted(BAD_VOICE))
def test_bad_voice_file_rejects_the_whole_identity(name, lib, paths, tmp_path, good) -> None:  # noqa: ANN001
    bad = BAD_VOICE[name](tmp_path)
    with pytest.raises(ImportRejected) as info:
        lib.create_identity_with_media(
            "Ann", images=[good["face"]], clips=[good["speech"], bad], tags=["x"]
        )
    msg = str(info.value)
    assert msg.startswith(f"{name}: ") and len(msg) > len(name) + 10, msg
    _assert_nothing_stored(lib, paths)


@pytest.mark.parametrize("name", sorted(BAD_IMAGE))
def test_bad_image_rejects_the_whole_identity(name, lib, paths, tmp_path, good) -> None:  # noqa: ANN001
    bad = BAD_IMAGE[name](tmp_path)
    with pytest.raises(ImportRejected) as info:
        lib.create_identity_with_media("Ann", images=[good["face"], bad], clips=[good["speech"]])
    assert str(info.value).startswith(f"{name}: "), str(info.value)
    _assert_nothing_stored(lib, paths)


def test_messages_say_what_is_wrong(lib, tmp_path) -> None:  # noqa: ANN001
    a = lib.create_identity("Ann")
    with pytest.raises(ImportRejected, match="does not exist"):
        lib.add_voice_clip(a, tmp_path / "missing.wav")
    with pytest.raises(ImportRejected, match="empty"):
        lib.add_image(a, mf.empty_file(tmp_path / "empty.png"))
    with pytest.raises(ImportRejected, match="folder"):
        lib.add_image(a, tmp_path)
    assert lib.get_identity(a).images == ()


def test_real_files_import_with_face_warning_not_rejection(lib, paths, tmp_path, good) -> None:  # noqa: ANN001
    no_face = mf.no_face_image(tmp_path / "landscape.png")
    mp3 = mf.encode_audio(good["speech"], tmp_path / "speech.mp3")
    created = lib.create_identity_with_media(
        "Ann", images=[good["face"], no_face], clips=[good["speech"], mp3]
    )
    d = lib.get_identity(created.identity_id)
    assert [i.face_count for i in d.images] == [1, 0]
    assert d.images[0].is_default and d.images[0].original_name == "face.jpg"
    assert d.images[1].warnings and any("face" in w.lower() for w in created.images[1].warnings)
    assert d.images[0].thumbnail_path is not None and d.images[0].thumbnail_path.is_file()
    assert [c.original_name for c in d.clips] == ["speech.wav", "speech.mp3"]
    for c in d.clips:
        assert c.path.is_file() and 2.0 < c.duration_s < 6.0 and len(c.peaks) > 100
        assert c.best_window[1] > c.best_window[0]
    s = lib.list_identities()[0]
    assert s.thumbnail_path == d.images[0].thumbnail_path
    # Single adds go through the same checks.
    other = mf.speech_wav(tmp_path / "more.wav", "And here is one more sentence in my voice.")
    added = lib.add_voice_clip(created.identity_id, other)
    assert added.duration_s > 2.0
    assert len(lib.get_identity(created.identity_id).clips) == 3
