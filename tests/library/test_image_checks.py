"""check_image and engine.media.image on real images: a real face, none, two, bombs, bad files."""

from __future__ import annotations

import io
import resource
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.api import MediaError
from engine.media.image import load_image, probe_image
from idlora_studio.library.image_checks import check_image
from idlora_studio.library.media_types import ImportRejected
from tests import media_fixtures as mf


def rejected(path: Path, **kw: object) -> ImportRejected:
    with pytest.raises(ImportRejected) as info:
        check_image(path, **kw)
    err = info.value
    assert err.path == path and path.name in str(err)
    return err


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ----------------------------------------------------------------------------- faces


def test_one_face_found_and_cropped(tmp_path: Path) -> None:
    r = check_image(mf.face_image(tmp_path / "astronaut.jpg"))
    assert (r.width, r.height) == (512, 512)
    assert len(r.faces) == 1 and r.warnings == ()
    face = r.faces[0]
    # the astronaut's face is in the upper middle of the photo
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    assert 150 < cx < 300 and 60 < cy < 200 and 60 < face.width < 160
    assert r.suggested_crop is not None
    x, y, w, h = r.suggested_crop
    assert w == h and w > face.width * 1.5
    assert 0 <= x and 0 <= y and x + w <= r.width and y + h <= r.height
    assert x <= face.x and y <= face.y
    assert face.x + face.width <= x + w and face.y + face.height <= y + h
    # JPEG in, JPEG out (quality 95), small JPEG thumbnail
    assert r.extension == ".jpg" and decode(r.data).format == "JPEG"
    thumb = decode(r.thumbnail)
    assert thumb.format == "JPEG" and max(thumb.size) == 256


def test_no_face_is_a_warning(tmp_path: Path) -> None:
    r = check_image(mf.no_face_image(tmp_path / "gradient.png"))
    assert r.faces == () and r.suggested_crop is None
    assert any("No face was found" in w for w in r.warnings)
    assert r.extension == ".png" and decode(r.data).format == "PNG"
    # lossless source, lossless copy: pixels identical
    assert np.array_equal(
        np.asarray(decode(r.data)), np.asarray(Image.open(tmp_path / "gradient.png"))
    )


def test_two_faces_is_a_warning(tmp_path: Path) -> None:
    r = check_image(mf.two_faces_image(tmp_path / "pair.png"))
    assert len(r.faces) == 2
    assert any(w.startswith("2 faces were found") for w in r.warnings)
    centres = sorted(f.x + f.width / 2 for f in r.faces)
    assert centres[0] < 512 < centres[1]
    largest = r.faces[0]
    x, y, w, h = r.suggested_crop
    assert x <= largest.x and largest.x + largest.width <= x + w


@pytest.mark.parametrize(
    ("size", "widths", "background"),
    [
        ((1600, 1200), (160, 140, 70), "chelsea"),  # the smaller face was dropped: "2 faces"
        ((4032, 3024), (400, 350, 170), "coffee"),  # phone-sized: "2 faces"
        ((1600, 1200), (160, 140, 90), "rocket"),  # bright sky: equalisation hid faces
    ],
)
def test_every_face_of_a_group_photo_is_counted(
    tmp_path: Path, size: tuple[int, int], widths: tuple[int, ...], background: str
) -> None:
    path = mf.group_photo(tmp_path / "group.jpg", size, widths, background)
    r = check_image(path)
    assert len(r.faces) == 3, [(f.x, f.y, f.width) for f in r.faces]
    assert any(w.startswith("3 faces were found") for w in r.warnings)
    # one box per person, left to right where they stand, largest first
    centres = sorted(f.x + f.width / 2 for f in r.faces)
    assert centres[0] < size[0] * 0.4 and centres[-1] > size[0] * 0.5
    assert [f.width for f in r.faces] == sorted((f.width for f in r.faces), reverse=True)
    for f, expected in zip(r.faces, widths, strict=True):
        assert 0.6 * expected < f.width < 1.6 * expected


def test_photos_without_people_have_no_faces(tmp_path: Path) -> None:
    from skimage import data

    for name in ("chelsea", "coffee", "rocket", "brick", "horse"):
        path = tmp_path / f"{name}.png"
        Image.fromarray(getattr(data, name)()).convert("RGB").save(path)
        assert check_image(path).faces == (), name


def test_crop_image_cuts_the_suggested_crop_into_a_new_checked_image(tmp_path: Path) -> None:
    from idlora_studio.library.image_checks import crop_image

    src = mf.group_photo(tmp_path / "group.png", (1600, 1200), (160, 140, 70), "chelsea")
    whole = check_image(src)
    x, y, w, h = whole.suggested_crop
    stored = tmp_path / "stored.png"
    stored.write_bytes(whole.data)
    cut = crop_image(stored, whole.suggested_crop, source_name="group-crop.png")
    assert (cut.width, cut.height) == (w, h) and cut.source.name == "group-crop.png"
    assert cut.extension == ".png" and len(cut.faces) == 1
    assert not any("faces were found" in t for t in cut.warnings)
    # the pixels are the crop's pixels (lossless in, lossless out)
    expected = np.asarray(Image.open(src).convert("RGB"))[y : y + h, x : x + w]
    assert np.array_equal(np.asarray(decode(cut.data)), expected)
    with pytest.raises(ImportRejected, match="less than 64 pixels"):
        crop_image(stored, (10, 10, 30, 30), source_name="tiny.png")


def test_exif_orientation_applied_and_metadata_stripped(tmp_path: Path) -> None:
    path = mf.exif_rotated_jpeg(tmp_path / "phone.jpg", size=(200, 100))
    assert Image.open(path).getexif().get(0x0112) == 6
    r = check_image(path)
    assert (r.width, r.height) == (100, 200)
    out = decode(r.data)
    assert out.size == (100, 200)
    assert not out.getexif() and "icc_profile" not in out.info
    px = np.asarray(out)
    # stored left half red -> displayed top half red
    assert px[20, 50, 0] > 200 and px[20, 50, 2] < 60
    assert px[180, 50, 2] > 200 and px[180, 50, 0] < 60


# ----------------------------------------------------------------------------- rejections


def test_rejects_bomb_from_header_without_decoding(tmp_path: Path) -> None:
    path = mf.bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 500_000
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB
    t0 = time.perf_counter()
    err = rejected(path)
    assert time.perf_counter() - t0 < 1.0
    assert "too large" in err.problem and "900 megapixels" in err.problem
    # decoding 30000 x 30000 would take >= 900 MB; the peak did not move by that much
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000


def test_rejects_over_own_pixel_limit(tmp_path: Path) -> None:
    path = mf.bomb_png(tmp_path / "big.png", side=3000)
    err = rejected(path, max_pixels=4_000_000)
    assert "3000 x 3000" in err.problem and "4 megapixel limit" in err.problem
    with pytest.raises(MediaError, match="megapixel limit"):
        load_image(path, max_pixels=4_000_000)


def test_rejects_tiny_image(tmp_path: Path) -> None:
    err = rejected(mf.tiny_image(tmp_path / "icon.png", (40, 30)))
    assert "40 x 30" in err.problem and "at least 64" in err.problem


def test_rejects_missing_and_empty(tmp_path: Path) -> None:
    assert "does not exist" in rejected(tmp_path / "gone.png").problem
    assert "empty (0 bytes)" in rejected(mf.empty_file(tmp_path / "empty.jpg")).problem


def test_rejects_non_image(tmp_path: Path) -> None:
    assert "not an image" in rejected(mf.text_file(tmp_path / "photo.jpg")).problem
    wav = mf.tone_wav(tmp_path / "sound.wav", seconds=0.2)
    misnamed = tmp_path / "sound.png"
    misnamed.write_bytes(wav.read_bytes())
    assert "not an image" in rejected(misnamed).problem


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_rejects_truncated(tmp_path: Path, suffix: str) -> None:
    full = mf.face_image(tmp_path / f"full{suffix}")
    err = rejected(mf.truncated_copy(full, tmp_path / f"cut{suffix}", 0.5))
    assert "truncated or damaged" in err.problem


# ----------------------------------------------------------------------------- engine loader


def test_load_image_modes(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (80, 80), (255, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    img = load_image(tmp_path / "clear.png")
    assert img.mode == "RGB" and img.getpixel((5, 5)) == (255, 255, 255)
    gif = Image.new("P", (70, 70))
    gif.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    gif.paste(1, (0, 0, 70, 70))
    gif.save(tmp_path / "a.gif")
    assert load_image(tmp_path / "a.gif").getpixel((1, 1)) == (10, 200, 30)
    deep = Image.fromarray(np.full((70, 70), 65535, dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png").getpixel((0, 0)) == (255, 255, 255)
    webp = mf.face_image(tmp_path / "f.png")
    Image.open(webp).save(tmp_path / "f.webp")
    assert load_image(tmp_path / "f.webp").size == (512, 512)
    assert probe_image(tmp_path / "f.webp").format == "WEBP"
