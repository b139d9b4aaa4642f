"""CRUD, constraints, defaults, tags, search, consent and thread-safety of the Library API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading

import pytest

from idlora_studio.library import (
    ConsentRecord,
    DuplicateNameError,
    InvalidInputError,
    Library,
    NotFoundError,
)
from idlora_studio.library.store import MediaStore
from tests.library.conftest import image_import, media_files, voice_import


def test_create_get_and_results_are_frozen(lib: Library) -> None:
    consent = ConsentRecord("Ann Lee", dt.date(2024, 5, 1), "demo videos")
    iid = lib.create_identity(
        "  Ann   Lee ", notes="lead", tags=["Actor", "actor ", "EU"], consent=consent
    )
    d = lib.get_identity(iid)
    assert d.name == "Ann Lee"
    assert d.notes == "lead"
    assert d.tags == ("actor", "eu")
    assert d.consent == consent
    assert d.images == () and d.clips == ()
    assert d.default_image_id is None
    assert d.created_at.tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    summary = lib.find_identity("ANN LEE")
    assert summary is not None and summary.id == iid and summary.has_consent
    assert lib.find_identity("nobody") is None


def test_duplicate_names_are_case_and_space_insensitive(lib: Library) -> None:
    lib.create_identity("Ann Lee")
    with pytest.raises(DuplicateNameError, match="Ann"):
        lib.create_identity("ann  LEE")
    other = lib.create_identity("Bob")
    with pytest.raises(DuplicateNameError):
        lib.update_identity(other, name="ANN lee")
    lib.update_identity(other, name="bob")  # own name, other case: allowed
    assert lib.get_identity(other).name == "bob"
    with pytest.raises(InvalidInputError):
        lib.create_identity("   ")
    with pytest.raises(InvalidInputError):
        lib.create_identity("x" * 201)
    assert [s.name for s in lib.list_identities()] == ["Ann Lee", "bob"]


def test_database_enforces_constraints(lib: Library, paths) -> None:
    iid = lib.create_identity("A")
    lib.add_checked_image(iid, image_import(1))
    con = sqlite3.connect(paths.db_path)
    con.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError):  # name key unique
        con.execute(
            "INSERT INTO identities (name, name_key, notes, created_at, updated_at) "
            "VALUES ('a', 'a', '', '2024-01-01', '2024-01-01')"
        )
    with pytest.raises(sqlite3.IntegrityError):  # foreign key to a missing identity
        con.execute(
            "INSERT INTO reference_images (identity_id, sha256, extension, width, height, "
            "face_count, is_default, created_at) VALUES (999, 'x', '.png', 1, 1, 0, 0, '2024')"
        )
    with pytest.raises(sqlite3.IntegrityError):  # a second default image
        con.execute(
            "INSERT INTO reference_images (identity_id, sha256, extension, width, height, "
            "face_count, is_default, created_at) VALUES (?, 'y', '.png', 1, 1, 0, 1, '2024')",
            (iid,),
        )
    con.close()


def test_delete_cascades_and_frees_media(lib: Library, paths) -> None:
    keep = lib.create_identity("Keep", tags=["shared"])
    lib.add_checked_image(keep, image_import(1))
    gone = lib.create_identity("Gone", tags=["shared", "only-gone"])
    lib.add_checked_image(gone, image_import(1))  # same bytes as Keep's: stored once
    lib.add_checked_image(gone, image_import(2))
    lib.add_checked_clip(gone, voice_import(3), source="imported")
    before = media_files(paths)
    lib.delete_identity(gone)
    with pytest.raises(NotFoundError):
        lib.get_identity(gone)
    con = sqlite3.connect(paths.db_path)
    for table in ("reference_images", "voice_clips", "identity_tags"):
        n = con.execute(f"SELECT count(*) FROM {table} WHERE identity_id = ?", (gone,)).fetchone()
        assert n[0] == 0, table
    con.close()
    after = media_files(paths)
    kept_img = lib.get_identity(keep).images[0]
    assert kept_img.sha256 in after and kept_img.path.is_file()
    assert len(before - after) == 3  # image 2, its thumbnail, the clip
    assert lib.all_tags() == ["shared"]
    with pytest.raises(NotFoundError):
        lib.delete_identity(gone)


def test_defaults_follow_adds_removes_and_choices(lib: Library) -> None:
    a = lib.create_identity("A")
    b = lib.create_identity("B")
    i1 = lib.add_checked_image(a, image_import(1)).image_id
    i2 = lib.add_checked_image(a, image_import(2)).image_id
    i3 = lib.add_checked_image(a, image_import(3)).image_id
    assert lib.get_identity(a).default_image_id == i1
    lib.set_default_image(a, i3)
    d = lib.get_identity(a)
    assert d.default_image_id == i3 and [i.is_default for i in d.images] == [False, False, True]
    lib.remove_image(i3)  # the default goes: the oldest remaining takes over
    assert lib.get_identity(a).default_image_id == i1
    lib.remove_image(i1)
    assert lib.get_identity(a).default_image_id == i2
    lib.remove_image(i2)
    assert lib.get_identity(a).default_image_id is None
    # Someone else's image cannot become the default.
    ib = lib.add_checked_image(b, image_import(4)).image_id
    with pytest.raises(InvalidInputError, match="another identity"):
        lib.set_default_image(a, ib)
    with pytest.raises(NotFoundError):
        lib.set_default_image(a, 12345)
    c1 = lib.add_checked_clip(a, voice_import(1)).clip_id
    c2 = lib.add_checked_clip(a, voice_import(2), source="imported").clip_id
    lib.set_default_clip(a, c2)
    lib.remove_clip(c2)
    d = lib.get_identity(a)
    assert d.default_clip_id == c1 and d.default_clip is not None
    assert d.default_clip.source == "recorded"
    with pytest.raises(InvalidInputError):
        lib.add_checked_clip(a, voice_import(5), source="downloaded")


def test_adding_same_file_twice_keeps_one_row(lib: Library) -> None:
    a = lib.create_identity("A")
    first = lib.add_checked_image(a, image_import(7))
    again = lib.add_checked_image(a, image_import(7))
    assert again.image_id == first.image_id
    assert any("already" in w for w in again.warnings)
    assert len(lib.get_identity(a).images) == 1


def test_image_and_clip_details_round_trip(lib: Library) -> None:
    a = lib.create_identity("A")
    im, vc = image_import(1), voice_import(1)
    lib.add_checked_image(a, im)
    lib.add_checked_clip(a, vc, source="imported")
    d = lib.get_identity(a)
    img, clip = d.images[0], d.clips[0]
    assert img.path.read_bytes() == im.data
    assert img.thumbnail_path is not None and img.thumbnail_path.read_bytes() == im.thumbnail
    assert (img.width, img.height, img.face_count) == (64, 48, 1)
    assert img.faces == im.faces and img.suggested_crop == im.suggested_crop
    assert img.warnings == ("test warning",) and img.original_name == "img1.png"
    assert clip.path.read_bytes() == vc.wav
    assert clip.best_window == vc.best_window and clip.trimmed_range == vc.trimmed_range
    assert clip.warnings == ("clip warning",) and clip.noisy and not clip.clipping
    assert len(clip.peaks) == len(vc.peaks)
    assert max(abs(p - q) for p, q in zip(clip.peaks, vc.peaks, strict=True)) < 1 / 255
    s = lib.list_identities()[0]
    assert (s.image_count, s.clip_count, s.thumbnail_path) == (1, 1, img.thumbnail_path)
    assert s.updated_at >= d.created_at


def test_tags_filter_and_search(lib: Library) -> None:
    lib.create_identity("Ann Lee", tags=["actor", "eu"], notes="Speaks French")
    lib.create_identity("Bob Stone", tags=["actor"])
    lib.create_identity("Cara 100%", tags=["narrator", "eu"])
    names = lambda xs: [x.name for x in xs]  # noqa: E731
    assert names(lib.list_identities(tags=["ACTOR"])) == ["Ann Lee", "Bob Stone"]
    assert names(lib.list_identities(tags=["actor", "eu"])) == ["Ann Lee"]
    assert names(lib.list_identities(tags=["nope"])) == []
    assert names(lib.list_identities("lee")) == ["Ann Lee"]
    assert names(lib.list_identities("french")) == ["Ann Lee"]  # notes
    assert names(lib.list_identities("narr")) == ["Cara 100%"]  # tag text
    assert names(lib.list_identities("100%")) == ["Cara 100%"]  # LIKE wildcards escaped
    assert names(lib.list_identities("%")) == ["Cara 100%"]
    assert names(lib.list_identities("stone", tags=["actor"])) == ["Bob Stone"]
    assert names(lib.list_identities("ann bob")) == []  # every word must match
    assert lib.all_tags() == ["actor", "eu", "narrator"]
    bob = lib.find_identity("bob stone")
    assert bob is not None
    lib.update_identity(bob.id, tags=["villain"])
    assert lib.all_tags() == ["actor", "eu", "narrator", "villain"]
    lib.update_identity(bob.id, tags=[])
    assert lib.all_tags() == ["actor", "eu", "narrator"]


def test_consent_document_update_and_clear(lib: Library, tmp_path, paths) -> None:
    doc = tmp_path / "release.pdf"
    doc.write_bytes(b"%PDF-1.4 signed release")
    consent = ConsentRecord("Ann", dt.date(2024, 1, 2), "all uses", document_path=doc)
    a = lib.create_identity("Ann", consent=consent)
    got = lib.get_identity(a).consent
    assert got is not None and got.document_path is not None
    assert got.document_path.read_bytes() == doc.read_bytes()
    assert got.document_path.parent.parent == paths.media_dir
    # Passing the stored record back keeps the same document.
    lib.update_identity(a, consent=got, notes="n")
    assert lib.get_identity(a).consent == got
    with pytest.raises(InvalidInputError):
        lib.update_identity(a, consent=ConsentRecord(" ", dt.date(2024, 1, 2), "x"))
    with pytest.raises(InvalidInputError, match="future"):
        lib.update_identity(a, consent=ConsentRecord("A", dt.date(2999, 1, 1), "x"))
    lib.update_identity(a, clear_consent=True)
    assert lib.get_identity(a).consent is None
    assert not got.document_path.exists()  # nothing references it any more
    assert not lib.list_identities()[0].has_consent


def test_missing_consent_document_is_rejected_without_trace(lib: Library, tmp_path, paths) -> None:
    from idlora_studio.library import ImportRejected

    consent = ConsentRecord("Ann", dt.date(2024, 1, 2), "x", document_path=tmp_path / "no.pdf")
    with pytest.raises(ImportRejected, match="no.pdf: file does not exist"):
        lib.create_identity("Ann", consent=consent)
    assert lib.list_identities() == []


def test_create_with_media_is_one_transaction(lib: Library, paths) -> None:
    created = lib.create_identity_with_media(
        "Ann", [image_import(1), image_import(2)], [voice_import(1)], tags=["t"]
    )
    d = lib.get_identity(created.identity_id)
    assert len(d.images) == 2 and len(d.clips) == 1
    assert d.default_image_id == created.images[0].image_id
    assert "test warning" in created.warnings and "clip warning" in created.warnings
    before = media_files(paths)
    # The name is taken: nothing of the second import may remain, files included.
    with pytest.raises(DuplicateNameError):
        lib.create_identity_with_media("ann", [image_import(10)], [voice_import(10)])
    assert media_files(paths) == before
    assert len(lib.list_identities()) == 1


def test_failure_inside_the_transaction_leaves_nothing(lib: Library, paths, monkeypatch) -> None:
    """A crash-like failure after files are written and rows flushed rolls everything back."""
    from idlora_studio.library import repository

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003
        raise RuntimeError("disk went away")

    monkeypatch.setattr(repository.Library, "_insert_clip", staticmethod(boom))
    with pytest.raises(RuntimeError):
        lib.create_identity_with_media("Ann", [image_import(1)], [voice_import(1)])
    assert lib.list_identities() == []
    assert media_files(paths) == set()


def test_not_found_errors(lib: Library) -> None:
    with pytest.raises(NotFoundError):
        lib.get_identity(42)
    with pytest.raises(NotFoundError):
        lib.update_identity(42, notes="x")
    with pytest.raises(NotFoundError):
        lib.add_checked_image(42, image_import(1))
    with pytest.raises(NotFoundError):
        lib.remove_image(42)
    with pytest.raises(NotFoundError):
        lib.remove_clip(42)


def test_threads_share_one_library(lib: Library) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(5):
                iid = lib.create_identity(f"p{k}-{j}", tags=[f"t{k}"])
                lib.add_checked_image(iid, image_import(k * 100 + j))
                lib.list_identities(tags=[f"t{k}"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    items = lib.list_identities()
    assert len(items) == 20 and all(x.image_count == 1 for x in items)


def test_store_paths_are_sharded(lib: Library) -> None:
    a = lib.create_identity("A")
    img = lib.get_identity(lib.add_checked_image(a, image_import(1)) and a).images[0]
    assert img.path == lib.media_path(img.sha256)
    assert img.path.parent.name == img.sha256[:2]
    assert isinstance(lib.store, MediaStore)


def test_add_media_to_existing_identity_is_all_or_nothing(lib: Library, paths, monkeypatch) -> None:
    a = lib.create_identity("A")
    res = lib.add_media(a, [image_import(1), image_import(2)], [voice_import(1)])
    assert len(res.images) == 2 and len(res.clips) == 1
    before = media_files(paths)
    from idlora_studio.library import repository

    real_insert = repository.Library._insert_clip

    def second_fails(s, iid, c, sha, source):  # noqa: ANN001, ANN202
        if c.source.name == "clip3.wav":
            raise RuntimeError("failed half-way")
        return real_insert(s, iid, c, sha, source)

    monkeypatch.setattr(repository.Library, "_insert_clip", staticmethod(second_fails))
    with pytest.raises(RuntimeError):
        lib.add_media(a, [image_import(5)], [voice_import(2), voice_import(3)])
    d = lib.get_identity(a)
    assert len(d.images) == 2 and len(d.clips) == 1
    assert media_files(paths) == before


def test_cropped_image_is_a_new_image_and_the_original_stays(lib: Library, tmp_path) -> None:
    from PIL import Image

    from tests import media_fixtures as mf

    iid = lib.create_identity("Group Shot")
    src = mf.group_photo(tmp_path / "team.png", (1600, 1200), (160, 140, 70), "chelsea")
    added = lib.add_image(iid, src)
    assert len(added.faces) == 3 and added.suggested_crop is not None
    original = lib.get_identity(iid).images[0]
    assert original.is_default

    crop = lib.add_cropped_image(added.image_id)
    d = lib.get_identity(iid)
    assert [i.id for i in d.images] == [added.image_id, crop.image_id]
    kept, cut = d.images
    assert kept.path.is_file() and kept.sha256 == original.sha256  # the original is untouched
    assert cut.is_default and not kept.is_default  # the crop replaces it as the default
    x, y, w, h = added.suggested_crop
    assert (cut.width, cut.height) == (w, h) and cut.original_name == "team-crop.png"
    assert cut.face_count == 1 and Image.open(cut.path).size == (w, h)
    # an explicit crop of a non-default image leaves the default alone
    other = lib.add_cropped_image(added.image_id, (0, 0, 400, 300))
    d = lib.get_identity(iid)
    assert d.default_image_id == crop.image_id
    assert next(i for i in d.images if i.id == other.image_id).width == 400
    with pytest.raises(NotFoundError):
        lib.add_cropped_image(999_999)
