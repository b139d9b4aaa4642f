"""ID-LoRA sampling on LTX-2: positions, schedule, guidance passes, denoising loop, pipeline.

``positions``, ``schedule`` and ``guidance`` are light; ``IDLoRAPipeline`` (diffusers + torch)
is imported lazily on first attribute access so ``import engine.pipeline`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IDLoRAPipeline", "IDLoRAPipelineOutput"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from engine.pipeline import pipeline_idlora

        return getattr(pipeline_idlora, name)
    raise AttributeError(name)
