"""What runs on the Ray cluster: the input cache, the progress board and the take task.

Imported only by :class:`~idlora_studio.workers.farm.client.FarmClient` once it connects (and by
Ray on the nodes); it imports ``ray`` at the top.

* :class:`InputCache` -- a detached, named actor (one per cluster, namespace ``idlora-studio``)
  that keeps inputs by SHA-256 (least recently used dropped past ``max_bytes``). A client sends
  only what the cache does not have; a task copies what it needs to its node's disk once
  (``<farm home>/inputs/<sha256><suffix>``, checked against the hash, written atomically).
* :class:`ProgressBoard` -- one per client session: each task writes its attempt, step and a
  small preview there and reads its cancel flag back in the same call, once per step.
* :func:`render_job` -- one take: inputs, generator (one GPU, or a GPU group through
  ``engine.distributed.group.GroupGenerator``), ``generate``, then
  :func:`idlora_studio.workers.take_files.render_take` (the same MP4/WAV/JPEG/recipe/score
  as a local take), returned as bytes. Ray runs it again elsewhere when its worker process is
  lost (``max_retries``); an error of the take itself is returned as a ``"failed"`` result, not
  retried. It holds the GPU(s) for the take only (Ray's default for GPU tasks: a fresh worker
  process per take, so GPU memory is always given back).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import ray

from idlora_studio.workers.farm import MAX_RETRIES
from idlora_studio.workers.farm.jobs import FarmJob, FarmResult, InputRef

CACHE_MAX_BYTES = 4 << 30


def farm_home() -> Path:
    """The node's farm folder: ``$IDLORA_FARM_HOME``, else beside the engine's model cache."""
    env = os.environ.get("IDLORA_FARM_HOME")
    if env:
        return Path(env)
    from engine.generate import default_cache_dir

    return default_cache_dir().parent / "farm"


def node_models_dir() -> Path:
    """Where the node keeps model sets: ``$IDLORA_FARM_MODELS``, else the engine's cache."""
    env = os.environ.get("IDLORA_FARM_MODELS")
    if env:
        return Path(env)
    from engine.generate import default_cache_dir

    return default_cache_dir()


@ray.remote(num_cpus=0)
class InputCache:
    """Inputs by content hash, for every client of the cluster (see the module docstring)."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._max = int(max_bytes)
        self.puts = 0

    def missing(self, shas: list[str]) -> list[str]:
        return [s for s in shas if s not in self._data]

    def put(self, sha: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha:
            raise ValueError(f"input {sha[:12]}… arrived damaged (its hash differs)")
        if sha in self._data:
            self._data.move_to_end(sha)
            return
        self._data[sha] = data
        self._size += len(data)
        self.puts += 1
        while self._size > self._max and len(self._data) > 1:
            _old, dropped = self._data.popitem(last=False)
            self._size -= len(dropped)

    def get(self, sha: str) -> bytes | None:
        data = self._data.get(sha)
        if data is not None:
            self._data.move_to_end(sha)
        return data

    def stats(self) -> dict[str, int]:
        return {"files": len(self._data), "bytes": self._size, "puts": self.puts}


@ray.remote(num_cpus=0)
class ProgressBoard:
    """Progress, attempts and cancel flags of one client's jobs."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._cancelled: set[str] = set()

    def started(self, key: str, pid: int, node: str) -> int:
        entry = self._jobs.setdefault(key, {"attempts": 0, "pids": []})
        entry.update(attempts=entry["attempts"] + 1, pid=pid, node=node, step=0, total=0)
        entry["pids"].append(pid)
        entry["eta"], entry["preview"] = None, None
        return int(entry["attempts"])

    def report(
        self,
        key: str,
        step: int,
        total: int,
        eta: float | None,
        preview: Any,
        stage: str = "denoise",
    ) -> bool:
        entry = self._jobs.setdefault(key, {"attempts": 1, "pids": []})
        entry.update(step=int(step), total=int(total), eta=eta, stage=stage, t=time.time())
        if preview is not None:
            entry["preview"] = preview
        return key in self._cancelled

    def cancel(self, key: str) -> None:
        self._cancelled.add(key)

    def is_cancelled(self, key: str) -> bool:
        return key in self._cancelled

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._jobs.items()}

    def forget(self, key: str) -> None:
        self._jobs.pop(key, None)
        self._cancelled.discard(key)


def _fetch_inputs(job: FarmJob, cache: Any) -> dict[str, Path]:
    """Every input of ``job`` on this node's disk (sha -> path), fetched from the cache once."""
    from engine.api import EngineError

    folder = farm_home() / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    refs: list[InputRef] = list(job.inputs.values()) + ([job.lora] if job.lora else [])
    paths: dict[str, Path] = {}
    for ref in refs:
        target = folder / ref.file_name
        if not target.is_file():
            data = ray.get(cache.get.remote(ref.sha256))
            if data is None:
                raise EngineError(
                    f"the input {ref.name} is no longer in the cluster's input cache; queue "
                    "the take again to send it"
                )
            if hashlib.sha256(data).hexdigest() != ref.sha256:
                raise EngineError(f"the input {ref.name} arrived damaged on the cluster")
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".in-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        paths[ref.sha256] = target
    return paths


def _load_generator(job: FarmJob, files: dict[str, Path], pipeline: str) -> Any:
    """The generator for the job, from what this node has: the tiny models, or a model set
    downloaded into :func:`node_models_dir` (resolved as the Studio resolves it locally)."""
    from engine.api import ModelNotFoundError
    from engine.models.local_sources import resolve_model

    lora = files[job.lora.sha256] if job.lora else None
    models = node_models_dir()
    resolved = resolve_model(job.model_set, models, lora)
    missing = resolved.missing_for(pipeline)
    if missing:
        raise ModelNotFoundError(
            f"the {pipeline} pipeline needs {' and '.join(missing)}, which the cluster node "
            f"{socket.gethostname()} does not have in {models}",
            tuple(missing),
        )
    parts = resolved.loader_kwargs(pipeline)
    if job.mode in ("passes", "sequence") and job.gpus > 1:
        import torch

        from engine.distributed.group import GroupGenerator

        cuda = torch.cuda.is_available()
        devices = [f"cuda:{i}" if cuda else "cpu" for i in range(job.gpus)]
        return GroupGenerator.load(
            resolved.model,
            resolved.lora,
            devices=devices,
            mode=job.mode,
            attention=job.attention,
            lora_strength=job.lora_strength,
            memory_profile=job.memory_profile,
            cache_dir=models,
            **parts,
        )
    from engine.generate import IDLoRAGenerator

    return IDLoRAGenerator.load(
        resolved.model,
        resolved.lora,
        lora_strength=job.lora_strength,
        memory_profile=job.memory_profile,
        cache_dir=models,
        **parts,
    )


def error_kind(exc: BaseException) -> str:
    """The Studio's failure kinds (as the local worker reports them)."""
    from engine.api import (
        DiskFullError,
        InvalidRequestError,
        MediaError,
        ModelNotFoundError,
        OutOfMemoryError,
    )

    for cls, kind in (
        (OutOfMemoryError, "oom"),
        (ModelNotFoundError, "missing_model"),
        (MediaError, "media"),
        (InvalidRequestError, "invalid"),
        (DiskFullError, "disk_full"),
    ):
        if isinstance(exc, cls):
            return kind
    return "other"


def make_take(job: FarmJob, cache: Any, board: Any) -> FarmResult:
    """The body of :func:`render_job` (see the module docstring)."""
    from engine.api import Cancelled, CancelToken, EngineError
    from idlora_studio.workers.take_files import render_take

    node = socket.gethostname()
    attempt = ray.get(board.started.remote(job.key, os.getpid(), node))
    if ray.get(board.is_cancelled.remote(job.key)):
        return FarmResult(job.key, "cancelled", attempt=attempt, node=node)
    generator = None
    try:
        files = _fetch_inputs(job, cache)
        request = job.request_with({role: files[ref.sha256] for role, ref in job.inputs.items()})
        generator = _load_generator(job, files, request.pipeline)
        token = CancelToken()

        def progress(p: Any) -> None:
            stage = getattr(p, "stage", "denoise")
            if ray.get(board.report.remote(job.key, p.step, p.total, p.eta_s, p.preview, stage)):
                token.cancel()

        result = generator.generate(request, progress=progress, cancel=token)
        info = generator.model_info()
        info["farm_node"] = node
        with tempfile.TemporaryDirectory(prefix="idlora-take-") as tmp:
            take = render_take(request, result, info, Path(tmp))
            return FarmResult(
                job.key,
                "done",
                video=take.video.read_bytes(),
                audio=take.audio.read_bytes(),
                thumbnail=take.thumbnail.read_bytes(),
                recipe=take.recipe,
                voice_match=take.voice_match,
                voice_match_model=take.voice_match_model,
                model_info=info,
                attempt=attempt,
                node=node,
            )
    except Cancelled:
        return FarmResult(job.key, "cancelled", attempt=attempt, node=node)
    except EngineError as exc:
        return FarmResult(
            job.key,
            "failed",
            error_kind=error_kind(exc),
            message=str(exc),
            attempt=attempt,
            node=node,
        )
    finally:
        if generator is not None:
            with contextlib.suppress(Exception):
                generator.close()


@ray.remote(num_gpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)
def render_job(job: FarmJob, cache: Any, board: Any) -> FarmResult:
    """One take on the cluster (``.options(num_gpus=job.gpus)`` for a GPU group)."""
    return make_take(job, cache, board)
