"""The JSON recipe sidecar: everything needed to know how a take was made and to make it again.

A recipe sits next to its clip (``clip.mp4`` -> ``clip.json``). It records the request as
given and the parameters actually used (snapped size, frames, seed, scales), the pipeline
that ran (its stages with sampler, steps, size, guidance and each LoRA's strength, and the
LoRA files with their SHA-256), the inputs with
their SHA-256 (so a changed reference file is noticed), the model and LoRA identities, the
software versions and device, timings and the creation time.

``request_from_recipe`` rebuilds the exact :class:`~engine.api.GenerationRequest`, so a take
can be re-run: ``request_from_recipe(build_recipe(req, ...)) == req``.

Plain JSON, no torch import: version numbers come from installed package metadata, and the
GPU name only from a torch that is already loaded.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import sys
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import numpy as np

from engine.api import GenerationRequest, GenerationResult, MediaError
from engine.fsutil import atomic_write_text, sha256_file
from engine.text import dumps_json

SCHEMA = "idlora-studio/recipe"
SCHEMA_VERSION = 1

#: Distributions whose versions a recipe records (None when not installed).
VERSION_PACKAGES = (
    "idlora-studio",
    "torch",
    "diffusers",
    "transformers",
    "peft",
    "accelerate",
    "av",
    "numpy",
)


def _json_safe(value: Any) -> Any:
    """Turn numpy scalars/arrays, paths, tuples and non-finite floats into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def describe_file(path: Path | str | None) -> dict[str, Any] | None:
    """``{"path", "name", "size_bytes", "sha256"}`` for an existing file; None for None.

    A missing file is described with ``"missing": True`` and no hash, rather than failing.
    """
    if path is None:
        return None
    p = Path(path)
    info: dict[str, Any] = {"path": str(p.resolve() if p.exists() else p), "name": p.name}
    if p.is_file():
        info["size_bytes"] = p.stat().st_size
        info["sha256"] = sha256_file(p)
    else:
        info["missing"] = True
    return info


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a take depends on, plus Python and the platform."""
    out: dict[str, str | None] = {}
    for name in VERSION_PACKAGES:
        try:
            out[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            out[name] = None
    out["engine"] = out["idlora-studio"]
    out["python"] = platform.python_version()
    out["platform"] = platform.platform()
    return out


def device_info(effective: dict[str, Any], model_info: dict[str, Any]) -> dict[str, Any]:
    """The device a take ran on: from the result/model info, and the GPU name if torch is loaded."""
    device = effective.get("device") or model_info.get("device")
    info: dict[str, Any] = {"device": str(device) if device is not None else None}
    for key in ("dtype", "memory_profile"):
        value = effective.get(key, model_info.get(key))
        if value is not None:
            info[key] = str(value)
    torch = sys.modules.get("torch")
    gpu = model_info.get("gpu_name")
    if gpu is None and torch is not None and str(device or "").startswith("cuda"):
        try:
            gpu = torch.cuda.get_device_name(torch.device(str(device)))
        except Exception:  # noqa: BLE001 - best effort only
            gpu = None
    info["gpu_name"] = gpu
    if torch is not None:
        info["cuda"] = getattr(getattr(torch, "version", None), "cuda", None)
    return info


def build_recipe(
    request: GenerationRequest,
    result: GenerationResult,
    *,
    model_info: dict[str, Any],
    lora_info: dict[str, Any] | None,
    output: Path,
) -> dict[str, Any]:
    """Build the recipe dict for ``result`` produced from ``request`` and written to ``output``.

    ``model_info`` / ``lora_info`` are the generator's identities (repo or folder, variant,
    revision or hash; LoRA path, sha256, strength). When ``output`` exists it is hashed too.
    """
    output = Path(output)
    effective = dict(result.effective)
    recipe: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "output": {
            "file": output.name,
            "sha256": sha256_file(output) if output.is_file() else None,
            "width": int(result.frames.shape[2]),
            "height": int(result.frames.shape[1]),
            "num_frames": int(result.frames.shape[0]),
            "fps": float(result.fps),
            "duration_s": float(result.duration_s),
            "sample_rate": int(result.sample_rate),
            "audio_channels": int(result.audio.shape[0]) if result.audio.ndim == 2 else 1,
        },
        "prompt": {
            "full": request.full_prompt,
            "visual": request.parts.visual,
            "speech": request.parts.speech,
            "sounds": request.parts.sounds,
            "negative": request.negative_prompt,
        },
        "inputs": {
            "image": describe_file(request.image),
            "voice": describe_file(request.voice),
        },
        "request": request.to_dict(),
        "pipeline": _pipeline_section(effective),
        "effective": effective,
        "model": dict(model_info),
        "lora": dict(lora_info) if lora_info is not None else None,
        "versions": package_versions(),
        "device": device_info(effective, model_info),
        "timings": {k: float(v) for k, v in result.timings.items()},
        "warnings": list(result.warnings),
    }
    return _json_safe(recipe)


def _pipeline_section(effective: dict[str, Any]) -> dict[str, Any] | None:
    """What ran, at a glance: the pipeline, its stages (sampler, steps, size, guidance, LoRA
    strengths) and the LoRA files; None for results that do not say (older engines)."""
    if "pipeline" not in effective:
        return None
    return {
        "name": effective["pipeline"],
        "stages": effective.get("stages", []),
        "loras": effective.get("loras", []),
    }


def recipe_path_for(output: Path | str) -> Path:
    """The sidecar path of a clip: same folder and stem, ``.json``."""
    return Path(output).with_suffix(".json")


def write_recipe(path: Path | str, recipe: dict[str, Any]) -> Path:
    """Write ``recipe`` as indented UTF-8 JSON, atomically; returns the path."""
    path = Path(path)
    text = dumps_json(_json_safe(recipe), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


def load_recipe(path: Path | str) -> dict[str, Any]:
    """Read and check a recipe file. Raises :class:`MediaError` for unreadable/foreign files."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MediaError(path, "recipe file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MediaError(path, f"not a readable recipe ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise MediaError(path, "not an ID-LoRA Studio recipe")
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise MediaError(path, "recipe has no valid schema version")
    if version > SCHEMA_VERSION:
        raise MediaError(
            path, f"recipe version {version} is newer than this Studio reads ({SCHEMA_VERSION})"
        )
    if not isinstance(data.get("request"), dict):
        raise MediaError(path, "recipe has no request")
    return data


def request_from_recipe(recipe: dict[str, Any]) -> GenerationRequest:
    """The request recorded in ``recipe`` (as given, not snapped), ready to run again."""
    return GenerationRequest.from_dict(recipe["request"])


def changed_inputs(recipe: dict[str, Any]) -> list[str]:
    """Sentences naming inputs that are missing or differ from the recorded hashes (empty: same)."""
    problems: list[str] = []
    for role, info in (recipe.get("inputs") or {}).items():
        if not info or "sha256" not in info:
            continue
        p = Path(info["path"])
        if not p.is_file():
            problems.append(f"The {role} file {p.name} is missing.")
        elif sha256_file(p) != info["sha256"]:
            problems.append(f"The {role} file {p.name} has changed since this take was made.")
    return problems
