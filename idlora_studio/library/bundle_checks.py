"""Checks of a bundle before anything of it is imported: zip entries, the manifest, the media.

A bundle is untrusted input. :func:`check_entry` refuses entries outside the layout (absolute
or ``..`` paths, links, unknown files), encrypted ones and compression methods the Studio does
not write. :func:`parse_manifest` refuses JSON nested too deep or holding NaN, then checks the
manifest against :mod:`.bundle_schema` (types, ranges, enumerations, JSON shapes) and the
references between its parts. :func:`check_media` decodes every staged file like a local
import would: images as images, voice clips and take sounds as audio (finite samples), a
take's video as video, each matching what its row says.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from .db import LibraryError

FORMAT = "idlora-studio/bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA_PREFIX = "media/"
#: The compression methods the Studio writes (media stored, the manifest deflated).
COMPRESSION_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class BundleError(LibraryError):
    """A bundle that cannot be written or read; ``str(err)`` is one sentence for the user."""


def check_entry(info: zipfile.ZipInfo) -> str | None:
    """'manifest' / a media hash for an acceptable entry, None for a directory entry."""
    name = info.filename
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise BundleError(f"The bundle contains an entry with an absolute path ({name!r}).")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise BundleError(f"The bundle contains an entry that points outside it ({name!r}).")
    if info.flag_bits & 0x1:
        raise BundleError(
            f"The bundle entry {name!r} is encrypted; bundles are never encrypted, it is refused."
        )
    if info.compress_type not in COMPRESSION_METHODS:
        raise BundleError(
            f"The bundle entry {name!r} uses compression method {info.compress_type}; only "
            f"{' and '.join(COMPRESSION_METHODS.values())} entries are read."
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"The bundle contains a symbolic link ({name!r}); it is refused.")
    if info.is_dir():
        if name.rstrip("/") in ("media",):
            return None
        raise BundleError(f"The bundle contains an unexpected folder ({name!r}).")
    if name == MANIFEST:
        return "manifest"
    if name.startswith(MEDIA_PREFIX) and _SHA_RE.match(name[len(MEDIA_PREFIX) :]):
        return name[len(MEDIA_PREFIX) :]
    raise BundleError(f"The bundle contains an unexpected file ({name!r}).")


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise BundleError(f"The bundle's manifest is invalid: {what}.")


def _check_format(m: Any) -> None:
    _require(isinstance(m, dict), "it is not a JSON object")
    if m.get("format") != FORMAT:
        raise BundleError("This file is not an ID-LoRA Studio project bundle.")
    version = m.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise BundleError("The bundle has no valid format version.")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"The bundle uses format version {version}, newer than this Studio reads "
            f"({FORMAT_VERSION}); update the Studio to import it."
        )


def _check_manifest(m: Any) -> None:
    """References between the manifest's parts (its shape is checked by the schema)."""
    for key in ("bin", "timeline", "takes", "identities", "media"):
        _require(isinstance(m.get(key), list), f"'{key}' is missing")
    _require(isinstance(m.get("project"), dict), "'project' is missing")
    _require(isinstance(m["project"].get("name"), str), "the project has no name")
    media = {}
    for item in m["media"]:
        _require(isinstance(item, dict), "a media entry is not an object")
        sha, size = item.get("sha256"), item.get("size")
        _require(isinstance(sha, str) and bool(_SHA_RE.match(sha)), "a media hash is malformed")
        _require(isinstance(size, int) and size >= 0, f"media {str(sha)[:12]} has no valid size")
        media[sha] = size

    def listed(sha: Any, what: str) -> None:
        if sha is not None:
            _require(isinstance(sha, str) and sha in media, f"{what} refers to an unlisted file")

    _check_names(m)
    keys = {"identity": set(), "image": set(), "clip": set(), "take": set()}
    for i, ident in enumerate(m["identities"]):
        _require(isinstance(ident, dict), "an identity is not an object")
        _require(isinstance(ident.get("key"), str), "an identity has no key")
        _require(isinstance(ident.get("name"), str), "an identity has no name")
        for n, clip in enumerate(ident.get("clips") or ()):
            if isinstance(clip, dict):
                _check_clip_spans(clip, f"identities[{i}].clips[{n}]")
        keys["identity"].add(ident["key"])
        consent = ident.get("consent")
        if consent is not None:
            _require(isinstance(consent, dict), "a consent record is malformed")
            _require(
                isinstance(consent.get("given_by"), str) and isinstance(consent.get("date"), str),
                "a consent record is incomplete",
            )
            listed(consent.get("document_sha256"), "a consent record")
        for kind, field in (("images", "image"), ("clips", "clip")):
            _require(isinstance(ident.get(kind), list), f"an identity has no {kind} list")
            for item in ident[kind]:
                _require(isinstance(item, dict) and isinstance(item.get("key"), str), "bad item")
                _require("sha256" in item, f"an identity {field} has no hash")
                listed(item["sha256"], f"an identity {field}")
                listed(item.get("thumbnail_sha256"), f"an identity {field}")
                keys[field].add(item["key"])
    for t in m["takes"]:
        _require(isinstance(t, dict) and isinstance(t.get("key"), str), "a take has no key")
        _require(isinstance(t.get("video_hash"), str), "a take has no video")
        _require(isinstance(t.get("recipe"), dict), "a take has no recipe")
        for col in ("video_hash", "audio_hash", "thumbnail_hash"):
            listed(t.get(col), "a take")
        for field in ("identity", "image", "clip"):
            ref = t.get(field)
            _require(ref is None or ref in keys[field], f"a take refers to an unknown {field}")
        keys["take"].add(t["key"])
    for b in m["bin"]:
        _require(isinstance(b, dict) and b.get("take") in keys["take"], "a bin entry is unknown")
    for c in m["timeline"]:
        _require(isinstance(c, dict) and c.get("take") in keys["take"], "a clip's take is unknown")
        for f in ("position_frames", "in_frame", "out_frame"):
            _require(isinstance(c.get(f), int), f"a timeline clip has no {f}")
        _require(
            0 <= c["in_frame"] < c["out_frame"] and c["position_frames"] >= 0,
            "a timeline clip has an invalid range",
        )


def _check_names(m: dict[str, Any]) -> None:
    """The identity and project names as the library would take them when typed here."""
    from .projects_repo import normalize_project_name
    from .values import InvalidInputError, normalize_name

    named = [
        (f"identities[{i}].name", d.get("name"), normalize_name)
        for i, d in enumerate(m["identities"])
        if isinstance(d, dict)
    ]
    named.append(("project.name", m["project"].get("name"), normalize_project_name))
    for place, name, normalize in named:
        try:
            normalize(name)
        except InvalidInputError as exc:
            _require(False, f"{place}: {exc}")


def _check_clip_spans(clip: dict[str, Any], place: str) -> None:
    """A voice clip's windows must lie inside it: the reference window generation encodes
    (``best_*``) and the suggested one. Their length is not checked: a clip imported before
    the 2 s minimum still travels with its project (generation says why it cannot use it)."""
    from engine.generate import VOICE_WINDOW_SLACK_S  # generation's own rounding slack

    duration = clip.get("duration_s")
    spans = [("best", "reference window")]
    if clip.get("suggested_start_s") is not None or clip.get("suggested_end_s") is not None:
        spans.append(("suggested", "suggested window"))
    for key, what in spans:
        start, end = clip.get(f"{key}_start_s"), clip.get(f"{key}_end_s")
        if not all(isinstance(v, int | float) for v in (start, end, duration)):
            continue  # the schema names a missing or mistyped value
        _require(
            0 <= start < end <= duration + VOICE_WINDOW_SLACK_S,
            f"{place}: the {what} {start:g}-{end:g} s is not inside the {duration:g} s clip",
        )


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """The manifest from its bytes, checked: JSON (bounded depth, no NaN), format and version,
    the schema (:mod:`.bundle_schema`), then the references between its parts."""
    import json

    from engine.limits import JSONRefused, loads_bounded

    from .bundle_schema import ManifestError, validate_manifest

    try:
        manifest = loads_bounded(raw)
    except JSONRefused as exc:
        raise BundleError(f"The bundle's manifest is refused: {exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"The bundle's manifest is not valid JSON ({exc}).") from None
    _check_format(manifest)
    try:
        validate_manifest(manifest)
    except ManifestError as exc:
        raise BundleError(f"The bundle's manifest is invalid: {exc}.") from None
    _check_manifest(manifest)
    return manifest


# ----------------------------------------------------------------------------- media


def _uses(manifest: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """sha -> [(role, row)]: what each media file is meant to be."""
    uses: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def add(sha: Any, role: str, row: dict[str, Any]) -> None:
        if isinstance(sha, str):
            uses.setdefault(sha, []).append((role, row))

    for ident in manifest["identities"]:
        for im in ident["images"]:
            add(im["sha256"], "image", im)
            add(im.get("thumbnail_sha256"), "thumbnail", im)
        for vc in ident["clips"]:
            add(vc["sha256"], "voice clip", vc)
    for take in manifest["takes"]:
        add(take["video_hash"], "take video", take)
        add(take.get("audio_hash"), "take sound", take)
        add(take.get("thumbnail_hash"), "thumbnail", take)
    return uses


def _check_image(path: Path, row: dict[str, Any], exact_size: bool) -> None:
    from engine.media.image import load_image

    with load_image(path) as img:
        size = img.size
    if exact_size and size != (row.get("width"), row.get("height")):
        raise ValueError(f"it is {size[0]}x{size[1]}, not {row.get('width')}x{row.get('height')}")


def _check_audio(path: Path, row: dict[str, Any], expected_s: float | None) -> None:
    from engine.media.audio import decode_audio

    decoded = decode_audio(path, max_duration_s=36_000)
    if expected_s is not None and abs(decoded.decoded_duration_s - expected_s) > max(
        0.5, 0.1 * expected_s
    ):
        raise ValueError(
            f"it is {decoded.decoded_duration_s:.1f} s long, not {expected_s:.1f} s as declared"
        )


def _check_video(path: Path, row: dict[str, Any]) -> None:
    import av

    from engine.media.video import open_input

    container = open_input(path)
    try:
        if not container.streams.video:
            raise ValueError("it has no video track")
        stream = container.streams.video[0]
        try:
            frame = next(iter(container.decode(stream)), None)
        except av.FFmpegError as exc:
            raise ValueError(f"its video cannot be decoded ({exc})") from exc
        if frame is None:
            raise ValueError("it holds no video frame")
        w, h = row.get("width"), row.get("height")
        # Odd sizes are padded by one pixel when encoded.
        if not (0 <= frame.width - int(w or 0) <= 1 and 0 <= frame.height - int(h or 0) <= 1):
            raise ValueError(f"its frames are {frame.width}x{frame.height}, not {w}x{h}")
    finally:
        container.close()


def check_media(manifest: dict[str, Any], staging: Path) -> None:
    """Decode every staged media file as what the manifest says it is (see the module
    docstring); raise :class:`BundleError` naming the file and the problem."""
    from engine.api import EngineError

    for sha, uses in _uses(manifest).items():
        path = staging / sha
        for role, row in uses:
            try:
                if role in ("image", "thumbnail"):
                    _check_image(path, row, exact_size=role == "image")
                elif role == "voice clip":
                    _check_audio(path, row, row.get("duration_s"))
                elif role == "take sound":
                    _check_audio(path, row, None)
                else:
                    _check_video(path, row)
            except (EngineError, ValueError, OSError) as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                owner = row.get("label") or row.get("original_name") or row.get("key")
                raise BundleError(
                    f"The bundle's {role} {sha[:12]}... ({owner}) is refused: {problem}."
                ) from None
