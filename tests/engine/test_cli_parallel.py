"""``idlora-studio generate --gpus LIST --parallel passes|sequence|jobs`` on this CPU machine:
``--device cpu --gpus 0,1`` runs the same code on two CPU processes (gloo) or two CPU
generators, and the takes equal the one-process take."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.cli import runners as gen_runners
from engine.media.video import read_video
from idlora_studio.cli import main
from tests.media_fixtures import face_image, speech_wav

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("parallel-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDLORA_STUDIO_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parallel-media")
    return {
        "image": face_image(root / "face.jpg"),
        "voice": speech_wav(root / "voice.wav", "Hello there, this is a short test of my voice."),
    }


def _argv(media: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--model",
        "tiny",
        "--image",
        str(media["image"]),
        "--voice",
        str(media["voice"]),
        "--voice-window",
        "full",
        "--prompt",
        "[VISUAL]: a woman talks [SPEECH]: hello",
        "--out",
        str(out),
        "--width",
        "64",
        "--height",
        "64",
        "--frames",
        "9",
        "--steps",
        "2",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def test_passes_on_two_processes_equals_one(home, media, tmp_path: Path, capsys) -> None:
    assert gen_runners._generator_factory is None
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    assert main(_argv(media, one)) == 0, capsys.readouterr().err
    assert main(_argv(media, two, "--gpus", "0,1", "--parallel", "passes")) == 0, (
        capsys.readouterr().err
    )
    recipe = json.loads(two.with_suffix(".json").read_text())
    assert recipe["model"]["parallel"] == {
        "mode": "passes",
        "world_size": 2,
        "devices": ["cpu", "cpu"],
        "backend": "gloo",
    }
    a, b = read_video(one)[0], read_video(two)[0]
    assert a.shape == b.shape
    # the same latents (to 1e-5) encoded twice: H.264 re-encodes differ a little (PSNR check)
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert mse == 0 or 10 * np.log10(255**2 / mse) > 30


def test_jobs_one_take_per_device(home, media, tmp_path: Path, capsys) -> None:
    jobs = [
        {
            "prompt": f"[VISUAL]: a woman talks [SPEECH]: take {i}",
            "reference_path": str(media["voice"]),
            "first_frame_path": str(media["image"]),
            "output_name": f"take{i}.mp4",
            "voice_window": "full",
        }
        for i in range(3)
    ]
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    argv = _argv(media, tmp_path / "unused.mp4", "--gpus", "0,1", "--parallel", "jobs")
    argv = [a for a in argv if a not in ("--out", str(tmp_path / "unused.mp4"))]
    argv = [a for a in argv if a not in ("--image", str(media["image"]), "--voice")]
    argv = [a for a in argv if a != str(media["voice"])]
    i = argv.index("--voice-window")
    del argv[i : i + 2]
    argv += ["--jobs", str(jobs_file), "--out-dir", str(tmp_path / "out")]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "3 of 3 jobs done" in err
    seeds = sorted(
        json.loads((tmp_path / "out" / f"take{i}.json").read_text())["effective"]["seed"]
        for i in range(3)
    )
    assert seeds == [3, 4, 5]


def test_gpu_flags_are_checked(home, media, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.mp4"
    argv = _argv(media, out, "--gpus", "0,a")
    assert main(argv) == 2
    assert "'0,a'" in capsys.readouterr().err
    argv = [a for a in _argv(media, out, "--gpus", "0,1") if a not in ("--device", "cpu")]
    code = main(argv)
    err = capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert code == 1 and "need CUDA GPUs" in err and "Traceback" not in err
    assert not out.exists()
