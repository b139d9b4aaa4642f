"""Export progress (monotonic, throttled) and cancel checks."""

from __future__ import annotations

from collections.abc import Callable

from engine.api import Cancelled, CancelToken


class Progress:
    """Monotonic, throttled progress in [0, 1]."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.value = 0.0

    def __call__(self, value: float, *, force: bool = False) -> None:
        value = min(1.0, max(self.value, value))
        if self.callback is None:
            self.value = value
            return
        if force or value - self.value >= 0.002 or (value == 1.0 and self.value < 1.0):
            self.value = value
            self.callback(value)


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled("export cancelled")
