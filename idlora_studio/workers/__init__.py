"""Background work for the GUI: run plain callables off the GUI thread, report back by signal.

The task helpers are imported on first use, so that the Qt-free modules of this package
(``take_files``, ``farm``) can be imported without Qt -- on render-farm nodes, for instance.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Task", "TaskRunner", "run_in_thread"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from idlora_studio.workers import tasks

        return getattr(tasks, name)
    raise AttributeError(name)
