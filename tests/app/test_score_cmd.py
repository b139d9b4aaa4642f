"""``idlora-studio score``: takes, videos and audio files against a reference clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idlora_studio.cli import main
from idlora_studio.library import Library
from idlora_studio.library.jobs_repo import JobSpec, TakeFiles, TakesRepository
from tests import media_fixtures as mf

TEXT_A = "The quick brown fox jumps over the lazy dog near the river bank."
TEXT_B = "Please call Stella and ask her to bring these things from the store."


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("score")
    return {
        "ref": mf.speech_wav(d / "ref.wav", TEXT_A, voice="en+m1"),
        "same": mf.encode_audio(
            mf.speech_wav(d / "same.wav", TEXT_B, voice="en+m1"), d / "same.mp4"
        ),
        "other": mf.speech_wav(d / "other.wav", TEXT_B, voice="en+f2"),
    }


def test_scores_a_video_and_an_audio_file(voices: dict[str, Path], capsys: Any) -> None:
    assert main(["score", str(voices["same"]), "--voice", str(voices["ref"]), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert main(["score", str(voices["other"]), "--voice", str(voices["ref"]), "--json"]) == 0
    other = json.loads(capsys.readouterr().out)
    assert same["model"] == "resemblyzer-ge2e" and not same["stored"]
    assert 0.0 <= other["voice_match"] < same["voice_match"] <= 1.0
    assert same["media_speech_s"] > 2.0
    assert main(["score", str(voices["same"]), "--voice", str(voices["ref"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"voice match {same['voice_match']:.2f}  ")
    assert "Resemblyzer GE2E" in out


def test_scores_a_take_and_stores_the_score(voices: dict[str, Path], paths, capsys: Any) -> None:  # noqa: ANN001
    with Library.open(paths) as lib:
        takes = TakesRepository.from_library(lib)
        recipe = {"request": {"voice": str(voices["ref"])}, "output": {"num_frames": 9}}
        take_id = takes.add_take(TakeFiles(voices["same"]), recipe, spec=JobSpec(model_set="tiny"))
        assert takes.get_take(take_id).voice_match is None
    assert main(["score", str(take_id), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stored"] and result["voice"] == str(voices["ref"])
    with Library.open(paths) as lib:
        take = TakesRepository.from_library(lib).get_take(take_id)
    assert take.voice_match == pytest.approx(result["voice_match"], abs=1e-4)
    assert take.voice_match_model == "resemblyzer-ge2e"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "999", "--voice", "{ref}"], "take 999 does not exist"),
        (["score", "{missing}", "--voice", "{ref}"], "missing.mp4: the file does not exist"),
        (["score", "{ref}", "--voice", "{text}"], "notes.wav: this is not an audio file"),
        (["score", "{ref}"], "--voice CLIP is needed"),
    ],
)
def test_bad_input_is_one_clear_sentence(
    voices: dict[str, Path],
    paths,
    tmp_path: Path,
    capsys: Any,
    argv: list[str],
    message: str,  # noqa: ANN001
) -> None:
    names = {
        "ref": str(voices["ref"]),
        "missing": str(tmp_path / "missing.mp4"),
        "text": str(mf.text_file(tmp_path / "notes.wav")),
    }
    code = main([a.format(**names) for a in argv])
    err = capsys.readouterr().err
    assert code in (1, 2) and message in err and "Traceback" not in err
