"""Every on-disk location the Studio uses, from one place.

Built on platformdirs; the environment variable ``IDLORA_STUDIO_HOME`` moves *all* data
(database, media store, recordings, caches, models, exports, settings) under one folder,
which is what tests and portable installs use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "idlora-studio"
HOME_ENV = "IDLORA_STUDIO_HOME"


@dataclass(frozen=True)
class Paths:
    """Resolved folders. Create with :meth:`from_env` (or directly in tests)."""

    data_dir: Path
    config_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV)
        if home:
            root = Path(home).expanduser().resolve()
            return cls(data_dir=root / "data", config_dir=root / "config", cache_dir=root / "cache")
        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        )

    # --- data (must never be lost) ---
    @property
    def db_path(self) -> Path:
        return self.data_dir / "library.sqlite3"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def media_dir(self) -> Path:
        """Content-addressed media store (hash-named files)."""
        return self.data_dir / "media"

    @property
    def recordings_dir(self) -> Path:
        """Recordings in progress: written while captured, offered back after a crash."""
        return self.data_dir / "recordings"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    # --- config ---
    @property
    def settings_path(self) -> Path:
        return self.config_dir / "settings.json"

    # --- caches (safe to delete) ---
    @property
    def models_dir(self) -> Path:
        """Default folder for downloaded and built-in model weights."""
        return self.cache_dir / "models"

    @property
    def thumbnails_dir(self) -> Path:
        return self.cache_dir / "thumbnails"

    @property
    def drag_dir(self) -> Path:
        """Files rendered for drag-and-drop export."""
        return self.cache_dir / "drag"

    @property
    def logs_dir(self) -> Path:
        return self.cache_dir / "logs"

    def ensure(self) -> Paths:
        """Create the folders (idempotent, private: ``0700``) and return self."""
        for d in (
            self.data_dir,
            self.config_dir,
            self.cache_dir,
            self.backups_dir,
            self.media_dir,
            self.recordings_dir,
            self.exports_dir,
            self.models_dir,
            self.thumbnails_dir,
            self.drag_dir,
            self.logs_dir,
        ):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self
