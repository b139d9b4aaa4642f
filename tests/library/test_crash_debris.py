"""Interrupted runs leave no debris after the next start.

Bundle import, render and batch generation are killed (SIGKILL) in their write phase (the
spawned command pauses right after its first write, see ``crash_writers.py``); the next start
of the Studio (any CLI command) removes their staging folders and half-written temp files --
in the data folder and in the output folders outside it -- and the library is unchanged.
Temporaries of live processes, other users' files and recent files without an owner stay.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from idlora_studio.cli import main
from idlora_studio.library import Library, access
from idlora_studio.library import bundle as B
from idlora_studio.paths import Paths
from tests.library.test_bundle import make_project, state
from tests.media_fixtures import face_image, speech_wav

WRITER = Path(__file__).with_name("crash_writers.py")
REPO = Path(__file__).resolve().parents[2]


def _kill_in_write_phase(mode: str, args: list[str], home: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO), "IDLORA_STUDIO_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), mode, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.strip() == "writing":
            break
        assert time.monotonic() < deadline
    else:
        raise AssertionError(f"{mode} ended before its write phase: {proc.stderr.read()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    return proc.pid


def _debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".import-")))


def test_killed_bundle_import_render_and_batch_leave_nothing_after_the_next_start(
    paths: Paths, tmp_path: Path
) -> None:
    home = paths.data_dir.parent
    with Library.open(paths) as lib:
        make_project(lib, tmp_path / "m", name="Promo")
    src = Paths(tmp_path / "s" / "d", tmp_path / "s" / "c", tmp_path / "s" / "k").ensure()
    with Library.open(src) as other:
        bundle = B.export_bundle(other, make_project(other, tmp_path / "o"), tmp_path / "b.idlora")
    before = state(paths)

    # 1. bundle import, killed after its first media file reached the staging folder
    pid = _kill_in_write_phase("bundle-import", ["bundle", "import", str(bundle.path)], home)
    staged = _debris(paths.data_dir)
    assert staged and all(n.startswith(f".import-{pid}-") for n in staged)

    # 2. render, killed while the encoder writes its temp file in the output folder
    out = tmp_path / "renders"
    _kill_in_write_phase("render", ["render", "Promo", "--out", str(out / "r.mp4")], home)
    assert _debris(out)

    # 3. batch generation, killed while the first take's temp file is written
    inputs = tmp_path / "in"
    inputs.mkdir()
    jobs = [
        {
            "prompt": f"[VISUAL]: take {i}",
            "reference_path": str(speech_wav(inputs / f"v{i}.wav")),
            "first_frame_path": str(face_image(inputs / f"f{i}.jpg")),
            "output_name": f"take{i}.mp4",
        }
        for i in range(3)
    ]
    (inputs / "jobs.json").write_text(json.dumps(jobs))
    batch = tmp_path / "batch"
    argv = ["generate", "--model", "tiny", "--jobs", str(inputs / "jobs.json")]
    argv += ["--out-dir", str(batch), "--frames", "9", "--no-progress"]
    _kill_in_write_phase("batch", argv, home)
    assert _debris(batch)

    # the next start (any command) cleans all three; the library is as it was
    assert main(["library", "list"]) == 0
    assert _debris(paths.data_dir) == [] and _debris(out) == [] and _debris(batch) == []
    assert list(batch.iterdir()) == [] and list(out.iterdir()) == []
    assert state(paths) == before
    journal = paths.cache_dir / "temp-folders"
    assert not journal.exists() or str(out) not in journal.read_text()


def test_only_dead_or_old_temporaries_of_this_user_are_removed(paths: Paths) -> None:
    Library.open(paths).close()
    mine = paths.data_dir / f".import-{os.getpid()}-live"
    dead = paths.data_dir / ".import-999999999-dead"
    take = paths.cache_dir / "tmp" / "take-999999999-x"
    unknown_new = paths.data_dir / ".tmp-unknown.part"
    unknown_old = paths.data_dir / ".tmp-ancient.part"
    for d in (mine, dead, take):
        d.mkdir(parents=True)
        (d / "f").write_bytes(np.zeros(10, np.uint8).tobytes())
    unknown_new.write_bytes(b"x")
    unknown_old.write_bytes(b"x")
    old = time.time() - 2 * access.STALE_AFTER_S
    os.utime(unknown_old, (old, old))
    removed = access.clean_debris(paths)
    assert set(removed) == {dead, take, unknown_old}
    assert mine.exists() and unknown_new.exists()
    # at this process's exit, its own temporaries go too
    access.clean_debris(paths, exiting=True)
    assert not mine.exists()
