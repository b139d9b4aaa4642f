"""Hostile inputs from the command line and the Studio's API: file and identity names that
are not UTF-8, media holding NaN or infinity. Each is refused (or, for a file name, stored
readably) with one sentence naming the file or value; nothing changes."""

from __future__ import annotations

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
