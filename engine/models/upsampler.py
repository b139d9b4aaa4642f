"""Load the LTX-2 / LTX-2.3 spatial latent upsampler (two-stage presets) into diffusers' class.

Two layouts are accepted:

* a diffusers folder (``config.json`` + weights), e.g. ``Lightricks/LTX-2``'s
  ``latent_upsampler/`` or the tiny stack's: ``LTX2LatentUpsamplerModel.from_pretrained``;
* a single ``.safetensors`` file as Lightricks publish it
  (``ltx-2-spatial-upscaler-x2-1.0.safetensors``, ``ltx-2.3-spatial-upscaler-x2-1.1.safetensors``).
  Its tensor names are the module names diffusers' ``LTX2LatentUpsamplerModel`` uses (both
  classes name their layers alike); its configuration is read from the file's ``config``
  metadata when present (the public loader's keys: ``mid_channels``, ``num_blocks_per_stage``,
  ``dims``, ``spatial_upsample``, ``temporal_upsample``, ``spatial_scale``,
  ``rational_resampler``) and otherwise inferred from the tensor shapes.

Every weight of the model must come from the file (strict load), so a file of another kind
is refused with a sentence naming it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.api import InvalidRequestError, ModelNotFoundError

_BLOCK = re.compile(r"^(res_blocks|post_upsample_res_blocks)\.(\d+)\.")
#: The fixed anti-aliasing kernel of the rational resampler: a buffer the class builds itself.
_BUILT_BUFFERS = ("upsampler.blur_down.kernel",)


def _config_from_metadata(meta: dict[str, str] | None) -> dict[str, Any] | None:
    if not meta or "config" not in meta:
        return None
    try:
        raw = json.loads(meta["config"])
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    cfg: dict[str, Any] = {}
    for src, dst in (
        ("in_channels", "in_channels"),
        ("mid_channels", "mid_channels"),
        ("num_blocks_per_stage", "num_blocks_per_stage"),
        ("dims", "dims"),
        ("spatial_upsample", "spatial_upsample"),
        ("temporal_upsample", "temporal_upsample"),
        ("spatial_scale", "rational_spatial_scale"),
        ("rational_resampler", "use_rational_resampler"),
    ):
        if src in raw:
            cfg[dst] = raw[src]
    return cfg


def _config_from_shapes(shapes: dict[str, tuple[int, ...]], name: str) -> dict[str, Any]:
    """Infer the constructor arguments from tensor shapes (spatial 2x upsamplers)."""
    conv = shapes.get("initial_conv.weight")
    if conv is None or "final_conv.weight" not in shapes:
        raise InvalidRequestError(
            f"{name}: not a spatial latent upsampler (no initial_conv / final_conv weights)"
        )
    blocks = {
        int(m.group(2)) for k in shapes if (m := _BLOCK.match(k)) and m.group(1) == "res_blocks"
    }
    rational = "upsampler.conv.weight" in shapes
    cfg: dict[str, Any] = {
        "in_channels": int(conv[1]),
        "mid_channels": int(conv[0]),
        "num_blocks_per_stage": len(blocks),
        "dims": len(conv) - 2,
        "spatial_upsample": True,
        "temporal_upsample": False,
        "use_rational_resampler": rational,
    }
    if rational:
        # out channels = num^2 * mid; a 2x upsampler has num 2, den 1
        num = round((shapes["upsampler.conv.weight"][0] / conv[0]) ** 0.5)
        cfg["rational_spatial_scale"] = float(num)
    return cfg


def load_upsampler(path: Path | str, torch_dtype: Any = None) -> Any:
    """The spatial latent upsampler at ``path`` (diffusers folder or single file), eval mode.

    Raises :class:`ModelNotFoundError` for a missing path and :class:`InvalidRequestError`
    for a file that is not an upsampler or does not fit the class.
    """
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"Upsampler folder {path} has no config.json", (str(path / "config.json"),)
            )
        model = LTX2LatentUpsamplerModel.from_pretrained(str(path), torch_dtype=torch_dtype)
        return model.eval()
    if not path.is_file():
        raise ModelNotFoundError(f"Spatial upsampler not found: {path}", (str(path),))
    if path.suffix.lower() != ".safetensors":
        raise InvalidRequestError(f"{path.name}: the upsampler must be a .safetensors file")

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata()
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError) as err:
        raise InvalidRequestError(f"{path.name}: not a readable safetensors file ({err})") from err
    # some exports prefix the module names
    for prefix in ("spatial_upsampler.", "latent_upsampler.", "model."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    cfg = _config_from_shapes(shapes, path.name)
    cfg.update(_config_from_metadata(meta) or {})
    try:
        model = LTX2LatentUpsamplerModel(**cfg)
    except (TypeError, ValueError) as err:
        raise InvalidRequestError(
            f"{path.name}: unsupported upsampler configuration ({err})"
        ) from err
    expected = set(model.state_dict())
    missing = sorted(expected - set(state) - set(_BUILT_BUFFERS))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        shown = ", ".join((missing or unexpected)[:4])
        raise InvalidRequestError(
            f"{path.name}: does not fit a spatial latent upsampler "
            f"({len(missing)} weights missing, {len(unexpected)} unknown; e.g. {shown})"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise InvalidRequestError(
            f"{path.name}: upsampler weights of the wrong shape ({err})"
        ) from err
    if torch_dtype is not None:
        model = model.to(torch_dtype)
    return model.eval()
