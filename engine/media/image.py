"""Image loading for reference images, without Qt or torch.

:func:`load_image` reads anything Pillow reads, applies the EXIF orientation, flattens
transparency onto white and returns an RGB image. The image size is checked from the header
*before* any pixel is decoded, so a decompression bomb (a small file that decodes to a huge
bitmap) is refused without allocating it. Problems raise :class:`engine.api.MediaError`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.api import MediaError

DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says (stored orientation, before EXIF rotation)."""

    width: int
    height: int
    format: str  # Pillow's format name: "JPEG", "PNG", "WEBP", ...
    mode: str
    frames: int


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(path, "the file does not exist (it may have been moved or deleted)")
    if not path.is_file():
        raise MediaError(path, "this is a folder, not an image file")
    if path.stat().st_size == 0:
        raise MediaError(path, "the file is empty (0 bytes)")


def _open_header(path: Path) -> Image.Image:
    """Open lazily: Pillow reads only the header here, no pixel data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as exc:
        # Pillow refuses sizes beyond twice its own limit while reading the header.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
        raise MediaError(
            path,
            f"the image is far too large{size} to decode safely; refusing to decode it "
            "(it may be a decompression bomb)",
        ) from None
    except UnidentifiedImageError:
        raise MediaError(
            path, "this is not an image file (no known image format was found)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(path, f"the image header is damaged or truncated ({exc})") from None


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(path, f"the image header declares an empty size ({width} x {height})")
    if width * height > max_pixels:
        raise MediaError(
            path,
            f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), "
            f"more than the {max_pixels / 1e6:.0f} megapixel limit; refusing to decode it",
        )


def probe_image(path: Path | str, *, max_pixels: int | None = None) -> ImageInfo:
    """Read only the header of ``path``. With ``max_pixels`` the size is checked too."""
    path = Path(path)
    _check_file(path)
    img = _open_header(path)
    with img:
        w, h = img.size
        if max_pixels is not None:
            _check_pixels(path, w, h, max_pixels)
        return ImageInfo(
            width=w,
            height=h,
            format=img.format or "",
            mode=img.mode,
            frames=int(getattr(img, "n_frames", 1) or 1),
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = ((arr - lo) / (hi - lo or 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load ``path`` as an RGB image, EXIF orientation applied, transparency on white.

    The pixel count is checked from the header before decoding. Animated images give their
    first frame. Raises :class:`MediaError` for a missing, empty, unrecognised, truncated or
    oversized file.
    """
    path = Path(path)
    _check_file(path)
    img = _open_header(path)
    with img:
        _check_pixels(path, img.size[0], img.size[1], max_pixels)
        try:
            img.seek(0)
            img.load()
            oriented = ImageOps.exif_transpose(img)
            rgb = _to_rgb(oriented if oriented is not None else img)
            if rgb is img:
                rgb = img.copy()
        except Image.DecompressionBombError as exc:
            raise MediaError(path, f"the image is too large to decode safely ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise MediaError(
                path, f"the image data is truncated or damaged and cannot be decoded ({exc})"
            ) from None
    return rgb
