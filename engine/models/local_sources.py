"""Model sets pointed at files on disk, and turning a job's model set into what the engine loads.

:class:`LocalSources` is the per-set choice the model manager's "Use files on disk…" saves in
``<config_dir>/model_sources.json``: a diffusers folder, or a single-file checkpoint plus its
base folder; optionally the ID-LoRA, the spatial upsampler and the distilled LoRA files.

:func:`resolve_model` turns a job's model set into a :class:`ResolvedModel` -- the arguments of
``IDLoRAGenerator.load`` (model, base, LoRA, upsampler, distilled LoRA) -- from, in order: the
built-in tiny models, the files the user pointed at, the set's downloaded files (a single-file
set's checkpoint gets its repo folder as the base), or a plain folder / file / repo id.

Qt-free and torch-free: the Studio's worker and model manager and the CLI share it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.api import ModelNotFoundError

SOURCES_FILE = "model_sources.json"
TINY_MODELS = {"tiny": "ltx2", "tiny-ltx2": "ltx2", "tiny-ltx2.3": "ltx2.3"}


@dataclass(frozen=True)
class LocalSource:
    """A model set's weights at a place the user chose.

    ``kind``: ``"diffusers-folder"`` (``model`` is the folder) or ``"single-file"`` (``model`` is
    the checkpoint, ``base`` the diffusers folder with the parts a single file lacks).
    ``upsampler`` / ``distilled_lora``: the two-stage / HQ / fast parts, when the user has them.
    """

    set_id: str
    kind: str
    model: Path
    base: Path | None = None
    lora: Path | None = None
    upsampler: Path | None = None
    distilled_lora: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        def opt(p: Path | None) -> str | None:
            return str(p) if p else None

        return {
            "kind": self.kind,
            "model": str(self.model),
            "base": opt(self.base),
            "lora": opt(self.lora),
            "upsampler": opt(self.upsampler),
            "distilled_lora": opt(self.distilled_lora),
        }


class LocalSources:
    """The per-set mapping of files on disk, kept in ``<config_dir>/model_sources.json``.

    Read and written whole (a few lines), atomically.
    """

    def __init__(self, path: Path, entries: dict[str, LocalSource] | None = None) -> None:
        self.path = Path(path)
        self._entries = dict(entries or {})

    @classmethod
    def load(cls, config_dir: Path) -> LocalSources:
        path = Path(config_dir) / SOURCES_FILE
        entries: dict[str, LocalSource] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if isinstance(raw, dict):
            for set_id, e in raw.items():
                if not isinstance(e, dict) or not e.get("model"):
                    continue

                def opt(key: str, e: dict = e) -> Path | None:
                    return Path(e[key]) if e.get(key) else None

                entries[set_id] = LocalSource(
                    set_id,
                    str(e.get("kind") or "diffusers-folder"),
                    Path(e["model"]),
                    opt("base"),
                    opt("lora"),
                    opt("upsampler"),
                    opt("distilled_lora"),
                )
        return cls(path, entries)

    def get(self, set_id: str) -> LocalSource | None:
        return self._entries.get(set_id)

    def all(self) -> dict[str, LocalSource]:
        return dict(self._entries)

    def set(self, source: LocalSource) -> None:
        self._entries[source.set_id] = source
        self.save()

    def remove(self, set_id: str) -> None:
        if self._entries.pop(set_id, None) is not None:
            self.save()

    def save(self) -> None:
        from engine.fsutil import atomic_write_text

        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v.to_dict() for k, v in sorted(self._entries.items())}
        atomic_write_text(self.path, json.dumps(data, indent=2))


@dataclass(frozen=True)
class ResolvedModel:
    """What ``IDLoRAGenerator.load`` needs for a model set (``None``: not available)."""

    model: str
    lora: Path | None = None
    base: Path | None = None
    upsampler: Path | None = None
    distilled_lora: Path | None = None
    variant: str | None = None
    tiny: bool = False

    def missing_for(self, pipeline: str) -> list[str]:
        """What ``pipeline`` needs that this model lacks, as phrases (empty: it can run).

        The tiny models carry every part.
        """
        from engine.models.registry import available_pipelines

        if self.tiny:
            return available_pipelines(self.variant or "ltx2", True, True)[pipeline]
        return available_pipelines(
            self.variant or "ltx2", self.upsampler is not None, self.distilled_lora is not None
        )[pipeline]

    def loader_kwargs(self, pipeline: str) -> dict[str, Any]:
        """Keyword arguments of ``IDLoRAGenerator.load`` for a job of ``pipeline``: the parts
        that pipeline needs, and only those (a one-stage job does not load the distilled LoRA)."""
        from engine.pipeline.presets import NEEDS_DISTILLED, NEEDS_UPSAMPLER, get_preset

        needs = set(get_preset(pipeline).needs)
        kwargs: dict[str, Any] = {}
        if self.base is not None:
            kwargs["base"] = self.base
        if NEEDS_UPSAMPLER in needs and self.upsampler is not None:
            kwargs["upsampler"] = self.upsampler
        if NEEDS_DISTILLED in needs and self.distilled_lora is not None:
            kwargs["distilled_lora"] = self.distilled_lora
        return kwargs


def _from_local(src: LocalSource, lora: Path | None, variant: str | None) -> ResolvedModel:
    return ResolvedModel(
        model=str(src.model),
        lora=lora or src.lora,
        base=src.base if src.kind == "single-file" else None,
        upsampler=src.upsampler,
        distilled_lora=src.distilled_lora,
        variant=variant,
    )


def resolve_model(
    model_set: str,
    models_dir: Path,
    lora: Path | None = None,
    local: LocalSources | None = None,
) -> ResolvedModel:
    """What to load for a job's ``model_set`` (see the module docstring).

    Raises :class:`ModelNotFoundError` when a registry set is neither pointed at files on disk
    nor completely downloaded, naming what is missing.
    """
    from engine.models import registry

    if model_set in TINY_MODELS:
        return ResolvedModel(model_set, lora, variant=TINY_MODELS[model_set], tiny=True)
    try:
        ms = registry.get_set(model_set)
    except KeyError:
        # a folder, checkpoint or repo id (jobs queued before sets were resolved by id)
        if local is not None:
            for src in local.all().values():
                if str(src.model) == model_set:
                    return _from_local(src, lora, None)
        return ResolvedModel(model_set, lora)
    src = local.get(model_set) if local is not None else None
    if src is not None:
        return _from_local(src, lora, ms.variant)
    st = registry.status(ms, models_dir)
    if not st.complete:
        missing = tuple(
            f.file.filename
            for f in st.files
            if f.file.required
            and f.state not in (registry.FileState.PRESENT, registry.FileState.VERIFIED)
        )
        raise ModelNotFoundError(
            f"The model set “{ms.title}” is not completely downloaded. Open the model manager "
            "to download it or point the Studio at the files.",
            missing,
        )
    parts = registry.part_paths(ms, models_dir)
    folder = registry.repo_folder(models_dir, ms.files[0].repo_id)
    if lora is None:
        lora = parts["id_lora"]
        if lora is None and ms.lora is not None:
            raise ModelNotFoundError(
                f"The ID-LoRA of “{ms.title}” is missing; download it in the model manager.",
                (ms.lora.repo_id,),
            )
    resolved = ResolvedModel(
        model=str(folder),
        lora=lora,
        upsampler=parts["spatial_upsampler"],
        distilled_lora=parts["distilled_lora"],
        variant=ms.variant,
    )
    if ms.layout == "single-file":
        checkpoint = parts["checkpoint"]
        assert checkpoint is not None  # a required file of a complete set
        resolved = replace(resolved, model=str(checkpoint), base=folder)
    return resolved


def set_pipelines(
    model_set: Any, models_dir: Path, source: LocalSource | None = None
) -> dict[str, list[str]]:
    """``{pipeline: [what is missing]}`` for a :class:`~engine.models.registry.ModelSet` as it
    is on disk now (or as pointed at with "Use files on disk…", ``source``); the base model
    itself is not checked here (its status does that). Cheap: stat calls only."""
    from engine.models import registry

    if source is not None:
        up, dist = source.upsampler is not None, source.distilled_lora is not None
    elif model_set.builtin:
        up = dist = True  # the tiny stacks carry every part
    else:
        parts = registry.part_paths(model_set, models_dir)
        up, dist = parts["spatial_upsampler"] is not None, parts["distilled_lora"] is not None
    return registry.available_pipelines(model_set.variant, up, dist)


def describe_pipelines(pipelines: dict[str, list[str]]) -> str:
    """One line a person reads: ``one-stage ✓ · two-stage: needs the spatial upsampler ...``."""
    from engine.pipeline.presets import PRESETS

    parts = []
    for name, missing in pipelines.items():
        title = PRESETS[name].title
        parts.append(f"{title} ✓" if not missing else f"{title}: needs {' and '.join(missing)}")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- checks
_HEADER_MAX = 100 << 20  # the longest safetensors header read (the format's own limit)


class LocalSourceError(ValueError):
    """Files that do not look like what was asked for; ``str()`` is the sentence to show."""


def safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a safetensors file's header (reads the header only, no weights)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise LocalSourceError(f"{path.name} is too short to be a safetensors file.")
            (n,) = struct.unpack("<Q", head)
            if n <= 1 or n > _HEADER_MAX or n > path.stat().st_size - 8:
                raise LocalSourceError(f"{path.name} is not a safetensors file (bad header).")
            header = json.loads(fh.read(n).decode("utf-8"))
    except OSError as exc:
        raise LocalSourceError(f"{path.name} cannot be read: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise LocalSourceError(f"{path.name} is not a safetensors file (bad header).") from exc
    if not isinstance(header, dict):
        raise LocalSourceError(f"{path.name} is not a safetensors file (bad header).")
    return [k for k in header if k != "__metadata__"]


def validate_local_source(
    set_id: str,
    kind: str,
    model: Path,
    base: Path | None = None,
    lora: Path | None = None,
    upsampler: Path | None = None,
    distilled_lora: Path | None = None,
) -> LocalSource:
    """Check files by structure (cheap, no torch); :class:`LocalSourceError` says what is wrong."""
    from engine.models.sources import COMPONENTS, SINGLE_FILE_PREFIXES, missing_parts

    model = Path(model)
    if kind == "diffusers-folder":
        if not model.is_dir():
            raise LocalSourceError(f"{model} is not a folder.")
        missing = missing_parts(model)
        if missing:
            raise LocalSourceError(
                f"{model.name} is not a complete diffusers folder: missing "
                + ", ".join(missing[:6])
                + (" …" if len(missing) > 6 else "")
                + "."
            )
    elif kind == "single-file":
        if not model.is_file():
            raise LocalSourceError(f"{model} is not a file.")
        keys = safetensors_keys(model)
        prefix = SINGLE_FILE_PREFIXES["transformer"]
        if not any(k.startswith(prefix) for k in keys):
            raise LocalSourceError(
                f"{model.name} has no LTX-2 transformer weights ({prefix}*): not an LTX-2 / "
                "LTX-2.3 checkpoint in the original layout."
            )
        if base is None:
            raise LocalSourceError(
                "A single-file checkpoint needs a base diffusers folder for the text encoder, "
                "tokenizer, vocoder, connectors and scheduler."
            )
        needed = tuple(c for c in COMPONENTS if c not in ("transformer", "vae", "audio_vae"))
        missing = missing_parts(Path(base), needed)
        if missing:
            raise LocalSourceError(
                f"The base folder {Path(base).name} lacks " + ", ".join(missing[:6]) + "."
            )
    else:
        raise LocalSourceError(f"unknown kind {kind!r}")
    if lora is not None:
        lora = Path(lora)
        if not lora.is_file():
            raise LocalSourceError(f"The ID-LoRA file {lora} does not exist.")
        keys = safetensors_keys(lora)
        if not any("lora" in k.lower() for k in keys):
            raise LocalSourceError(f"{lora.name} holds no LoRA weights (no lora_A/lora_B).")
    if distilled_lora is not None:
        distilled_lora = Path(distilled_lora)
        if not distilled_lora.is_file():
            raise LocalSourceError(f"The distilled LoRA file {distilled_lora} does not exist.")
        if not any("lora" in k.lower() for k in safetensors_keys(distilled_lora)):
            raise LocalSourceError(f"{distilled_lora.name} holds no LoRA weights.")
    if upsampler is not None:
        upsampler = Path(upsampler)
        if upsampler.is_dir():
            if not (upsampler / "config.json").is_file():
                raise LocalSourceError(f"The upsampler folder {upsampler.name} has no config.json.")
        elif not upsampler.is_file():
            raise LocalSourceError(f"The spatial upsampler {upsampler} does not exist.")
        elif not any(k.startswith("initial_conv.") for k in safetensors_keys(upsampler)):
            raise LocalSourceError(
                f"{upsampler.name} is not a spatial latent upsampler (no initial_conv weights)."
            )
    return LocalSource(
        set_id, kind, model, Path(base) if base else None, lora, upsampler, distilled_lora
    )
