"""The JSON recipe sidecar: contents, hashes, atomic write, round trip to a request."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.api import GenerationRequest, GenerationResult, MediaError, PromptParts
from engine.recipe import (
    SCHEMA_VERSION,
    build_recipe,
    changed_inputs,
    load_recipe,
    recipe_path_for,
    request_from_recipe,
    write_recipe,
)


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    image = tmp_path / "face.png"
    image.write_bytes(b"\x89PNG fake image bytes for hashing")
    voice = tmp_path / "voice.wav"
    voice.write_bytes(b"RIFF fake voice bytes" * 7)
    return image, voice


def _request(image: Path, voice: Path) -> GenerationRequest:
    return GenerationRequest(
        parts=PromptParts(visual="a woman is speaking", speech="Hello there.", sounds="warm"),
        negative_prompt="blurry",
        image=image,
        voice=voice,
        width=None,
        height=None,
        num_frames=None,
        duration_s=1.3,
        steps=4,
        seed=1234,
        video_cfg=2.5,
        identity_scale=0.0,
        lora_strength=0.75,
    )


def _result() -> GenerationResult:
    return GenerationResult(
        frames=np.zeros((33, 64, 96, 3), np.uint8),
        audio=np.zeros((2, 31_680), np.float32),
        sample_rate=24_000,
        fps=25.0,
        effective={
            "width": np.int64(96),
            "height": 64,
            "num_frames": 33,
            "seed": 1234,
            "device": "cpu",
            "scales": (2.5, 7.0),
            "nan": float("nan"),
        },
        timings={"encode": 0.5, "denoise": np.float32(2.25), "decode": 0.25},
        warnings=("voice is short",),
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_recipe_records_inputs_parameters_identities(tmp_path: Path) -> None:
    image, voice = _inputs(tmp_path)
    req = _request(image, voice)
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"pretend mp4")
    model_info = {"source": "tiny", "variant": "ltx2", "revision": "v1"}
    lora_info = {"path": "/loras/x.safetensors", "sha256": "cd" * 32, "strength": 0.75}
    recipe = build_recipe(req, _result(), model_info=model_info, lora_info=lora_info, output=out)

    assert recipe["schema_version"] == SCHEMA_VERSION
    assert recipe["inputs"]["image"]["sha256"] == _sha(image)
    assert recipe["inputs"]["voice"]["sha256"] == _sha(voice)
    assert recipe["inputs"]["voice"]["size_bytes"] == voice.stat().st_size
    assert recipe["output"]["sha256"] == _sha(out)
    assert recipe["output"]["file"] == "clip.mp4"
    assert (recipe["output"]["width"], recipe["output"]["height"]) == (96, 64)
    assert recipe["output"]["num_frames"] == 33
    assert recipe["output"]["duration_s"] == pytest.approx(1.32)
    assert recipe["prompt"]["full"] == req.full_prompt
    assert recipe["prompt"]["full"].startswith("[VISUAL]: a woman is speaking")
    # requested and effective both kept
    assert recipe["request"]["width"] is None and recipe["request"]["duration_s"] == 1.3
    assert recipe["effective"]["width"] == 96 and recipe["effective"]["scales"] == [2.5, 7.0]
    assert recipe["effective"]["nan"] is None
    assert recipe["model"] == model_info
    assert recipe["lora"] == lora_info
    for pkg in ("engine", "torch", "diffusers", "transformers", "peft", "python", "platform"):
        assert pkg in recipe["versions"]
    assert recipe["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert recipe["device"]["device"] == "cpu"
    assert recipe["timings"]["denoise"] == pytest.approx(2.25)
    assert recipe["warnings"] == ["voice is short"]
    assert "T" in recipe["created_at"] and recipe["created_at"].endswith("+00:00")
    json.dumps(recipe, allow_nan=False)  # plain JSON


def test_write_load_and_rerun_gives_the_same_request(tmp_path: Path) -> None:
    image, voice = _inputs(tmp_path)
    req = _request(image, voice)
    out = tmp_path / "takes" / "clip.mp4"
    recipe = build_recipe(req, _result(), model_info={"source": "tiny"}, lora_info=None, output=out)
    assert recipe["output"]["sha256"] is None  # not written yet
    sidecar = write_recipe(recipe_path_for(out), recipe)
    assert sidecar == tmp_path / "takes" / "clip.json"
    assert [p.name for p in sidecar.parent.iterdir()] == ["clip.json"]  # no temp left
    loaded = load_recipe(sidecar)
    assert loaded == recipe
    again = request_from_recipe(loaded)
    assert again == req
    assert isinstance(again.image, Path) and isinstance(again.parts, PromptParts)


def test_default_request_round_trips(tmp_path: Path) -> None:
    req = GenerationRequest(prompt="[VISUAL]: x [SPEECH]: y [SOUNDS]: z")
    recipe = build_recipe(req, _result(), model_info={}, lora_info=None, output=tmp_path / "a.mp4")
    assert recipe["inputs"] == {"image": None, "voice": None}
    write_recipe(tmp_path / "a.json", recipe)
    assert request_from_recipe(load_recipe(tmp_path / "a.json")) == req


def test_changed_inputs_are_detected(tmp_path: Path) -> None:
    image, voice = _inputs(tmp_path)
    recipe = build_recipe(
        _request(image, voice), _result(), model_info={}, lora_info=None, output=tmp_path / "c.mp4"
    )
    assert changed_inputs(recipe) == []
    voice.write_bytes(b"someone else")
    image.unlink()
    problems = changed_inputs(recipe)
    assert any("voice.wav has changed" in p for p in problems)
    assert any("face.png is missing" in p for p in problems)


def test_missing_input_file_is_recorded_not_fatal(tmp_path: Path) -> None:
    req = GenerationRequest(prompt="p", image=tmp_path / "gone.png", voice=None)
    recipe = build_recipe(req, _result(), model_info={}, lora_info=None, output=tmp_path / "o.mp4")
    assert recipe["inputs"]["image"]["missing"] is True
    assert "sha256" not in recipe["inputs"]["image"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not a readable recipe"),
        ('{"schema": "other"}', "not an ID-LoRA Studio recipe"),
        ('{"schema": "idlora-studio/recipe", "schema_version": 99, "request": {}}', "newer"),
        ('{"schema": "idlora-studio/recipe", "schema_version": 1}', "no request"),
    ],
)
def test_bad_recipes_are_media_errors(tmp_path: Path, content: str, match: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(MediaError, match=match):
        load_recipe(bad)
    with pytest.raises(MediaError, match="not found"):
        load_recipe(tmp_path / "nope.json")
