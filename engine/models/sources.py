"""Where LTX-2 / LTX-2.3 weights come from: diffusers folders, hub repos, single-file checkpoints.

:func:`load_components` turns a *source* into the component dict diffusers' LTX-2 pipelines take
(``transformer``, ``vae``, ``audio_vae``, ``vocoder``, ``connectors``, ``text_encoder``,
``tokenizer``, ``scheduler``) plus a :class:`ModelInfo` describing what was loaded.

Sources:

* **diffusers folder** -- a local folder with ``model_index.json`` and one subfolder per
  component. Each component class is taken from ``model_index.json``.
* **hub repo id** (``owner/name``, optionally ``owner/name@revision``) -- ``model_index.json`` and
  only the component subfolders are fetched with ``huggingface_hub.snapshot_download`` into the
  hub cache (``Lightricks/LTX-2`` also holds 40+ GB single files that are never fetched). When
  offline (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``) only the cache is used.
* **single file** (``*.safetensors`` in the original LTX-2 layout: ``model.diffusion_model.*``,
  ``vae.*``, ``audio_vae.*``, ``vocoder.*``, ``text_embedding_projection.*``). diffusers 0.42.1
  can convert three of these parts with ``from_single_file``: the transformer
  (``LTX2VideoTransformer3DModel``), the video VAE (``AutoencoderKLLTX2Video``) and the audio VAE
  (``AutoencoderKLLTX2Audio``). It has no single-file converter for the vocoder, the text
  connectors, the Gemma text encoder, the tokenizer or the scheduler: those, and the configs of
  the converted parts, come from a companion diffusers folder or repo given as ``base=``, which
  must be of the same generation (checked). Its 0.42.1 transformer converter also misses the
  LTX-2.3 prompt-AdaLN names (``prompt_adaln_single`` -> ``prompt_adaln``); they are renamed here
  before conversion, and every converted part is checked for weights the file did not provide
  (an error, never left uninitialised).

Missing parts are a :class:`~engine.api.ModelNotFoundError` that lists them and says how to get
them. The generation (``ltx2`` vs ``ltx2.3``) is detected from the transformer config (gated
attention / prompt cross-attention modulation) or, for single files, from keys only LTX-2.3 has.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.api import InvalidRequestError, ModelNotFoundError

COMPONENTS = (
    "transformer",
    "vae",
    "audio_vae",
    "vocoder",
    "connectors",
    "text_encoder",
    "tokenizer",
    "scheduler",
)
VARIANTS = ("ltx2", "ltx2.3")
SourceKind = Literal["diffusers-folder", "hub", "single-file"]

# single-file layout: component -> key prefix in the original checkpoint
SINGLE_FILE_PREFIXES = {
    "transformer": "model.diffusion_model.",
    "vae": "vae.",
    "audio_vae": "audio_vae.",
    "vocoder": "vocoder.",
    "connectors": "text_embedding_projection.",
}
# parts diffusers 0.42.1 converts from a single file, with their classes
SINGLE_FILE_SUPPORTED = {
    "transformer": "LTX2VideoTransformer3DModel",
    "vae": "AutoencoderKLLTX2Video",
    "audio_vae": "AutoencoderKLLTX2Audio",
}
# inside model.diffusion_model.*, these belong to the text connectors, not the transformer
_CONNECTOR_KEYS_IN_TRANSFORMER = ("video_embeddings_connector", "audio_embeddings_connector")
# LTX-2.3 names in the original checkpoint that diffusers 0.42.1's converter does not map
_LTX23_SINGLE_FILE_RENAMES = {
    "audio_prompt_adaln_single.": "audio_prompt_adaln.",
    "prompt_adaln_single.": "prompt_adaln.",
}
_LTX23_KEY_MARKERS = ("prompt_adaln_single.", "to_gate_logits.")

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`load_components` loaded.

    ``source``: the folder/file path or repo id as given. ``kind``: ``diffusers-folder``,
    ``hub`` or ``single-file``. ``variant``: ``ltx2`` or ``ltx2.3``. ``revision``: the hub commit
    for hub sources, else a fingerprint (SHA-256 over the component configs and weight-file
    sizes of a folder; over the header and size of a single file -- the full 40+ GB hash is not
    computed here). ``paths``: component -> the folder or file it was loaded from.
    ``base``: the companion source for single files. ``notes``: facts the user should see.
    """

    source: str
    kind: SourceKind
    variant: str
    revision: str | None
    paths: dict[str, Path] = field(default_factory=dict)
    base: str | None = None
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- helpers


def _offline(local_files_only: bool | None) -> bool:
    if local_files_only is not None:
        return bool(local_files_only)
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def _read_json(path: Path) -> dict[str, Any]:
    from engine.limits import loads_bounded

    try:
        return loads_bounded(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(f"{path} cannot be read: {err}", (str(path),)) from err


def _weights_missing(folder: Path) -> list[str]:
    """Problems with a model component subfolder's weights (empty list when complete)."""
    indexes = sorted(folder.glob("*.index.json"))
    if indexes:
        missing: list[str] = []
        for index in indexes:
            shards = set(_read_json(index).get("weight_map", {}).values())
            missing += [f"{folder.name}/{s}" for s in sorted(shards) if not (folder / s).is_file()]
        return missing
    if any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file()):
        return []
    return [f"{folder.name}/ (no weight files)"]


def _component_missing(root: Path, name: str) -> list[str]:
    folder = root / name
    if not folder.is_dir():
        return [f"{name}/"]
    if name == "tokenizer":
        ok = any((folder / f).is_file() for f in _TOKENIZER_FILES)
        return [] if ok else [f"{name}/ (no tokenizer files)"]
    if name == "scheduler":
        return (
            []
            if (folder / "scheduler_config.json").is_file()
            else [f"{name}/scheduler_config.json"]
        )
    if not (folder / "config.json").is_file():
        return [f"{name}/config.json"]
    return _weights_missing(folder)


def missing_parts(root: Path, names: tuple[str, ...] = COMPONENTS) -> list[str]:
    """What a diffusers folder lacks for the given components (relative paths), [] if complete."""
    root = Path(root)
    if not (root / "model_index.json").is_file():
        return ["model_index.json"]
    out: list[str] = []
    for name in names:
        out += _component_missing(root, name)
    return out


def _folder_fingerprint(root: Path, names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        folder = root / name
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.suffix == ".json":
                h.update(f"{name}/{p.name}".encode())
                h.update(p.read_bytes())
            elif p.suffix in _WEIGHT_SUFFIXES:
                h.update(f"{name}/{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()


def _file_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        h.update(head)
        if len(head) == 8:
            n = int.from_bytes(head, "little")
            h.update(fh.read(min(n, 100 << 20)))
    h.update(str(size).encode())
    return h.hexdigest()


def variant_from_transformer_config(config: dict[str, Any]) -> str:
    """``ltx2.3`` when the config enables LTX-2.3's gated attention or prompt modulation."""
    flags = ("gated_attn", "audio_gated_attn", "cross_attn_mod", "audio_cross_attn_mod")
    return "ltx2.3" if any(bool(config.get(f)) for f in flags) else "ltx2"


def variant_from_keys(keys: list[str] | set[str]) -> str:
    """``ltx2.3`` when a single-file checkpoint has keys only LTX-2.3 has, else ``ltx2``."""
    prefix = SINGLE_FILE_PREFIXES["transformer"]
    for key in keys:
        if key.startswith(prefix) and any(m in key for m in _LTX23_KEY_MARKERS):
            return "ltx2.3"
    return "ltx2"


def _folder_variant(root: Path) -> str | None:
    cfg = root / "transformer" / "config.json"
    if cfg.is_file():
        return variant_from_transformer_config(_read_json(cfg))
    return None


def _check_variant(expected: str | None, detected: str | None, source: str) -> str:
    if expected is not None and expected not in VARIANTS:
        raise InvalidRequestError(f"unknown model variant {expected!r}; expected one of {VARIANTS}")
    if expected and detected and expected != detected:
        raise InvalidRequestError(
            f"{source} is an {detected.upper()} model, but {expected.upper()} was asked for"
        )
    return detected or expected or "ltx2"


#: The classes a ``model_index.json`` may name, per component: the LTX-2 / LTX-2.3 family in
#: diffusers and transformers. Anything else is refused before it is imported, so a model
#: folder cannot make the Studio import and run arbitrary code.
ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "transformer": frozenset({"LTX2VideoTransformer3DModel"}),
    "vae": frozenset({"AutoencoderKLLTX2Video"}),
    "audio_vae": frozenset({"AutoencoderKLLTX2Audio"}),
    "vocoder": frozenset({"LTX2Vocoder", "LTX2VocoderWithBWE"}),
    "connectors": frozenset({"LTX2TextConnectors"}),
    "text_encoder": frozenset(
        {
            "Gemma3ForConditionalGeneration",
            "Gemma3ForCausalLM",
            "Gemma4UnifiedForConditionalGeneration",
        }
    ),
    "tokenizer": frozenset({"GemmaTokenizer", "GemmaTokenizerFast", "PreTrainedTokenizerFast"}),
    "scheduler": frozenset({"FlowMatchEulerDiscreteScheduler"}),
}
#: ``model_index.json`` library name -> the module the class is taken from.
ALLOWED_LIBRARIES = {
    "diffusers": "diffusers",
    "transformers": "transformers",
    "ltx2": "diffusers.pipelines.ltx2",
}


def _resolve_class(library: Any, class_name: Any, component: str = "") -> Any:
    """The class ``model_index.json`` names for ``component``, if it is an allowed one."""
    allowed = ALLOWED_CLASSES.get(component, frozenset().union(*ALLOWED_CLASSES.values()))
    if (
        not isinstance(library, str)
        or not isinstance(class_name, str)
        or library not in ALLOWED_LIBRARIES
        or class_name not in allowed
    ):
        raise InvalidRequestError(
            f"model_index.json names {library!r}.{class_name!r} for '{component}'; only the "
            f"LTX-2 family's own classes are loaded ({', '.join(sorted(allowed))} from "
            f"{', '.join(ALLOWED_LIBRARIES)})"
        )
    module_name = ALLOWED_LIBRARIES[library]
    for candidate in dict.fromkeys((module_name, "diffusers")):
        try:
            module = importlib.import_module(candidate)
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if cls is not None:
            return cls
    raise ModelNotFoundError(
        f"component class {library}.{class_name} is not available in this installation",
        (f"{library}.{class_name}",),
    )


def _load_component(root: Path, name: str, spec: list[Any], torch_dtype: Any) -> Any:
    library, class_name = spec[0], spec[1]
    cls = _resolve_class(library, class_name, name)
    folder = str(root / name)
    if name in ("tokenizer", "scheduler"):
        return cls.from_pretrained(folder)
    if library == "transformers":
        kwargs = {"dtype": torch_dtype} if torch_dtype is not None else {}
        return cls.from_pretrained(folder, **kwargs)
    kwargs = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
    return cls.from_pretrained(folder, **kwargs)


def _load_from_folder(root: Path, names: tuple[str, ...], torch_dtype: Any) -> dict[str, Any]:
    index = _read_json(root / "model_index.json")
    out: dict[str, Any] = {}
    for name in names:
        spec = index.get(name) if isinstance(index, dict) else None
        if spec and (not isinstance(spec, list) or len(spec) != 2):
            raise InvalidRequestError(
                f"{root}: model_index.json gives '{name}' as {spec!r:.80}, not [library, class]"
            )
        if not spec or spec[0] is None:
            raise ModelNotFoundError(
                f"{root}: model_index.json names no class for '{name}'", (f"{name}/",)
            )
        out[name] = _load_component(root, name, spec, torch_dtype)
    return out


# ----------------------------------------------------------------------------- hub


def _hub_download(
    repo: str,
    parts: tuple[str, ...],
    cache_dir: Path | None,
    local_files_only: bool,
    config_only: tuple[str, ...] = (),
) -> tuple[Path, str | None]:
    """Snapshot the repo's model_index.json + component subfolders; returns (folder, commit)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, _, revision = repo.partition("@")
    patterns = ["model_index.json"] + [f"{p}/*" for p in parts]
    patterns += [f"{p}/config.json" for p in config_only]
    how = (
        f"Download it while online (`hf download {repo_id} "
        + " ".join(f"--include '{p}'" for p in patterns)
        + "`) or choose a local model folder."
    )
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision or None,
            cache_dir=str(cache_dir) if cache_dir else None,
            local_files_only=local_files_only,
            allow_patterns=patterns,
        )
    except GatedRepoError as err:
        raise ModelNotFoundError(
            f"Hugging Face repo {repo_id} is gated: accept its licence on huggingface.co and log "
            f"in (`hf auth login`), then try again.",
            (repo_id,),
        ) from err
    except RepositoryNotFoundError as err:
        raise ModelNotFoundError(
            f"Hugging Face repo {repo_id} does not exist or is private.", (repo_id,)
        ) from err
    except RevisionNotFoundError as err:
        raise ModelNotFoundError(
            f"Hugging Face repo {repo_id} has no revision {revision!r}.", (repo,)
        ) from err
    except LocalEntryNotFoundError as err:
        mode = "offline mode is on" if local_files_only else "the hub could not be reached"
        raise ModelNotFoundError(
            f"Model {repo_id} is not in the local Hugging Face cache and {mode}. {how}",
            (repo_id,),
        ) from err
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(
            f"Model {repo_id} could not be fetched ({err}). {how}", (repo_id,)
        ) from err
    root = Path(folder)
    commit = root.name if re.fullmatch(r"[0-9a-f]{40}", root.name) else None
    missing = missing_parts(root, parts)
    missing += [f"{p}/config.json" for p in config_only if not (root / p / "config.json").is_file()]
    if missing:
        raise ModelNotFoundError(
            f"Model {repo_id} is incomplete in the local cache; missing: {', '.join(missing)}. {how}",
            tuple(f"{repo_id}/{m}" for m in missing),
        )
    return root, commit


def _is_repo_id(source: str) -> bool:
    return bool(_REPO_ID.match(source)) and not Path(source).exists()


# ----------------------------------------------------------------------------- single file


def _single_file_keys(path: Path) -> list[str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return list(fh.keys())
    except (SafetensorError, OSError) as err:
        raise InvalidRequestError(f"{path.name}: not a readable safetensors file ({err})") from err


def _single_file_parts(keys: list[str]) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    for key in keys:
        for name, prefix in SINGLE_FILE_PREFIXES.items():
            if key.startswith(prefix):
                if name == "transformer" and any(c in key for c in _CONNECTOR_KEYS_IN_TRANSFORMER):
                    parts.setdefault("connectors", []).append(key)
                else:
                    parts.setdefault(name, []).append(key)
                break
    return parts


def _convert_without_mixin(
    cls: Any, state: dict[str, Any], config_dir: Path, torch_dtype: Any
) -> Any:
    """Classes diffusers maps but does not give ``from_single_file`` (the audio VAE in 0.42.1):
    diffusers' own key converter, then a strict load into a model built from the base config."""
    import torch
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    convert = SINGLE_FILE_LOADABLE_CLASSES[cls.__name__]["checkpoint_mapping_fn"]
    config = cls.load_config(str(config_dir))
    converted = convert(checkpoint=dict(state), config=config)
    with torch.device("meta"):
        model = cls.from_config(config)
    model.load_state_dict(converted, strict=False, assign=True)
    if torch_dtype is not None:
        model = model.to(torch_dtype)
    return model.eval()


def _missing_after_conversion(cls: Any, keys: list[str], config_dir: Path) -> list[str]:
    """Model weights that diffusers' converter would not find among ``keys`` (sorted)."""
    import torch
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    convert = SINGLE_FILE_LOADABLE_CLASSES[cls.__name__]["checkpoint_mapping_fn"]
    config = cls.load_config(str(config_dir))
    converted = convert(checkpoint=dict.fromkeys(keys), config=config)
    with torch.device("meta"):
        expected = set(cls.from_config(config).state_dict())
    return sorted(expected - set(converted))


def _load_single_file_part(
    path: Path, name: str, keys: list[str], base_root: Path, variant: str, torch_dtype: Any
) -> Any:
    import diffusers
    from safetensors import safe_open

    cls = getattr(diffusers, SINGLE_FILE_SUPPORTED[name])
    state: dict[str, Any] = {}
    with safe_open(str(path), framework="pt") as fh:
        for key in keys:
            new_key = key
            if name == "transformer" and variant == "ltx2.3":
                for old, new in _LTX23_SINGLE_FILE_RENAMES.items():
                    new_key = new_key.replace(old, new)
            state[new_key] = fh.get_tensor(key)
    missing = _missing_after_conversion(cls, list(state), base_root / name)
    if missing:
        shown = ", ".join(missing[:5])
        raise InvalidRequestError(
            f"{path.name}: its {name} lacks {len(missing)} weights the {name} of the base "
            f"model's config needs (e.g. {shown}); is the base the same model size and generation?"
        )
    try:
        if hasattr(cls, "from_single_file"):
            model = cls.from_single_file(
                state,
                config=str(base_root),
                subfolder=name,
                torch_dtype=torch_dtype,
                low_cpu_mem_usage=True,
                local_files_only=True,
            )
        else:
            model = _convert_without_mixin(cls, state, base_root / name, torch_dtype)
    except (RuntimeError, ValueError) as err:
        raise InvalidRequestError(
            f"{path.name}: its {name} does not fit the {name} config of the base model ({err})"
        ) from err
    uninitialised = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    uninitialised += [n for n, b in model.named_buffers() if b.device.type == "meta"]
    if uninitialised:
        shown = ", ".join(uninitialised[:5])
        raise InvalidRequestError(
            f"{path.name}: diffusers could not convert its {name}: {len(uninitialised)} weights "
            f"have no value in the file (e.g. {shown})"
        )
    return model


# ----------------------------------------------------------------------------- public


def _resolve_base(
    base: str | Path,
    parts: tuple[str, ...],
    config_only: tuple[str, ...],
    cache_dir: Path | None,
    offline: bool,
) -> tuple[Path, str, str | None]:
    """A base source -> (local folder, kind, revision)."""
    base_path = Path(base).expanduser()
    if base_path.is_dir():
        missing = missing_parts(base_path, parts)
        missing += [
            f"{p}/config.json" for p in config_only if not (base_path / p / "config.json").is_file()
        ]
        if missing:
            raise ModelNotFoundError(
                f"Model folder {base_path} is missing: {', '.join(missing)}",
                tuple(missing),
            )
        return base_path, "diffusers-folder", None
    if _is_repo_id(str(base)):
        root, commit = _hub_download(str(base), parts, cache_dir, offline, config_only)
        return root, "hub", commit
    raise ModelNotFoundError(f"Model source not found: {base}", (str(base),))


def load_components(
    source: str | Path,
    *,
    variant: str | None = None,
    torch_dtype: Any = None,
    cache_dir: Path | None = None,
    local_files_only: bool | None = None,
    base: str | Path | None = None,
) -> tuple[dict[str, Any], ModelInfo]:
    """Load the LTX-2 components from a diffusers folder, a hub repo id or a single file.

    Args:
        source: a folder with ``model_index.json``, a hub repo id (``owner/name[@revision]``)
            or a ``.safetensors`` single-file checkpoint.
        variant: ``"ltx2"`` or ``"ltx2.3"`` when the caller expects one; a model of the other
            generation is then an error. None: detect.
        torch_dtype: dtype for the torch modules (None keeps the saved dtype).
        cache_dir: hub cache folder (None: huggingface_hub's default).
        local_files_only: use only the hub cache; None follows ``HF_HUB_OFFLINE``.
        base: companion diffusers folder or repo id; required for single files (vocoder,
            connectors, text encoder, tokenizer, scheduler and the configs come from it).

    Returns:
        (components dict with the keys in :data:`COMPONENTS`, :class:`ModelInfo`).

    Raises:
        ModelNotFoundError: the source, or some of its parts, are not on disk / in the cache;
            the message lists them and how to get them.
        InvalidRequestError: a single file without ``base``, an unreadable or non-LTX-2 file,
            a generation mismatch.
    """
    offline = _offline(local_files_only)
    text = str(source)
    path = Path(text).expanduser()

    # 1. single-file checkpoint
    if path.suffix.lower() == ".safetensors" or path.is_file():
        if not path.is_file():
            raise ModelNotFoundError(f"Checkpoint file not found: {path}", (str(path),))
        return _load_single_file(path, variant, torch_dtype, cache_dir, offline, base)

    # 2. local diffusers folder / 3. hub repo
    if path.is_dir():
        root, kind, revision = path, "diffusers-folder", None
        missing = missing_parts(root)
        if missing and base is None:
            what = (
                "is not a diffusers model folder"
                if missing == ["model_index.json"]
                else "is missing"
            )
            raise ModelNotFoundError(
                f"Model folder {root} {what}: {', '.join(missing)}", tuple(missing)
            )
    elif _is_repo_id(text):
        kind = "hub"
        root, revision = _hub_download(text, COMPONENTS, cache_dir, offline)
    else:
        raise ModelNotFoundError(
            f"Model source not found: {text} (not a folder, a .safetensors file or a repo id)",
            (text,),
        )

    own = tuple(n for n in COMPONENTS if not _component_missing(root, n))
    from_base = tuple(n for n in COMPONENTS if n not in own)
    paths = {n: root / n for n in own}
    notes: list[str] = []
    base_root = None
    if from_base:
        assert base is not None
        base_root, _, _ = _resolve_base(base, from_base, (), cache_dir, offline)
        paths.update({n: base_root / n for n in from_base})
        notes.append(f"taken from {base}: {', '.join(from_base)}")
        detected_base = _folder_variant(base_root)
        if detected_base and _folder_variant(root) and detected_base != _folder_variant(root):
            raise InvalidRequestError(f"{text} and base {base} are different LTX-2 generations")
    detected = _folder_variant(root) or (base_root and _folder_variant(base_root))
    final_variant = _check_variant(variant, detected or None, text)

    components = _load_from_folder(root, own, torch_dtype)
    if base_root is not None:
        components.update(_load_from_folder(base_root, from_base, torch_dtype))
    if revision is None:
        revision = _folder_fingerprint(root, own)
    info = ModelInfo(
        source=text,
        kind=kind,  # type: ignore[arg-type]
        variant=final_variant,
        revision=revision,
        paths=paths,
        base=str(base) if from_base else None,
        notes=tuple(notes),
    )
    return components, info


def _load_single_file(
    path: Path,
    variant: str | None,
    torch_dtype: Any,
    cache_dir: Path | None,
    offline: bool,
    base: str | Path | None,
) -> tuple[dict[str, Any], ModelInfo]:
    keys = _single_file_keys(path)
    parts = _single_file_parts(keys)
    if "transformer" not in parts:
        raise InvalidRequestError(
            f"{path.name} is not an LTX-2 checkpoint: it has no 'model.diffusion_model.*' "
            "transformer weights"
        )
    if base is None:
        raise InvalidRequestError(
            f"{path.name} is a single-file checkpoint: choose a companion diffusers model "
            "(folder or repo) of the same generation for the text encoder, connectors, vocoder, "
            "tokenizer and scheduler"
        )
    detected = variant_from_keys(keys)
    final_variant = _check_variant(variant, detected, path.name)

    from_file = tuple(n for n in SINGLE_FILE_SUPPORTED if n in parts)
    from_base = tuple(n for n in COMPONENTS if n not in from_file)
    base_root, _, _ = _resolve_base(base, from_base, from_file, cache_dir, offline)
    base_variant = _folder_variant(base_root)
    if base_variant and base_variant != final_variant:
        raise InvalidRequestError(
            f"{path.name} is {final_variant.upper()} but the base model {base} is "
            f"{base_variant.upper()}; use a base of the same generation"
        )

    components: dict[str, Any] = {}
    for name in from_file:
        components[name] = _load_single_file_part(
            path, name, parts[name], base_root, final_variant, torch_dtype
        )
    components.update(_load_from_folder(base_root, from_base, torch_dtype))

    ignored = [n for n in ("vocoder", "connectors") if n in parts]
    notes = [f"from {path.name}: {', '.join(from_file)}", f"from {base}: {', '.join(from_base)}"]
    if ignored:
        notes.append(
            f"{path.name} also holds {', '.join(ignored)}, which diffusers 0.42.1 cannot convert; "
            f"the base model's were used"
        )
    paths = {n: path for n in from_file}
    paths.update({n: base_root / n for n in from_base})
    info = ModelInfo(
        source=str(path),
        kind="single-file",
        variant=final_variant,
        revision=_file_fingerprint(path),
        paths=paths,
        base=str(base),
        notes=tuple(notes),
    )
    return components, info
