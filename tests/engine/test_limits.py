"""Parameter bounds (``engine.limits``): listed in ``--help``, refused by the CLI, the engine
and the job queue with the parameter, value and reason named; NaN/inf refused; deep or
NaN-holding JSON refused; jobs-file outputs kept inside ``--out-dir``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from engine.api import GenerationRequest, InvalidRequestError, PromptParts
from engine.limits import (
    CLI_FLAGS,
    GENERATION,
    JSONRefused,
    check_memory,
    check_request,
    estimate_host_bytes,
    loads_bounded,
)
from idlora_studio.cli import main
from tests.engine.test_cli_generate import FakeGenerator, _single, fake, media  # noqa: F401


def test_help_lists_every_bound_with_its_reason(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, flag in CLI_FLAGS.items():
        limit = GENERATION[name]
        assert flag in out
        assert limit.describe() in out, name
        assert " ".join(limit.reason.split()[:6]) in out, name
    assert "resident_bf16" in out  # --memory-profile lists its choices


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--width", "100000", "--height", "64"], "--width 100000 is outside 32 to 2048 px"),
        (["--steps", "1000000000"], "--steps 1000000000 is outside 1 to 200"),
        (["--duration", "1e6"], "--duration 1000000 is outside 0.04 to 20 s"),
        (["--fps", "1e9"], "--fps 1000000000 is outside 1 to 60 fps"),
        (["--seed", str(2**63)], "--seed 9223372036854775808 is outside 0 to 2^63-1"),
        (["--seed=-1"], "--seed -1 is outside 0 to 2^63-1"),
        (["--video-cfg", "nan"], "--video-cfg is nan: it must be a finite number"),
        (["--audio-cfg", "inf"], "--audio-cfg is inf: it must be a finite number"),
        (["--lora-strength=-inf"], "--lora-strength is -inf"),
        (["--steps", "0"], "--steps 0 is outside 1 to 200"),
        (
            ["--identity-start", "0.9", "--identity-end", "0.1"],
            "identity-guidance window must satisfy 0 <= start < end <= 1; got 0.9..0.1",
        ),
        # the end left to the preset (1): refused before loading too
        (["--identity-start", "1"], "got 1..1"),
    ],
)
def test_out_of_bounds_arguments_are_refused_with_the_reason(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    extra: list[str],
    message: str,
) -> None:
    assert main(_single(media, tmp_path / "u.mp4", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not fake.instances  # nothing was loaded
    assert list(tmp_path.glob("u.*")) == []


def test_unknown_memory_profile_is_a_usage_error(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(_single(media, tmp_path / "p.mp4", "--memory-profile", "bogus"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "Traceback" not in err
    assert not fake.instances


def _jobs(tmp_path: Path, files: dict[str, Path], **entry: Any) -> Path:
    job = {
        "prompt": "[VISUAL]: a man speaking [SPEECH]: Hi. [SOUNDS]: quiet",
        "reference_path": str(files["voice"]),
        "first_frame_path": str(files["image"]),
        **entry,
    }
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([job]))
    return path


@pytest.mark.parametrize("name", ["../x.mp4", "/tmp/abs.mp4", "sub/../../x.mp4"])
def test_jobs_output_name_outside_out_dir_is_refused(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    name: str,
) -> None:
    out_dir = tmp_path / "outs"
    jobs = _jobs(tmp_path, media, output_name=name)
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["generate", "--model", "tiny", "--jobs", str(jobs), "--out-dir", str(out_dir)]
    assert main([*argv, "--frames", "9", "--steps", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"output_name {name!r} points outside the output folder" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written anywhere
    assert not Path("/tmp/abs.mp4").exists() or name != "/tmp/abs.mp4"
    assert not fake.instances


def test_jobs_output_name_inside_a_subfolder_is_fine(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    jobs = _jobs(tmp_path, media, output_name="sub/one.mp4")
    argv = ["generate", "--model", "tiny", "--jobs", str(jobs), "--out-dir", str(tmp_path / "o")]
    assert main([*argv, "--frames", "9", "--steps", "1", "--no-progress"]) == 0
    assert (tmp_path / "o" / "sub" / "one.mp4").is_file()


def test_jobs_entry_with_bad_types_or_bounds_is_reported(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    good = json.loads(_jobs(tmp_path, media).read_text())[0]
    entries = [dict(good, prompt={"nested": 1}), dict(good, output_name=7)]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(entries))
    argv = ["generate", "--model", "tiny", "--jobs", str(path), "--out-dir", str(tmp_path / "o")]
    # job 1 runs with seed 2^63-1 + 1: out of bounds, reported for that job only
    assert main([*argv, "--seed", str(2**63 - 1), "--frames", "9", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "prompt must be text" in err
    assert "output_name is not text" in err
    assert "Traceback" not in err


def test_seed_plus_index_past_the_bound_is_refused_per_job(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    good = json.loads(_jobs(tmp_path, media).read_text())[0]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([dict(good, output_name="a.mp4"), dict(good, output_name="b")]))
    argv = ["generate", "--model", "tiny", "--jobs", str(path), "--out-dir", str(tmp_path / "o")]
    argv += ["--seed", str(2**63 - 1), "--frames", "9", "--steps", "1", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: b: job 1: --seed 9223372036854775808 is outside 0 to 2^63-1" in err
    assert (tmp_path / "o" / "a.mp4").is_file() and not (tmp_path / "o" / "b.mp4").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests deeper than 64 levels"),
        ('[{"prompt": NaN}]', "holds NaN"),
        (
            '[{"output_name": "\\ud800.mp4"}]',
            "holds the text '\\ud800.mp4' with an unpaired surrogate escape",
        ),
        ('[{"prompt": "hi", "\\udcff": 1}]', "holds the text '\\xff'"),
    ],
)
def test_hostile_jobs_json_is_refused(
    fake: type[FakeGenerator],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    content: str,
    message: str,
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(content)
    assert main(["generate", "--model", "tiny", "--jobs", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"jobs file deep.json is refused: it {message}" in err
    assert "Traceback" not in err and "RecursionError" not in err


def test_loads_bounded() -> None:
    assert loads_bounded(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    assert loads_bounded("[" * 64 + "]" * 64) is not None
    with pytest.raises(JSONRefused, match="deeper than 64"):
        loads_bounded("[" * 65 + "]" * 65)
    with pytest.raises(JSONRefused, match="Infinity"):
        loads_bounded('{"x": -Infinity}')
    with pytest.raises(json.JSONDecodeError):
        loads_bounded("{")


def test_check_request_names_field_value_and_reason() -> None:
    ok = GenerationRequest(prompt="x")
    check_request(ok)
    with pytest.raises(InvalidRequestError, match="video cfg is nan: it must be a finite"):
        check_request(GenerationRequest(prompt="x", video_cfg=math.nan))
    with pytest.raises(InvalidRequestError, match="width 4096 is outside 32 to 2048 px: LTX-2"):
        check_request(GenerationRequest(prompt="x", width=4096, height=512))
    with pytest.raises(InvalidRequestError, match="num frames 100001 is outside 1 to 481"):
        check_request(GenerationRequest(prompt="x", num_frames=100_001))
    with pytest.raises(InvalidRequestError, match="steps must be a number, not '30'"):
        check_request(GenerationRequest(prompt="x", steps="30"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="prompt is 30,000 characters"):
        check_request(GenerationRequest(parts=PromptParts(visual="a" * 30_000)))


def test_memory_estimate_refuses_what_cannot_fit() -> None:
    need = estimate_host_bytes(2048, 2048, 481)
    assert need > 100e9  # the decoded 2048x2048x481 result alone is tens of GB
    with pytest.raises(InvalidRequestError, match=r"needs about \d+\.\d GB of memory"):
        check_memory(2048, 2048, 481, available=16 << 30)
    check_memory(512, 512, 121, available=16 << 30)


def test_engine_refuses_before_running(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real generator refuses out-of-bounds and non-finite requests before any work."""
    from engine.generate import IDLoRAGenerator
    from tests.media_fixtures import face_image, speech_wav

    gen = IDLoRAGenerator.load(str(tiny_model_dir), device="cpu")
    calls: list[Any] = []
    monkeypatch.setattr(type(gen.pipe), "__call__", lambda *a, **k: calls.append(1))
    image = face_image(tmp_path / "f.jpg")
    voice = speech_wav(tmp_path / "v.wav", "Hello there, this is a short test of my voice.")
    base = {"prompt": "[VISUAL]: x", "image": image, "voice": voice, "stg_block": 1}
    try:
        for bad, message in (
            ({"video_cfg": math.nan}, "video cfg is nan"),
            ({"steps": 10**9}, "steps 1000000000 is outside"),
            ({"width": 100_000, "height": 64}, "width 100000 is outside"),
            ({"seed": 2**63}, "seed 9223372036854775808 is outside"),
        ):
            with pytest.raises(InvalidRequestError, match=message):
                gen.generate(GenerationRequest(**base, **bad))
        # within bounds but too large for this machine's memory: refused before running
        monkeypatch.setattr("engine.limits.available_host_bytes", lambda: 1 << 30)
        with pytest.raises(InvalidRequestError, match="GB of memory to decode and write"):
            gen.generate(GenerationRequest(**base, width=2048, height=2048, num_frames=481))
    finally:
        gen.close()
    assert calls == []


def test_non_finite_final_latents_fail_clearly(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Latents that diverge to NaN are refused before decoding (no garbage video)."""
    import torch

    import engine.pipeline.pipeline_idlora as pipeline_module
    from engine.api import NonFiniteResultError
    from engine.generate import IDLoRAGenerator
    from tests.media_fixtures import face_image, speech_wav

    real = pipeline_module.run_sampler

    def diverging(*args: Any, **kwargs: Any) -> Any:
        state = real(*args, **kwargs)
        state.audio.view(-1)[0] = torch.nan
        return state

    monkeypatch.setattr(pipeline_module, "run_sampler", diverging)
    decoded: list[int] = []
    gen = IDLoRAGenerator.load(str(tiny_model_dir), device="cpu")
    monkeypatch.setattr(gen.pipe.vae, "decode", lambda *a, **k: decoded.append(1))
    req = GenerationRequest(
        prompt="[VISUAL]: x",
        image=face_image(tmp_path / "f.jpg"),
        voice=speech_wav(tmp_path / "v.wav", "Hello there, this is a short test of my voice."),
        width=64,
        height=64,
        num_frames=9,
        steps=1,
        stg_block=1,
    )
    try:
        with pytest.raises(NonFiniteResultError, match="NaN or infinite"):
            gen.generate(req)
    finally:
        gen.close()
    assert decoded == []


def test_generate_refuses_a_nan_voice(tiny_model_dir: Path, tmp_path: Path, capsys: Any) -> None:
    """Non-finite media: a float WAV holding NaN is refused before anything is generated."""
    import numpy as np
    import soundfile as sf

    from tests.media_fixtures import face_image

    wav = tmp_path / "nan.wav"
    x = (0.2 * np.sin(np.arange(16_000 * 3) / 7)).astype(np.float32)
    x[5000:5003] = np.nan
    sf.write(wav, x, 16_000, subtype="FLOAT")
    argv = ["generate", "--model", str(tiny_model_dir), "--device", "cpu", "--no-progress"]
    argv += ["--image", str(face_image(tmp_path / "f.jpg")), "--voice", str(wav)]
    argv += ["--prompt", "[VISUAL]: x", "--frames", "9", "--steps", "1", "--stg-block", "1"]
    assert main([*argv, "--out", str(tmp_path / "o.mp4")]) == 1
    err = capsys.readouterr().err
    assert "error: nan.wav:" in err and "3 of its samples are not numbers (NaN or infinity)" in err
    assert "Traceback" not in err and not (tmp_path / "o.mp4").exists()


def test_prompt_bytes_that_are_not_utf8_are_refused(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    """A prompt typed in a terminal whose encoding is not UTF-8 reaches Python with its bytes
    kept as surrogates; the tokenizer failed on them with an "unexpected TypeError"."""
    import os

    argv = _single(media, tmp_path / "o.mp4", "--frames", "9", "--no-progress")
    argv[argv.index("--speech") + 1] = os.fsdecode(b"Hello \xff there.")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the prompt '" in err and "Hello \\xff there." in err
    assert "holds bytes that are not UTF-8 text" in err and "Traceback" not in err
    assert not fake.instances and not (tmp_path / "o.mp4").exists()
    with pytest.raises(InvalidRequestError, match="negative prompt"):
        check_request(GenerationRequest(prompt="x", negative_prompt="bad \ud800"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # each value is inside its bound; together they ask for more than one pass makes
        (["--duration", "20", "--fps", "60"], "20 s at 60 fps is 1201 frames; at most 481"),
        # inside every bound, but the decoded result cannot fit in this machine's memory
        (["--width", "2048", "--height", "2048", "--frames", "481"], "GB of memory"),
    ],
)
def test_what_cannot_be_made_is_refused_before_the_model_loads(
    fake: type[FakeGenerator],  # noqa: F811
    media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setattr("engine.limits.available_host_bytes", lambda: 8 << 30)
    assert main(_single(media, tmp_path / "o.mp4", *extra, "--no-progress")) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not fake.instances  # refused before loading (minutes for a real model)
    assert not (tmp_path / "o.mp4").exists()
