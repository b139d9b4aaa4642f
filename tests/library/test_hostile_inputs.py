"""Hostile inputs from the command line and the Studio's API: file and identity names that
are not UTF-8, media holding NaN or infinity. Each is refused (or, for a file name, stored
readably) with one sentence naming the file or value; nothing changes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from idlora_studio.cli import main
from idlora_studio.library import ImportRejected, InvalidInputError, Library
from idlora_studio.paths import Paths
from tests.library.test_bundle import state
from tests.media_fixtures import face_image, speech_wav

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX byte file names")


def _bytes_name(folder: Path, raw: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(str(folder)) + b"/" + raw))


def _nan_wav(path: Path, value: float = np.nan) -> Path:
    x = (0.2 * np.sin(np.arange(16_000 * 3) / 7)).astype(np.float32)
    x[5000:5003] = value
    sf.write(path, x, 16_000, subtype="FLOAT")
    return path


def _one_error(err: str) -> str:
    assert "Traceback" not in err, err
    (line,) = [x for x in err.strip().splitlines() if x.startswith("error:")]
    return line


def test_non_utf8_file_names_import_and_print(paths: Paths, tmp_path: Path, capsys: Any) -> None:
    image = face_image(tmp_path / "face.jpg")
    odd = _bytes_name(tmp_path, b"x\xff.jpg")
    image.rename(odd)
    voice = speech_wav(tmp_path / "v.wav")
    odd_voice = _bytes_name(tmp_path, b"v\xfe.wav")
    voice.rename(odd_voice)
    assert main(["library", "add", "Ann", "--image", str(odd), "--voice", str(odd_voice)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    with Library.open(paths) as lib:
        detail = lib.get_identity(lib.find_identity("Ann").id)
        assert detail.images[0].original_name == "x\ufffd.jpg"
        assert detail.clips[0].original_name == "v\ufffd.wav"
    assert main(["library", "add", "Bob", "--tag", os.fsdecode(b"t\xff")]) == 0
    assert main(["library", "list"]) == 0
    assert "[t\ufffd]" in capsys.readouterr().out


def test_non_utf8_identity_name_is_refused(paths: Paths, capsys: Any) -> None:
    Library.open(paths).close()
    before = state(paths)
    name = os.fsdecode(b"B\xff")
    assert main(["library", "add", name]) == 1
    err = _one_error(capsys.readouterr().err)
    assert (
        err
        == r"error: the name 'B\xff' holds bytes that are not UTF-8 text; type it again as text."
    )
    assert main(["library", "remove", name]) == 1
    assert _one_error(capsys.readouterr().err) == r"error: no identity named 'B\xff'."
    with Library.open(paths) as lib, pytest.raises(InvalidInputError, match="not UTF-8"):
        lib.create_identity(name)
    assert state(paths) == before


def test_nan_and_infinite_audio_is_refused(paths: Paths, tmp_path: Path, capsys: Any) -> None:
    Library.open(paths).close()
    before = state(paths)
    for value, name in ((np.nan, "nan.wav"), (np.inf, "inf.wav")):
        wav = _nan_wav(tmp_path / name, value)
        assert main(["library", "add", "Ann", "--voice", str(wav)]) == 1
        err = _one_error(capsys.readouterr().err)
        assert err.startswith(f"error: {name}: 3 of its samples are not numbers (NaN or infinity)")
        with Library.open(paths) as lib, pytest.raises(ImportRejected, match=name):
            lib.create_identity_with_media("Ann", clips=[wav])
    assert state(paths) == before


def test_text_helpers_escape_and_replace_lone_surrogates() -> None:
    from engine.text import dumps_json, printable, storable

    odd = os.fsdecode(b"a\xffb") + "\ud800"
    assert printable(odd) == r"a\xffb\ud800"
    assert storable(odd) == "a\ufffdb\ufffd"
    text = dumps_json({"name": odd, "é": 1})
    assert text.encode("utf-8") and "é" in text  # valid UTF-8, not ASCII-escaped
    assert json.loads(text)["name"] == odd  # reads back as the same name


def test_outputs_named_in_bytes_that_are_not_utf8_are_written_and_printed(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """``generate --out`` and ``render --out`` with a non-UTF-8 file name: the file and its
    recipe are written under that name and the summary prints it escaped. capsys' streams
    are strict UTF-8, like a terminal's under a UTF-8 locale (the sidecar write and the
    summary line both raised UnicodeEncodeError)."""
    from engine.cli import runners as gen_runners
    from tests.engine.test_cli_generate import FakeGenerator
    from tests.library.test_bundle import make_project

    monkeypatch.setattr(gen_runners, "_generator_factory", FakeGenerator.load)
    image, voice = face_image(tmp_path / "f.jpg"), speech_wav(tmp_path / "v.wav")
    out = _bytes_name(tmp_path, b"o\xff.mp4")
    argv = ["generate", "--model", "tiny", "--image", str(image), "--voice", str(voice)]
    argv += ["--prompt", "[VISUAL]: x", "--frames", "9", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "o\\xff.mp4:" in captured.out
    assert out.is_file() and out.with_suffix(".json").is_file()

    with Library.open(paths) as lib:
        make_project(lib, tmp_path / "m", name="Promo")
    render_out = _bytes_name(tmp_path, b"r\xff.mp4")
    assert main(["render", "Promo", "--out", str(render_out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "r\\xff.mp4" in captured.out
    sidecar = Path(str(render_out) + ".json")
    assert json.loads(sidecar.read_text(encoding="utf-8"))["output"]["file"] == render_out.name
    assert main(["render", os.fsdecode(b"P\xff"), "--out", str(tmp_path / "x.mp4")]) == 1
    assert _one_error(capsys.readouterr().err) == (
        r"error: There is no project named or numbered 'P\xff'."
    )
