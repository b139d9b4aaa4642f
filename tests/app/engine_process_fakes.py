"""Light stand-ins that tests/app/test_engine_process.py has the engine process load (they
are imported in that process, by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from engine.api import Cancelled, MediaError, ProgressInfo

NAME = "tests.app.engine_process_fakes"


def no_warm_up() -> None:
    """The real warm-up imports torch: seconds these tests do not need."""


class FakeGenerator:
    """``generate_take(request)`` by request: "ok" (3 steps, a file in the folder), "forever"
    (steps until cancelled), "media" (a MediaError), "die" (the process exits at once)."""

    def __init__(self, model: Any, lora: Any, **kwargs: Any) -> None:
        self.model = model
        self.kwargs = kwargs

    def model_info(self) -> dict[str, Any]:
        return {"model": str(self.model), "pid": os.getpid(), **self.kwargs}

    def generate_take(
        self, request: str, folder: Path, *, progress: Any = None, cancel: Any = None
    ) -> dict[str, Any]:
        if request == "media":
            raise MediaError(Path("/clips/voice.wav"), "no audio stream")
        if request == "die":
            os._exit(3)
        step = 0
        while request == "forever" or step < 3:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("cancelled")
            step += 1
            progress(ProgressInfo(step, 3, 0.0, None, stage="denoise"))
            time.sleep(0.01)
        (Path(folder) / "take.txt").write_text(str(os.getpid()))
        return {"pid": os.getpid(), "steps": step}

    def close(self) -> None:
        pass


def load(model: Any, lora: Any = None, **kwargs: Any) -> FakeGenerator:
    return FakeGenerator(model, lora, **kwargs)
