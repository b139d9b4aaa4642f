"""Kill an importing process at random moments; the library must stay whole every time."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.fsutil import TMP_PREFIX, sha256_file
from idlora_studio.library import Library
from idlora_studio.library.db import integrity_check
from idlora_studio.library.models import media_ref_columns

WORKER = Path(__file__).with_name("crash_worker.py")
REPO = Path(__file__).resolve().parents[2]
KILLS = 30


def _referenced(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        out: set[str] = set()
        for table, col in media_ref_columns():
            out.update(r[0] for r in con.execute(f"SELECT {col} FROM {table}") if r[0])
        return out
    finally:
        con.close()


def _check_consistent(paths) -> tuple[int, int]:  # noqa: ANN001
    """Assert every invariant; return (identities, referenced files)."""
    assert integrity_check(paths.db_path) == []
    con = sqlite3.connect(paths.db_path)
    try:
        batches = con.execute(
            "SELECT i.name, (SELECT count(*) FROM reference_images r WHERE r.identity_id = i.id),"
            " (SELECT count(*) FROM voice_clips c WHERE c.identity_id = i.id) "
            "FROM identities i WHERE i.name LIKE 'batch-%'"
        ).fetchall()
        for name, n_img, n_clip in batches:
            assert (n_img, n_clip) == (2, 1), (
                f"half-imported {name}: {n_img} images, {n_clip} clips"
            )
        for table in ("reference_images", "voice_clips"):
            rows = con.execute(
                f"SELECT identity_id, count(*), sum(is_default) FROM {table} GROUP BY identity_id"
            ).fetchall()
            for iid, count, defaults in rows:
                assert count > 0 and defaults == 1, (
                    f"{table}: identity {iid} has {defaults} defaults"
                )
        n_ident = con.execute("SELECT count(*) FROM identities").fetchone()[0]
    finally:
        con.close()
    refs = _referenced(paths.db_path)
    for sha in refs:
        f = paths.media_dir / sha[:2] / sha
        assert f.is_file(), f"referenced media {sha} is missing"
        assert sha256_file(f) == sha, f"referenced media {sha} is damaged"
    return n_ident, len(refs)


@pytest.mark.timeout(900)  # 30 worker processes, each loading torch for the speech detector
def test_sigkill_during_imports_never_damages_the_library(paths) -> None:
    Library.open(paths).close()
    env = {**os.environ, "PYTHONPATH": str(REPO), "IDLORA_STUDIO_HOME": str(paths.data_dir.parent)}
    rnd = random.Random(1234)
    started = time.monotonic()
    progressed = 0
    for k in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(k)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        time.sleep(rnd.uniform(0.02, 0.5))
        assert proc.poll() is None, f"worker died by itself: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        n_ident, _ = _check_consistent(paths)
        progressed = max(progressed, n_ident)
    elapsed = time.monotonic() - started
    assert progressed > 0, "the worker never got an import committed before being killed"
    # Opening collects what the kills left behind: unreferenced files and old temp files.
    for tmp in paths.media_dir.rglob(TMP_PREFIX + "*"):
        os.utime(tmp, (time.time() - 600, time.time() - 600))
    with Library.open(paths) as lib:
        n_ident, n_refs = _check_consistent(paths)
        assert len(lib.list_identities()) == n_ident
    files = {p.name for p in paths.media_dir.glob("??/*")}
    assert files == _referenced(paths.db_path)
    assert len(files) == n_refs
    print(f"{KILLS} kills in {elapsed:.1f} s; {n_ident} identities, {n_refs} media files survive")
