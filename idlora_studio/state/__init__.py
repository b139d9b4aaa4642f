"""Observable application state (no widgets): Qt signals plus actions that run on workers."""

from idlora_studio.state.library_state import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    LibraryState,
    classify_files,
    name_from_files,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "LibraryState",
    "classify_files",
    "name_from_files",
]
