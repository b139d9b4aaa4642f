"""The spatial latent upsampler loader: diffusers folders and single files (with and without a
config in the metadata), both upsampler kinds, refusal of other files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from engine.api import InvalidRequestError, ModelNotFoundError  # noqa: E402
from engine.models.tiny import build_tiny_upsampler  # noqa: E402
from engine.models.upsampler import load_upsampler  # noqa: E402


def _latent() -> torch.Tensor:
    return torch.randn(1, 128, 2, 2, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("variant", ["ltx2", "ltx2.3"])
def test_folder_and_single_file_load_the_same_model(variant: str, tmp_path: Path) -> None:
    ref = build_tiny_upsampler(variant)
    x = _latent()
    with torch.no_grad():
        want = ref(x)
    assert want.shape == (1, 128, 2, 4, 6)  # 2x in height and width, frames unchanged

    ref.save_pretrained(tmp_path / "folder")
    assert torch.equal(load_upsampler(tmp_path / "folder")(x), want)

    # single file as Lightricks publish it: module names, no config (inferred from shapes)
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    state.pop("upsampler.blur_down.kernel", None)  # a buffer the class builds itself
    save_file(state, str(tmp_path / "up.safetensors"))
    loaded = load_upsampler(tmp_path / "up.safetensors")
    assert loaded.config.use_rational_resampler == (variant == "ltx2.3")
    assert loaded.config.mid_channels == 32 and loaded.config.num_blocks_per_stage == 1
    with torch.no_grad():
        assert torch.equal(loaded(x), want)

    # with the public loader's config in the metadata
    meta = {
        "config": json.dumps(
            {
                "mid_channels": 32,
                "num_blocks_per_stage": 1,
                "dims": 3,
                "spatial_scale": 2.0,
                "rational_resampler": variant == "ltx2.3",
            }
        )
    }
    save_file(state, str(tmp_path / "meta.safetensors"), metadata=meta)
    with torch.no_grad():
        assert torch.equal(load_upsampler(tmp_path / "meta.safetensors")(x), want)


def test_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        load_upsampler(tmp_path / "nowhere.safetensors")
    save_file({"unet.conv.weight": torch.zeros(2, 2)}, str(tmp_path / "sd.safetensors"))
    with pytest.raises(InvalidRequestError, match="sd.safetensors: not a spatial latent upsampler"):
        load_upsampler(tmp_path / "sd.safetensors")
    state = build_tiny_upsampler("ltx2").state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("final_conv.bias")}
    state["final_conv.weight"] = state["final_conv.weight"].contiguous()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "cut.safetensors"))
    with pytest.raises(InvalidRequestError, match="cut.safetensors: does not fit"):
        load_upsampler(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(InvalidRequestError, match="junk.safetensors"):
        load_upsampler(tmp_path / "junk.safetensors")
