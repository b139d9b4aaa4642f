"""Qt-free ID-LoRA engine on diffusers' LTX-2 components.

Importing this package is cheap: torch and diffusers are imported by the modules that need
them (``engine.pipeline``, ``engine.models``), never here. It must never import Qt.

It sets one process default before torch can start CUDA: PyTorch's caching allocator uses
expandable segments (``PYTORCH_CUDA_ALLOC_CONF``, unless the user set it). The streamed
profiles allocate and free weights of many sizes on two CUDA streams; with fixed segments an
H200 run of the 24 GiB ``fp8_weights`` profile failed with 7.4 GiB reserved but unallocated
(fragmentation), which expandable segments avoid.
"""

import os

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

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
