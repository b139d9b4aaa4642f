"""Listing 1,000 identities (with tags, thumbnails, counts) stays well under 100 ms."""

from __future__ import annotations

import sqlite3
import time

from idlora_studio.library import Library


def _seed(db, n: int = 1000) -> None:  # noqa: ANN001
    con = sqlite3.connect(db)
    with con:
        tags = [f"tag{k}" for k in range(20)]
        con.executemany("INSERT INTO tags (id, name) VALUES (?, ?)", enumerate(tags, 1))
        now = "2024-01-01 00:00:00.000000"
        con.executemany(
            "INSERT INTO identities (id, name, name_key, notes, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (i, f"Person {i:04d}", f"person {i:04d}", f"notes {i}", now, now)
                for i in range(1, n + 1)
            ],
        )
        con.executemany(
            "INSERT INTO identity_tags VALUES (?, ?)",
            [(i, 1 + (i + k) % 20) for i in range(1, n + 1) for k in range(3)],
        )
        con.executemany(
            "INSERT INTO reference_images (identity_id, sha256, extension, thumbnail_sha256, "
            "width, height, face_count, is_default, created_at) VALUES (?, ?, '.png', ?, 1, 1, 1, ?, ?)",
            [
                (i, f"{i * 2 + k:064x}", f"{i * 2 + k + 10**6:064x}", k == 0, now)
                for i in range(1, n + 1)
                for k in range(2)
                if not (k and i % 2)
            ][: 2 * n],
        )
    con.close()


def _best_ms(fn, repeat: int = 5) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def test_listing_a_thousand_identities_is_fast(paths) -> None:  # noqa: ANN001
    Library.open(paths).close()
    _seed(paths.db_path)
    t = time.perf_counter()
    lib = Library.open(paths, collect=False)
    open_ms = (time.perf_counter() - t) * 1000
    try:
        everyone = lib.list_identities()
        assert len(everyone) == 1000
        assert everyone[0].name == "Person 0001" and len(everyone[0].tags) == 3
        assert everyone[0].thumbnail_path is not None and everyone[0].image_count in (1, 2)
        assert len(lib.list_identities(tags=["tag1", "tag2"])) == 100
        assert [x.name for x in lib.list_identities("person 0123")] == ["Person 0123"]
        full = _best_ms(lambda: lib.list_identities())
        tagged = _best_ms(lambda: lib.list_identities(tags=["tag5"]))
        searched = _best_ms(lambda: lib.list_identities("person 0", tags=["tag5", "tag6"]))
    finally:
        lib.close()
    print(
        f"open {open_ms:.1f} ms; list 1000: {full:.1f} ms, tag {tagged:.1f} ms, search {searched:.1f} ms"
    )
    assert full < 100 and tagged < 100 and searched < 100
