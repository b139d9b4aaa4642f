"""First-frame preprocessing per pipeline (engine.media.first_frame) against the public scripts.

``_public_stretch`` / ``_public_crop`` restate, in this test, the operations of the public
scripts (LTX-2 one-stage: interpolate straight to the size; two-stage and LTX-2.3: cover,
truncate, centre-crop), on ``uint8 / 255`` float images.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from PIL import Image  # noqa: E402

from engine.media.first_frame import (  # noqa: E402
    FirstFrameFit,
    first_frame_fit,
    fit_geometry,
    fit_note,
    prepare_first_frame,
)


def _image(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth ramps plus detail, so resampling differences show
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1) * 200
    return np.clip(base + rng.integers(0, 55, (h, w, 3)), 0, 255).astype(np.uint8)


def _as_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1)


def _public_stretch(arr: np.ndarray, h: int, w: int) -> torch.Tensor:
    img = F.interpolate(_as_tensor(arr)[None], size=(h, w), mode="bilinear")
    return img[0] * 2.0 - 1.0


def _public_crop(arr: np.ndarray, h: int, w: int) -> torch.Tensor:
    image = _as_tensor(arr)
    src_h, src_w = image.shape[1], image.shape[2]
    img = image[None]
    if (src_h, src_w) != (h, w):
        ar, tar = src_w / src_h, w / h
        rh, rw = (h, int(h * ar)) if ar > tar else (int(w / ar), w)
        img = F.interpolate(img, size=(rh, rw), mode="bilinear", align_corners=False)
        h0, w0 = (rh - h) // 2, (rw - w) // 2
        img = img[:, :, h0 : h0 + h, w0 : w0 + w]
    return img[0] * 2.0 - 1.0


def test_fit_per_pipeline() -> None:
    assert first_frame_fit("ltx2", "one_stage") is FirstFrameFit.STRETCH
    for pipeline in ("two_stage", "hq", "fast"):
        assert first_frame_fit("ltx2", pipeline) is FirstFrameFit.CROP
    for pipeline in ("one_stage", "two_stage", "hq", "fast"):
        assert first_frame_fit("ltx2.3", pipeline) is FirstFrameFit.CROP
    with pytest.raises(ValueError, match="unknown model generation"):
        first_frame_fit("ltx3")
    # the engine's preset names (hyphenated) mean the same pipelines; a typo is refused
    from engine.pipeline.presets import PIPELINES

    fits = {name: first_frame_fit("ltx2", name) for name in PIPELINES}
    assert fits == {
        "one-stage": FirstFrameFit.STRETCH,
        "two-stage": FirstFrameFit.CROP,
        "hq": FirstFrameFit.CROP,
        "fast": FirstFrameFit.CROP,
    }
    with pytest.raises(ValueError, match="unknown pipeline 'onestage'"):
        first_frame_fit("ltx2", "onestage")


@pytest.mark.parametrize(("src", "dst"), [((300, 200), (96, 96)), ((120, 200), (64, 96))])
def test_stretch_is_the_public_interpolate(src, dst) -> None:
    arr = _image(*src)
    out, geom = prepare_first_frame(Image.fromarray(arr), dst[0], dst[1], "stretch")
    assert out.shape == (3, dst[1], dst[0]) and out.dtype == torch.float32
    assert torch.equal(out, _public_stretch(arr, dst[1], dst[0]))
    assert geom.kept == src and not geom.cropped
    # not PIL's antialiased, 8-bit-rounded bilinear (the engine's former resize)
    pil = np.asarray(Image.fromarray(arr).resize(dst, Image.Resampling.BILINEAR))
    pil_t = _as_tensor(pil) * 2 - 1
    assert (out - pil_t).abs().max() > 0.05


@pytest.mark.parametrize(
    ("src", "dst", "resized", "offset"),
    [
        ((1920, 1080), (512, 512), (910, 512), (199, 0)),  # wide: sides trimmed
        ((600, 1000), (512, 512), (512, 853), (0, 170)),  # tall: top/bottom trimmed
        ((333, 500), (320, 480), (320, 480), (0, 0)),  # nearly the aspect: resize only
        ((64, 96), (64, 96), (64, 96), (0, 0)),  # same size: untouched
    ],
)
def test_crop_is_the_public_centre_crop(src, dst, resized, offset) -> None:
    arr = _image(*src, seed=1)
    out, geom = prepare_first_frame(arr, dst[0], dst[1], FirstFrameFit.CROP)
    assert geom.resized == resized and geom.offset == offset
    assert out.shape == (3, dst[1], dst[0])
    assert torch.equal(out, _public_crop(arr, dst[1], dst[0]))


def test_crop_never_slices_short_when_aspects_are_equal() -> None:
    """The public cover size truncates 928.0 to 927 for this aspect; the engine keeps 928."""
    src, dst = (25, 145), (160, 928)
    assert int(dst[0] / (src[0] / src[1])) == 927  # the public arithmetic
    geom = fit_geometry(src, dst, "crop")
    assert geom.resized == dst and geom.offset == (0, 0)
    out, _ = prepare_first_frame(_image(*src), dst[0], dst[1], "crop")
    assert out.shape == (3, dst[1], dst[0])


def test_notes_say_what_happened() -> None:
    crop = fit_note(fit_geometry((1920, 1080), (512, 512), "crop"))
    assert crop == (
        "first frame cropped from 1920x1080 to its centre 1080x1080 (left and right trimmed) "
        "to fill 512x512"
    )
    tall = fit_note(fit_geometry((600, 1000), (512, 512), "crop"))
    assert tall is not None and "top and bottom trimmed" in tall and "600x600" in tall
    assert fit_note(fit_geometry((1024, 576), (512, 288), "crop")) is None  # same aspect
    stretch = fit_note(fit_geometry((1920, 1080), (512, 512), "stretch"))
    assert stretch == "first frame stretched from 1920x1080 to 512x512 (aspect 1.78 -> 1.00)"
    # the few-percent stretch of snapping to multiples of 32 is not worth a note
    assert fit_note(fit_geometry((1000, 700), (512, 352), "stretch")) is None


def test_values_and_errors() -> None:
    white = np.full((10, 20, 3), 255, dtype=np.uint8)
    out, _ = prepare_first_frame(white, 32, 32, "crop")
    assert torch.allclose(out, torch.ones_like(out))
    with pytest.raises(ValueError, match="RGB"):
        prepare_first_frame(np.zeros((4, 4), dtype=np.uint8), 32, 32, "crop")
    with pytest.raises(ValueError, match="positive"):
        fit_geometry((10, 10), (0, 32), "crop")
    with pytest.raises(ValueError):
        fit_geometry((10, 10), (32, 32), "squash")


@pytest.mark.parametrize(
    ("model", "fit", "note"),
    [
        ("tiny", "stretch", "first frame stretched from 128x96 to 64x64 (aspect 1.33 -> 1.00)"),
        (
            "tiny-ltx2.3",
            "crop",
            "first frame cropped from 128x96 to its centre 96x96 (left and right trimmed) "
            "to fill 64x64",
        ),
    ],
)
def test_generator_fits_the_first_frame_per_pipeline(
    model, fit, note, tiny_model_dir, tiny_model_dir_23, tmp_path, monkeypatch
) -> None:
    """One-stage LTX-2 stretches, LTX-2.3 crops; the pixels are the public ones; a note says so."""
    from engine.api import GenerationRequest
    from engine.generate import IDLoRAGenerator
    from engine.media.audio import write_wav

    arr = _image(128, 96, seed=4)
    Image.fromarray(arr).save(tmp_path / "face.png")
    t = np.arange(16000 * 2) / 16000
    write_wav(
        tmp_path / "v.wav", (0.3 * np.sin(2 * np.pi * 200 * t))[None].astype(np.float32), 16000
    )
    built = tiny_model_dir if model == "tiny" else tiny_model_dir_23
    gen = IDLoRAGenerator.load(model, cache_dir=built.parent, device="cpu")
    seen = []
    original = gen.pipe.encode_image
    monkeypatch.setattr(gen.pipe, "encode_image", lambda img: seen.append(img) or original(img))
    try:
        res = gen.generate(
            GenerationRequest(
                prompt="[VISUAL]: a person",
                image=tmp_path / "face.png",
                voice=tmp_path / "v.wav",
                width=64,
                height=64,
                num_frames=9,
                steps=1,
            )
        )
    finally:
        gen.close()
    assert res.effective["first_frame_fit"] == fit
    assert note in res.effective["notes"]
    public = _public_stretch(arr, 64, 64) if fit == "stretch" else _public_crop(arr, 64, 64)
    assert torch.equal(seen[0][0], public)
