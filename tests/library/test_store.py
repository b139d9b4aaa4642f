"""The content-addressed media store: naming, de-duplication, atomic writes, collection."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from engine.fsutil import TMP_PREFIX
from idlora_studio.library import Library
from idlora_studio.library.store import MediaStore, MediaStoreError
from tests.library.conftest import image_import, media_files


def test_put_names_by_hash_and_deduplicates(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    data = b"hello media"
    sha = store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    p = store.path(sha)
    assert p == tmp_path / "media" / sha[:2] / sha and p.read_bytes() == data
    ino = p.stat().st_ino
    assert store.put_bytes(data) == sha
    assert p.stat().st_ino == ino  # not rewritten
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    assert store.put_file(src) == sha
    assert sorted(store.iter_hashes()) == [sha]
    assert store.verify(sha)
    with pytest.raises(MediaStoreError):
        store.path("../../etc/passwd")


def test_a_damaged_copy_is_rewritten(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    sha = store.put_bytes(b"abcdef")
    store.path(sha).write_bytes(b"abc")  # truncated by some accident
    assert not store.verify(sha)
    store.put_bytes(b"abcdef")
    assert store.verify(sha)


def test_failed_write_leaves_no_final_file(tmp_path: Path, monkeypatch) -> None:
    store = MediaStore(tmp_path)

    def failing_copy(src, dst):  # noqa: ANN001, ANN202
        Path(dst).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("idlora_studio.library.store.shutil.copyfile", failing_copy)
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 1000)
    with pytest.raises(OSError, match="No space"):
        store.put_file(src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert not store.path(sha).exists()
    assert not list(tmp_path.rglob(TMP_PREFIX + "*"))


def test_collect_removes_unreferenced_and_stale_temp_files(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    keep = store.put_bytes(b"keep")
    drop = store.put_bytes(b"drop")
    shard = store.path(keep).parent
    stale = shard / (TMP_PREFIX + "old")
    fresh = shard / (TMP_PREFIX + "new")
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 120
    os.utime(stale, (old, old))
    stray = tmp_path / "README.txt"  # not ours: never touched
    stray.write_text("hi")
    with store.collecting() as got:
        assert got
        removed = store.collect({keep})
    assert removed == 2
    assert store.exists(keep) and not store.exists(drop)
    assert not stale.exists() and fresh.exists() and stray.exists()
    assert not store.path(drop).parent.exists() or store.path(drop).parent == shard


def test_collector_waits_for_writers(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    in_write = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.writing():
            in_write.set()
            release.wait(5)

    t = threading.Thread(target=writer)
    t.start()
    in_write.wait(5)
    with store.collecting(blocking=False) as got:
        assert got is False  # an import is between writing files and committing rows
    release.set()
    t.join()
    with store.collecting(blocking=False) as got:
        assert got is True


def test_library_gc_keeps_referenced_and_drops_orphans(paths) -> None:
    lib = Library.open(paths)
    try:
        a = lib.create_identity("A")
        lib.add_checked_image(a, image_import(1))
        referenced = media_files(paths)
        orphan = lib.store.put_bytes(b"left by a crash between file write and commit")
        assert lib.collect_garbage() == 1
        assert media_files(paths) == referenced and orphan not in media_files(paths)
        assert lib.collect_garbage() == 0
    finally:
        lib.close()
    # Orphans are also collected when the library is opened.
    lib = Library.open(paths)
    try:
        orphan = lib.store.put_bytes(b"another orphan")
    finally:
        lib.close()
    Library.open(paths).close()
    assert orphan not in media_files(paths) and media_files(paths) == referenced
