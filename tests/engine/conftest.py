"""Shared engine fixtures: tiny seeded LTX-2 / LTX-2.3 models built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LTX-2 diffusers folder (built once per session)."""
    from engine.models.tiny import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.mktemp("tiny-models"), "ltx2")


@pytest.fixture(scope="session")
def tiny_model_dir_23(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LTX-2.3 diffusers folder (built once per session)."""
    from engine.models.tiny import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.mktemp("tiny-models-23"), "ltx2.3")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model_dir: Path):
    """``IDLoRAPipeline`` loaded from the tiny LTX-2 folder (float32, CPU)."""
    from engine.pipeline import IDLoRAPipeline

    return IDLoRAPipeline.from_pretrained(tiny_model_dir)
