"""The first frame: fitting the reference image to the generation size, as each public script does.

The public ID-LoRA scripts load the image as ``uint8 / 255`` (float32, RGB) and resize it with
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` -- no antialiasing,
on float values, never rounded back to 8 bits -- then scale it to [-1, 1]. They differ in how
they fit another aspect:

* **stretch** (LTX-2 ``scripts/inference_one_stage.py``): interpolate straight to
  ``height x width``, whatever the aspect.
* **crop** (LTX-2 ``inference_two_stage.py`` and every LTX-2.3 script): when the size differs,
  resize so the image covers the target with its aspect kept -- the side that is relatively
  longer gets ``int(other_target_side * aspect)`` pixels (truncated) -- then take the centre
  ``height x width`` window (offsets ``(resized - target) // 2``).

Which fit a pipeline uses is :func:`first_frame_fit`; the pipelines pass it to
:func:`prepare_first_frame`. :func:`fit_geometry` and :func:`fit_note` are plain Python (no
torch) so the Studio can show what will happen to the image beside the effective size.

One deliberate difference: where the public crop computes a covering side one pixel short
(``int(512 / (1920 / 1080) )`` style float truncation when both aspects are equal), it would
slice an empty or short window; here that side is never smaller than the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Aspect changes below this (relative) are not worth a note when stretching: snapping an
#: auto-sized frame to multiples of 32 alone changes the aspect by up to about 5%.
STRETCH_NOTE_TOLERANCE = 0.05

#: The pipelines :func:`first_frame_fit` knows (``engine.pipeline.presets`` spells them with
#: hyphens: ``one-stage``, ``two-stage``).
PIPELINES = ("one_stage", "two_stage", "hq", "fast")


class FirstFrameFit(StrEnum):
    """How the reference image is fitted to the generation size."""

    STRETCH = "stretch"
    CROP = "crop"


def first_frame_fit(generation: str, pipeline: str = "one_stage") -> FirstFrameFit:
    """The fit the public scripts use: LTX-2 one-stage stretches, everything else crops.

    ``generation``: ``"ltx2"`` or ``"ltx2.3"`` (``engine.pipeline.denoise.model_generation``);
    ``pipeline``: ``"one_stage"``, ``"two_stage"``, ``"hq"`` (LTX-2.3 two-stage HQ) or
    ``"fast"`` (distilled); the engine's preset names (``"one-stage"``, ``"two-stage"``) are
    accepted too. An unknown name is an error, never silently a crop.
    """
    if generation not in ("ltx2", "ltx2.3"):
        raise ValueError(f"unknown model generation {generation!r}")
    pipeline = pipeline.replace("-", "_")
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {pipeline!r} (one of {', '.join(PIPELINES)})")
    if generation == "ltx2" and pipeline == "one_stage":
        return FirstFrameFit.STRETCH
    return FirstFrameFit.CROP


@dataclass(frozen=True)
class FitGeometry:
    """Where the source pixels go. Sizes are (width, height).

    ``resized``: the size the whole image is interpolated to; ``offset``: top-left (x, y) of
    the target window in the resized image; ``kept``: the part of the source that ends up in
    the frame, in source pixels (the whole image unless cropped).
    """

    fit: FirstFrameFit
    source: tuple[int, int]
    target: tuple[int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    kept: tuple[int, int]

    @property
    def cropped(self) -> bool:
        return self.resized != self.target

    @property
    def aspect_change(self) -> float:
        """Relative change of aspect ratio of the visible content (0 when kept)."""
        sw, sh = self.kept
        tw, th = self.target
        return abs((tw / th) / (sw / sh) - 1.0)


def fit_geometry(
    source: tuple[int, int], target: tuple[int, int], fit: FirstFrameFit | str
) -> FitGeometry:
    """The resize and crop :func:`prepare_first_frame` applies to a ``source``-sized image."""
    fit = FirstFrameFit(fit)
    sw, sh = (int(v) for v in source)
    tw, th = (int(v) for v in target)
    if min(sw, sh, tw, th) <= 0:
        raise ValueError(f"sizes must be positive, got {sw}x{sh} -> {tw}x{th}")
    if fit is FirstFrameFit.STRETCH or (sw, sh) == (tw, th):
        return FitGeometry(fit, (sw, sh), (tw, th), (tw, th), (0, 0), (sw, sh))
    aspect, target_aspect = sw / sh, tw / th
    if aspect > target_aspect:  # wider than the target: full height, crop the sides
        rw, rh = max(tw, int(th * aspect)), th
    else:  # taller (or equal): full width, crop top and bottom
        rw, rh = tw, max(th, int(tw / aspect))
    x0, y0 = (rw - tw) // 2, (rh - th) // 2
    kept = (round(sw * tw / rw), round(sh * th / rh))
    return FitGeometry(fit, (sw, sh), (tw, th), (rw, rh), (x0, y0), kept)


def fit_note(geometry: FitGeometry) -> str | None:
    """A sentence for the user when the image is cropped or visibly stretched, else None."""
    sw, sh = geometry.source
    tw, th = geometry.target
    if geometry.fit is FirstFrameFit.CROP and geometry.cropped:
        kw, kh = geometry.kept
        side = "left and right" if kw < sw else "top and bottom"
        return (
            f"first frame cropped from {sw}x{sh} to its centre {kw}x{kh} ({side} trimmed) "
            f"to fill {tw}x{th}"
        )
    if geometry.fit is FirstFrameFit.STRETCH and geometry.aspect_change > STRETCH_NOTE_TOLERANCE:
        return (
            f"first frame stretched from {sw}x{sh} to {tw}x{th} "
            f"(aspect {sw / sh:.2f} -> {tw / th:.2f})"
        )
    return None


def prepare_first_frame(
    image: Any, width: int, height: int, fit: FirstFrameFit | str
) -> tuple[torch.Tensor, FitGeometry]:
    """Fit an RGB image to ``width x height``; returns ((3, H, W) float32 in [-1, 1], geometry).

    ``image``: a PIL image or a uint8 array (H, W, 3). Values are ``uint8 / 255``, bilinear
    ``interpolate`` (align_corners False, no antialias), then ``* 2 - 1``, as the public code.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {arr.shape}")
    geometry = fit_geometry((arr.shape[1], arr.shape[0]), (width, height), fit)
    x = torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    rw, rh = geometry.resized
    if geometry.fit is FirstFrameFit.STRETCH or geometry.source != geometry.target:
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False)
    x0, y0 = geometry.offset
    x = x[:, :, y0 : y0 + height, x0 : x0 + width]
    return (x[0] * 2.0 - 1.0).contiguous(), geometry


__all__ = [
    "FirstFrameFit",
    "FitGeometry",
    "first_frame_fit",
    "fit_geometry",
    "fit_note",
    "prepare_first_frame",
]
