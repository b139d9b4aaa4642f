"""Background work for the GUI: run plain callables off the GUI thread, report back by signal."""

from idlora_studio.workers.tasks import Task, TaskRunner, run_in_thread

__all__ = ["Task", "TaskRunner", "run_in_thread"]
