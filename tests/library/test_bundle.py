"""Project bundles: a full round trip into an empty Studio home, identity reuse and renaming,
and hostile or broken bundles refused with clear messages while the library stays unchanged.

Projects are built from real parts: takes are small MP4s from ``write_mp4`` (plus a WAV and a
PNG thumbnail) stored through ``TakesRepository``, identities carry a consent document,
images and voice clips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.api import DiskFullError
from engine.media.audio import write_wav
from engine.media.video import write_mp4
from idlora_studio.library import ConsentRecord, Library
from idlora_studio.library import bundle as B
from idlora_studio.library.jobs_repo import JobSpec, TakeFiles, TakesRepository
from idlora_studio.library.projects_repo import ProjectsRepository
from idlora_studio.paths import Paths
from tests.library.conftest import image_import, media_files, voice_import

FPS = 25


def make_take(lib: Library, tmp: Path, seed: int, identity_id: int | None, frames: int = 10) -> int:
    """A stored take: an MP4 of ``frames`` frames with sound, a WAV, a thumbnail, a recipe."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8)
    audio = (0.2 * np.sin(np.arange(frames * 1920) * (0.01 + seed / 1000)))[None].astype(np.float32)
    d = tmp / f"take-{seed}"
    d.mkdir(parents=True, exist_ok=True)
    write_mp4(d / "v.mp4", video, FPS, audio, 48_000)
    write_wav(d / "a.wav", audio, 48_000)
    Image.fromarray(video[0]).save(d / "t.png")
    detail = lib.get_identity(identity_id) if identity_id else None
    recipe = {
        "schema": "idlora-studio/recipe",
        "schema_version": 1,
        "request": {"prompt": f"take {seed}", "seed": seed, "fps": FPS},
        "effective": {"seed": seed},
        "output": {
            "width": 32,
            "height": 32,
            "num_frames": frames,
            "fps": FPS,
            "duration_s": frames / FPS,
        },
        "timings": {"total": 1.5},
    }
    spec = JobSpec(
        identity_id=identity_id,
        image_id=detail.default_image_id if detail else None,
        clip_id=detail.default_clip_id if detail else None,
    )
    takes = TakesRepository.from_library(lib)
    return takes.add_take(
        TakeFiles(d / "v.mp4", d / "a.wav", d / "t.png"), recipe, spec=spec, label=f"take {seed}"
    )


def make_project(lib: Library, tmp: Path, name: str = "Spring promo") -> int:
    """Two identities (one with a consent document), three takes, bin and timeline."""
    tmp.mkdir(parents=True, exist_ok=True)
    doc = tmp / "consent.pdf"
    doc.write_bytes(b"%PDF-1.4 signed consent of Ann Lee\n")
    ann = lib.create_identity_with_media(
        "Ann Lee",
        images=[image_import(1), image_import(2)],
        clips=[voice_import(3)],
        consent=ConsentRecord("Ann Lee", dt.date(2024, 5, 1), "promo videos", doc),
        notes="lead",
        tags=["actor", "eu"],
    ).identity_id
    bob = lib.create_identity_with_media(
        "Bob", images=[image_import(4)], clips=[voice_import(5), voice_import(6)]
    ).identity_id
    lib.create_identity("Unrelated")  # not used by the project: must not travel
    t1 = make_take(lib, tmp, 1, ann)
    t2 = make_take(lib, tmp, 2, bob, frames=12)
    t3 = make_take(lib, tmp, 3, ann)
    projects = ProjectsRepository.from_library(lib)
    pid = projects.create(name)
    projects.add_to_bin(pid, t3)  # only in the bin
    projects.add_clip(pid, t2, in_frame=2, out_frame=10)
    projects.add_clip(pid, t1, position_frames=12, in_frame=0, out_frame=6)
    return pid


def _portable(recipe: dict) -> dict:
    """A recipe without what an import rewrites for the machine it lands on (the request's
    input paths) or adds (where it came from)."""
    out = {k: v for k, v in recipe.items() if k != "imported_from"}
    out["request"] = {k: v for k, v in recipe["request"].items() if k not in ("image", "voice")}
    return out


def snapshot(lib: Library, project_id: int) -> dict:
    """Everything a project means, without database ids (comparable across libraries)."""
    projects = ProjectsRepository.from_library(lib)
    takes = TakesRepository.from_library(lib)
    p = projects.get(project_id)
    take_ids = sorted({b.take_id for b in p.bin} | {c.take_id for c in p.clips})

    def take_key(tid: int) -> str:
        return takes.get_take(tid).video_hash

    out_takes = []
    ident_ids = set()
    for tid in take_ids:
        t = takes.get_take(tid)
        ident = lib.get_identity(t.identity_id) if t.identity_id else None
        image = next((i for i in ident.images if i.id == t.image_id), None) if ident else None
        clip = next((c for c in ident.clips if c.id == t.clip_id), None) if ident else None
        if ident:
            ident_ids.add(ident.id)
        out_takes.append(
            {
                "video": t.video_hash,
                "audio": t.audio_hash,
                "thumb": t.thumbnail_hash,
                "recipe": _portable(t.recipe),
                "timings": t.timings,
                "label": t.label,
                "dims": (t.width, t.height, t.num_frames, t.fps, t.duration_s, t.seed),
                "model": (t.model_set, t.memory_profile),
                "identity": ident.name if ident else None,
                "image": image.sha256 if image else None,
                "clip": clip.sha256 if clip else None,
            }
        )
    idents = []
    for iid in sorted(ident_ids):
        d = lib.get_identity(iid)
        consent = None
        if d.consent:
            doc = d.consent.document_path
            consent = (
                d.consent.given_by,
                d.consent.date,
                d.consent.scope,
                hashlib.sha256(doc.read_bytes()).hexdigest() if doc else None,
            )
        idents.append(
            {
                "name": d.name,
                "notes": d.notes,
                "tags": d.tags,
                "consent": consent,
                "images": [
                    (
                        i.sha256,
                        i.extension,
                        i.width,
                        i.height,
                        i.face_count,
                        i.faces,
                        i.suggested_crop,
                        i.warnings,
                        i.is_default,
                        i.original_name,
                        i.thumbnail_path.name if i.thumbnail_path else None,
                        hashlib.sha256(i.path.read_bytes()).hexdigest(),
                    )
                    for i in d.images
                ],
                "clips": [
                    (
                        c.sha256,
                        c.duration_s,
                        c.sample_rate,
                        c.loudness_lufs,
                        c.best_window,
                        c.peaks,
                        c.warnings,
                        c.is_default,
                        c.source,
                        c.gain_db,
                        c.trimmed_range,
                        c.noisy,
                        hashlib.sha256(c.path.read_bytes()).hexdigest(),
                    )
                    for c in d.clips
                ],
            }
        )
    return {
        "name": p.name,
        "bin": [take_key(b.take_id) for b in p.bin],
        "clips": [
            (take_key(c.take_id), c.track, c.position_frames, c.in_frame, c.out_frame)
            for c in p.clips
        ],
        "takes": out_takes,
        "identities": idents,
    }


def state(paths: Paths) -> tuple[dict[str, int], set[str], list[str]]:
    """Row counts of every table, the media files, and stray files in the data folder
    (read through a read-only connection, so it also works on a full or read-only disk)."""
    from idlora_studio.library.db import connect_read_only

    con = connect_read_only(paths.db_path)
    try:
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not r[0].startswith("sqlite_")
        ]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    stray = sorted(p.name for p in paths.data_dir.iterdir() if p.name.startswith(".import"))
    return counts, media_files(paths), stray


@pytest.fixture
def exported(lib: Library, tmp_path: Path) -> tuple[Path, dict]:
    pid = make_project(lib, tmp_path / "src")
    out = tmp_path / "promo.idlora"
    result = B.export_bundle(lib, pid, out)
    assert result.path == out and result.size_bytes == out.stat().st_size
    return out, snapshot(lib, pid)


def _other_home(tmp_path: Path, name: str = "home2") -> Paths:
    root = tmp_path / name
    return Paths(root / "data", root / "config", root / "cache").ensure()


# ----------------------------------------------------------------------------- round trip


def test_round_trip_into_an_empty_home(exported: tuple[Path, dict], tmp_path: Path) -> None:
    bundle, before = exported
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        media_infos = [i for i in zf.infolist() if i.filename.startswith("media/")]
    assert manifest["format"] == B.FORMAT and manifest["format_version"] == B.FORMAT_VERSION
    assert all(i.compress_type == zipfile.ZIP_STORED for i in media_infos)
    assert {m["sha256"] for m in manifest["media"]} == {
        n[6:] for n in names if n != "manifest.json"
    }
    assert [i["name"] for i in manifest["identities"]] == ["Ann Lee", "Bob"]
    assert "media/" + manifest["identities"][0]["consent"]["document_sha256"] in names

    paths2 = _other_home(tmp_path)
    with Library.open(paths2) as lib2:
        pid = B.import_bundle(bundle, lib2)
        after = snapshot(lib2, pid)
        assert after == before
        # the whole library holds exactly what the project needs
        assert [s.name for s in lib2.list_identities()] == ["Ann Lee", "Bob"]
        for sha in media_files(paths2):
            assert lib2.store.verify(sha)
        spec = ProjectsRepository.from_library(lib2).timeline_spec(pid)
        assert [c.video_path.is_file() for c in spec.clips] == [True, True]
    counts, _, stray = state(paths2)
    assert counts["takes"] == 3 and counts["timeline_clips"] == 2 and stray == []


def test_reimport_reuses_same_identities_and_renames_the_project(
    exported: tuple[Path, dict], lib: Library, paths: Paths
) -> None:
    bundle, before = exported
    n_ident = len(lib.list_identities())
    pid = B.import_bundle(bundle, lib)
    after = snapshot(lib, pid)
    assert after["name"] == "Spring promo (imported)"
    assert {**after, "name": before["name"]} == before
    assert len(lib.list_identities()) == n_ident  # same consent and media: reused


def test_same_name_with_other_consent_comes_in_renamed(
    exported: tuple[Path, dict], tmp_path: Path
) -> None:
    bundle, before = exported
    paths2 = _other_home(tmp_path)
    with Library.open(paths2) as lib2:
        lib2.create_identity("ann lee", consent=ConsentRecord("Someone", dt.date(2023, 1, 1), "x"))
        pid = B.import_bundle(bundle, lib2)
        names = [s.name for s in lib2.list_identities()]
        assert names == ["ann lee", "Ann Lee (imported)", "Bob"]
        after = snapshot(lib2, pid)
    assert after["identities"][0]["name"] == "Ann Lee (imported)"
    assert after["identities"][0]["consent"] == before["identities"][0]["consent"]


def test_failure_inside_the_transaction_leaves_the_library_untouched(
    exported: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = exported
    paths2 = _other_home(tmp_path)
    with Library.open(paths2) as lib2:
        lib2.create_identity_with_media("Zed", images=[image_import(9)])
        before = state(paths2)
        real = B._row_kwargs

        def boom(model: type, data: dict, skip: set[str] = B._ROW_SKIP) -> dict:
            if model.__name__ == "Take":
                raise RuntimeError("simulated crash while inserting takes")
            return real(model, data, skip)

        monkeypatch.setattr(B, "_row_kwargs", boom)
        with pytest.raises(B.BundleError, match="simulated crash"):
            B.import_bundle(bundle, lib2)
        assert state(paths2) == before


def test_export_refuses_damaged_library_media_and_full_disk(
    lib: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = make_project(lib, tmp_path / "src")
    out = tmp_path / "out" / "p.idlora"
    monkeypatch.setattr("engine.fsutil.free_bytes", lambda _p: 1000)
    with pytest.raises(DiskFullError, match="p.idlora"):
        B.export_bundle(lib, pid, out)
    monkeypatch.undo()
    take = TakesRepository.from_library(lib).list_takes()[0]
    data = bytearray(take.video_path.read_bytes())
    data[100] ^= 0xFF
    take.video_path.chmod(0o644)
    take.video_path.write_bytes(bytes(data))
    with pytest.raises(B.BundleError, match="damaged"):
        B.export_bundle(lib, pid, out)
    assert list(out.parent.iterdir()) == []
    with pytest.raises(B.BundleError, match="no project"):
        B.export_bundle(lib, 999, out)


# ----------------------------------------------------------------------------- hostile bundles


def _rewrite(bundle: Path, dest: Path, edit) -> Path:  # noqa: ANN001
    """Copy ``bundle`` to ``dest``, passing (name, data) pairs through ``edit``."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(dest, "w") as out:
        entries = [(i.filename, src.read(i)) for i in src.infolist()]
        for name, data in edit(entries):
            out.writestr(name, data)
    return dest


def _manifest_edit(change):  # noqa: ANN001, ANN202
    def edit(entries):  # noqa: ANN001, ANN202
        out = []
        for name, data in entries:
            if name == "manifest.json":
                m = json.loads(data)
                change(m)
                data = json.dumps(m).encode()
            out.append((name, data))
        return out

    return edit


def _add_entry(extra_name: str, payload: bytes = b"evil"):  # noqa: ANN202
    return lambda entries: [*entries, (extra_name, payload)]


def _flip_media(entries):  # noqa: ANN001, ANN202
    out = []
    flipped = False
    for name, data in entries:
        if name.startswith("media/") and not flipped:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
            flipped = True
        out.append((name, data))
    return out


def _symlink_bundle(bundle: Path, dest: Path) -> Path:
    _rewrite(bundle, dest, lambda e: e)
    with zipfile.ZipFile(dest, "a") as zf:
        info = zipfile.ZipInfo("media/" + "a" * 64)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return dest


def _bomb_bundle(bundle: Path, dest: Path) -> Path:
    zeros = bytes(8 << 20)
    sha = hashlib.sha256(zeros).hexdigest()

    def edit(entries):  # noqa: ANN001, ANN202
        m = json.loads(dict(entries)["manifest.json"])
        m["media"].append({"sha256": sha, "size": len(zeros)})
        return [(n, json.dumps(m).encode() if n == "manifest.json" else d) for n, d in entries]

    _rewrite(bundle, dest, edit)
    with zipfile.ZipFile(dest, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("media/" + sha, zeros)
    return dest


def _version(m: dict) -> None:
    m["format_version"] = 99


def _unlisted_ref(m: dict) -> None:
    m["takes"][0]["audio_hash"] = "b" * 64


def _size_lie(m: dict) -> None:
    m["media"][0]["size"] += 1


def _drop_first_media_file(entries):  # noqa: ANN001, ANN202
    first = next(n for n, _ in entries if n.startswith("media/"))
    return [(n, d) for n, d in entries if n != first]


HOSTILE = {
    "zip-slip ../evil": (lambda b, d: _rewrite(b, d, _add_entry("../evil")), "outside it"),
    "zip-slip media/../../x": (
        lambda b, d: _rewrite(b, d, _add_entry("media/../../x")),
        "outside it",
    ),
    "absolute /tmp/x": (lambda b, d: _rewrite(b, d, _add_entry("/tmp/x")), "absolute path"),
    "symlink": (_symlink_bundle, "symbolic link"),
    "unexpected file": (lambda b, d: _rewrite(b, d, _add_entry("run.sh")), "unexpected file"),
    "zip bomb": (_bomb_bundle, "zip bomb"),
    "wrong hash": (lambda b, d: _rewrite(b, d, _flip_media), "does not match its hash"),
    "size lie": (lambda b, d: _rewrite(b, d, _manifest_edit(_size_lie)), "manifest says"),
    "unlisted media file": (
        lambda b, d: _rewrite(b, d, _add_entry("media/" + "c" * 64)),
        "does not list",
    ),
    "listed media missing": (
        lambda b, d: _rewrite(b, d, _drop_first_media_file),
        "lacks the media file",
    ),
    "unlisted reference": (
        lambda b, d: _rewrite(b, d, _manifest_edit(_unlisted_ref)),
        "unlisted file",
    ),
    "unsupported version": (
        lambda b, d: _rewrite(b, d, _manifest_edit(_version)),
        "format version 99, newer",
    ),
    "truncated": (
        lambda b, d: (d.write_bytes(b.read_bytes()[: b.stat().st_size // 2]), d)[1],
        "not a zip file",
    ),
    "not a zip": (lambda b, d: (d.write_text("hello, I am a text file"), d)[1], "not a zip"),
    "no manifest": (
        lambda b, d: _rewrite(b, d, lambda e: [x for x in e if x[0] != "manifest.json"]),
        "no manifest.json",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_or_broken_bundles_are_refused_and_change_nothing(
    case: str, exported: tuple[Path, dict], lib: Library, paths: Paths, tmp_path: Path
) -> None:
    bundle, _ = exported
    make, message = HOSTILE[case]
    bad = make(bundle, tmp_path / "bad.idlora")
    before = state(paths)
    with pytest.raises(B.BundleError, match=message):
        B.import_bundle(bad, lib)
    assert state(paths) == before
    assert not (tmp_path / "evil").exists() and not Path("/tmp/x").exists()


def test_absurd_sizes_are_refused_before_extracting(
    exported: tuple[Path, dict], lib: Library, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = exported
    before = state(paths)
    with pytest.raises(B.BundleError, match="more than the"):
        B.import_bundle(bundle, lib, max_total_bytes=10_000)
    monkeypatch.setattr("engine.fsutil.free_bytes", lambda _p: 50_000)
    with pytest.raises(DiskFullError, match=r"disk full: \d+ MB needed in .*\(for importing"):
        B.import_bundle(bundle, lib)
    monkeypatch.setattr(B, "MAX_ENTRIES", 3)
    monkeypatch.setattr("engine.fsutil.free_bytes", lambda _p: 1 << 40)
    with pytest.raises(B.BundleError, match="entries, more than"):
        B.import_bundle(bundle, lib)
    assert state(paths) == before


def test_a_damaged_entry_inside_a_readable_zip_is_refused(
    exported: tuple[Path, dict], lib: Library, paths: Paths, tmp_path: Path
) -> None:
    bundle, _ = exported
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("media/"))
    # corrupt bytes inside the first media entry's data (the central directory stays intact)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    raw[start : start + 8] = b"\x00" * 8
    bad = tmp_path / "crc.idlora"
    bad.write_bytes(bytes(raw))
    before = state(paths)
    with pytest.raises(B.BundleError, match="damaged|does not match"):
        B.import_bundle(bad, lib)
    assert state(paths) == before


def test_cancel_leaves_no_bundle_and_no_import(
    exported: tuple[Path, dict], lib: Library, tmp_path: Path
) -> None:
    """A cancelled export writes nothing; a cancelled import changes nothing."""
    from engine.api import Cancelled, CancelToken

    bundle, _ = exported
    token = CancelToken()
    seen: list[float] = []

    def cancel_midway(value: float) -> None:
        seen.append(value)
        token.cancel()

    pid = ProjectsRepository.from_library(lib).find("Spring promo").id  # type: ignore[union-attr]
    out = tmp_path / "cancelled.idlora-bundle"
    with pytest.raises(Cancelled):
        B.export_bundle(lib, pid, out, progress=cancel_midway, cancel=token)
    assert seen and not out.exists() and not list(tmp_path.glob("*.tmp*"))

    paths2 = _other_home(tmp_path)
    with Library.open(paths2) as lib2:
        before = state(paths2)
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            B.import_bundle(bundle, lib2, cancel=token)
        assert state(paths2) == before
