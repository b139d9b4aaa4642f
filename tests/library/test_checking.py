"""Import checks in a child process (``library.checking``): same results as in-process,
rejections arrive intact, a crashing or hanging file costs only the child."""

from __future__ import annotations

import faulthandler
import pickle
import time
from pathlib import Path

import pytest

from idlora_studio.library import Library
from idlora_studio.library.checking import ChildProcessChecks, LocalChecks
from idlora_studio.library.media_types import ImportRejected
from tests import media_fixtures as mf


def segfault(path: Path) -> None:
    """Runs in the child: dies of SIGSEGV, as a broken decoder would."""
    faulthandler._sigsegv()


def hang(path: Path | None = None) -> None:
    """Runs in the child: a check that never ends."""
    time.sleep(3600)


@pytest.fixture(scope="module")
def child():
    checks = ChildProcessChecks(timeout_s=60)
    yield checks
    checks.close()


def test_import_rejected_survives_pickling():
    err = pickle.loads(pickle.dumps(ImportRejected(Path("/x/photo.png"), "too small")))
    assert isinstance(err, ImportRejected)
    assert (err.path, err.problem, str(err)) == (
        Path("/x/photo.png"),
        "too small",
        "photo.png: too small",
    )


def test_child_checks_equal_local_checks(child, tmp_path):
    image = mf.face_image(tmp_path / "face.jpg")
    voice = mf.speech_wav(tmp_path / "voice.wav")
    local = LocalChecks()
    assert child.image(image) == local.image(image)
    assert child.voice(voice) == local.voice(voice)
    got = child.crop(image, (10, 10, 300, 300), "face-crop.jpg")
    assert got == local.crop(image, (10, 10, 300, 300), "face-crop.jpg")
    assert (got.width, got.height, got.source) == (300, 300, Path("face-crop.jpg"))


def test_child_rejection_names_the_file(child, tmp_path):
    bad = mf.text_file(tmp_path / "notes.png")
    with pytest.raises(ImportRejected) as local:
        LocalChecks().image(bad)
    with pytest.raises(ImportRejected) as remote:
        child.image(bad)
    assert str(remote.value) == str(local.value)
    assert remote.value.path == bad


def test_a_crash_refuses_that_file_and_the_next_check_works(child, tmp_path):
    with pytest.raises(ImportRejected) as err:
        child._run(tmp_path / "evil.png", segfault)
    assert err.value.path.name == "evil.png"
    assert "crash" in err.value.problem
    image = mf.face_image(tmp_path / "face.jpg")
    assert child.image(image).width > 0


def test_a_hanging_check_is_stopped_and_refused(tmp_path):
    checks = ChildProcessChecks(timeout_s=3)
    try:
        started = time.monotonic()
        with pytest.raises(ImportRejected) as err:
            checks._run(tmp_path / "slow.wav", hang)
        assert time.monotonic() - started < 60
        assert "longer than 3 s" in err.value.problem
        assert checks.image(mf.face_image(tmp_path / "face.jpg")).width > 0
    finally:
        checks.close()


def test_closed_checks_refuse_work_and_library_close_stops_them(paths, tmp_path):
    library = Library.open(paths)
    checks = ChildProcessChecks()
    library.use_checks(checks)
    image = mf.face_image(tmp_path / "face.jpg")
    ident = library.create_identity("Ada")
    library.add_image(int(getattr(ident, "identity_id", ident)), image)
    library.close()
    with pytest.raises(RuntimeError):
        checks.image(image)


def test_a_child_that_cannot_start_leaves_the_checks_in_this_process(monkeypatch, tmp_path):
    from idlora_studio.library import checking

    monkeypatch.setattr(checking, "warm_up", hang)  # the child never gets ready
    checks = ChildProcessChecks(start_timeout_s=2)
    try:
        image = mf.face_image(tmp_path / "face.jpg")
        assert checks.image(image) == LocalChecks().image(image)
        assert "did not start within 2 s" in (checks.fallback_reason or "")
        assert checks._child._pool is None  # the stuck child was stopped
    finally:
        checks.close()
