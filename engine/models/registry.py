"""Known model sets, as data: which files to fetch from where, how big, how to check them.

A *model set* is everything the presets need: the LTX-2 / LTX-2.3 base (transformer, VAEs,
vocoder, text connectors), the Gemma 3 12B text encoder, the ID-LoRA checkpoint and, for the
two-stage / HQ / fast pipelines, the spatial upsampler and the distilled LoRA (optional files:
one-stage runs without them; :func:`available_pipelines` says what a set on disk can run).

Two layouts: ``diffusers`` (LTX-2: a diffusers folder, loaded as is) and ``single-file``
(LTX-2.3, published as single ``.safetensors`` checkpoints: the ``checkpoint`` file carries the
transformer and both VAEs; the rest -- text encoder, tokenizer, connectors, vocoder, scheduler
and the component configs -- comes from the repo's diffusers sub-folders, the *base*). The registry only *describes* them;
:mod:`engine.models.download` fetches them and :func:`status` inspects what is on disk without
touching the network or hashing gigabytes.

On-disk layout (under the models folder, ``Paths.models_dir`` in the Studio)::

    <models_dir>/<owner>--<name>/<path in repo>          finished, verified files
    <models_dir>/.downloads/<owner>--<name>/<path>.incomplete   partial download (resumable)
    <models_dir>/.downloads/<owner>--<name>/<path>.json          what we know: etag, sha256, size
    <models_dir>/.downloads/<owner>--<name>/<pattern>.listing.json  files a pattern resolved to

so ``<models_dir>/Lightricks--LTX-2`` is a plain diffusers folder that
``DiffusionPipeline.from_pretrained`` can load, with no bookkeeping files inside it.

What is and is not verified here (no hub access from the machines this was written on):

* Repo ids come from the method notes (``docs/method.md``). The LTX-2 diffusers sub-folder names
  (``transformer``, ``vae``, ``audio_vae``, ``vocoder``, ``connectors``, ``scheduler``,
  ``text_encoder``, ``tokenizer``, ``latent_upsampler``) are the components diffusers 0.42.1's
  ``LTX2Pipeline`` loads from ``Lightricks/LTX-2`` (its docstrings load the pipeline and
  ``subfolder="latent_upsampler"`` from that repo), so the Gemma 3 12B text encoder comes from
  the ``text_encoder``/``tokenizer`` sub-folders of ``Lightricks/LTX-2``.
* Exact shard names inside those sub-folders are not known offline, so sub-folders are given as
  patterns (``transformer/*``) and resolved against the hub's file listing at download time.
* Single-file names are the public ID-LoRA repository's download scripts'
  (``scripts/download_models.sh``, ``ID-LoRA-2.3/scripts/download_models.sh``):
  ``ltx-2-19b-distilled-lora-384.safetensors``, ``ltx-2.3-22b-dev.safetensors``,
  ``ltx-2.3-spatial-upscaler-x2-1.1.safetensors``,
  ``ltx-2.3-22b-distilled-lora-384.safetensors`` and every ID-LoRA repo's
  ``lora_weights.safetensors``.
* ``Lightricks/LTX-2.3`` is assumed to carry diffusers sub-folders for the companion parts
  (text encoder, tokenizer, connectors, vocoder, scheduler, configs) like LTX-2's: NOT verified
  offline; the hub listing fails clearly if one is absent, and "Use files on disk…" can point
  the set at any companion folder.
* Sizes are approximate (method.md's figures split over the parts); they drive the disk check and
  progress only until the hub reports exact sizes.
* No sha256 is pinned (``None`` everywhere): none could be verified offline and inventing one would
  reject every real download. The downloader then verifies against the hub's own LFS sha256
  (the ETag of LFS files) or the git blob hash of small files.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from engine import memory

Variant = Literal["ltx2", "ltx2.3"]
DOWNLOADS_DIR = ".downloads"
GB = 1_000_000_000

TINY_SET_ID = "tiny"
TINY23_SET_ID = "tiny-ltx2.3"


@dataclass(frozen=True)
class ModelFile:
    """One file (or one sub-folder pattern) of a model set.

    ``filename`` is a path inside the repo; if it contains ``*``/``?`` it is a pattern resolved
    against the hub listing at download time (every matching file is fetched). ``size_bytes`` is
    exact for single files when ``size_exact`` is set, an estimate otherwise. ``sha256`` pins a
    single file's content; ``None`` means "verify against the hub's LFS hash".
    """

    repo_id: str
    filename: str
    size_bytes: int
    role: str
    sha256: str | None = None
    required: bool = True
    gated: bool = False
    size_exact: bool = False
    revision: str = "main"

    @property
    def is_pattern(self) -> bool:
        return any(c in self.filename for c in "*?[")

    def matches(self, path_in_repo: str) -> bool:
        """Whether a repo path belongs to this entry (equal, or matching the pattern)."""
        if not self.is_pattern:
            return path_in_repo == self.filename
        return fnmatch.fnmatchcase(path_in_repo, self.filename)

    @property
    def listing_root(self) -> str:
        """The folder part of a pattern before its first wildcard ("" for the repo root)."""
        head = self.filename
        for i, c in enumerate(head):
            if c in "*?[":
                head = head[:i]
                break
        return head.rsplit("/", 1)[0] if "/" in head else ""


@dataclass(frozen=True)
class ModelSet:
    """A downloadable (or built-in) set of weights for one model generation + one ID-LoRA."""

    id: str
    title: str
    description: str
    variant: Variant
    files: tuple[ModelFile, ...]
    lora: ModelFile | None
    license_note: str
    builtin: bool = False
    vram_needs: dict[str, float] = field(default_factory=dict)
    layout: str = "diffusers"  # or "single-file" (see the module docstring)

    def part(self, role: str) -> ModelFile | None:
        """The set's file with ``role`` (``checkpoint``, ``spatial_upsampler``,
        ``distilled_lora``, ``id_lora``, ...), or None."""
        return next((f for f in self.files if f.role == role), None)

    @property
    def total_bytes(self) -> int:
        """Approximate bytes of every file (required and optional)."""
        return sum(f.size_bytes for f in self.files)

    @property
    def required_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files if f.required)

    @property
    def gated(self) -> bool:
        """Whether any file needs an accepted licence and a hub token."""
        return any(f.gated for f in self.files)


# ----------------------------------------------------------------------------- layout


def repo_folder(models_dir: Path, repo_id: str) -> Path:
    """Where a repo's finished files live: ``<models_dir>/<owner>--<name>``."""
    return Path(models_dir) / repo_id.replace("/", "--")


def local_path(models_dir: Path, repo_id: str, path_in_repo: str) -> Path:
    return repo_folder(models_dir, repo_id).joinpath(*path_in_repo.split("/"))


def state_path(models_dir: Path, repo_id: str, path_in_repo: str, suffix: str) -> Path:
    """Bookkeeping file for one repo path (``.incomplete``, ``.json``, ``.listing.json``)."""
    base = Path(models_dir) / DOWNLOADS_DIR / repo_id.replace("/", "--")
    safe = path_in_repo.replace("*", "_star_").replace("?", "_q_")
    return base.joinpath(*safe.split("/")).with_name(safe.split("/")[-1] + suffix)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- the sets

_LTX2 = "Lightricks/LTX-2"
_LTX23 = "Lightricks/LTX-2.3"


def _gemma_files(required: bool = True) -> tuple[ModelFile, ...]:
    # The diffusers layout of Lightricks/LTX-2 carries the Gemma 3 12B encoder in these two
    # sub-folders. method.md: ~24 GB bf16 and gated.
    return (
        ModelFile(_LTX2, "text_encoder/*", 24 * GB, "text_encoder", gated=True, required=required),
        ModelFile(_LTX2, "tokenizer/*", 40_000_000, "tokenizer", gated=True, required=required),
    )


def _ltx2_base() -> tuple[ModelFile, ...]:
    # method.md: base ~43 GB bf16; the split below is an estimate (19B transformer in bf16 is
    # ~38 GB, the rest VAEs, vocoder, connectors).
    return (
        ModelFile(_LTX2, "model_index.json", 1_000, "pipeline_index"),
        ModelFile(_LTX2, "scheduler/*", 1_000, "scheduler"),
        ModelFile(_LTX2, "transformer/*", 38_500_000_000, "transformer"),
        ModelFile(_LTX2, "connectors/*", 2_000_000_000, "connectors"),
        ModelFile(_LTX2, "vae/*", 2_000_000_000, "vae"),
        ModelFile(_LTX2, "audio_vae/*", 200_000_000, "audio_vae"),
        ModelFile(_LTX2, "vocoder/*", 300_000_000, "vocoder"),
        *_gemma_files(),
        # two-stage / fast only. The upsampler as diffusers loads it
        # (LTX2LatentUpsamplerModel.from_pretrained(..., subfolder="latent_upsampler")).
        ModelFile(_LTX2, "latent_upsampler/*", 1_000_000_000, "spatial_upsampler", required=False),
        ModelFile(
            _LTX2,
            "ltx-2-19b-distilled-lora-384.safetensors",
            7_700_000_000,
            "distilled_lora",
            required=False,
        ),
    )


def _ltx23_base() -> tuple[ModelFile, ...]:
    # LTX-2.3 is published as single files; the dev checkpoint holds the transformer and both
    # VAEs (22B params in bf16 ~44 GB + VAEs: estimate). The companion parts come from the
    # repo's diffusers sub-folders (assumed, see the module docstring): configs only for the
    # parts the checkpoint carries.
    return (
        ModelFile(_LTX23, "ltx-2.3-22b-dev.safetensors", 46_000_000_000, "checkpoint"),
        ModelFile(_LTX23, "model_index.json", 1_000, "pipeline_index"),
        ModelFile(_LTX23, "scheduler/*", 1_000, "scheduler"),
        ModelFile(_LTX23, "transformer/config.json", 5_000, "transformer_config"),
        ModelFile(_LTX23, "vae/config.json", 5_000, "vae_config"),
        ModelFile(_LTX23, "audio_vae/config.json", 5_000, "audio_vae_config"),
        ModelFile(_LTX23, "connectors/*", 2_000_000_000, "connectors"),
        ModelFile(_LTX23, "vocoder/*", 400_000_000, "vocoder"),
        ModelFile(_LTX23, "text_encoder/*", 24 * GB, "text_encoder", gated=True),
        ModelFile(_LTX23, "tokenizer/*", 40_000_000, "tokenizer", gated=True),
        # two-stage / HQ / fast only
        ModelFile(
            _LTX23,
            "ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
            1_000_000_000,
            "spatial_upsampler",
            required=False,
        ),
        ModelFile(
            _LTX23,
            "ltx-2.3-22b-distilled-lora-384.safetensors",
            7_600_000_000,
            "distilled_lora",
            required=False,
        ),
    )


def _lora(repo_id: str, size: int) -> ModelFile:
    # every public ID-LoRA repo names its checkpoint so (public download scripts)
    return ModelFile(repo_id, "lora_weights.safetensors", size, "id_lora")


_LICENSE_LTX = (
    "LTX-2 / LTX-2.3 weights: Lightricks' LTX-2 Community License; Gemma 3: Gemma Terms of Use "
    "(gated, accept on the hub); ID-LoRA checkpoints: see their model cards. Use only with "
    "the consent of the people you generate."
)


def _make_set(
    set_id: str, title: str, description: str, variant: Variant, base: tuple, lora: ModelFile
) -> ModelSet:
    return ModelSet(
        id=set_id,
        title=title,
        description=description,
        variant=variant,
        files=(*base, lora),
        lora=lora,
        license_note=_LICENSE_LTX,
        vram_needs=memory.vram_table(variant),
        layout="single-file" if any(f.role == "checkpoint" for f in base) else "diffusers",
    )


def _build_sets() -> dict[str, ModelSet]:
    sets = [
        _make_set(
            "ltx2-celebvhq",
            "LTX-2 + ID-LoRA CelebV-HQ",
            "LTX-2 (19B) with the ID-LoRA trained on CelebV-HQ: faces and voices of varied people.",
            "ltx2",
            _ltx2_base(),
            _lora("AviadDahan/ID-LoRA-CelebVHQ", 1_200_000_000),
        ),
        _make_set(
            "ltx2-talkvid",
            "LTX-2 + ID-LoRA TalkVid",
            "LTX-2 (19B) with the ID-LoRA trained on TalkVid: talking-head footage.",
            "ltx2",
            _ltx2_base(),
            _lora("AviadDahan/ID-LoRA-TalkVid", 1_200_000_000),
        ),
        _make_set(
            "ltx2.3-celebvhq-3k",
            "LTX-2.3 + ID-LoRA CelebV-HQ-3K",
            "LTX-2.3 (22B) with the ID-LoRA trained on 3K CelebV-HQ clips.",
            "ltx2.3",
            _ltx23_base(),
            # Size unknown offline; assumed like the LTX-2 LoRAs (rank 128).
            _lora("AviadDahan/LTX-2.3-ID-LoRA-CelebVHQ-3K", 1_300_000_000),
        ),
        _make_set(
            "ltx2.3-talkvid-3k",
            "LTX-2.3 + ID-LoRA TalkVid-3K",
            "LTX-2.3 (22B) with the ID-LoRA trained on 3K TalkVid clips.",
            "ltx2.3",
            _ltx23_base(),
            _lora("AviadDahan/LTX-2.3-ID-LoRA-TalkVid-3K", 1_300_000_000),
        ),
        ModelSet(
            id=TINY_SET_ID,
            title="Built-in test model",
            description="A tiny random LTX-2 stack built on this machine (no download) for the "
            "self-test, with its own upsampler and distilled LoRA; its output is noise.",
            variant="ltx2",
            files=(),
            lora=None,
            license_note="Built locally; no licence terms.",
            builtin=True,
            vram_needs={},
        ),
        ModelSet(
            id=TINY23_SET_ID,
            title="Built-in test model (LTX-2.3)",
            description="The tiny random stack in its LTX-2.3 form (runs every pipeline, HQ "
            "included); its output is noise.",
            variant="ltx2.3",
            files=(),
            lora=None,
            license_note="Built locally; no licence terms.",
            builtin=True,
            vram_needs={},
        ),
    ]
    return {s.id: s for s in sets}


MODEL_SETS: dict[str, ModelSet] = _build_sets()


def get_set(set_id: str) -> ModelSet:
    """The model set with this id; ``KeyError`` with the known ids otherwise."""
    try:
        return MODEL_SETS[set_id]
    except KeyError:
        raise KeyError(f"unknown model set {set_id!r}; known: {', '.join(MODEL_SETS)}") from None


# ----------------------------------------------------------------------------- status


class FileState(StrEnum):
    MISSING = "missing"
    PARTIAL = "partial"
    PRESENT = "present"  # on disk, size plausible, not (or no longer) known to be verified
    VERIFIED = "verified"  # hash checked after download and file unchanged since


@dataclass(frozen=True)
class FileStatus:
    """On-disk state of one registry entry (a pattern summarises all its resolved files)."""

    file: ModelFile
    state: FileState
    bytes_present: int
    paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SetStatus:
    """On-disk state of a model set, from :func:`status`."""

    model_set: ModelSet
    files: tuple[FileStatus, ...]

    @property
    def bytes_present(self) -> int:
        return sum(f.bytes_present for f in self.files)

    @property
    def complete(self) -> bool:
        """Every required file present (verified or not)."""
        if self.model_set.builtin:
            return True
        return all(
            f.state in (FileState.PRESENT, FileState.VERIFIED)
            for f in self.files
            if f.file.required
        )

    @property
    def verified(self) -> bool:
        if self.model_set.builtin:
            return True
        return all(f.state is FileState.VERIFIED for f in self.files if f.file.required)

    @property
    def state(self) -> FileState:
        """Summary: verified / present / partial (something on disk) / missing."""
        if self.verified:
            return FileState.VERIFIED
        if self.complete:
            return FileState.PRESENT
        if self.bytes_present > 0:
            return FileState.PARTIAL
        return FileState.MISSING


def _single_status(models_dir: Path, repo_id: str, path_in_repo: str) -> tuple[FileState, int]:
    final = local_path(models_dir, repo_id, path_in_repo)
    meta = read_json(state_path(models_dir, repo_id, path_in_repo, ".json"))
    if final.is_file():
        st = final.stat()
        if (
            meta
            and meta.get("verified")
            and meta.get("size") == st.st_size
            and meta.get("mtime_ns") == st.st_mtime_ns
        ):
            return FileState.VERIFIED, st.st_size
        return FileState.PRESENT, st.st_size
    part = state_path(models_dir, repo_id, path_in_repo, ".incomplete")
    if part.is_file():
        return FileState.PARTIAL, part.stat().st_size
    return FileState.MISSING, 0


def resolved_paths(models_dir: Path, mf: ModelFile) -> list[str] | None:
    """Repo paths a pattern resolved to at the last download (``None`` if never resolved)."""
    if not mf.is_pattern:
        return [mf.filename]
    listing = read_json(state_path(models_dir, mf.repo_id, mf.filename, ".listing.json"))
    if listing is None:
        return None
    return [str(p["path"]) for p in listing.get("files", [])]


def file_status(mf: ModelFile, models_dir: Path) -> FileStatus:
    """On-disk state of one registry entry. No network, no hashing."""
    models_dir = Path(models_dir)
    paths = resolved_paths(models_dir, mf)
    if paths is None:
        # Never resolved by our downloader: files placed by hand count as present.
        root = repo_folder(models_dir, mf.repo_id)
        found = (
            [
                p
                for p in root.rglob("*")
                if p.is_file() and mf.matches(p.relative_to(root).as_posix())
            ]
            if root.is_dir()
            else []
        )
        if found:
            size = sum(p.stat().st_size for p in found)
            return FileStatus(mf, FileState.PRESENT, size, tuple(found))
        return FileStatus(mf, FileState.MISSING, 0)
    states = [_single_status(models_dir, mf.repo_id, p) for p in paths]
    total = sum(n for _, n in states)
    kinds = {s for s, _ in states}
    if not paths or kinds == {FileState.MISSING}:
        state = FileState.MISSING
    elif kinds == {FileState.VERIFIED}:
        state = FileState.VERIFIED
    elif kinds <= {FileState.VERIFIED, FileState.PRESENT}:
        state = FileState.PRESENT
    else:
        state = FileState.PARTIAL
    return FileStatus(mf, state, total, tuple(local_path(models_dir, mf.repo_id, p) for p in paths))


def status(model_set: ModelSet, models_dir: Path) -> SetStatus:
    """What of ``model_set`` is on disk under ``models_dir``: per file missing/partial/present/
    verified and the bytes present. Cheap (stat calls only): "verified" means the downloader
    checked the hash and the file's size and mtime have not changed since."""
    return SetStatus(model_set, tuple(file_status(f, models_dir) for f in model_set.files))


# ----------------------------------------------------------------------------- pipelines


def part_paths(model_set: ModelSet, models_dir: Path) -> dict[str, Path | None]:
    """Where each role's file(s) are on disk (None: not there). Patterns give their folder.

    For the roles the pipelines care about: ``checkpoint``, ``spatial_upsampler``,
    ``distilled_lora``, ``id_lora``.
    """
    out: dict[str, Path | None] = {}
    for role in ("checkpoint", "spatial_upsampler", "distilled_lora", "id_lora"):
        mf = model_set.part(role)
        if mf is None:
            out[role] = None
            continue
        st = file_status(mf, models_dir)
        if st.state not in (FileState.PRESENT, FileState.VERIFIED) or not st.paths:
            out[role] = None
        elif mf.is_pattern and "/" in mf.filename:
            out[role] = repo_folder(models_dir, mf.repo_id) / mf.listing_root
        else:
            out[role] = st.paths[0]
    return out


def available_pipelines(
    variant: str, has_upsampler: bool, has_distilled: bool
) -> dict[str, list[str]]:
    """``{pipeline: [what is missing]}`` for a model of ``variant`` with these parts (an empty
    list: it can run). Plain data for the Generate page and the model manager."""
    from engine.pipeline.presets import NEEDS_DISTILLED, NEEDS_UPSAMPLER, PRESETS

    what = {
        NEEDS_UPSAMPLER: "the spatial upsampler",
        NEEDS_DISTILLED: "the distilled LoRA",
    }
    have = {NEEDS_UPSAMPLER: has_upsampler, NEEDS_DISTILLED: has_distilled}
    out: dict[str, list[str]] = {}
    for name, preset in PRESETS.items():
        missing = [] if variant in preset.variants else ["an LTX-2.3 model"]
        missing += [what[n] for n in preset.needs if not have[n]]
        out[name] = missing
    return out
