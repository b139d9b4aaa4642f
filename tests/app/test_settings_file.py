"""The settings file is written off the thread that sets a value (the GUI thread must not wait
for a disk's fsync), holds the latest values once flushed, and a write that fails keeps the
values in memory and says so."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from idlora_studio.settings import Settings


def test_set_writes_the_file_on_another_thread(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    settings = Settings(tmp_path / "settings.json")
    for steps in range(10, 40):
        settings.set("default_steps", steps)
    settings.set("farm_address", "ray://head:10001")
    assert settings.flush()
    assert synced and threading.get_ident() not in synced
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["default_steps"] == 39 and saved["farm_address"] == "ray://head:10001"
    assert Settings.load(tmp_path / "settings.json").get("default_steps") == 39
    assert not list(tmp_path.glob(".settings-*"))  # no temporary file left


def test_a_failed_write_keeps_the_value_and_is_logged(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the settings folder should be")
    settings = Settings(blocker / "settings.json")
    settings.set("default_steps", 12)  # does not raise on the caller's thread
    assert settings.flush()
    assert settings.get("default_steps") == 12
    assert isinstance(settings.last_error, OSError)
    assert any("could not be saved" in r.getMessage() for r in caplog.records)
    with pytest.raises(OSError):
        settings.save()  # the explicit, synchronous save still reports it
