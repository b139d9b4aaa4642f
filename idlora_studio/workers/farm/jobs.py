"""What travels between the Studio and the cluster (plain, picklable data)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import GenerationRequest

INPUT_ROLES = ("image", "voice")


def sha256_of_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class InputRef:
    """A file named by its content: SHA-256 and the original suffix (decoders look at it)."""

    sha256: str
    suffix: str
    name: str  # the original file name, for messages

    @classmethod
    def of(cls, path: Path) -> InputRef:
        path = Path(path)
        return cls(sha256_of_file(path), path.suffix.lower(), path.name)

    @property
    def file_name(self) -> str:
        return self.sha256 + self.suffix


@dataclass(frozen=True)
class FarmJob:
    """One take for the cluster.

    ``request``: the request as a dict with ``image``/``voice`` left out (they travel as
    ``inputs``); ``gpus``: GPUs the task asks Ray for (0 on a CPU-only cluster); ``mode``:
    None for one GPU, ``"passes"`` or ``"sequence"`` for a GPU group.
    """

    key: str
    request: dict[str, Any]
    inputs: dict[str, InputRef]
    model_set: str = "tiny"
    lora: InputRef | None = None
    lora_strength: float = 1.0
    memory_profile: str = "auto"
    gpus: int = 1
    mode: str | None = None
    attention: str = "ulysses"

    def request_with(self, files: dict[str, Path]) -> GenerationRequest:
        """The request with its inputs at ``files`` (role -> local path)."""
        data = dict(self.request)
        for role, path in files.items():
            data[role] = str(path)
        return GenerationRequest.from_dict(data)


@dataclass
class FarmResult:
    """What a cluster task returns. ``status``: ``"done"``, ``"failed"`` or ``"cancelled"``."""

    key: str
    status: str
    video: bytes = b""
    audio: bytes = b""
    thumbnail: bytes = b""
    recipe: dict[str, Any] = field(default_factory=dict)
    voice_match: float | None = None
    voice_match_model: str | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    error_kind: str | None = None
    message: str = ""
    attempt: int = 1
    node: str = ""


def farm_job(
    key: str,
    request: GenerationRequest,
    *,
    model_set: str = "tiny",
    lora: Path | None = None,
    lora_strength: float = 1.0,
    memory_profile: str = "auto",
    gpus: int = 1,
    mode: str | None = None,
    attention: str = "ulysses",
) -> tuple[FarmJob, dict[str, Path]]:
    """The job for ``request`` and the local files it needs on the cluster (sha -> path)."""
    inputs: dict[str, InputRef] = {}
    files: dict[str, Path] = {}
    for role in INPUT_ROLES:
        path = getattr(request, role)
        if path is not None:
            ref = InputRef.of(Path(path))
            inputs[role] = ref
            files[ref.sha256] = Path(path)
    lora_ref = None
    if lora is not None:
        lora_ref = InputRef.of(Path(lora))
        files[lora_ref.sha256] = Path(lora)
    data = request.to_dict()
    for role in INPUT_ROLES:
        data.pop(role, None)
    job = FarmJob(
        key=key,
        request=data,
        inputs=inputs,
        model_set=model_set,
        lora=lora_ref,
        lora_strength=float(lora_strength),
        memory_profile=memory_profile,
        gpus=int(gpus),
        mode=mode,
        attention=attention,
    )
    return job, files


def relocate_recipe(recipe: dict[str, Any], request: GenerationRequest) -> dict[str, Any]:
    """The recipe a cluster wrote, pointing at the client's own input files (same content:
    the hashes were checked on the way) instead of the node's cached copies."""
    out = dict(recipe)
    out["request"] = request.to_dict()
    inputs = dict(out.get("inputs") or {})
    for role in INPUT_ROLES:
        local = getattr(request, role)
        info = inputs.get(role)
        if local is not None and isinstance(info, dict):
            info = dict(info)
            info["path"] = str(Path(local).resolve())
            info["name"] = Path(local).name
            inputs[role] = info
    out["inputs"] = inputs
    return out
