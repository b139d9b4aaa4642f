"""Importing the heavy stack (torch, transformers, diffusers and the pipeline modules) once,
from one thread at a time.

transformers and diffusers build their top-level packages lazily; when two threads import
them at the same moment (the Studio's generation worker warming up while the first-start
check reads the versions on another thread), one of them can find the package half set up and
fail with ``cannot import name 'DiffusionPipeline' from 'diffusers'`` (seen on this machine:
three runs out of three of two threads racing). Everything that imports the stack off the
main thread goes through :func:`import_engine_stack`, which holds one lock while importing.
Once imported, using the modules from several threads is fine.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_imported = False


def import_engine_stack() -> None:
    """Import torch, transformers, diffusers and the ID-LoRA pipeline; a no-op once done.
    Raises what the import raises (a broken install), and then tries again on the next
    call."""
    global _imported
    if _imported:
        return
    with _LOCK:
        if _imported:
            return
        import diffusers
        import torch  # noqa: F401
        import transformers  # noqa: F401

        diffusers.DiffusionPipeline  # noqa: B018 - resolves the lazy top-level attribute

        import engine.generate  # noqa: F401
        import engine.pipeline.pipeline_idlora  # noqa: F401

        _imported = True
