"""Qt-free ID-LoRA engine on diffusers' LTX-2 components.

Importing this package is cheap: torch and diffusers are imported by the modules that need
them (``engine.pipeline``, ``engine.models``), never here. It must never import Qt.
"""

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    InvalidRequestError,
    MediaError,
    ModelNotFoundError,
    OutOfMemoryError,
    ProgressInfo,
    PromptParts,
)

__all__ = [
    "Cancelled",
    "CancelToken",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequestError",
    "MediaError",
    "ModelNotFoundError",
    "OutOfMemoryError",
    "ProgressInfo",
    "PromptParts",
]
