"""``idlora-studio generate``: argument checks, jobs files, outputs, errors, cancel."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import cli as gen_cli
from engine.api import (
    Cancelled,
    CancelToken,
    GenerationRequest,
    GenerationResult,
    ModelNotFoundError,
    ProgressInfo,
)
from engine.cli import runners as gen_runners
from engine.fsutil import sha256_file
from engine.media.video import probe_media, read_audio_track
from engine.recipe import load_recipe, request_from_recipe
from idlora_studio.cli import main
from tests.media_fixtures import face_image, speech_wav, text_file, tone_wav


class FakeGenerator:
    """Stands in for ``IDLoRAGenerator``: snaps sizes like the real rules, records calls."""

    instances: list[FakeGenerator] = []

    def __init__(self, model: str, lora: Path | None, **kwargs: Any) -> None:
        self.model = model
        self.lora = lora
        self.kwargs = kwargs
        self.requests: list[GenerationRequest] = []
        self.closed = False
        self.cancel_at: int | None = None
        FakeGenerator.instances.append(self)

    @classmethod
    def load(cls, model: str, lora: Path | None = None, **kwargs: Any) -> FakeGenerator:
        if model == "missing":
            raise ModelNotFoundError("The model 'missing' is not downloaded.")
        return cls(model, lora, **kwargs)

    def generate(
        self,
        request: GenerationRequest,
        progress: Any = None,
        cancel: CancelToken | None = None,
    ) -> GenerationResult:
        self.requests.append(request)
        steps = request.resolved().steps  # None: the pipeline's default
        w = max(32, (request.width or 64) // 32 * 32)
        h = max(32, (request.height or 64) // 32 * 32)
        frames = request.num_frames or round((request.duration_s or 4.84) * request.fps)
        frames = (frames - 1) // 8 * 8 + 1
        for step in range(1, steps + 1):
            if self.cancel_at == step and cancel is not None:
                cancel.cancel()
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(ProgressInfo(step, steps, 0.01 * step, 0.0))
        video = np.zeros((frames, h, w, 3), np.uint8)
        video[..., 0] = (request.seed * 37) % 256
        rate = 24_000
        n = int(frames / request.fps * rate) + 1234  # not the exact length: the writer fits it
        t = np.arange(n) / rate
        audio = np.stack([0.3 * np.sin(2 * np.pi * 300 * t)] * 2).astype(np.float32)
        return GenerationResult(
            frames=video,
            audio=audio,
            sample_rate=rate,
            fps=request.fps,
            effective={"width": w, "height": h, "num_frames": frames, "seed": request.seed},
            timings={"denoise": 0.01},
        )

    def model_info(self) -> dict[str, Any]:
        return {"source": self.model, "variant": "fake"}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeGenerator]:
    FakeGenerator.instances = []
    monkeypatch.setattr(gen_runners, "_generator_factory", FakeGenerator.load)
    return FakeGenerator


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    return {
        "image": face_image(tmp_path / "face.jpg"),
        "voice": speech_wav(
            tmp_path / "voice.wav", "Hello there, this is a short test of my voice."
        ),
    }


def _single(media: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--model",
        "tiny",
        "--image",
        str(media["image"]),
        "--voice",
        str(media["voice"]),
        "--visual",
        "A woman is speaking to the camera.",
        "--speech",
        "Hello there.",
        "--sounds",
        "Clear voice, quiet room.",
        "--out",
        str(out),
        *extra,
    ]


def test_single_take_writes_clip_and_sidecar(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "out" / "clip.mp4"
    args = _single(media, out, "--width", "70", "--height", "64", "--frames", "20")
    args += ["--steps", "3", "--seed", "7", "--video-cfg", "2.0", "--no-progress"]
    assert main(args) == 0
    info = probe_media(out)
    assert (info.width, info.height, info.num_frames) == (64, 64, 17)
    assert info.fps == pytest.approx(25.0)
    samples, rate = read_audio_track(out)
    assert abs(samples.shape[1] / rate - 17 / 25) <= 0.04
    assert info.metadata.get("ai_generated") == "true"
    assert "AI-generated" in info.metadata.get("comment", "")
    stdout = capsys.readouterr().out
    assert "64x64, 17 frames" in stdout and "snapped" in stdout

    recipe = load_recipe(out.with_suffix(".json"))
    assert recipe["output"]["sha256"] == sha256_file(out)
    assert recipe["inputs"]["voice"]["sha256"] == sha256_file(media["voice"])
    assert recipe["inputs"]["image"]["sha256"] == sha256_file(media["image"])
    req = request_from_recipe(recipe)
    assert req == fake.instances[0].requests[0]
    assert (req.width, req.height, req.num_frames, req.steps, req.seed) == (70, 64, 20, 3, 7)
    assert req.video_cfg == 2.0 and req.audio_cfg == GenerationRequest().audio_cfg
    assert req.parts.speech == "Hello there."
    assert recipe["effective"]["num_frames"] == 17
    assert fake.instances[0].closed


def test_progress_bar_goes_to_stderr(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    assert main(_single(media, tmp_path / "p.mp4", "--frames", "9", "--steps", "4")) == 0
    err = capsys.readouterr().err
    assert "4/4" in err and "step" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--width", "64"], "--width and --height"),
        (["--width", "64", "--height", "64", "--auto-size"], "--auto-size"),
        (["--frames", "9", "--duration", "1.0"], "either --frames or --duration"),
        (["--steps", "0"], "--steps 0 is outside 1 to 200"),
        (["--out-dir", "x"], "--out-dir is for --jobs"),
    ],
)
def test_usage_errors_exit_2(
    fake: type[FakeGenerator],
    media: dict[str, Path],
    tmp_path: Path,
    capsys: Any,
    extra: list[str],
    message: str,
) -> None:
    assert main(_single(media, tmp_path / "u.mp4", *extra)) == 2
    assert message in capsys.readouterr().err
    assert not fake.instances  # nothing loaded


def test_missing_inputs_and_prompt_are_usage_errors(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    assert main(["generate", "--model", "tiny", "--out", str(tmp_path / "a.mp4")]) == 2
    assert "--image, --voice" in capsys.readouterr().err
    argv = ["generate", "--model", "tiny", "--image", str(media["image"])]
    argv += ["--voice", str(media["voice"]), "--out", str(tmp_path / "a.mp4")]
    assert main(argv) == 2
    assert "give the prompt" in capsys.readouterr().err


def test_argparse_type_errors_exit_2(fake: type[FakeGenerator]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--model", "tiny", "--frames", "many"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["generate"])  # --model is required
    assert exc.value.code == 2


def test_unreadable_voice_single_take_is_one_sentence(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    media = dict(media, voice=text_file(tmp_path / "notes.wav"))
    assert main(_single(media, tmp_path / "v.mp4")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: notes.wav:")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "v.mp4").exists()


def test_model_errors_are_one_sentence(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    argv = _single(media, tmp_path / "m.mp4")
    argv[argv.index("tiny")] = "missing"
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: The model 'missing' is not downloaded."


def _write_jobs(tmp_path: Path, media: dict[str, Path], bad_voice: Path) -> Path:
    jobs = [
        {
            "prompt": "[VISUAL]: a man speaking [SPEECH]: One. [SOUNDS]: quiet",
            "reference_path": str(media["voice"]),
            "first_frame_path": str(media["image"]),
            "output_name": "one.mp4",
        },
        {
            "prompt": "[VISUAL]: a man speaking [SPEECH]: Two. [SOUNDS]: quiet",
            "reference_path": str(bad_voice),
            "first_frame_path": str(media["image"]),
            "output_name": "two",
        },
        {
            "prompt": "[VISUAL]: a man speaking [SPEECH]: Three. [SOUNDS]: quiet",
            # relative paths resolve beside the jobs file
            "reference_path": media["voice"].name,
            "first_frame_path": media["image"].name,
            "output_name": "three.mp4",
        },
        {"prompt": "no inputs at all", "output_name": "four.mp4"},
    ]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs))
    return path


def test_jobs_file_parsing_seeds_and_paths(
    media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    gen_cli.register(sub)
    jobs_file = _write_jobs(tmp_path, media, tmp_path / "nope.wav")
    monkeypatch.chdir(tmp_path.parent)  # relative names must not resolve against cwd
    args = parser.parse_args(["generate", "--model", "tiny", "--seed", "100", "--frames", "9"])
    entries = gen_cli.parse_jobs_file(jobs_file, args, tmp_path / "outs")
    jobs = [e for e in entries if isinstance(e, gen_cli.Job)]
    assert [j.request.seed for j in jobs] == [100, 101, 102]
    assert [j.output.name for j in jobs] == ["one.mp4", "two.mp4", "three.mp4"]
    assert all(j.output.parent == tmp_path / "outs" for j in jobs)
    assert jobs[2].request.voice == tmp_path / media["voice"].name
    assert jobs[0].request.full_prompt.startswith("[VISUAL]: a man speaking [SPEECH]: One.")
    assert all(j.request.num_frames == 9 for j in jobs)
    bad = [e for e in entries if not isinstance(e, gen_cli.Job)]
    assert bad == [(3, "four.mp4", "the job has no reference_path, first_frame_path")]


def test_out_with_jobs_is_a_usage_error(
    fake: type[FakeGenerator], tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "j.json").write_text("[]")
    argv = ["generate", "--model", "tiny", "--jobs", str(tmp_path / "j.json"), "--out", "x.mp4"]
    assert main(argv) == 2
    assert "--out-dir" in capsys.readouterr().err
    assert main(["generate", "--model", "tiny", "--jobs", str(tmp_path / "j.json")]) == 0


@pytest.mark.parametrize("content", ["{", '{"prompt": "x"}'])
def test_bad_jobs_file_is_a_usage_error(
    fake: type[FakeGenerator], tmp_path: Path, capsys: Any, content: str
) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(content)
    assert main(["generate", "--model", "tiny", "--jobs", str(path)]) == 2
    assert "jobs.json" in capsys.readouterr().err


def test_batch_continues_past_bad_job_and_fails_overall(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    bad_voice = text_file(tmp_path / "broken.wav")
    jobs_file = _write_jobs(tmp_path, media, bad_voice)
    out_dir = tmp_path / "batch"
    argv = ["generate", "--model", "tiny", "--jobs", str(jobs_file), "--out-dir", str(out_dir)]
    argv += ["--seed", "5", "--frames", "9", "--steps", "2", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: two.mp4: broken.wav:" in err
    assert "four.mp4" in err and "2 of 4 jobs done" in err
    assert "Traceback" not in err
    assert len(fake.instances) == 1  # models loaded once
    assert [r.seed for r in fake.instances[0].requests] == [5, 7]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "batch_report.csv",
        "one.json",
        "one.mp4",
        "three.json",
        "three.mp4",
    ]
    with open(out_dir / "batch_report.csv", newline="") as fh:
        report = list(csv.DictReader(fh))
    assert [(r["job"], r["status"]) for r in report] == [
        ("one.mp4", "done"),
        ("two.mp4", "failed"),
        ("three.mp4", "done"),
        ("four.mp4", "failed"),
    ]
    assert "voice_match" not in report[0]  # only with --score
    for name, seed in (("one", 5), ("three", 7)):
        recipe = load_recipe(out_dir / f"{name}.json")
        assert recipe["request"]["seed"] == seed
        assert probe_media(out_dir / f"{name}.mp4").num_frames == 9


def test_generation_failure_in_batch_is_reported(
    fake: type[FakeGenerator],
    media: dict[str, Path],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"n": 0}
    real = FakeGenerator.generate

    def flaky(self: FakeGenerator, request: GenerationRequest, **kw: Any) -> GenerationResult:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA error: an illegal memory access")
        return real(self, request, **kw)

    monkeypatch.setattr(FakeGenerator, "generate", flaky)
    jobs = [
        {
            "prompt": f"[SPEECH]: take {i}",
            "reference_path": str(media["voice"]),
            "first_frame_path": str(media["image"]),
            "output_name": f"t{i}.mp4",
        }
        for i in range(2)
    ]
    (tmp_path / "j.json").write_text(json.dumps(jobs))
    argv = ["generate", "--model", "tiny", "--jobs", str(tmp_path / "j.json")]
    argv += ["--out-dir", str(tmp_path), "--frames", "9", "--steps", "1", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: t0.mp4: unexpected RuntimeError: CUDA error" in err
    assert (tmp_path / "t1.mp4").exists() and not (tmp_path / "t0.mp4").exists()


def test_cancel_exits_130_and_writes_nothing(
    fake: type[FakeGenerator],
    media: dict[str, Path],
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_load = FakeGenerator.load

    def load(*a: Any, **kw: Any) -> FakeGenerator:
        g = real_load(*a, **kw)
        g.cancel_at = 2
        return g

    monkeypatch.setattr(gen_runners, "_generator_factory", load)
    out = tmp_path / "c.mp4"
    assert main(_single(media, out, "--steps", "5", "--no-progress")) == 130
    assert "cancelled" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_sigint_sets_the_cancel_token() -> None:
    import os
    import signal

    token = CancelToken()
    with gen_runners._sigint_cancels(token):
        os.kill(os.getpid(), signal.SIGINT)
        assert token.cancelled
        with pytest.raises(Cancelled):
            token.raise_if_cancelled()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_cli_module_imports_no_torch() -> None:
    import subprocess

    code = (
        "import argparse, sys, engine.cli; "
        "engine.cli.register(argparse.ArgumentParser().add_subparsers()); "
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('torch', 'diffusers')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_duration_flag_reaches_request(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path
) -> None:
    assert main(_single(media, tmp_path / "d.mp4", "--duration", "0.7", "--steps", "1")) == 0
    req = fake.instances[0].requests[0]
    assert req.duration_s == 0.7 and req.num_frames is None and req.width is None
    info = probe_media(tmp_path / "d.mp4")
    assert info.num_frames == 17  # 0.7 s at 25 fps = 17.5 -> 17 (8k+1)
    assert math.isclose(info.audio_duration_s, 17 / 25, abs_tol=0.04)


# ----------------------------------------------------------------------------- real tiny model


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One Studio home (and so one built tiny model) shared by the end-to-end tests here."""
    home = tmp_path_factory.mktemp("tiny-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDLORA_STUDIO_HOME", str(home))
        yield home


def test_end_to_end_on_the_real_tiny_model(
    tiny_home: Path, media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    assert gen_runners._generator_factory is None  # the real IDLoRAGenerator
    out = tmp_path / "real" / "clip.mp4"
    argv = _single(media, out, "--width", "64", "--height", "64", "--frames", "9")
    argv += ["--steps", "2", "--seed", "3", "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "64x64, 9 frames at 25 fps" in captured.out
    assert "2/2" in captured.err  # the progress bar reached the end

    info = probe_media(out)
    assert (info.width, info.height, info.num_frames) == (64, 64, 9)
    assert info.fps == pytest.approx(25.0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.video_duration_s == pytest.approx(9 / 25, abs=1e-3)
    samples, rate = read_audio_track(out)
    assert abs(samples.shape[1] / rate - 9 / 25) <= 0.04
    assert abs(info.audio_duration_s - 9 / 25) <= 0.04
    assert info.metadata.get("ai_generated") == "true"

    recipe = load_recipe(out.with_suffix(".json"))
    assert recipe["output"]["sha256"] == sha256_file(out)
    assert recipe["inputs"]["image"]["sha256"] == sha256_file(media["image"])
    assert recipe["inputs"]["voice"]["sha256"] == sha256_file(media["voice"])
    assert recipe["effective"]["width"] == 64 and recipe["effective"]["num_frames"] == 9
    assert recipe["model"]["tiny"] is True and recipe["device"]["device"] == "cpu"
    assert recipe["versions"]["torch"] and recipe["versions"]["diffusers"] == "0.42.1"
    assert {"denoise", "decode", "write_mp4"} <= set(recipe["timings"])
    req = request_from_recipe(recipe)
    assert (req.width, req.height, req.num_frames, req.steps, req.seed) == (64, 64, 9, 2, 3)

    # Same recipe, same seed -> the same frames (decoded, so compare the re-encoded clip).
    again = tmp_path / "real" / "again.mp4"
    assert (
        main(
            _single(
                media,
                again,
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
            )
        )
        == 0
    )
    from engine.media.video import read_video

    first, _ = read_video(out)
    second, _ = read_video(again)
    # The generated frames are bit-identical (test_pipeline_mechanics checks the tensors); two
    # H.264 encodes of identical frames were seen to differ slightly here (cause not found:
    # not x264's thread count), so the decoded clips are compared by PSNR, not bit for bit.
    mse = np.mean((first.astype(np.float64) - second.astype(np.float64)) ** 2)
    assert mse == 0 or 10 * np.log10(255**2 / mse) > 30


def test_real_batch_reports_a_too_short_voice_and_continues(
    tiny_home: Path, media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    short = tone_wav(tmp_path / "short.wav", seconds=1.0, sr=16_000, lead_silence=0, tail_silence=0)
    jobs = [
        {
            "prompt": "[VISUAL]: a man [SPEECH]: Hi. [SOUNDS]: quiet",
            "reference_path": str(voice),
            "first_frame_path": str(media["image"]),
            "output_name": name,
        }
        for voice, name in ((short, "short.mp4"), (media["voice"], "ok.mp4"))
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    argv = ["generate", "--model", "tiny", "--jobs", str(tmp_path / "jobs.json")]
    argv += ["--out-dir", str(tmp_path / "o"), "--width", "64", "--height", "64"]
    argv += ["--frames", "9", "--steps", "1", "--seed", "10", "--device", "cpu", "--no-progress"]
    argv += ["--score"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err
    # the 1 s clip is refused when its reference window is chosen (the library's voice check)
    assert "error: short.mp4: short.wav: no reference window could be chosen" in err
    assert "only 1.0 s long" in err
    assert "1 of 2 jobs done" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "batch_report.csv",
        "ok.json",
        "ok.mp4",
    ]
    # the batch report: one row per job, with the voice match column --score asked for
    with open(tmp_path / "o" / "batch_report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["job"], r["status"]) for r in rows] == [("short.mp4", "failed"), ("ok.mp4", "done")]
    assert rows[0]["voice_match"] == "" and rows[1]["seed"] == "11"
    score = float(rows[1]["voice_match"])
    assert 0.0 <= score <= 1.0
    assert f"voice match {score:.2f} against voice.wav" in captured.out
    assert float(rows[1]["duration_s"]) == pytest.approx(9 / 25, abs=0.01)
    assert load_recipe(tmp_path / "o" / "ok.json")["request"]["seed"] == 11
    assert probe_media(tmp_path / "o" / "ok.mp4").num_frames == 9


def test_pipeline_options_reach_request_generator_and_recipe(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    up, dist = tmp_path / "up.safetensors", tmp_path / "dist.safetensors"
    out = tmp_path / "two.mp4"
    argv = _single(media, out, "--pipeline", "two-stage", "--frames", "9", "--no-progress")
    argv += ["--upsampler", str(up), "--distilled-lora", str(dist), "--cfg-star"]
    argv += ["--identity-start", "0.25", "--identity-end", "0.75", "--distilled-strength-2", "0.6"]
    assert main(argv) == 0, capsys.readouterr().err
    gen = fake.instances[0]
    assert gen.kwargs["upsampler"] == up and gen.kwargs["distilled_lora"] == dist
    req = gen.requests[0]
    assert (req.pipeline, req.cfg_star, req.identity_start, req.identity_end) == (
        "two-stage",
        True,
        0.25,
        0.75,
    )
    assert req.distilled_strength_stage2 == 0.6 and req.distilled_strength_stage1 is None
    assert request_from_recipe(load_recipe(out.with_suffix(".json"))) == req
    # an unknown pipeline is a usage error
    with pytest.raises(SystemExit) as exc:
        main(_single(media, tmp_path / "x.mp4", "--pipeline", "turbo"))
    assert exc.value.code == 2


def test_jobs_file_pipeline_per_job(
    fake: type[FakeGenerator], media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    entry = {
        "prompt": "[VISUAL]: a man speaking [SPEECH]: One.",
        "reference_path": str(media["voice"]),
        "first_frame_path": str(media["image"]),
    }
    jobs = [
        {**entry, "output_name": "a", "pipeline": "fast"},
        {**entry, "output_name": "b", "pipeline": "turbo"},
        {**entry, "output_name": "c"},
    ]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs))
    argv = ["generate", "--model", "tiny", "--jobs", str(path), "--out-dir", str(tmp_path)]
    argv += ["--pipeline", "two-stage", "--frames", "9", "--no-progress"]
    assert main(argv) == 1
    assert [r.pipeline for r in fake.instances[0].requests] == ["fast", "two-stage"]
    err = capsys.readouterr().err
    assert "b: job 1: unknown pipeline 'turbo'" in err and "2 of 3 jobs done" in err


def test_two_stage_end_to_end_on_the_real_tiny_model(
    tiny_home: Path, media: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "two" / "clip.mp4"
    argv = _single(media, out, "--width", "64", "--height", "32", "--frames", "9")
    argv += ["--steps", "1", "--pipeline", "two-stage", "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "two-stage, 128x64, 9 frames" in captured.out
    assert "4/4" in captured.err  # 1 stage-1 step + 3 stage-2 steps
    info = probe_media(out)
    assert (info.width, info.height, info.num_frames) == (128, 64, 9)
    assert abs(info.audio_duration_s - 9 / 25) <= 0.04
    recipe = load_recipe(out.with_suffix(".json"))
    assert recipe["pipeline"]["name"] == "two-stage"
    assert [s["width"] for s in recipe["pipeline"]["stages"]] == [64, 128]
    assert recipe["effective"]["stages"][1]["loras"] == {"distilled": 0.8}  # no ID-LoRA given
