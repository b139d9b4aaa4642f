"""Real small disks for tests: a tmpfs that fills up, a folder that is read-only.

``small_disk(folder, size)`` mounts a tmpfs of ``size`` at ``folder`` (needs root or
CAP_SYS_ADMIN, as on this project's CI runner); where mounting is not allowed the test is
skipped with the reason printed. ``fill(folder, leave)`` fills the disk until ``leave``
bytes are free. ``read_only_folder(folder)`` makes a folder read-only: a read-only remount
of a tmpfs when running as root (root ignores permission bits), ``chmod`` otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "32m") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``folder`` for the block."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        reason = "no mount command on this machine"
    else:
        done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder))
        reason = (
            ""
            if done.returncode == 0
            else f"mounting a tmpfs is not allowed here: {done.stderr.strip()}"
        )
    if reason:
        print(f"SKIPPED full-disk test: {reason}")
        pytest.skip(reason)
    try:
        yield folder
    finally:
        _run("umount", "-l", str(folder))


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk holding ``folder`` until about ``leave`` bytes are free."""
    blob = folder / "filler.bin"
    block = bytes(1 << 20)
    with open(blob, "ab") as fh:
        while True:
            st = os.statvfs(folder)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                fh.write(block[: max(1, min(len(block), free - leave))])
                fh.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return blob


def free_space(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """Make ``folder`` (holding the data to keep) read-only for the block."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for p in modes:
            p.chmod(0o555)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    # Root ignores permission bits: copy the folder onto a tmpfs and remount it read-only.
    keep = folder.with_name(folder.name + ".orig")
    folder.rename(keep)
    try:
        with small_disk(folder, "64m"):
            shutil.copytree(keep, folder, dirs_exist_ok=True, symlinks=True)
            done = _run("mount", "-o", "remount,ro", str(folder))
            if done.returncode != 0:
                pytest.skip(f"a read-only remount is not allowed here: {done.stderr.strip()}")
            yield folder
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()
        keep.rename(folder)
