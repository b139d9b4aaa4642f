"""Model sets -> what the engine loads: downloaded single-file sets get their base, files on
disk win, each pipeline gets only the parts it needs, and what a set cannot run is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.api import ModelNotFoundError
from engine.models import registry
from engine.models.local_sources import (
    LocalSource,
    LocalSources,
    describe_pipelines,
    resolve_model,
    set_pipelines,
)


def _place(models_dir: Path, ms: registry.ModelSet, skip: tuple[str, ...] = ()) -> None:
    """Put a small file where each of the set's entries would be downloaded."""
    for mf in ms.files:
        if mf.role in skip:
            continue
        name = mf.filename.replace("*", "weights.safetensors")
        path = registry.local_path(models_dir, mf.repo_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 16)


def test_registry_sets_and_their_pipelines() -> None:
    ltx23 = registry.get_set("ltx2.3-talkvid-3k")
    assert ltx23.layout == "single-file" and ltx23.variant == "ltx2.3"
    assert ltx23.part("checkpoint").filename == "ltx-2.3-22b-dev.safetensors"
    assert ltx23.part("spatial_upsampler").filename == "ltx-2.3-spatial-upscaler-x2-1.1.safetensors"
    assert ltx23.part("distilled_lora").filename == "ltx-2.3-22b-distilled-lora-384.safetensors"
    assert ltx23.part("id_lora").filename == "lora_weights.safetensors"
    assert (
        not ltx23.part("spatial_upsampler").required and not ltx23.part("distilled_lora").required
    )
    ltx2 = registry.get_set("ltx2-celebvhq")
    assert ltx2.layout == "diffusers"
    assert ltx2.part("distilled_lora").filename == "ltx-2-19b-distilled-lora-384.safetensors"
    assert registry.get_set("tiny-ltx2.3").builtin
    can = registry.available_pipelines("ltx2", has_upsampler=False, has_distilled=True)
    assert can["one-stage"] == [] and can["fast"] == []
    assert can["two-stage"] == ["the spatial upsampler"]
    assert can["hq"] == ["an LTX-2.3 model", "the spatial upsampler"]
    assert registry.available_pipelines("ltx2.3", True, True) == {
        "one-stage": [],
        "two-stage": [],
        "hq": [],
        "fast": [],
    }


def test_downloaded_single_file_set_resolves_to_checkpoint_plus_base(tmp_path: Path) -> None:
    ms = registry.get_set("ltx2.3-celebvhq-3k")
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(ms.id, tmp_path)
    assert "ltx-2.3-22b-dev.safetensors" in err.value.missing
    _place(tmp_path, ms, skip=("spatial_upsampler",))
    r = resolve_model(ms.id, tmp_path)
    repo = registry.repo_folder(tmp_path, "Lightricks/LTX-2.3")
    assert r.model == str(repo / "ltx-2.3-22b-dev.safetensors") and r.base == repo
    assert r.lora == registry.local_path(
        tmp_path, "AviadDahan/LTX-2.3-ID-LoRA-CelebVHQ-3K", "lora_weights.safetensors"
    )
    assert (
        r.upsampler is None
        and r.distilled_lora == repo / "ltx-2.3-22b-distilled-lora-384.safetensors"
    )
    assert r.missing_for("one-stage") == [] and r.missing_for("fast") == []
    assert r.missing_for("hq") == ["the spatial upsampler"]
    assert r.loader_kwargs("one-stage") == {"base": repo}
    assert r.loader_kwargs("fast") == {"base": repo, "distilled_lora": r.distilled_lora}
    pipes = set_pipelines(ms, tmp_path)
    assert pipes["two-stage"] == ["the spatial upsampler"] and pipes["fast"] == []
    text = describe_pipelines(pipes)
    assert "One-stage ✓" in text and "HQ (LTX-2.3): needs the spatial upsampler" in text


def test_diffusers_set_and_files_on_disk(tmp_path: Path) -> None:
    ms = registry.get_set("ltx2-talkvid")
    _place(tmp_path, ms)
    r = resolve_model(ms.id, tmp_path)
    repo = registry.repo_folder(tmp_path, "Lightricks/LTX-2")
    assert r.model == str(repo) and r.base is None
    assert r.upsampler == repo / "latent_upsampler"
    assert r.loader_kwargs("two-stage") == {
        "upsampler": repo / "latent_upsampler",
        "distilled_lora": repo / "ltx-2-19b-distilled-lora-384.safetensors",
    }
    # files the user pointed at win over downloads, and are remembered across loads
    local = LocalSources.load(tmp_path / "config")
    src = LocalSource(
        ms.id,
        "single-file",
        tmp_path / "ck.safetensors",
        tmp_path / "b",
        tmp_path / "l.st",
        upsampler=tmp_path / "u.st",
    )
    local.set(src)
    again = LocalSources.load(tmp_path / "config")
    assert again.get(ms.id) == src
    r = resolve_model(ms.id, tmp_path, local=again)
    assert (r.model, r.base, r.lora, r.upsampler, r.distilled_lora) == (
        str(src.model),
        src.base,
        src.lora,
        src.upsampler,
        None,
    )
    assert set_pipelines(ms, tmp_path, src)["two-stage"] == ["the distilled LoRA"]
    # a job queued with a path before sets were resolved by id still finds its source
    old = resolve_model(str(src.model), tmp_path, local=again)
    assert old.base == src.base
    # tiny models carry every part
    tiny = resolve_model("tiny-ltx2.3", tmp_path)
    assert tiny.tiny and tiny.missing_for("hq") == [] and tiny.loader_kwargs("hq") == {}
