"""The identity library: people, their reference images, voice clips and consent.

Importing this package is cheap; the public names below load SQLAlchemy on first use::

    from idlora_studio.library import Library, ConsentRecord
    lib = Library.open(Paths.from_env())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load on first use
    from .media_types import FaceBox, ImageImport, ImportRejected, VoiceImport
    from .migrate import MigrationError
    from .repository import (
        ClipAdded,
        ClipInfo,
        ConsentRecord,
        DuplicateNameError,
        IdentityCreated,
        IdentityDetail,
        IdentitySummary,
        ImageAdded,
        ImageInfo,
        InvalidInputError,
        Library,
        LibraryError,
        NotFoundError,
        ReadOnlyLibraryError,
    )

_EXPORTS = {
    "Library": "repository",
    "LibraryError": "repository",
    "ReadOnlyLibraryError": "repository",
    "InvalidInputError": "repository",
    "DuplicateNameError": "repository",
    "NotFoundError": "repository",
    "ConsentRecord": "repository",
    "IdentitySummary": "repository",
    "IdentityDetail": "repository",
    "IdentityCreated": "repository",
    "ImageInfo": "repository",
    "ClipInfo": "repository",
    "ImageAdded": "repository",
    "ClipAdded": "repository",
    "MigrationError": "migrate",
    "ImportRejected": "media_types",
    "ImageImport": "media_types",
    "VoiceImport": "media_types",
    "FaceBox": "media_types",
}

__all__ = [
    "ClipAdded",
    "ClipInfo",
    "ConsentRecord",
    "DuplicateNameError",
    "FaceBox",
    "IdentityCreated",
    "IdentityDetail",
    "IdentitySummary",
    "ImageAdded",
    "ImageImport",
    "ImageInfo",
    "ImportRejected",
    "InvalidInputError",
    "Library",
    "LibraryError",
    "ReadOnlyLibraryError",
    "MigrationError",
    "NotFoundError",
    "VoiceImport",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
