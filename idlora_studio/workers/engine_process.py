"""The engine in a process of its own, so that generation never competes with the GUI thread
for Python's GIL.

Why a process: ``tools/probe_gui_latency.py`` sampled every thread's stack whenever the GUI
thread stalled over 50 ms while the worker *thread* generated in the GUI process. In every
stall the GUI thread sat idle in its event loop, waiting for the GIL, while the worker ran
Python: imports (``diffusers``, ``librosa``, ``numba`` compiling the voice scorer's kernels on
the first take), peft/diffusers building and walking the model, the denoising loop's Python,
PyAV muxing. On a loaded machine a thread holding the GIL is often descheduled by the OS while
holding it, so these stretch to hundreds of milliseconds (412 ms to 2 s measured) no matter how
often the interpreter offers a switch; only a separate interpreter removes them. A thread has
no way out: the work is Python and cannot release the GIL.

:class:`EngineProcess` is the parent's side: it starts one child (``multiprocessing``'s
*spawn*, the same on every OS; the child never imports Qt) and sends it requests over a pipe,
one at a time, from the one thread that drives it (the worker's). The child keeps one loaded
generator; per request it answers ``("ok", value)`` or ``("error", exception)``, and during a
take it streams ``("progress", ProgressInfo)``. A cancel is a shared event the child's
:class:`~engine.api.CancelToken` reads at every denoising step. :meth:`EngineProcess.load`
has the signature of a generator factory and returns a :class:`ProcessGenerator`, a handle
on the child's generator with the methods the worker calls (``generate_take``,
``model_info``, ``close``). Takes are rendered (MP4, WAV, thumbnail, recipe, voice match) in
the child too, by :func:`~idlora_studio.workers.take_files.generate_take`; only paths, the
recipe and the score come back. If the child dies (killed, out of memory), the request fails
with an :class:`~engine.api.EngineError` and the next request starts a new child.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api import CancelToken, EngineError, ProgressInfo

log = logging.getLogger(__name__)

#: how often the parent looks at the cancel token while it waits for the child
POLL_S = 0.05
#: niceness added to the child: on a busy machine the GUI process gets the CPU first (safe
#: here, unlike on a thread of the GUI process: the child holds no lock the GUI waits for)
CHILD_NICENESS = 10
LOADER = "idlora_studio.workers.engine_process:load_generator"
WARM_UP = "idlora_studio.workers.engine_process:warm_up"


class EngineProcessError(RuntimeError):
    """An unexpected error inside the engine process (a bug): its traceback is in the text."""


class EngineProcess:
    """The parent's handle on the engine process (see the module docstring). Use it from one
    thread at a time; :meth:`stop` at shutdown.

    ``loader`` and ``warm`` name (``module:function``) what the child calls to load a
    generator (``loader(model, lora, **kwargs)``) and once before its first request; tests
    name light fakes here.
    """

    def __init__(self, loader: str = LOADER, warm: str = WARM_UP) -> None:
        self._ctx = mp.get_context("spawn")
        self._entry = (loader, warm)
        self._proc: Any = None
        self._conn: Any = None
        self._cancel: Any = None
        self.incarnation = 0  # counts the children started: a handle is valid for one

    # ------------------------------------------------------------------ lifetime
    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.alive else None

    def start(self) -> None:
        """Start the child if it is not running."""
        if self.alive:
            return
        self._discard()
        parent, child = self._ctx.Pipe()
        self._cancel = self._ctx.Event()
        self._proc = self._ctx.Process(
            target=serve,
            args=(child, self._cancel, *self._entry),
            name="idlora-engine",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self.incarnation += 1

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the child to exit (it frees its model), then make sure it has."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("exit", ()))
            self._proc.join(timeout_s)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._proc = self._conn = None

    # ------------------------------------------------------------------ requests
    def warm_up(self) -> None:
        """Start the child and have it import the engine and load the voice models."""
        self.call("warm_up")

    def load(self, model: str | Path, lora: Path | None = None, **kwargs: Any) -> ProcessGenerator:
        """Load a generator in the child (a generator factory: the arguments of
        ``IDLoRAGenerator.load``); the child's previous generator is closed first."""
        info = self.call("load", model, lora, kwargs)
        return ProcessGenerator(self, self.incarnation, info)

    def call(
        self,
        op: str,
        *args: Any,
        progress: Callable[[ProgressInfo], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        """Send one request and wait for its answer; ``progress`` gets the child's progress
        (on this thread); ``cancel`` is passed on to the child within ``POLL_S``. Raises what
        the child raised, or EngineError when the child died."""
        self.start()
        self._cancel.clear()
        try:
            self._conn.send((op, args))
        except (OSError, ValueError) as exc:
            raise self._died() from exc
        failure: BaseException | None = None  # a progress callback that raised
        while True:
            if cancel is not None and cancel.cancelled:
                self._cancel.set()
            try:
                if not self._conn.poll(POLL_S):
                    if not self._proc.is_alive():
                        raise self._died()
                    continue
                kind, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise self._died() from exc
            if kind == "progress":
                if progress is not None and failure is None:
                    try:
                        progress(value)
                    except BaseException as exc:  # noqa: BLE001 - re-raised after the answer
                        failure = exc  # stop the child's work, read its answer, then raise
                        self._cancel.set()
                continue
            if failure is not None:
                raise failure
            if kind == "error":
                raise value
            return value

    def _died(self) -> EngineError:
        code = self._proc.exitcode if self._proc is not None else None
        if self._proc is not None:
            self._proc.join(1)
            code = self._proc.exitcode
        self._discard()
        how = f" (exit code {code})" if code is not None else ""
        log.warning("the engine process ended unexpectedly%s", how)
        return EngineError(
            f"The generation process stopped unexpectedly{how}; the model was unloaded. "
            "Retry the take (if it keeps happening, the machine may be short of memory)."
        )


class ProcessGenerator:
    """A generator loaded in the engine process (what :meth:`EngineProcess.load` returns)."""

    def __init__(self, engine: EngineProcess, incarnation: int, info: dict[str, Any]) -> None:
        self._engine = engine
        self._incarnation = incarnation
        self._info = dict(info)

    @property
    def usable(self) -> bool:
        """False once the child that loaded it has ended (a new one has no model)."""
        return self._engine.alive and self._engine.incarnation == self._incarnation

    def model_info(self) -> dict[str, Any]:
        return dict(self._info)

    def generate_take(
        self,
        request: Any,
        folder: Path,
        *,
        progress: Callable[[ProgressInfo], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        """Generate and render the take into ``folder`` in the child; a
        :class:`~idlora_studio.workers.take_files.RenderedTake`."""
        if not self.usable:
            raise EngineError("The model was unloaded (the generation process ended); retry.")
        take, info = self._engine.call(
            "generate_take", request, Path(folder), progress=progress, cancel=cancel
        )
        self._info = dict(info)
        return take

    def close(self) -> None:
        """Free the model in the child (the process stays, with the engine imported)."""
        if self.usable:
            self._engine.call("release")


def run_elsewhere(target: str, *args: Any, timeout_s: float = 300.0) -> Any:
    """``target(*args)`` (``module:function``) in a fresh process of its own; its result, or
    the error it raised. For a query the GUI's process must not answer itself because it
    would import torch (finding the GPUs): that import holds the GIL for seconds. Blocks the
    calling thread (never the GUI thread's): call it from a worker or a task runner."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run_once, args=(child, target, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise EngineError(f"{target} did not answer within {timeout_s:.0f} s")
        kind, value = parent.recv()
    except EOFError:
        proc.join(5)
        raise EngineError(f"{target} ended without answering (exit code {proc.exitcode})") from None
    finally:
        parent.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    if kind == "error":
        raise value
    return value


def _run_once(conn: Any, target: str, args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        reply: tuple[str, Any] = ("ok", _named(target)(*args))
    except BaseException as exc:  # noqa: BLE001 - sent to the caller
        reply = ("error", _portable(exc))
    conn.send(reply)
    conn.close()


# ---------------------------------------------------------------------------- the child


class _EventToken(CancelToken):
    """A cancel token that reads the parent's ``multiprocessing`` event."""

    def __init__(self, event: Any) -> None:  # noqa: D107 - no threading.Event of its own
        self._event = event


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling as itself; else an error carrying its text."""
    with contextlib.suppress(Exception):
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    if isinstance(exc, EngineError):
        return EngineError(str(exc))
    return EngineProcessError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")


def warm_up() -> None:
    """Import the engine and load the models a take uses besides the generator (the VAD and
    the speaker encoder), and give the GUI its share of the CPU."""
    import torch

    from engine.imports import import_engine_stack
    from engine.voice import similarity, vad

    import_engine_stack()  # one thread at a time (in the GUI's process the check imports too)
    from idlora_studio.workers import take_files  # noqa: F401 - PyAV, PIL, the recipe

    vad.preload()
    similarity.preload()
    if not torch.cuda.is_available():
        # CPU generation: leave one core to the GUI (more threads only contend)
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def load_generator(model: str | Path, lora: Path | None, **kwargs: Any) -> Any:
    from engine.generate import IDLoRAGenerator

    return IDLoRAGenerator.load(model, lora, **kwargs)


def _named(name: str) -> Callable[..., Any]:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def serve(conn: Any, cancel_event: Any, loader: str = LOADER, warm: str = WARM_UP) -> None:
    """The child's main loop: one request at a time until ``exit`` or the parent is gone."""
    from idlora_studio.workers.take_files import generate_take

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    token = _EventToken(cancel_event)
    generator: Any = None
    warmed = False

    def release() -> None:
        nonlocal generator
        if generator is not None:
            gen, generator = generator, None
            with contextlib.suppress(Exception):
                gen.close()

    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            break  # the parent has gone
        if op == "exit":
            break
        try:
            if not warmed:
                _named(warm)()
                warmed = True
            if op == "warm_up":
                value: Any = None
            elif op == "load":
                release()
                model, lora, kwargs = args
                generator = _named(loader)(model, lora, **kwargs)
                value = generator.model_info()
            elif op == "generate_take":
                if generator is None:
                    raise EngineError("No model is loaded in the generation process.")
                request, folder = args
                take = generate_take(
                    generator,
                    request,
                    folder,
                    progress=lambda p: conn.send(("progress", p)),
                    cancel=token,
                )
                value = (take, generator.model_info())
            elif op == "release":
                release()
                value = None
            else:
                raise EngineError(f"unknown request {op!r}")
            reply: tuple[str, Any] = ("ok", value)
        except BaseException as exc:  # noqa: BLE001 - every error goes back to the parent
            if not isinstance(exc, EngineError):
                log.error("engine process: %s failed\n%s", op, traceback.format_exc())
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            break
    release()
