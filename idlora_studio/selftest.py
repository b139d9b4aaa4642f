"""Check this machine: GPU, disk, versions, memory profile, and one whole tiny generation.

Qt-free. :func:`run_self_test` runs every check in order and returns a :class:`SelfTestReport`
(frozen, JSON-able). The generation check builds the built-in tiny LTX-2 stack (random weights,
no download) under the models folder, generates 64x64, 9 frames, 2 steps from a generated image
and a generated tone, writes an MP4 (H.264 + AAC) to a temporary folder and probes it back, so
a pass proves that torch, diffusers, the pipeline, the audio front end and the encoder all work.
The pipelines check then runs the other presets on the tiny stacks with their tiny ID-LoRA,
distilled LoRA and spatial upsampler: two-stage and fast on LTX-2, HQ (res2s) on LTX-2.3, and
checks each take's size (the 2x pipelines double it).

A check *fails* only when something would stop the Studio from working (an import error, a broken
generation, almost no free disk). A check passes *with a warning* when the Studio works but not
as a creator would expect: "no CUDA GPU: generation will be very slow" (it runs on the CPU), a
GPU with less free memory than the lightest profile needs. Nothing is reported as fine that is
not there: without a GPU the memory-profile line says CPU, not a GPU profile.

:func:`model_set_fit` tells, per model set, whether this machine can run it (GPU memory and
free disk), for the first-start panel.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Below this much free disk in the data or models folder the disk check fails.
MIN_FREE_BYTES = 1_000_000_000
#: The tiny generation the self-test runs.
TEST_SIZE = 64
TEST_FRAMES = 9
TEST_STEPS = 2

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. ``detail`` is a user-facing sentence; ``data`` holds the numbers.

    ``ok`` False: a failure. ``warning`` True (with ``ok``): works, but not as expected."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    warning: bool = False

    @property
    def mark(self) -> str:
        return "✗" if not self.ok else "⚠" if self.warning else "✓"


@dataclass(frozen=True)
class SelfTestReport:
    """Every check, in the order it ran."""

    checks: tuple[CheckResult, ...]
    total_s: float

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.ok and c.warning]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "warnings": len(self.warnings),
            "total_s": round(self.total_s, 3),
            "checks": [asdict(c) for c in self.checks],
        }

    def verdict(self) -> str:
        if not self.passed:
            return "Some checks FAILED (see ✗)."
        n = len(self.warnings)
        if n:
            return f"All checks passed, with {n} warning{'s' if n > 1 else ''} (see ⚠)."
        return "All checks passed."

    def text(self) -> str:
        """The report as lines a person reads (``✓``/``⚠``/``✗`` per check)."""
        lines = []
        for c in self.checks:
            secs = f"  ({c.seconds:.1f} s)" if c.seconds >= 0.05 else ""
            lines.append(f"{c.mark} {c.name}: {c.detail}{secs}")
        lines.append(f"{self.verdict()} Total {self.total_s:.1f} s.")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- checks


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _check_versions() -> CheckResult:
    data: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    problems = []
    try:
        from engine.imports import import_engine_stack

        import_engine_stack()  # not while another thread imports it (a false "cannot import")
    except Exception:  # noqa: BLE001, S110 - each module's own import below says what failed
        pass
    for mod in ("torch", "diffusers", "transformers", "av", "numpy"):
        try:
            module = __import__(mod)
            data[mod] = str(getattr(module, "__version__", "?"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            data[mod] = None
            problems.append(f"{mod} cannot be imported ({type(exc).__name__}: {exc})")
    shown = ", ".join(f"{k} {v}" for k, v in data.items() if k != "platform" and v)
    if problems:
        return CheckResult("Software", False, "; ".join(problems), data=data)
    return CheckResult("Software", True, shown, data=data)


def _check_gpu() -> tuple[CheckResult, Any]:
    from engine.memory import GIB, gpu_info

    try:
        info = gpu_info()
    except Exception as exc:  # noqa: BLE001
        return CheckResult("GPU", False, f"the GPU could not be queried: {exc}"), None
    if info is None:
        return (
            CheckResult(
                "GPU",
                True,
                "no CUDA GPU: generation will be very slow (it runs on the CPU; minutes even "
                "for the tiny test model at small sizes)",
                data={"device": "cpu"},
                warning=True,
            ),
            None,
        )
    data = {
        "name": info.name,
        "total_bytes": info.total_bytes,
        "free_bytes": info.free_bytes,
        "capability": list(info.capability),
    }
    detail = (
        f"{info.name}: {info.total_bytes / GIB:.1f} GiB VRAM, {info.free_bytes / GIB:.1f} GiB "
        f"free (compute {info.capability[0]}.{info.capability[1]})"
    )
    return CheckResult("GPU", True, detail, data=data), info


def _check_disk(paths: Any, models_dir: Path) -> CheckResult:
    from engine.fsutil import free_bytes

    folders = {"data": Path(paths.data_dir), "models": Path(models_dir)}
    data: dict[str, Any] = {}
    parts, low = [], []
    for label, folder in folders.items():
        free = free_bytes(folder)
        data[label] = {"path": str(folder), "free_bytes": free}
        parts.append(f"{label} {_gb(free)} free ({folder})")
        if free < MIN_FREE_BYTES:
            low.append(f"only {_gb(free)} free for {label} in {folder}")
    if low:
        return CheckResult("Disk", False, "; ".join(low) + ": free some space", data=data)
    return CheckResult("Disk", True, "; ".join(parts), data=data)


def _check_profile(gpu: Any) -> CheckResult:
    from engine.memory import PROFILES, choose_profile, expected_vram_gib

    if gpu is None:
        return CheckResult(
            "Memory profile",
            True,
            "CPU: no GPU memory profile applies; every component runs in system memory",
            data={"profile": None, "device": "cpu"},
        )
    name = choose_profile(gpu.free_bytes, "ltx2")
    need = expected_vram_gib(name, "ltx2")
    title = PROFILES[name].title
    detail = f"{title} ({name}) for LTX-2 at 512x512, 121 frames: about {need:.0f} GiB"
    short = need + 1.0 > gpu.free_bytes / 2**30
    if short:
        detail += " (may not fit: even the lightest profile needs more than is free)"
    return CheckResult(
        "Memory profile",
        True,
        detail,
        data={"profile": name, "gib": need, "device": "cuda"},
        warning=short,
    )


def _test_inputs(folder: Path) -> tuple[Path, Path]:
    """A 64x64 gradient face-less image and a 3 s voiced tone (harmonics, vibrato)."""
    import numpy as np
    from PIL import Image

    from engine.media.audio import write_wav

    y, x = np.mgrid[0:TEST_SIZE, 0:TEST_SIZE]
    rgb = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    image = folder / "selftest.png"
    Image.fromarray(rgb).save(image)
    sr = 16000
    t = np.arange(3 * sr) / sr
    f0 = 150 + 10 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wave = sum(0.3 / k * np.sin(k * phase) for k in (1, 2, 3))
    voice = folder / "selftest.wav"
    write_wav(voice, np.asarray(wave, dtype=np.float32)[None], sr)
    return image, voice


def _check_generation(models_dir: Path, device: str | None) -> CheckResult:
    from engine.api import GenerationRequest, PromptParts
    from engine.generate import IDLoRAGenerator
    from engine.media.video import probe_media, write_mp4

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="idlora-selftest-") as tmp:
        folder = Path(tmp)
        image, voice = _test_inputs(folder)
        t = time.perf_counter()
        gen = IDLoRAGenerator.load("tiny", device=device, cache_dir=models_dir)
        timings["load_s"] = time.perf_counter() - t
        try:
            request = GenerationRequest(
                parts=PromptParts(
                    visual="A person looks into the camera.",
                    speech="This is the ID-LoRA Studio self-test.",
                    sounds="A quiet room.",
                ),
                image=image,
                voice=voice,
                width=TEST_SIZE,
                height=TEST_SIZE,
                num_frames=TEST_FRAMES,
                steps=TEST_STEPS,
                seed=1234,
            )
            t = time.perf_counter()
            result = gen.generate(request)
            timings["generate_s"] = time.perf_counter() - t
            info = gen.model_info()
        finally:
            gen.close()
        out = folder / "selftest.mp4"
        t = time.perf_counter()
        write_mp4(out, result.frames, result.fps, result.audio, result.sample_rate)
        timings["encode_s"] = time.perf_counter() - t
        media = probe_media(out)
        size = out.stat().st_size
    total = time.perf_counter() - t0
    data = {
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "engine_timings": {k: round(v, 3) for k, v in result.timings.items()},
        "width": media.width,
        "height": media.height,
        "num_frames": media.num_frames,
        "video_codec": media.video_codec,
        "audio_codec": media.audio_codec,
        "mp4_bytes": size,
        "device": info.get("device"),
    }
    expected = (TEST_SIZE, TEST_SIZE, TEST_FRAMES)
    got = (media.width, media.height, media.num_frames)
    if got != expected or media.audio_codec is None:
        return CheckResult(
            "Tiny generation",
            False,
            f"the written MP4 is wrong: {got[0]}x{got[1]}, {got[2]} frames, audio "
            f"{media.audio_codec or 'missing'} (expected {expected[0]}x{expected[1]}, "
            f"{expected[2]} frames with audio)",
            total,
            data,
        )
    detail = (
        f"{TEST_SIZE}x{TEST_SIZE}, {TEST_FRAMES} frames, {TEST_STEPS} steps on "
        f"{info.get('device')}: load {timings['load_s']:.1f} s, generate "
        f"{timings['generate_s']:.2f} s, encode {timings['encode_s']:.2f} s; MP4 "
        f"{media.video_codec} + {media.audio_codec} probed OK"
    )
    return CheckResult("Tiny generation", True, detail, total, data)


#: (pipeline, tiny model, stage-1 steps or None for the preset's fixed schedule)
PIPELINE_RUNS = (("two-stage", "tiny", 1), ("fast", "tiny", None), ("hq", "tiny-ltx2.3", 1))


def _check_pipelines(models_dir: Path, device: str | None) -> CheckResult:
    from engine.api import GenerationRequest
    from engine.generate import TINY_MODELS, IDLoRAGenerator
    from engine.models.tiny import ensure_tiny_model, tiny_parts
    from engine.pipeline.presets import get_preset

    data: dict[str, Any] = {}
    problems: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="idlora-selftest-") as tmp:
        image, voice = _test_inputs(Path(tmp))
        generators: dict[str, Any] = {}
        try:
            for pipeline, model, steps in PIPELINE_RUNS:
                if model not in generators:
                    idlora = tiny_parts(ensure_tiny_model(models_dir, TINY_MODELS[model]))
                    generators[model] = IDLoRAGenerator.load(
                        model, idlora["id_lora"], device=device, cache_dir=models_dir
                    )
                t = time.perf_counter()
                result = generators[model].generate(
                    GenerationRequest(
                        prompt="[VISUAL]: A person looks into the camera. [SPEECH]: Test.",
                        image=image,
                        voice=voice,
                        width=TEST_SIZE,
                        height=TEST_SIZE,
                        num_frames=TEST_FRAMES,
                        steps=steps,
                        pipeline=pipeline,
                        seed=1234,
                    )
                )
                side = TEST_SIZE * get_preset(pipeline).upscale
                got = tuple(result.frames.shape[:3])
                data[pipeline] = {
                    "seconds": round(time.perf_counter() - t, 3),
                    "frames": list(got),
                    "stages": [
                        {k: st[k] for k in ("sampler", "steps", "width", "loras")}
                        for st in result.effective["stages"]
                    ],
                }
                if got != (TEST_FRAMES, side, side):
                    problems.append(f"{pipeline} made {got}, expected {(TEST_FRAMES, side, side)}")
        finally:
            for gen in generators.values():
                gen.close()
    total = time.perf_counter() - t0
    if problems:
        return CheckResult("Pipelines", False, "; ".join(problems), total, data)
    detail = ", ".join(f"{name} {data[name]['seconds']:.1f} s" for name, _, _ in PIPELINE_RUNS)
    return CheckResult(
        "Pipelines",
        True,
        f"{detail} on the tiny stacks (two-stage and HQ at 2x: "
        f"{2 * TEST_SIZE}x{2 * TEST_SIZE}); ID-LoRA, distilled LoRA and upsampler load",
        total,
        data,
    )


# ----------------------------------------------------------------------------- runner


def run_self_test(
    paths: Any,
    progress: ProgressFn | None = None,
    *,
    models_dir: Path | None = None,
    device: str | None = None,
    generation: bool = True,
) -> SelfTestReport:
    """Run every check and return the report. Never raises for a failed check.

    ``paths``: the Studio's :class:`~idlora_studio.paths.Paths` (data and models folders).
    ``progress(name, index, count)`` is called before each check (any thread; the caller
    forwards it). ``device``: force "cpu"/"cuda" for the generation (default: CUDA if present).
    """
    models_dir = Path(models_dir or paths.models_dir)
    steps: list[tuple[str, Callable[[], CheckResult]]] = []
    gpu_holder: list[Any] = [None]

    def gpu() -> CheckResult:
        result, gpu_holder[0] = _check_gpu()
        return result

    steps.append(("Software", _check_versions))
    steps.append(("GPU", gpu))
    steps.append(("Disk", lambda: _check_disk(paths, models_dir)))
    steps.append(("Memory profile", lambda: _check_profile(gpu_holder[0])))
    if generation:
        steps.append(("Tiny generation", lambda: _check_generation(models_dir, device)))
        steps.append(("Pipelines", lambda: _check_pipelines(models_dir, device)))

    results: list[CheckResult] = []
    t_all = time.perf_counter()
    for i, (name, fn) in enumerate(steps):
        if progress is not None:
            progress(name, i, len(steps))
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as exc:  # noqa: BLE001 - a failed check is a report line
            tb = traceback.format_exc(limit=3)
            res = CheckResult(name, False, f"{type(exc).__name__}: {exc}", data={"traceback": tb})
        if res.seconds == 0.0:
            res = dataclasses.replace(res, seconds=time.perf_counter() - t)
        results.append(res)
    if progress is not None:
        progress("done", len(steps), len(steps))
    return SelfTestReport(tuple(results), time.perf_counter() - t_all)


# ----------------------------------------------------------------------------- model sets


@dataclass(frozen=True)
class SetFit:
    """Whether this machine can run a model set: ``level`` "ok" | "warn" | "no"."""

    set_id: str
    level: str
    detail: str


def model_set_fit(model_set: Any, gpu: Any, free_disk: int, installed: bool = False) -> SetFit:
    """Can ``model_set`` run here? ``gpu``: :func:`engine.memory.gpu_info`'s answer (None: no
    CUDA GPU); ``free_disk``: free bytes in the models folder."""
    from engine.memory import GIB, PROFILE_ORDER, PROFILES

    needs = dict(getattr(model_set, "vram_needs", {}) or {})
    lines: list[str] = []
    level = "ok"
    if getattr(model_set, "builtin", False) or not needs:
        lines.append("Runs anywhere (the built-in tiny test model, for checking the install).")
    elif gpu is None:
        level = "warn"
        lines.append("No CUDA GPU: it would run on the CPU, far too slowly for real use.")
    else:
        free_gib = gpu.free_bytes / GIB
        fitting = [n for n in PROFILE_ORDER if n in needs and needs[n] + 1.0 <= free_gib]
        if fitting:
            best = fitting[0]
            lines.append(
                f"Fits this GPU ({free_gib:.0f} GiB free) with {PROFILES[best].title} "
                f"(about {needs[best]:.0f} GiB)."
            )
        else:
            level = "no"
            lightest = min(needs.values())
            lines.append(
                f"Needs at least {lightest:.0f} GiB of GPU memory; this GPU has "
                f"{free_gib:.0f} GiB free."
            )
    required = int(getattr(model_set, "required_bytes", 0) or 0)
    if not installed and required > free_disk:
        level = "no"
        lines.append(f"Not enough free disk: {_gb(required)} to download, {_gb(free_disk)} free.")
    elif not installed and required:
        lines.append(f"Download {_gb(required)} ({_gb(free_disk)} free).")
    return SetFit(model_set.id, level, " ".join(lines))
