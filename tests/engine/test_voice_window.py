"""Reference length: only the chosen window of the voice is encoded (CLI, jobs file, engine).

A 30 s clip must give ~5 s of reference tokens by default (the library's suggested window),
not 750 tokens; ``--voice-window`` picks another window; the recipe names the window used.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.api import GenerationRequest, InvalidRequestError  # noqa: E402
from engine.cli import runners as gen_runners  # noqa: E402
from engine.generate import voice_window_in  # noqa: E402
from engine.recipe import load_recipe, request_from_recipe  # noqa: E402
from idlora_studio.cli import main  # noqa: E402
from idlora_studio.library.importer import suggested_voice_window  # noqa: E402
from tests.media_fixtures import face_image, speech_wav, write_wav  # noqa: E402

SR = 16_000
TARGET_TOKENS = 9  # 9 frames at 25 fps -> 9 target audio latents


def _tokens(seconds: float) -> int:
    """Audio latents the causal audio VAE gives for ``seconds`` at 16 kHz (hop 160, 4x)."""
    return math.ceil((1 + int(round(seconds * SR)) // 160) / 4)


def _speechy(path: Path, seconds: float, quiet: tuple[float, float] | None = None) -> Path:
    """``seconds`` of real (espeak-ng) speech; ``quiet`` = (start, end) of a near-silent gap."""
    import soundfile as sf

    spoken = speech_wav(
        path.with_name(path.stem + "-words.wav"),
        "Hello there, this is a longer test of my voice for the studio. "
        "We read a few sentences so that the clip runs well past the usual five seconds.",
    )
    words, sr = sf.read(str(spoken), dtype="float32")
    x = np.tile(words, int(np.ceil(seconds * sr / len(words))))[: int(seconds * sr)]
    if quiet is not None:
        x[int(quiet[0] * sr) : int(quiet[1] * sr)] *= 0.001
    return write_wav(path, x[None], sr)


class TokenCounter:
    """Wraps the real generator loader; counts the audio tokens of every transformer pass."""

    def __init__(self) -> None:
        self.audio_tokens: list[int] = []

    def load(self, *args: Any, **kwargs: Any) -> Any:
        from engine.generate import IDLoRAGenerator

        gen = IDLoRAGenerator.load(*args, **kwargs)
        # the audio input projection sees every pass's audio tokens, whichever pass executor
        # runs them (the fast one batches passes and does not call transformer.forward)
        gen.pipe.transformer.audio_proj_in.register_forward_pre_hook(self._hook)
        return gen

    def _hook(self, module: Any, args: Any) -> None:
        self.audio_tokens.append(int(args[0].shape[1]))

    @property
    def reference_tokens(self) -> int:
        return max(self.audio_tokens) - TARGET_TOKENS


@pytest.fixture
def counted(monkeypatch, tmp_path_factory) -> TokenCounter:
    counter = TokenCounter()
    monkeypatch.setattr(gen_runners, "_generator_factory", counter.load)
    monkeypatch.setenv("IDLORA_STUDIO_HOME", str(tmp_path_factory.getbasetemp() / "vw-home"))
    return counter


def _argv(image: Path, voice: Path, out: Path, *extra: str) -> list[str]:
    return [
        "generate", "--model", "tiny", "--image", str(image), "--voice", str(voice),
        "--visual", "a person speaking", "--out", str(out), "--width", "64", "--height", "64",
        "--frames", "9", "--steps", "1", "--device", "cpu", "--no-progress", *extra,
    ]  # fmt: skip


def test_30s_clip_generates_with_5s_of_reference_by_default(counted, tmp_path, capsys) -> None:
    voice = _speechy(tmp_path / "long.wav", 30.0, quiet=(3.0, 9.0))
    image = face_image(tmp_path / "face.png")
    out = tmp_path / "take.mp4"
    assert main(_argv(image, voice, out)) == 0, capsys.readouterr().err
    window = suggested_voice_window(voice)
    assert window[1] - window[0] == pytest.approx(5.0, abs=0.02)
    assert not (window[0] < 9.0 and window[1] > 3.0)  # not across the quiet gap
    # 5 s of reference tokens (126), not the whole clip's 751
    assert counted.reference_tokens == _tokens(window[1] - window[0])
    assert counted.reference_tokens < 130 and _tokens(30.0) == 751
    recipe = load_recipe(out.with_suffix(".json"))
    assert recipe["request"]["voice_window"] == pytest.approx(list(window))
    assert recipe["effective"]["voice_window"] == pytest.approx(list(window))
    assert request_from_recipe(recipe).voice_window == pytest.approx(window)
    assert (
        f"reference voice: {window[0]:.2f}-{window[1]:.2f} s of the 30.0 s clip"
        in capsys.readouterr().out
    )


def test_voice_window_flag_and_full(counted, tmp_path, capsys) -> None:
    voice = _speechy(tmp_path / "long.wav", 30.0)
    image = face_image(tmp_path / "face.png")
    assert main(_argv(image, voice, tmp_path / "a.mp4", "--voice-window", "20:27.5")) == 0
    assert counted.reference_tokens == _tokens(7.5)
    assert load_recipe(tmp_path / "a.json")["request"]["voice_window"] == [20.0, 27.5]
    counted.audio_tokens.clear()
    assert main(_argv(image, voice, tmp_path / "b.mp4", "--voice-window", "full")) == 0
    assert counted.reference_tokens == _tokens(30.0)
    assert load_recipe(tmp_path / "b.json")["request"]["voice_window"] == [0.0, 30.0]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ("7:2", 2, "must run forwards"),
        ("soon", 2, "is not START:END"),
        ("-1:4", 2, "must run forwards"),
        ("25:40", 1, "ends after the end of long.wav (30.00 s)"),
    ],
)
def test_bad_voice_windows(counted, tmp_path, capsys, value, code, words) -> None:
    voice = _speechy(tmp_path / "long.wav", 30.0)
    image = face_image(tmp_path / "face.png")
    assert main(_argv(image, voice, tmp_path / "c.mp4", f"--voice-window={value}")) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "c.mp4").exists()


def test_jobs_file_windows(counted, tmp_path, capsys) -> None:
    voice = _speechy(tmp_path / "long.wav", 30.0)
    image = face_image(tmp_path / "face.png")
    job = {
        "prompt": "[VISUAL]: a person",
        "reference_path": str(voice),
        "first_frame_path": str(image),
    }
    jobs = [
        {**job, "output_name": "given.mp4", "voice_window": [1, 6]},
        {**job, "output_name": "default.mp4"},
        {**job, "output_name": "bad.mp4", "voice_window": "x"},
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    argv = ["generate", "--model", "tiny", "--jobs", str(tmp_path / "jobs.json")]
    argv += ["--out-dir", str(tmp_path / "o"), "--width", "64", "--height", "64"]
    argv += ["--frames", "9", "--steps", "1", "--device", "cpu", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bad.mp4: job 2: voice window 'x' is not START:END" in err
    assert load_recipe(tmp_path / "o" / "given.json")["request"]["voice_window"] == [1.0, 6.0]
    default = load_recipe(tmp_path / "o" / "default.json")["request"]["voice_window"]
    assert default == pytest.approx(list(suggested_voice_window(voice)))
    # --voice-window is for one take
    assert main([*argv, "--voice-window", "1:6"]) == 2
    assert "--voice-window is for one take" in capsys.readouterr().err


def test_engine_encodes_only_the_window(tmp_path, tiny_model_dir) -> None:

    voice = _speechy(tmp_path / "v.wav", 12.0)
    image = face_image(tmp_path / "face.png")
    counter = TokenCounter()
    gen = counter.load("tiny", cache_dir=tiny_model_dir.parent, device="cpu")
    base = dict(
        prompt="[VISUAL]: x", image=image, voice=voice, width=64, height=64, num_frames=9, steps=1
    )
    try:
        res = gen.generate(GenerationRequest(**base, voice_window=(2.0, 6.0)))
        assert counter.reference_tokens == _tokens(4.0)
        assert res.effective["voice_window"] == [2.0, 6.0]
        assert res.effective["voice_seconds"] == pytest.approx(4.0)
        counter.audio_tokens.clear()
        gen.generate(GenerationRequest(**base))  # no window: the whole file, as given
        assert counter.reference_tokens == _tokens(12.0)
        with pytest.raises(InvalidRequestError, match="at least 2 s"):
            gen.generate(GenerationRequest(**base, voice_window=(2.0, 3.0)))
    finally:
        gen.close()


def test_voice_window_rules() -> None:
    assert voice_window_in((1, 6), 30.0) == (1.0, 6.0)
    assert voice_window_in([25, 30.04], 30.0, "v.wav") == (25.0, 30.0)  # rounding slack
    for bad, words in [((5, 5), "end after it starts"), ((-1, 3), "0 s or later"),
                       ((1, 31), "ends after the end of v.wav"), (("a", 2), "not two numbers"),
                       ((0, math.nan), "not a finite range")]:  # fmt: skip
        with pytest.raises(InvalidRequestError, match=words):
            voice_window_in(bad, 30.0, "v.wav")
    req = GenerationRequest(voice_window=(1, 6))
    assert GenerationRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req
