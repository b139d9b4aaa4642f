"""Checking and preparing a reference image for the library.

:func:`check_image` loads any image Pillow reads (EXIF orientation applied, decompression
bombs refused from the header), re-encodes it without metadata (PNG for lossless sources,
JPEG quality 95 for JPEG sources), makes a thumbnail, and looks for faces with OpenCV's
bundled Haar cascade. No face or several faces is a warning, not a rejection: the user
decides. The suggested crop is a square around the largest face with room for hair and
shoulders, clamped to the image.

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
DETECT_LONG_SIDE = 1024  # faces are searched on a copy at most this long
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

        xml = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
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
    gray = cv2.equalizeHist(gray)
    min_side = max(24, int(min(gray.shape) * 0.06))
    found = _face_cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side)
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
    return tuple(boxes)


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
    width, height = image.size

    # 2. re-encode without metadata (new image objects carry no EXIF/ICC/text chunks)
    clean = Image.frombytes("RGB", image.size, image.tobytes())
    if info.format in ("JPEG", "MPO"):
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
