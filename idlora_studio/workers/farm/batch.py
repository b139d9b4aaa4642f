"""A batch of takes on the render farm without the window (``idlora-studio generate --jobs FILE
--ray ADDRESS``): submit everything, follow progress, cancel on request, collect the results."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.api import CancelToken, GenerationRequest
from idlora_studio.workers.farm.client import FarmClient
from idlora_studio.workers.farm.jobs import FarmResult, farm_job

POLL_S = 0.25


@dataclass(frozen=True)
class BatchItem:
    """One take of the batch: a name (for messages and progress) and its request."""

    name: str
    request: GenerationRequest


def run_farm_batch(
    address: str,
    items: Sequence[BatchItem],
    *,
    model: str,
    lora: Path | None = None,
    lora_strength: float = 1.0,
    memory_profile: str = "auto",
    gpus: int = 1,
    mode: str | None = None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_connected: Callable[[str], None] | None = None,
    client_factory: Callable[[str], Any] = FarmClient,
) -> dict[str, FarmResult]:
    """Run every item on the cluster at ``address``; ``{name: FarmResult}`` (every item has
    one: done, failed or cancelled). Raises ``FarmError`` when the cluster cannot be used."""
    client = client_factory(address)
    client.connect()
    try:
        if on_connected is not None:
            on_connected(client.describe())
        pending: dict[str, tuple[str, Any]] = {}  # key -> (name, ref)
        for i, item in enumerate(items):
            key = f"{client.session}-cli-{i}"
            job, files = farm_job(
                key,
                item.request,
                model_set=model,
                lora=lora,
                lora_strength=lora_strength,
                memory_profile=memory_profile,
                gpus=gpus,
                mode=mode,
            )
            client.send_inputs(files)
            pending[key] = (item.name, client.submit(job))
        results: dict[str, FarmResult] = {}
        cancelled_sent = False
        last: dict[str, int] = {}
        while pending:
            if cancel is not None and cancel.cancelled and not cancelled_sent:
                for key, (_name, ref) in pending.items():
                    client.cancel(key, ref)
                cancelled_sent = True
            if on_progress is not None:
                for key, entry in client.progress().items():
                    if key in pending and entry.get("step") and entry["step"] != last.get(key):
                        last[key] = entry["step"]
                        on_progress(pending[key][0], int(entry["step"]), int(entry["total"]))
            done = client.finished([ref for _n, ref in pending.values()])
            for key, (name, ref) in list(pending.items()):
                if any(ref == d for d in done):
                    results[name] = client.result(ref, key)
                    del pending[key]
            if pending:
                time.sleep(POLL_S)
        return results
    finally:
        client.close()


__all__ = ["BatchItem", "run_farm_batch"]
