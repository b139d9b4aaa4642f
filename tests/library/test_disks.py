"""Full disks, read-only data folders, private permissions.

Full disks are real where the runner allows mounting a tmpfs (skipped with the reason printed
where it does not) and injected at the write calls (ENOSPC, SQLite's "database or disk is
full") everywhere. Every refusal says "disk full: X MB needed in FOLDER", exits 1 without a
traceback and leaves the library's rows and files as they were; freeing space makes the same
command work (retryable).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine.api import DiskFullError
from idlora_studio.cli import main
from idlora_studio.library import Library, ReadOnlyLibraryError
from idlora_studio.library import bundle as B
from idlora_studio.paths import Paths
from tests.disk_fixtures import fill, read_only_folder, small_disk
from tests.library.conftest import image_import, voice_import
from tests.library.test_bundle import make_project, state
from tests.media_fixtures import face_image, speech_wav

DISK_FULL = r"disk full: \d+ MB needed in {}"


def _one_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash (a snapshot to compare)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock" and not p.name.endswith(("-shm", "-wal"))
    }


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "in").mkdir(exist_ok=True)
    return {
        "image": face_image(tmp_path / "in" / "face.jpg"),
        "voice": speech_wav(tmp_path / "in" / "voice.wav"),
    }


@pytest.fixture
def disk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A Studio home on its own 32 MB tmpfs."""
    with small_disk(tmp_path / "disk", "32m") as disk:
        home = disk / "home"
        monkeypatch.setenv("IDLORA_STUDIO_HOME", str(home))
        yield Paths.from_env()


# ----------------------------------------------------------------------------- full disks


def test_add_and_remove_on_a_full_disk_change_nothing_and_can_be_retried(
    disk_home: Paths, inputs: dict[str, Path], capsys: Any
) -> None:
    argv = ["library", "add", "Ann", "--image", str(inputs["image"])]
    assert main([*argv, "--voice", str(inputs["voice"])]) == 0
    capsys.readouterr()
    filler = fill(disk_home.data_dir, leave=0)
    before = state(disk_home)
    pattern = DISK_FULL.format(re.escape(str(disk_home.data_dir)))

    assert main(["library", "add", "Bob", "--image", str(inputs["image"])]) == 1
    assert re.search(pattern, _one_error(capsys.readouterr().err))
    assert main(["library", "remove", "Ann"]) == 1
    assert re.search(pattern, _one_error(capsys.readouterr().err))
    assert main(["library", "list"]) == 0  # reading still works
    out = capsys.readouterr()
    assert out.out.startswith("Ann ") and "read-only" in out.err and "Traceback" not in out.err
    assert state(disk_home) == before

    filler.unlink()  # space freed: the same commands work
    assert main(["library", "add", "Bob", "--image", str(inputs["image"])]) == 0
    assert main(["library", "remove", "Ann"]) == 0


def test_files_that_do_not_fit_are_refused_before_writing(
    disk_home: Paths, capsys: Any, tmp_path: Path
) -> None:
    Library.open(disk_home).close()
    big = tmp_path / "big.png"  # noise does not compress: ~12 MB as PNG
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)).save(big)
    fill(disk_home.data_dir, leave=8_000_000)
    before = state(disk_home)
    assert main(["library", "add", "Big", "--image", str(big)]) == 1
    err = _one_error(capsys.readouterr().err)
    needed = int(re.search(r"disk full: (\d+) MB needed", err).group(1))
    assert needed >= 12 and str(disk_home.media_dir) in err
    assert state(disk_home) == before


def test_store_write_hitting_enospc_is_disk_full(
    lib: Library, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected where the media store writes (the GUI's import path)."""
    import idlora_studio.library.store as store_module

    @contextlib.contextmanager
    def no_space(target: Path, suffix: str | None = None) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))
        yield  # pragma: no cover

    monkeypatch.setattr(store_module, "atomic_path", no_space)
    before = state(paths)
    with pytest.raises(DiskFullError) as err:
        lib.create_identity_with_media("Ann", images=[image_import(1)], clips=[voice_import(2)])
    assert re.fullmatch(
        DISK_FULL.format(re.escape(str(paths.media_dir)))
        + r" \(for the media store\), \d+ MB free",
        str(err.value),
    )
    assert state(paths) == before


def test_database_full_is_disk_full(lib: Library, paths: Paths) -> None:
    """SQLite's own "database or disk is full" (a page limit makes every growth fail)."""
    from sqlalchemy import event

    lib.create_identity("Ann")
    before = state(paths)
    lib.engine.dispose()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(lib.engine, "connect", cap)
    big = image_import(3, size=(900, 900))
    with pytest.raises(DiskFullError) as err:
        for n in range(20):  # rows and notes until a new page is needed
            lib.create_identity(f"P{n}", notes="x" * 200_000)
        lib.add_media(lib.find_identity("Ann").id, images=[big])
    assert str(err.value).startswith(f"disk full: 4 MB needed in {paths.data_dir}")
    assert "INSERT" not in str(err.value)
    event.remove(lib.engine, "connect", cap)
    lib.engine.dispose()
    assert state(paths)[0]["identities"] == before[0]["identities"]


def test_daily_backup_on_a_full_disk_is_skipped_with_a_warning(
    paths: Paths, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import idlora_studio.library.migrate as migrate_module

    Library.open(paths).close()
    for old in paths.backups_dir.iterdir():  # the daily backup is due
        old.unlink()

    def full(*_a: Any, **_k: Any) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(migrate_module, "backup_database", full)
    assert main(["library", "list"]) == 0
    err = capsys.readouterr().err
    assert re.search(
        r"warning: The daily backup was skipped: "
        + DISK_FULL.format(re.escape(str(paths.backups_dir))),
        err,
    )
    assert "Traceback" not in err


def test_bundle_import_on_a_full_disk(disk_home: Paths, tmp_path: Path, capsys: Any) -> None:
    src = Paths(tmp_path / "src" / "d", tmp_path / "src" / "c", tmp_path / "src" / "k").ensure()
    with Library.open(src) as lib:
        bundle = B.export_bundle(lib, make_project(lib, tmp_path / "m"), tmp_path / "p.idlora")
    Library.open(disk_home).close()
    fill(disk_home.data_dir, leave=6_000_000)
    before = state(disk_home)
    assert main(["bundle", "import", str(bundle.path)]) == 1
    err = _one_error(capsys.readouterr().err)
    assert re.search(DISK_FULL.format(re.escape(str(disk_home.data_dir))), err)
    assert "(for importing p.idlora)" in err
    assert state(disk_home) == before  # no rows, no files, no staging folder


def test_bundle_import_filling_the_disk_while_extracting(
    lib: Library, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = Paths(tmp_path / "src" / "d", tmp_path / "src" / "c", tmp_path / "src" / "k").ensure()
    with Library.open(src) as other:
        bundle = B.export_bundle(other, make_project(other, tmp_path / "m"), tmp_path / "p.idlora")
    before = state(paths)

    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(B.os, "fsync", fsync)
    with pytest.raises(DiskFullError, match=DISK_FULL.format(re.escape(str(paths.data_dir)))):
        B.import_bundle(bundle.path, lib)
    monkeypatch.undo()
    assert state(paths) == before


def _project_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    home = tmp_path / "home"
    monkeypatch.setenv("IDLORA_STUDIO_HOME", str(home))
    paths = Paths.from_env().ensure()
    with Library.open(paths) as lib:
        make_project(lib, tmp_path / "m", name="Promo")
    return paths


def test_render_to_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> None:
    _project_home(tmp_path, monkeypatch)
    with small_disk(tmp_path / "out", "1m") as out:
        fill(out, leave=0)
        # the up-front estimate refuses
        assert main(["render", "Promo", "--out", str(out / "r.mp4"), "--quiet"]) == 1
        err = _one_error(capfd.readouterr().err)
        assert re.search(DISK_FULL.format(re.escape(str(out))) + r" \(for r.mp4\)", err)
        # past a (wrong) estimate, the disk fills while encoding: same sentence, no PyAV noise
        monkeypatch.setattr("engine.fsutil.free_bytes", lambda _p: 1 << 40)
        for fmt in ("mp4", "mov", "wav"):
            assert main(["render", "Promo", "--out", str(out / f"r.{fmt}"), "--quiet"]) == 1
            err = capfd.readouterr().err
            assert "disk full:" in _one_error(err) and f"(for r.{fmt})" in err
            assert "PyAV" not in err and "exception being dropped" not in err
        assert sorted(p.name for p in out.iterdir()) == ["filler.bin"]


def test_generate_to_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any, inputs: dict[str, Path]
) -> None:
    from engine.cli import runners as gen_runners
    from tests.engine.test_cli_generate import FakeGenerator

    monkeypatch.setattr(gen_runners, "_generator_factory", FakeGenerator.load)
    with small_disk(tmp_path / "out", "64k") as out:
        fill(out, leave=0)
        argv = ["generate", "--model", "tiny", "--image", str(inputs["image"])]
        argv += ["--voice", str(inputs["voice"]), "--prompt", "[VISUAL]: x", "--no-progress"]
        argv += ["--width", "256", "--height", "256", "--frames", "33"]
        assert main([*argv, "--out", str(out / "o.mp4")]) == 1
        err = capfd.readouterr().err
        assert re.search(DISK_FULL.format(re.escape(str(out))) + r" \(for o.mp4\)", _one_error(err))
        assert "PyAV" not in err and "Traceback" not in err
        assert [p.name for p in out.iterdir()] == ["filler.bin"]


# ----------------------------------------------------------------------------- read-only


def test_read_only_data_folder_browses_renders_and_exports_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, inputs: dict[str, Path]
) -> None:
    paths = _project_home(tmp_path, monkeypatch)
    with read_only_folder(paths.data_dir):
        before = _files(paths.data_dir)
        assert main(["library", "list"]) == 0
        out = capsys.readouterr()
        assert "Ann Lee" in out.out and "read-only" in out.err and "Traceback" not in out.err
        assert main(["render", "Promo", "--out", str(tmp_path / "r.mp4"), "--quiet"]) == 0
        assert (tmp_path / "r.mp4").is_file()
        assert main(["bundle", "export", "Promo", str(tmp_path / "p.idlora")]) == 0
        capsys.readouterr()
        for argv in (
            ["library", "add", "Bob", "--image", str(inputs["image"])],
            ["library", "remove", "Ann Lee"],
            ["bundle", "import", str(tmp_path / "p.idlora")],
        ):
            assert main(argv) == 1
            err = _one_error(capsys.readouterr().err)
            assert (
                f"the library is open read-only (the data folder {paths.data_dir} is read-only)"
                in err
            )
        with Library.open(paths) as lib:
            assert lib.read_only and len(lib.list_identities()) == 3
            with pytest.raises(ReadOnlyLibraryError):
                lib.create_identity("Zed")
        assert _files(paths.data_dir) == before


def test_outputs_that_cannot_be_written_there_are_refused_naming_the_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any, inputs: dict[str, Path]
) -> None:
    """A read-only output folder, or a folder given where a file is wanted: render, bundle
    export and generate name that place (they named their own temp file), and generate says
    so before loading the model (minutes for a real one)."""
    from engine.cli import runners as gen_runners
    from tests.engine.test_cli_generate import FakeGenerator

    _project_home(tmp_path, monkeypatch)
    monkeypatch.setattr(gen_runners, "_generator_factory", FakeGenerator.load)
    FakeGenerator.instances = []
    gen = ["generate", "--model", "tiny", "--image", str(inputs["image"])]
    gen += ["--voice", str(inputs["voice"]), "--prompt", "[VISUAL]: x", "--no-progress"]
    gen += ["--frames", "9"]
    shut = tmp_path / "shut"
    shut.mkdir()
    with read_only_folder(shut):
        for argv in (
            ["render", "Promo", "--out", str(shut / "r.mp4"), "--quiet"],
            ["bundle", "export", "Promo", str(shut / "p.idlora")],
            [*gen, "--out", str(shut / "sub" / "g.mp4")],
        ):
            assert main(argv) == 1
            err = _one_error(capfd.readouterr().err)
            assert "cannot write a file in this folder" in err and str(shut) in err, err
            assert ".tmp-" not in err
        assert list(shut.iterdir()) == []
    folder = tmp_path / "exports"
    folder.mkdir()
    for argv in (
        ["render", "Promo", "--out", str(folder), "--quiet"],
        ["bundle", "export", "Promo", str(folder)],
    ):
        assert main(argv) == 1
        err = _one_error(capfd.readouterr().err)
        assert f"this is a folder; give a file name in it: {folder}" in err
    assert list(folder.iterdir()) == []
    assert not FakeGenerator.instances
    assert main(["render", "Promo", "--out", str(tmp_path / "r.mp4"), "--width", "0"]) == 1
    err = _one_error(capfd.readouterr().err)
    assert "the output width 0 is outside 16 to 7680 px" in err


# ----------------------------------------------------------------------------- privacy


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_data_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("IDLORA_STUDIO_HOME", str(home))
    paths = Paths.from_env()
    assert main(["library", "add", "Ann", "--image", str(inputs["image"])]) == 0
    for folder in (paths.data_dir, paths.config_dir, paths.cache_dir):
        assert _mode(folder) == 0o700, folder
    assert _mode(paths.db_path) == 0o600
    assert all(_mode(p) == 0o600 for p in paths.media_dir.glob("??/*"))
    assert all(_mode(p) == 0o600 for p in paths.backups_dir.iterdir())
    # an old, open library is tightened when opened
    paths.data_dir.chmod(0o755)
    paths.db_path.chmod(0o644)
    Library.open(paths).close()
    assert _mode(paths.data_dir) == 0o700 and _mode(paths.db_path) == 0o600

    with Library.open(paths) as lib:
        pid = make_project(lib, tmp_path / "m", name="Promo")
        bundle = B.export_bundle(lib, pid, tmp_path / "p.idlora")
    other = Paths(tmp_path / "o" / "d", tmp_path / "o" / "c", tmp_path / "o" / "k").ensure()
    with Library.open(other) as lib2:
        B.import_bundle(bundle.path, lib2)
    assert all(_mode(p) == 0o600 for p in other.media_dir.glob("??/*"))
    assert main(["render", "Promo", "--out", str(tmp_path / "r.mp4"), "--quiet"]) == 0
    assert _mode(tmp_path / "r.mp4") == 0o600 and _mode(tmp_path / "r.mp4.json") == 0o600
