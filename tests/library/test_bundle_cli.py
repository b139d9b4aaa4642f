"""``idlora-studio bundle export|import`` and ``idlora-studio render`` from a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.media.video import probe_media, read_video
from idlora_studio.cli import main
from idlora_studio.library import Library
from idlora_studio.library.projects_repo import ProjectsRepository
from idlora_studio.paths import Paths
from tests.library.test_bundle import make_project, snapshot


@pytest.fixture
def project(paths: Paths, tmp_path: Path) -> tuple[int, dict]:
    with Library.open(paths) as lib:
        pid = make_project(lib, tmp_path / "src", name="Spring promo")
        return pid, snapshot(lib, pid)


def test_export_then_import_into_another_home(
    project: tuple[int, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid, before = project
    out = tmp_path / "promo.idlora"
    assert main(["bundle", "export", "spring PROMO", str(out)]) == 0
    assert "Exported project 'Spring promo'" in capsys.readouterr().out
    assert main(["bundle", "export", str(pid), str(tmp_path / "by-id.idlora")]) == 0

    monkeypatch.setenv("IDLORA_STUDIO_HOME", str(tmp_path / "home2"))
    assert main(["bundle", "import", str(out)]) == 0
    assert "Imported project 'Spring promo'" in capsys.readouterr().out
    with Library.open(Paths.from_env()) as lib2:
        (p,) = ProjectsRepository.from_library(lib2).list_projects()
        assert snapshot(lib2, p.id) == before


def test_errors_are_one_sentence_and_exit_1(
    project: tuple[int, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bundle", "export", "nope", str(tmp_path / "x.idlora")]) == 1
    err = capsys.readouterr().err
    assert err == "error: There is no project named or numbered 'nope'.\n"
    bad = tmp_path / "bad.idlora"
    bad.write_text("not a bundle")
    assert main(["bundle", "import", str(bad)]) == 1
    assert capsys.readouterr().err == (
        "error: bad.idlora is not a project bundle (it is not a zip file).\n"
    )
    assert main(["render", "nope", "--out", str(tmp_path / "x.mp4")]) == 1
    assert "no project named" in capsys.readouterr().err
    with Library.open(Paths.from_env()) as lib:
        ProjectsRepository.from_library(lib).create("Empty")
    assert main(["render", "Empty", "--out", str(tmp_path / "x.mp4")]) == 1
    assert capsys.readouterr().err == "error: The timeline of project 'Empty' is empty.\n"
    assert main(["render", "Spring promo", "--out", str(tmp_path / "x.png"), "--frame", "99"]) == 1
    assert "outside the timeline" in capsys.readouterr().err
    # /proc reports 0 bytes free: not a full disk but no disk at all
    assert main(["render", "Spring promo", "--out", "/proc/x.mp4"]) == 1
    err = capsys.readouterr().err
    assert "virtual file system" in err and "disk full" not in err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.png").exists()


def test_render_mp4_wav_png(
    project: tuple[int, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # timeline: take 2 frames [2, 10) at 0, take 1 frames [0, 6) at 12 -> 18 frames, gap 8-12
    out = tmp_path / "cut.mp4"
    assert (
        main(["render", "Spring promo", "--out", str(out), "--width", "64", "--height", "64"]) == 0
    )
    assert "Rendered 'Spring promo'" in capsys.readouterr().out
    info = probe_media(out)
    assert (info.width, info.height, info.num_frames) == (64, 64, 18)
    assert info.metadata["ai_generated"] == "true"
    frames, _ = read_video(out)
    assert frames[9].max() < 30 and frames[12].mean() > 30  # gap black, then take 1
    side = json.loads(Path(str(out) + ".json").read_text())
    assert [c["recipe"]["request"]["prompt"] for c in side["timeline"]["clips"]] == [
        "take 2",
        "take 1",
    ]
    assert side["content_credentials"]["embedded"] is True
    assert (Path(os.environ["IDLORA_STUDIO_HOME"]) / "config" / "content-credentials").is_dir()

    assert main(["render", "1", "--out", str(tmp_path / "a.wav"), "--quality", "small"]) == 0
    assert probe_media(tmp_path / "a.wav").audio_duration_s == pytest.approx(18 / 25)
    assert (
        main(["render", "1", "--out", str(tmp_path / "f"), "--format", "png", "--frame", "3"]) == 0
    )
    assert Image.open(tmp_path / "f").size == (32, 32)


def test_subprocess_render_and_help(project: tuple[int, dict], tmp_path: Path) -> None:
    env = {**os.environ, "IDLORA_STUDIO_HOME": os.environ["IDLORA_STUDIO_HOME"]}
    out = tmp_path / "p.mov"
    proc = subprocess.run(
        [sys.executable, "-m", "idlora_studio", "render", "Spring promo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert probe_media(out).video_codec == "prores"
    proc = subprocess.run(
        [sys.executable, "-m", "idlora_studio", "bundle", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0 and "export" in proc.stdout and "import" in proc.stdout
