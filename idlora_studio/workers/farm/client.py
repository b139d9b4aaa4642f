"""``FarmClient``: the Studio's (and the CLI's) end of the render farm. Qt-free.

Typical use (one thread)::

    client = FarmClient("10.0.0.5:6379")       # or "ray://host:10001", or "auto"
    client.connect()                           # imports ray, joins the cluster
    job, files = farm_job("job-7", request, model_set="tiny")
    client.send_inputs(files)                  # only what the cluster's cache lacks
    ref = client.submit(job)
    client.progress()                          # {key: {"step", "total", "attempts", ...}}
    client.finished([ref])                     # refs whose task ended
    result = client.result(ref, job.key)       # FarmResult: done / failed / cancelled

Errors of the cluster itself (address unreachable, the task lost more often than Ray retries
it) come back as sentences: :class:`FarmError` from ``connect``, a ``"failed"`` result with
``error_kind="farm"`` from ``result``.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from engine.api import EngineError
from idlora_studio.workers.farm import INPUT_CACHE_NAME, NAMESPACE
from idlora_studio.workers.farm.jobs import FarmJob, FarmResult


class FarmError(EngineError):
    """The render farm cannot be used (not reachable, ray missing, ...): a sentence."""


def ray_available() -> bool:
    """Whether ``ray`` is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


class FarmClient:
    """Connection to one Ray cluster (see the module docstring)."""

    def __init__(self, address: str, *, session: str | None = None) -> None:
        self.address = address.strip()
        self.session = session or uuid.uuid4().hex[:12]
        self._ray: Any = None
        self._cluster: Any = None
        self._cache: Any = None
        self._board: Any = None
        self._owns_ray = False

    @property
    def connected(self) -> bool:
        return self._board is not None

    def connect(self) -> None:
        """Join the cluster at ``address`` (reusing this process's Ray connection if there is
        one) and find or start the input cache. Raises :class:`FarmError` with a sentence."""
        if self.connected:
            return
        if not self.address:
            raise FarmError("no render farm address is set (Settings > Render farm)")
        if not ray_available():
            raise FarmError(
                "the render farm needs Ray: install it with "
                "'pip install \"idlora-studio[farm]\"' (ray 2.60.0)"
            )
        import ray

        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    namespace=NAMESPACE,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except Exception as exc:  # noqa: BLE001 - one sentence for the user
                raise FarmError(
                    f"the render farm at {self.address} cannot be reached ({exc})"
                ) from exc
            self._owns_ray = True
        from idlora_studio.workers.farm import cluster

        self._cluster = cluster
        self._cache = cluster.InputCache.options(
            name=INPUT_CACHE_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote()
        self._board = cluster.ProgressBoard.options(
            name=f"idlora-board-{self.session}", namespace=NAMESPACE
        ).remote()

    def describe(self) -> str:
        """The cluster in words: nodes, GPUs, CPUs."""
        ray = self._ray
        res = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return (
            f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, "
            f"{int(res.get('GPU', 0))} GPUs, {int(res.get('CPU', 0))} CPUs"
        )

    def gpu_count(self) -> int:
        return int(self._ray.cluster_resources().get("GPU", 0))

    # ------------------------------------------------------------------ jobs
    def send_inputs(self, files: dict[str, Path]) -> int:
        """Send the files (sha -> path) the cluster's cache does not hold; returns how many
        were sent. Each is read and hashed again here, so a file changed since it was named
        is refused instead of stored under the wrong hash."""
        ray = self._ray
        missing = ray.get(self._cache.missing.remote(list(files)))
        for sha in missing:
            ray.get(self._cache.put.remote(sha, Path(files[sha]).read_bytes()))
        return len(missing)

    def cache_stats(self) -> dict[str, int]:
        return self._ray.get(self._cache.stats.remote())

    def submit(self, job: FarmJob) -> Any:
        """Queue ``job`` on the cluster; returns its object ref."""
        return self._cluster.render_job.options(
            num_gpus=job.gpus, name=f"idlora-take-{job.key}"
        ).remote(job, self._cache, self._board)

    def progress(self) -> dict[str, dict[str, Any]]:
        """Every job's latest report: attempts, pid, node, step, total, eta, preview."""
        return self._ray.get(self._board.snapshot.remote())

    def finished(self, refs: list[Any]) -> list[Any]:
        """The refs among ``refs`` whose task has ended (without waiting)."""
        if not refs:
            return []
        done, _rest = self._ray.wait(list(refs), num_returns=len(refs), timeout=0)
        return done

    def result(self, ref: Any, key: str) -> FarmResult:
        """The ended task's result; cluster failures become a ``"failed"`` result."""
        ray = self._ray
        try:
            result = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            result = FarmResult(key, "cancelled")
        except ray.exceptions.RayError as exc:
            result = FarmResult(
                key,
                "failed",
                error_kind="farm",
                message=f"the render farm lost this take more often than it retries ({exc})",
            )
        with contextlib.suppress(Exception):
            self._board.forget.remote(key)
        return result

    def cancel(self, key: str, ref: Any) -> None:
        """Cancel a job: a running task stops within a step, a waiting one never starts."""
        ray = self._ray
        ray.get(self._board.cancel.remote(key))
        if key not in self.progress():  # not started yet: drop it from Ray's queue
            with contextlib.suppress(Exception):
                ray.cancel(ref)

    def close(self) -> None:
        """Leave the cluster (the input cache stays there for the next session)."""
        if self._board is not None:
            with contextlib.suppress(Exception):
                self._ray.kill(self._board)
        self._board = None
        if self._owns_ray:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        self._owns_ray = False


__all__ = ["FarmClient", "FarmError", "ray_available"]
