"""Test-wide environment: offline hub, offscreen Qt, a temporary Studio home per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh IDLORA_STUDIO_HOME for this test; returns the folder."""
    home = tmp_path / "studio-home"
    home.mkdir()
    monkeypatch.setenv("IDLORA_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def paths(studio_home: Path):
    from idlora_studio.paths import Paths

    return Paths.from_env().ensure()
