"""Checking and preparing a reference image for the library.

:func:`check_image` loads any image Pillow reads (EXIF orientation applied, decompression
bombs refused from the header), re-encodes it without metadata (PNG for lossless sources,
JPEG quality 95 for JPEG sources), makes a thumbnail, and looks for faces with OpenCV's
bundled Haar cascade. No face or several faces is a warning, not a rejection: the user
decides. The suggested crop is a square around the largest face with room for hair and
shoulders, clamped to the image; :func:`crop_image` makes that crop a new reference image.

Face detection, and why it is set up this way (measured on group photos composed of real
face photographs on real photographic backgrounds, phone-sized and smaller): a global
histogram equalisation let a flat or bright background squeeze the faces' contrast away
(0 of 3 faces found on some backgrounds), and a minimum face of 6 % of the short side on a
1024 px copy dropped the smaller face of a group ("2 faces" for three people). Local
contrast equalisation (CLAHE), a 3 % minimum on a 1280 px copy and the ``alt2`` frontal
cascade (fewer false faces than ``default`` at that size) found every face with no false
ones on the same set.

No Qt here: this runs in a worker thread.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from engine.api import MediaError
from engine.media.image import load_image, probe_image
from idlora_studio.library.media_types import FaceBox, ImageImport, ImportRejected

MIN_SIDE = 64
DETECT_LONG_SIDE = 1280  # faces are searched on a copy at most this long
MIN_FACE_FRACTION = 0.03  # of the short side of that copy
MIN_FACE_PX = 20  # the cascade's window is 20 x 20
MIN_NEIGHBORS = 5
CASCADE = "haarcascade_frontalface_alt2.xml"
CROP_SCALE = 2.2  # crop side as a multiple of the face box side
JPEG_QUALITY = 95
THUMB_QUALITY = 85

_local = threading.local()


def _face_cascade():  # noqa: ANN202 - cv2 type
    """OpenCV's frontal-face Haar cascade shipped inside the opencv-python wheel.

    Loaded once per thread: a classifier object is not meant to be shared between threads.
    """
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        import cv2

        xml = Path(cv2.data.haarcascades) / CASCADE
        cascade = cv2.CascadeClassifier(str(xml))
        if cascade.empty():
            raise RuntimeError(f"OpenCV's face detector could not be loaded from {xml}")
        _local.cascade = cascade
    return cascade


def detect_faces(image: Image.Image) -> tuple[FaceBox, ...]:
    """Faces in an RGB image, largest first, in the image's pixel coordinates."""
    import cv2

    w, h = image.size
    scale = min(1.0, DETECT_LONG_SIDE / max(w, h))
    small = (
        image
        if scale == 1.0
        else image.resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
        )
    )
    gray = cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2GRAY)
    gray = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)
    min_side = max(MIN_FACE_PX, int(min(gray.shape) * MIN_FACE_FRACTION))
    found = _face_cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=MIN_NEIGHBORS, minSize=(min_side, min_side)
    )
    boxes = [
        FaceBox(
            x=int(round(x / scale)),
            y=int(round(y / scale)),
            width=int(round(fw / scale)),
            height=int(round(fh / scale)),
        )
        for (x, y, fw, fh) in (found if len(found) else [])
    ]
    boxes.sort(key=lambda b: b.width * b.height, reverse=True)
    return tuple(_drop_nested(boxes))


def _drop_nested(boxes: list[FaceBox]) -> list[FaceBox]:
    """Keep a box only if its centre is not inside a larger box already kept (the cascade
    can report one face twice at two scales). ``boxes`` is sorted largest first."""
    kept: list[FaceBox] = []
    for b in boxes:
        cx, cy = b.x + b.width / 2, b.y + b.height / 2
        if not any(k.x <= cx <= k.x + k.width and k.y <= cy <= k.y + k.height for k in kept):
            kept.append(b)
    return kept


def suggest_crop(face: FaceBox, width: int, height: int) -> tuple[int, int, int, int]:
    """A square (x, y, w, h) around ``face`` with margin, shifted slightly down to include the
    chin and shoulders, and clamped to the ``width`` x ``height`` image."""
    side = int(round(max(face.width, face.height) * CROP_SCALE))
    side = max(1, min(side, width, height))
    cx = face.x + face.width / 2
    cy = face.y + face.height / 2 + 0.15 * face.height
    x = int(round(cx - side / 2))
    y = int(round(cy - side / 2))
    x = min(max(0, x), width - side)
    y = min(max(0, y), height - side)
    return x, y, side, side


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def check_image(
    path: Path, *, thumbnail_size: int = 256, max_pixels: int = 50_000_000
) -> ImageImport:
    """Load, check and re-encode a reference image; raise :class:`ImportRejected` if unusable."""
    path = Path(path)
    # 1. header first: format, and the size check before any pixel is decoded
    try:
        info = probe_image(path, max_pixels=max_pixels)
        if min(info.width, info.height) < MIN_SIDE:
            raise ImportRejected(
                path,
                f"the image is only {info.width} x {info.height} pixels; reference images need "
                f"at least {MIN_SIDE} pixels on each side",
            )
        image = load_image(path, max_pixels=max_pixels)
    except MediaError as exc:
        raise ImportRejected(path, exc.problem) from None
    return _checked(path, image, info.format, thumbnail_size)


def crop_image(
    path: Path,
    crop: tuple[int, int, int, int],
    *,
    source_name: str,
    thumbnail_size: int = 256,
) -> ImageImport:
    """Cut ``crop`` (x, y, width, height; clamped to the image) out of the image at ``path``
    and check the result like an import (faces, warnings, thumbnail). ``source_name`` is the
    file name the new image is listed under. Raises :class:`ImportRejected` when the crop is
    empty or smaller than a reference image may be."""
    path = Path(path)
    try:
        info = probe_image(path)
        image = load_image(path)
    except MediaError as exc:
        raise ImportRejected(path, exc.problem) from None
    x, y, w, h = (int(v) for v in crop)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(image.width, x + w), min(image.height, y + h)
    if min(x1 - x0, y1 - y0) < MIN_SIDE:
        raise ImportRejected(
            path,
            f"the crop {w} x {h} at ({x}, {y}) leaves less than {MIN_SIDE} pixels on a side "
            f"of this {image.width} x {image.height} image",
        )
    return _checked(Path(source_name), image.crop((x0, y0, x1, y1)), info.format, thumbnail_size)


def _checked(path: Path, image: Image.Image, fmt: str, thumbnail_size: int) -> ImageImport:
    width, height = image.size

    # 2. re-encode without metadata (new image objects carry no EXIF/ICC/text chunks)
    clean = Image.frombytes("RGB", image.size, image.tobytes())
    if fmt in ("JPEG", "MPO"):
        data = _encode(clean, "JPEG", quality=JPEG_QUALITY, optimize=True)
        extension = ".jpg"
    else:
        data = _encode(clean, "PNG", compress_level=6)
        extension = ".png"
    thumb = clean.copy()
    thumb.thumbnail((thumbnail_size, thumbnail_size), Image.Resampling.LANCZOS)
    thumbnail = _encode(thumb, "JPEG", quality=THUMB_QUALITY)

    # 3. faces
    faces = detect_faces(clean)
    warnings: list[str] = []
    crop = None
    if not faces:
        warnings.append(
            "No face was found. ID-LoRA animates the person in the first frame, so use a "
            "photo where one face is clearly visible."
        )
    else:
        crop = suggest_crop(faces[0], width, height)
        if len(faces) > 1:
            warnings.append(
                f"{len(faces)} faces were found; the suggested crop frames the largest one. "
                "ID-LoRA works best with one person in the picture."
            )
        main = faces[0]
        if main.width < 0.1 * min(width, height):
            warnings.append(
                "The face is small in the picture; crop closer so it fills more of the frame."
            )
    return ImageImport(
        source=path,
        data=data,
        extension=extension,
        width=width,
        height=height,
        thumbnail=thumbnail,
        faces=faces,
        suggested_crop=crop,
        warnings=tuple(warnings),
    )
