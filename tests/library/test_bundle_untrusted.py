"""Bundles are untrusted input: every manifest row is checked against the schema, every media
file is decoded as what it claims to be, nothing that runs (model sources, LoRA paths, input
paths) is carried from the other machine, and crafted zips are refused cleanly.

Each refusal goes through the CLI (``bundle import``: exit 1, one sentence naming the value
and the problem, no traceback) and through ``import_bundle`` (what the Studio's drop handler
calls), and leaves the library's rows and files exactly as they were.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from idlora_studio.cli import main
from idlora_studio.library import Library
from idlora_studio.library import bundle as B
from idlora_studio.library.jobs_repo import JobsRepository, TakeNotRunnableError, TakesRepository
from idlora_studio.paths import Paths
from tests.library.test_bundle import _manifest_edit, _rewrite, make_project, state


@pytest.fixture
def bundle(paths: Paths, tmp_path: Path) -> Path:
    """A real bundle of a real project, exported from a library that is then emptied."""
    src = Paths(tmp_path / "src-home" / "data", tmp_path / "src-home" / "c", tmp_path / "x")
    with Library.open(src.ensure()) as lib:
        pid = make_project(lib, tmp_path / "src")
        out = tmp_path / "promo.idlora"
        B.export_bundle(lib, pid, out)
    return out


def _refused(bundle: Path, paths: Paths, capsys: Any, *needles: str) -> str:
    """Import through the CLI, then through the library API; both refuse, nothing changes."""
    with Library.open(paths):
        pass
    before = state(paths)
    assert main(["bundle", "import", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "INSERT" not in err and "sqlite" not in err.lower()
    for needle in needles:
        assert needle in err, err
    assert state(paths) == before
    with Library.open(paths) as lib, pytest.raises(B.BundleError) as exc:
        B.import_bundle(bundle, lib)
    for needle in needles:
        assert needle in str(exc.value)
    assert state(paths) == before
    return err


def _edited(bundle: Path, tmp_path: Path, change: Callable[[dict], None]) -> Path:
    return _rewrite(bundle, tmp_path / "edited.idlora", _manifest_edit(change))


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (
            lambda m: m["identities"][0]["images"][0].update(faces_json="{not json"),
            ["identities[0].images[0].faces_json", "not valid JSON"],
        ),
        (
            lambda m: m["identities"][0]["images"][0].update(faces_json='[["a", 1, 2, 3]]'),
            ["identities[0].images[0].faces_json"],
        ),
        (
            lambda m: m["takes"][0]["recipe"].pop("request"),
            ["takes[0].recipe", "the recipe has no request"],
        ),
        (
            lambda m: m["takes"][0]["recipe"]["request"].update(steps=10**9),
            ["takes[0].recipe", "steps 1000000000 is outside 1 to 200"],
        ),
        (lambda m: m["takes"][0].update(width="wide"), ["takes[0].width", "got 'wide'"]),
        (lambda m: m["takes"][1].update(fps=-25.0), ["takes[1].fps", "greater than or equal"]),
        (lambda m: m["takes"][0].update(seed=2**64), ["takes[0].seed"]),
        (lambda m: m["takes"][0].update(label=7), ["takes[0].label", "valid string"]),
        (
            lambda m: m["identities"][0]["clips"][0].update(source="stolen"),
            ["identities[0].clips[0].source", "'imported' or 'recorded'"],
        ),
        (
            lambda m: m["identities"][0]["clips"][0].update(sample_rate=True),
            ["identities[0].clips[0].sample_rate"],
        ),
        (
            lambda m: m["identities"][0]["consent"].update(date="yesterday"),
            ["identities[0].consent.date"],
        ),
        (lambda m: m["timeline"][0].update(track=-1), ["timeline[0].track"]),
        (lambda m: m["bin"].append("take-1"), ["bin[3]", "got 'take-1'"]),
        (lambda m: m.update(takes={"a": 1}), ["takes: Input should be a valid list"]),
    ],
)
def test_rows_that_break_the_schema_are_refused(
    bundle: Path,
    paths: Paths,
    tmp_path: Path,
    capsys: Any,
    change: Callable[[dict], None],
    needles: list[str],
) -> None:
    _refused(_edited(bundle, tmp_path, change), paths, capsys, "manifest is invalid", *needles)


def test_nan_in_the_manifest_is_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    def edit(entries: list) -> list:
        out = []
        for name, data in entries:
            if name == "manifest.json":
                data = data.replace(b'"duration_s": 0.4', b'"duration_s": NaN', 1)
                assert b"NaN" in data
            out.append((name, data))
        return out

    _refused(_rewrite(bundle, tmp_path / "nan.idlora", edit), paths, capsys, "holds NaN")


def _swap_media(bundle: Path, dest: Path, role: str, payload: bytes) -> Path:
    """Replace the file a take row (``video_hash``/``audio_hash``) or the first image names
    with ``payload``, keeping the manifest's hashes and sizes consistent."""
    import hashlib

    with zipfile.ZipFile(bundle) as zf:
        m = json.loads(zf.read("manifest.json"))
    if role == "image":
        old = m["identities"][0]["images"][0]["sha256"]
    elif role == "voice":
        old = m["identities"][0]["clips"][0]["sha256"]
    else:
        old = m["takes"][0][role]
    new = hashlib.sha256(payload).hexdigest()
    text = json.dumps(m).replace(old, new)
    m = json.loads(text)
    for item in m["media"]:
        if item["sha256"] == new:
            item["size"] = len(payload)

    def edit(entries: list) -> list:
        out = []
        for name, data in entries:
            if name == "manifest.json":
                data = json.dumps(m).encode()
            elif name == "media/" + old:
                name, data = "media/" + new, payload
            out.append((name, data))
        return out

    return _rewrite(bundle, dest, edit)


def test_text_as_a_takes_video_is_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    fake = _swap_media(bundle, tmp_path / "t.idlora", "video_hash", b"just some text\n" * 50)
    _refused(fake, paths, capsys, "take video", "take 1", "cannot be read as media")


def test_a_sound_as_a_takes_video_is_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    from tests.media_fixtures import tone_wav

    wav = tone_wav(tmp_path / "tone.wav", seconds=1.0, sr=16_000).read_bytes()
    fake = _swap_media(bundle, tmp_path / "s.idlora", "video_hash", wav)
    _refused(fake, paths, capsys, "take video", "it has no video track")


def test_image_not_matching_its_row_is_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10, 10), (255, 0, 0)).save(buf, format="PNG")
    fake = _swap_media(bundle, tmp_path / "i.idlora", "image", buf.getvalue())
    _refused(fake, paths, capsys, "image", "it is 10x10, not 64x48")


def test_nan_voice_clip_is_refused(bundle: Path, paths: Paths, tmp_path: Path, capsys: Any) -> None:
    import numpy as np
    import soundfile as sf

    x = np.full(8000, 0.1, np.float32)
    x[100] = np.nan
    buf = io.BytesIO()
    sf.write(buf, x, 16_000, format="WAV", subtype="FLOAT")
    fake = _swap_media(bundle, tmp_path / "n.idlora", "voice", buf.getvalue())
    _refused(fake, paths, capsys, "voice clip", "not numbers (NaN or infinity)")


def test_nothing_that_runs_comes_from_the_other_machine(
    bundle: Path, paths: Paths, tmp_path: Path
) -> None:
    def change(m: dict) -> None:
        for take in m["takes"]:
            take["memory_profile"] = "bogus"
            take["recipe"]["request"]["voice"] = "/root/.ssh/id_rsa"
            take["recipe"]["request"]["image"] = "/etc/shadow"
        m["takes"][0].update(model_set="/home/other/models/ltx2", lora_path=None)
        m["takes"][1].update(model_set="someone/evil-repo", lora_path="/root/.ssh/id_rsa")
        # a known set, but run with a LoRA file of the other machine's own
        m["takes"][2].update(model_set="tiny", lora_path="C:\\Users\\x\\mine.safetensors")

    edited = _edited(bundle, tmp_path, change)
    with Library.open(paths) as lib:
        B.import_bundle(edited, lib)
        takes = TakesRepository.from_library(lib)
        jobs = JobsRepository.from_library(lib)
        by_label = {t.label: t for t in takes.list_takes()}
        for t in by_label.values():
            assert t.lora_path is None and t.memory_profile == "auto" and t.model_set == ""
            req = t.request
            for p in (req.image, req.voice):  # this library's copies, or nothing
                assert p is None or Path(p).is_relative_to(paths.media_dir)
            assert "/root/.ssh/id_rsa" not in json.dumps(t.recipe["request"])
        assert by_label["take 2"].recipe["imported_from"]["lora_path"] == "/root/.ssh/id_rsa"
        ann_take = by_label["take 1"]
        assert ann_take.request.image == lib.get_identity(ann_take.identity_id).images[0].path
        for label, origin in (
            ("take 1", "a model set that is not installed here (/home/other/models/ltx2)"),
            (
                "take 2",
                "its own LoRA file, which this machine does not have (someone/evil-repo with id_rsa)",
            ),
            (
                "take 3",
                "its own LoRA file, which this machine does not have (tiny with mine.safetensors)",
            ),
        ):
            with pytest.raises(TakeNotRunnableError, match=re.escape(origin)):
                takes.rerun(by_label[label].id, jobs)
        assert jobs.list_jobs() == []

    # a take on a known model set, without a LoRA of its own, is matched to this machine's
    # own installation of that set
    plain = _edited(bundle, tmp_path, lambda m: m["takes"][2].update(model_set="tiny"))
    with Library.open(paths) as lib:
        project_id = B.import_bundle(plain, lib)
        takes = TakesRepository.from_library(lib)
        jobs = JobsRepository.from_library(lib)
        imported = [t for t in takes.list_takes() if t.label == "take 3" and t.model_set]
        assert len(imported) == 1, project_id
        job = jobs.get(takes.rerun(imported[0].id, jobs))
        assert job.model_set == "tiny" and job.lora_path is None


def test_clip_windows_outside_their_clip_are_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    """The reference window generation would encode must lie inside the clip (a window at
    8 h into a 0.5 s clip imported fine before and failed only when generating)."""
    far = _edited(
        bundle,
        tmp_path,
        lambda m: m["identities"][1]["clips"][0].update(best_start_s=30000.0, best_end_s=30005.0),
    )
    _refused(
        far,
        paths,
        capsys,
        "identities[1].clips[0]: the reference window 30000-30005 s is not inside the 0.5 s clip",
    )
    backwards = _edited(
        bundle,
        tmp_path,
        lambda m: m["identities"][0]["clips"][0].update(suggested_start_s=0.4, suggested_end_s=0.1),
    )
    _refused(backwards, paths, capsys, "identities[0].clips[0]: the suggested window 0.4-0.1 s")


def test_names_the_library_refuses_are_refused_by_their_place(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    ctrl = _edited(bundle, tmp_path, lambda m: m["identities"][0].update(name="Ann\x00Lee"))
    _refused(ctrl, paths, capsys, "identities[0].name: the name contains control characters")
    blank = _edited(bundle, tmp_path, lambda m: m["project"].update(name=" \t "))
    _refused(blank, paths, capsys, "project.name: the project name must not be empty")
    lone = _edited(bundle, tmp_path, lambda m: m["identities"][0].update(name="Ann \ud800"))
    _refused(lone, paths, capsys, "'Ann \\ud800' with an unpaired surrogate escape")


def test_a_value_the_database_refuses_names_no_sql(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    """Two images of one identity with the same content pass the schema but not the
    database's unique constraint: the message says so without the SQL statement."""

    def change(m: dict) -> None:
        images = m["identities"][0]["images"]
        images[1]["sha256"] = images[0]["sha256"]
        images[1]["thumbnail_sha256"] = images[0]["thumbnail_sha256"]
        images[1]["width"], images[1]["height"] = images[0]["width"], images[0]["height"]
        used = {images[0]["sha256"], images[0]["thumbnail_sha256"]}
        keep = set()
        for ident in m["identities"]:
            for item in (*ident["images"], *ident["clips"]):
                keep.update({item["sha256"], item.get("thumbnail_sha256")})
            if ident["consent"]:
                keep.add(ident["consent"]["document_sha256"])
        for t in m["takes"]:
            keep.update({t["video_hash"], t["audio_hash"], t["thumbnail_hash"]})
        m["media"] = [x for x in m["media"] if x["sha256"] in keep | used]

    def edit(entries: list) -> list:
        m = json.loads(dict(entries)["manifest.json"])
        change(m)
        listed = {x["sha256"] for x in m["media"]}
        return [
            (n, json.dumps(m).encode() if n == "manifest.json" else d)
            for n, d in entries
            if n == "manifest.json" or n[len("media/") :] in listed
        ]

    err = _refused(_rewrite(bundle, tmp_path / "dup.idlora", edit), paths, capsys, "UNIQUE")
    assert "could not be imported" in err


def test_a_folder_is_not_a_bundle(paths: Paths, tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    err = _refused(folder, paths, capsys, f"{folder} is a folder, not a bundle")
    assert "does not exist" not in err


# ----------------------------------------------------------------------------- crafted zips


def test_manifest_nested_200000_deep_is_refused(
    bundle: Path, paths: Paths, tmp_path: Path, capsys: Any
) -> None:
    deep = ("[" * 200_000 + "]" * 200_000).encode()

    def edit(entries: list) -> list:
        return [(n, deep if n == "manifest.json" else d) for n, d in entries]

    _refused(
        _rewrite(bundle, tmp_path / "deep.idlora", edit), paths, capsys, "nests deeper than 64"
    )


def _patch_central(path: Path, name: str, *, flags: int | None = None, method: int | None = None):
    """Set the general-purpose flags / compression method of ``name`` in both headers."""
    data = bytearray(path.read_bytes())
    raw = name.encode()
    for sig, flag_at, method_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 8, 26, 30),
        (b"PK\x01\x02", 8, 10, 28, 46),
    ):
        start = 0
        while (at := data.find(sig, start)) >= 0:
            (n,) = struct.unpack_from("<H", data, at + name_len_at)
            if bytes(data[at + name_at : at + name_at + n]) == raw:
                if flags is not None:
                    struct.pack_into("<H", data, at + flag_at, flags)
                if method is not None:
                    struct.pack_into("<H", data, at + method_at, method)
            start = at + 4
    path.write_bytes(bytes(data))


def test_encrypted_entry_is_refused(bundle: Path, paths: Paths, capsys: Any) -> None:
    _patch_central(bundle, "manifest.json", flags=0x1)
    _refused(bundle, paths, capsys, "'manifest.json' is encrypted")


def test_unknown_compression_method_is_refused(bundle: Path, paths: Paths, capsys: Any) -> None:
    with zipfile.ZipFile(bundle) as zf:
        media = next(n for n in zf.namelist() if n.startswith("media/"))
    _patch_central(bundle, media, method=99)
    _refused(bundle, paths, capsys, "compression method 99", "only stored and deflated")
