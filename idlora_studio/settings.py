"""Typed settings with defaults in code, persisted as JSON, one ``changed`` notification.

Qt-free: the Qt layer connects ``Settings.subscribe`` to a signal if it needs one.
Unknown keys in the file are ignored and bad values fall back to defaults, so a damaged
settings file never stops the Studio from starting.

:meth:`Settings.set` changes the value at once and writes the file on a thread of its own
(the latest values, atomically, with an fsync): the GUI sets values from its own thread, and
the fsync alone took ~100 ms there on a loaded machine (``tools/probe_gui_latency.py``).
:meth:`Settings.flush` waits for the file; the window calls it at shutdown.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class SettingsData:
    """All user settings and their defaults."""

    models_dir: str = ""  # empty: Paths.models_dir
    memory_profile: str = (
        "auto"  # auto | resident_bf16 | fp8_weights | model_offload | group_offload
    )
    model_idle_release_s: float = 300.0
    default_steps: int = 30
    default_seed_random: bool = True
    input_device: str = ""  # sounddevice device name; empty: system default
    record_sample_rate: int = 48000
    target_loudness_lufs: float = -23.0
    thumbnail_size: int = 160
    recent_identities: list[int] = field(default_factory=list)
    recent_projects: list[int] = field(default_factory=list)  # most recently opened first
    first_run_done: bool = False  # the first-start check of this machine was shown
    # Several GPUs (Settings > GPUs): auto | single | jobs | passes | sequence
    # (engine.distributed.strategy); gpus: "" for all, or e.g. "0,1"
    parallel_mode: str = "auto"
    gpus: str = ""
    # Render farm (Settings > Render farm): queued takes go to this Ray cluster when enabled
    farm_enabled: bool = False
    farm_address: str = ""
    farm_gpus_per_take: int = 1  # more than 1: each take on a GPU group (farm_group_mode)
    farm_group_mode: str = "passes"  # passes | sequence


class Settings:
    """Holds a :class:`SettingsData`, saves atomically, notifies subscribers on change."""

    def __init__(self, path: Path, data: SettingsData | None = None) -> None:
        self.path = path
        self.data = data or SettingsData()
        self._subscribers: list[Callable[[str, Any], None]] = []
        self._writes = threading.Condition()
        self._due: str | None = None  # the payload the writer thread is to write next
        self._writer: threading.Thread | None = None  # while one runs
        self._atexit = False
        self.last_error: Exception | None = None  # the last write that failed (logged)

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = SettingsData()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if isinstance(raw, dict):
            for f in fields(SettingsData):
                if f.name in raw:
                    default = getattr(data, f.name)
                    value = raw[f.name]
                    if isinstance(default, bool) != isinstance(value, bool):
                        continue
                    if isinstance(default, int | float) and isinstance(value, int | float):
                        setattr(data, f.name, type(default)(value))
                    elif isinstance(value, type(default)):
                        setattr(data, f.name, value)
        return cls(path, data)

    def get(self, name: str) -> Any:
        return getattr(self.data, name)

    def set(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(SettingsData)}:
            raise KeyError(f"unknown setting {name!r}")
        if getattr(self.data, name) == value:
            return
        setattr(self.data, name, value)
        self.save_later()
        for callback in list(self._subscribers):
            callback(name, value)

    def subscribe(self, callback: Callable[[str, Any], None]) -> None:
        self._subscribers.append(callback)

    def _payload(self) -> str:
        return json.dumps(dataclasses.asdict(self.data), indent=2, sort_keys=True)

    def save(self) -> None:
        """Write the file now, on this thread (atomic: a temporary file, fsync, rename)."""
        self._write(self._payload())

    def save_later(self) -> None:
        """Write the current values on the writer thread; writes asked for while one is
        under way become one write of the latest values."""
        payload = self._payload()
        with self._writes:
            self._due = payload
            if self._writer is None:
                if not self._atexit:
                    self._atexit = True
                    atexit.register(self.flush)
                self._writer = threading.Thread(
                    target=self._write_loop, name="settings-writer", daemon=True
                )
                self._writer.start()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the values set so far are in the file; False on a timeout."""
        with self._writes:
            return self._writes.wait_for(lambda: self._writer is None, timeout_s)

    def _write_loop(self) -> None:
        """The writer thread: writes what is due until nothing is, then ends."""
        while True:
            with self._writes:
                payload, self._due = self._due, None
                if payload is None:
                    self._writer = None
                    self._writes.notify_all()
                    return
            try:
                self._write(payload)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - a full or read-only disk: kept in memory
                self.last_error = exc
                log.warning("the settings could not be saved to %s: %s", self.path, exc)

    def _write(self, payload: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
