"""``idlora-studio library add|list|remove`` through ``cli.main`` and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idlora_studio.cli import main
from tests import media_fixtures as mf
from tests.library.conftest import media_files

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli-media")
    return {
        "face": mf.face_image(d / "face.jpg"),
        "landscape": mf.no_face_image(d / "landscape.png"),
        "speech": mf.speech_wav(d / "speech.wav"),
        "text": mf.text_file(d / "fake.wav"),
    }


def test_add_list_remove(studio_home, files, capsys) -> None:  # noqa: ANN001
    rc = main(
        [
            "library", "add", "Ann Lee",
            "--image", str(files["face"]), "--image", str(files["landscape"]),
            "--voice", str(files["speech"]),
            "--consent", "Ann Lee: demo videos", "--tag", "actor",
        ]
    )  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "added 'Ann Lee'" in out.out and "2 image(s), 1 voice clip(s)" in out.out
    assert "warning: landscape.png:" in out.err and "face" in out.err.lower()

    assert main(["library", "add", "Bob", "--voice", str(files["speech"])]) == 0
    capsys.readouterr()
    assert main(["library", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(x["name"], x["images"], x["clips"], x["consent"]) for x in data] == [
        ("Ann Lee", 2, 1, True),
        ("Bob", 0, 1, False),
    ]
    assert data[0]["tags"] == ["actor"] and Path(data[0]["thumbnail"]).is_file()
    assert main(["library", "list", "--tag", "actor"]) == 0
    text = capsys.readouterr().out
    assert "Ann Lee" in text and "Bob" not in text

    assert main(["library", "remove", "ann lee"]) == 0
    assert "removed 'Ann Lee'" in capsys.readouterr().out
    assert main(["library", "remove", "Ann Lee"]) == 1
    assert "no identity named 'Ann Lee'" in capsys.readouterr().err
    assert main(["library", "list"]) == 0
    assert capsys.readouterr().out.split() == [
        "Bob",
        "0",
        "img",
        "1",
        "clip",
        "(no",
        "consent",
        "recorded)",
    ]


def test_rejection_exits_1_and_stores_nothing(studio_home, paths, files, capsys) -> None:  # noqa: ANN001
    rc = main(
        ["library", "add", "Ann", "--image", str(files["face"]), "--voice", str(files["text"])]
    )
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: fake.wav: ")
    assert main(["library", "add", "Ann", "--voice", "/nonexistent/x.wav"]) == 1
    assert "x.wav: file does not exist" in capsys.readouterr().err
    assert main(["library", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert media_files(paths) == set()
    assert main(["library", "add", "Ann"]) == 0
    assert main(["library", "add", "ANN"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_cli_process_without_qt_or_torch(studio_home, files) -> None:  # noqa: ANN001
    # Checking a voice clip runs Silero VAD on torch (CPU); nothing else needs torch, and
    # nothing here needs Qt or diffusers.
    code = (
        "import os, sys; from idlora_studio.cli import main; rc = main(sys.argv[1:]); "
        "banned = os.environ['BANNED'].split(); "
        "heavy = [m for m in banned if m in sys.modules]; "
        "assert not heavy, heavy; raise SystemExit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "BANNED": "torch PySide6 diffusers"}
    run = lambda *a, env=env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code, *a], env=env, capture_output=True, text=True, timeout=120
    )
    added = run(
        "library",
        "add",
        "Cara",
        "--image",
        str(files["face"]),
        "--voice",
        str(files["speech"]),
        env={**env, "BANNED": "PySide6 diffusers"},
    )
    assert added.returncode == 0, added.stderr
    listed = run("library", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [x["name"] for x in json.loads(listed.stdout)] == ["Cara"]
    bad = run("library", "add", "Dan", "--voice", str(files["text"]))
    assert bad.returncode == 1 and "fake.wav" in bad.stderr
