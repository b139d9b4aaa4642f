"""``GroupGenerator``: one take on several GPUs, one process per GPU, in lockstep.

The caller's process (the Studio's worker thread, the CLI) never joins the process group: it
spawns one process per device (``torch.multiprocessing``, spawn), each joins the group (NCCL on
CUDA, gloo on the CPU), loads the same model and installs the parallel mode's pass executor:

* ``"passes"``: :class:`engine.distributed.passes.PassParallelExecutor`;
* ``"sequence"``: :class:`engine.distributed.sequence.SequenceParallel` on the transformer and
  its :class:`~engine.distributed.sequence.SequenceParallelExecutor`.

``generate`` sends the request to every rank; every rank runs ``IDLoRAGenerator.generate`` on it
(same seed, same noise; the executors also broadcast rank 0's denoising state), rank 0 reports
progress and returns the result. Cancel is agreed: every rank's cancel check is an
``all_reduce(MAX)`` of rank 0's flag, so all ranks stop at the same step (a rank that stopped
alone would leave the others waiting in a collective). A rank that dies, or an error in one
rank only, ends the whole group (it is started again on the next take) and the take fails with
a sentence; nothing half-made is returned.

``GroupGenerator`` answers like ``engine.generate.IDLoRAGenerator`` (``generate``,
``model_info``, ``close``), so the Studio's worker and the CLI use it unchanged.
"""

from __future__ import annotations

import contextlib
import pickle
import queue as queue_mod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    InvalidRequestError,
    ProgressInfo,
)

GROUP_MODES = ("passes", "sequence")
READY_TIMEOUT_S = 900.0  # loading a 19B model on every rank can take minutes
STOP_TIMEOUT_S = 20.0
ERROR_GRACE_S = 15.0  # after one rank failed, how long the others get to end too


@dataclass(frozen=True)
class GroupSpec:
    """What every rank loads and how the group works."""

    model: str
    lora: str | None
    devices: tuple[str, ...]
    mode: str = "passes"
    attention: str = "ulysses"
    lora_strength: float = 1.0
    memory_profile: str = "resident_bf16"
    dtype: str | None = None
    cache_dir: str | None = None
    inner_executor: str | None = None  # None: the engine's default
    #: further ``IDLoRAGenerator.load`` parts as paths (base, upsampler, distilled_lora)
    parts: dict[str, str] = field(default_factory=dict)


class AgreedCancel(CancelToken):
    """A cancel token whose check is a collective: all ranks raise ``Cancelled`` at the same
    check when rank 0's flag (``event``) is set."""

    def __init__(self, ctx: Any, event: Any | None) -> None:
        super().__init__()
        self._ctx = ctx
        self._remote = event

    def raise_if_cancelled(self) -> None:
        import torch
        import torch.distributed as dist

        local = (
            1.0 if (self.cancelled or (self._remote is not None and self._remote.is_set())) else 0.0
        )
        flag = torch.tensor([local], device=self._ctx.device)
        if self._ctx.world_size > 1:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if float(flag.item()) > 0:
            raise Cancelled("generation cancelled")


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an ``EngineError`` with its sentence."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if isinstance(back, BaseException):
            return back
    except Exception:  # noqa: BLE001 - replaced below
        pass
    if isinstance(exc, EngineError):
        return EngineError(str(exc))
    return EngineError(f"{type(exc).__name__}: {exc}")


def _install_mode(generator: Any, ctx: Any, spec: GroupSpec) -> None:
    from engine.distributed.passes import PassParallelExecutor, default_inner_executor

    if spec.inner_executor == "sequential":
        inner = default_inner_executor(name="sequential")
    else:  # the fast executor with the memory profile's options, as one GPU runs it
        inner = default_inner_executor(**getattr(generator.pipe, "executor_options", {}))
    if spec.mode == "passes":
        generator.pass_executor = PassParallelExecutor(ctx, inner)
    elif spec.mode == "sequence":
        from engine.distributed.sequence import SequenceParallel, SequenceParallelExecutor

        sp = SequenceParallel(generator.pipe.transformer, ctx, spec.attention)
        generator.pass_executor = SequenceParallelExecutor(sp)
    else:
        raise InvalidRequestError(f"unknown group mode {spec.mode!r}")


def _rank_main(
    rank: int,
    spec: GroupSpec,
    init_method: str,
    commands: Any,
    results: Any,
    cancel_event: Any,
) -> None:
    """One rank's process: join the group, load, then run requests until told to stop."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ctx = None
    try:
        from engine.distributed.context import init_group
        from engine.generate import IDLoRAGenerator

        device = spec.devices[rank]
        ctx = init_group(rank, len(spec.devices), device, init_method)
        generator = IDLoRAGenerator.load(
            spec.model,
            Path(spec.lora) if spec.lora else None,
            lora_strength=spec.lora_strength,
            device=device,
            dtype=spec.dtype,
            memory_profile=spec.memory_profile,
            cache_dir=Path(spec.cache_dir) if spec.cache_dir else None,
            **{k: Path(v) for k, v in spec.parts.items()},
        )
        _install_mode(generator, ctx, spec)
        info = generator.model_info()
        info["parallel"] = {
            "mode": spec.mode,
            "world_size": len(spec.devices),
            "devices": list(spec.devices),
            "backend": ctx.backend,
            **({"attention": spec.attention} if spec.mode == "sequence" else {}),
        }
        results.put(("ready", rank, info if rank == 0 else None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(("failed", rank, _portable(exc)))
        return
    while True:
        cmd = commands.get()
        if cmd[0] == "stop":
            break
        request = cmd[1]
        token = AgreedCancel(ctx, cancel_event if rank == 0 else None)

        def progress(p: ProgressInfo) -> None:
            results.put(("progress", rank, p))

        try:
            result = generator.generate(
                request, progress=progress if rank == 0 else None, cancel=token
            )
            if rank == 0:
                results.put(("result", rank, result))
            results.put(("ended", rank, None))
        except BaseException as exc:  # noqa: BLE001 - reported; the parent decides
            results.put(("ended", rank, _portable(exc)))
    with contextlib.suppress(Exception):
        generator.close()
    from engine.distributed.context import destroy

    with contextlib.suppress(Exception):
        destroy()


class GroupGenerator:
    """Several processes, one per device, generating each take together (see module doc)."""

    def __init__(self, spec: GroupSpec) -> None:
        self.spec = spec
        self._procs: list[Any] = []
        self._commands: list[Any] = []
        self._results: Any = None
        self._cancel: Any = None
        self._info: dict[str, Any] = {}
        self._closed = False
        self.dead_rank: int | None = None  # the rank whose process died, if one did

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def load(
        cls,
        model: str | Path,
        lora: Path | None = None,
        *,
        devices: list[str],
        mode: str = "passes",
        attention: str = "ulysses",
        lora_strength: float = 1.0,
        memory_profile: str = "auto",
        dtype: str | None = None,
        cache_dir: Path | None = None,
        inner_executor: str | None = None,
        **parts: Any,
    ) -> GroupGenerator:
        """Start one process per entry of ``devices`` (e.g. ``["cuda:0", "cuda:1"]``) and load
        the model on each. ``parts``: what ``IDLoRAGenerator.load`` takes besides (``base``,
        ``upsampler``, ``distilled_lora``). Raises the first rank's load error."""
        if mode not in GROUP_MODES:
            raise InvalidRequestError(
                f"parallel mode {mode!r} is not one of {', '.join(GROUP_MODES)}"
            )
        if not devices:
            raise InvalidRequestError("a GPU group needs at least one device")
        name = str(model)
        from engine.generate import TINY_MODELS, default_cache_dir

        if name in TINY_MODELS:  # build it once here, not in every rank at the same time
            from engine.models.tiny import ensure_tiny_model

            ensure_tiny_model(cache_dir or default_cache_dir(), TINY_MODELS[name])
        profile = memory_profile
        if profile == "auto":
            profile = "resident_bf16"  # each rank holds the whole transformer (see strategy)
        spec = GroupSpec(
            model=name,
            lora=str(lora) if lora else None,
            devices=tuple(devices),
            mode=mode,
            attention=attention,
            lora_strength=float(lora_strength),
            memory_profile=profile,
            dtype=dtype,
            cache_dir=str(cache_dir) if cache_dir else None,
            inner_executor=inner_executor,
            parts={k: str(v) for k, v in parts.items() if v is not None},
        )
        group = cls(spec)
        group.start()
        return group

    def start(self) -> None:
        import torch.multiprocessing as mp

        from engine.distributed.context import free_port

        mpctx = mp.get_context("spawn")
        self._results = mpctx.Queue()
        self._cancel = mpctx.Event()
        self._commands = [mpctx.Queue() for _ in self.spec.devices]
        init = f"tcp://127.0.0.1:{free_port()}"
        for rank in range(len(self.spec.devices)):
            p = mpctx.Process(
                target=_rank_main,
                args=(rank, self.spec, init, self._commands[rank], self._results, self._cancel),
                daemon=True,
                name=f"idlora-rank{rank}",
            )
            p.start()
            self._procs.append(p)
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(ready) < len(self._procs):
            msg = self._next(deadline, "loading the model")
            kind, rank, payload = msg
            if kind == "ready":
                ready.add(rank)
                if rank == 0:
                    self._info = payload
            elif kind == "failed":
                self.kill()
                raise payload

    def _next(self, deadline: float, doing: str) -> tuple[str, int, Any]:
        while True:
            try:
                return self._results.get(timeout=0.25)
            except queue_mod.Empty:
                pass
            dead = [i for i, p in enumerate(self._procs) if not p.is_alive()]
            if dead:
                self.dead_rank = dead[0]
                device = self.spec.devices[dead[0]]
                self.kill()
                raise EngineError(
                    f"the process of {device} (rank {dead[0]}) stopped while {doing}; "
                    "the GPU group was shut down and starts again with the next take"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise EngineError(f"the GPU group did not answer while {doing}; it was shut down")

    def kill(self) -> None:
        """Stop every rank at once (after a failure)."""
        for p in self._procs:
            if p.is_alive():
                p.kill()
        for p in self._procs:
            p.join(timeout=5)
        self._procs = []
        self._closed = True

    def close(self) -> None:
        """Ask every rank to stop, wait a little, then end whatever is left."""
        if self._closed:
            return
        self._closed = True
        for q in self._commands:
            with contextlib.suppress(Exception):
                q.put(("stop",))
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p in self._procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
        for p in self._procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        self._procs = []

    # ------------------------------------------------------------------ generator API
    @property
    def pipe(self) -> None:  # the pipeline lives in the ranks
        return None

    def model_info(self) -> dict[str, Any]:
        return dict(self._info)

    def generate(
        self,
        request: GenerationRequest,
        progress: Callable[[ProgressInfo], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> GenerationResult:
        """Run ``request`` on every rank; rank 0's result. Raises what rank 0 raised
        (``Cancelled``, ``InvalidRequestError``, ...) or an ``EngineError`` when a rank died."""
        if self._closed:
            raise EngineError("the GPU group was shut down; load it again")
        self._cancel.clear()
        for q in self._commands:
            q.put(("generate", request))
        ended: dict[int, BaseException | None] = {}
        result: GenerationResult | None = None
        world = len(self._procs)
        deadline = time.monotonic() + 24 * 3600
        while len(ended) < world:
            if cancel is not None and cancel.cancelled:
                self._cancel.set()
            try:
                kind, rank, payload = self._next(deadline, "generating")
            except EngineError:
                # a rank's process died (that is the news, whatever the others then reported),
                # or some rank failed and the others did not end in time: they were waiting for
                # it in a collective (the group was shut down by _next)
                errors = [(r, e) for r, e in sorted(ended.items()) if e is not None]
                if errors and self.dead_rank is None:
                    r, err = errors[0]
                    raise EngineError(
                        f"rank {r} ({self.spec.devices[r]}) failed during the take ({err}); the "
                        "GPU group was shut down and starts again with the next take"
                    ) from err
                raise
            if kind == "progress" and progress is not None:
                progress(payload)
            elif kind == "result":
                result = payload
            elif kind == "ended":
                ended[rank] = payload
                if payload is not None:  # the others either fail the same way or are stuck
                    deadline = min(deadline, time.monotonic() + ERROR_GRACE_S)
        errors = [e for _r, e in sorted(ended.items()) if e is not None]
        if errors:
            raise errors[0]
        if result is None:
            raise EngineError("the GPU group ended the take without a result")
        return result


__all__ = ["GROUP_MODES", "AgreedCancel", "GroupGenerator", "GroupSpec"]
