"""The self-test: the CLI passes on this machine (tiny generation included), --json is JSON,
and a failed check gives exit code 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)  # builds both tiny stacks and runs every pipeline on the CPU
def test_cli_self_test_json_passes_with_the_tiny_generation(tmp_path: Path) -> None:
    env = dict(os.environ, IDLORA_STUDIO_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-m", "idlora_studio", "self-test", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)  # stdout is JSON and nothing else
    assert report["passed"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {
        "Software",
        "GPU",
        "Disk",
        "Memory profile",
        "Tiny generation",
        "Pipelines",
    }
    # every other pipeline ran on the tiny stacks, the 2x ones at twice the size
    pipes = checks["Pipelines"]
    assert pipes["ok"], pipes["detail"]
    assert pipes["data"]["two-stage"]["frames"] == [9, 128, 128]
    assert pipes["data"]["hq"]["frames"] == [9, 128, 128]
    assert pipes["data"]["fast"]["frames"] == [9, 64, 64]
    assert [s["sampler"] for s in pipes["data"]["hq"]["stages"]] == ["res2s", "res2s"]
    assert pipes["data"]["hq"]["stages"][0]["loras"] == {"idlora": 1.0, "distilled": 0.25}
    assert pipes["data"]["fast"]["stages"][0]["steps"] == 8
    assert checks["Software"]["data"]["torch"] and checks["Software"]["data"]["diffusers"]
    gen = checks["Tiny generation"]
    assert gen["ok"] and gen["data"]["width"] == 64 and gen["data"]["height"] == 64
    assert gen["data"]["num_frames"] == 9 and gen["data"]["audio_codec"] == "aac"
    assert gen["data"]["timings"]["generate_s"] > 0 and gen["data"]["mp4_bytes"] > 1000
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA GPU: generation will be very slow" in checks["GPU"]["detail"]
        assert checks["GPU"]["ok"] and checks["GPU"]["warning"] and report["warnings"] >= 1
        assert checks["Memory profile"]["detail"].startswith("CPU")
        assert checks["Tiny generation"]["data"]["device"] == "cpu"
    assert checks["Disk"]["data"]["models"]["free_bytes"] > 0
    # The tiny model was built where the Studio keeps models.
    assert list((tmp_path / "home" / "cache" / "models").glob("tiny-ltx2-*/model_index.json"))


@pytest.mark.timeout(600)
def test_cli_text_report_and_exit_code_one_on_a_failed_check(
    paths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from idlora_studio import selftest
    from idlora_studio.cli import main

    assert main(["self-test"]) == 0
    text = capsys.readouterr().out
    assert "✓ Tiny generation: 64x64, 9 frames, 2 steps" in text
    assert "All checks passed" in text

    # Pretend the disk is almost full: that check fails, the rest still runs, exit code 1.
    monkeypatch.setattr(selftest, "MIN_FREE_BYTES", 10**18)
    assert main(["self-test"]) == 1
    text = capsys.readouterr().out
    assert "✗ Disk: only" in text and "free some space" in text
    assert "✓ Tiny generation" in text and "FAILED" in text


def _report_with_gpu(monkeypatch: pytest.MonkeyPatch, paths, gpu):  # noqa: ANN001, ANN202
    import engine.memory
    from idlora_studio import selftest

    monkeypatch.setattr(engine.memory, "gpu_info", lambda index=0: gpu)
    return selftest.run_self_test(paths, generation=False)


def test_no_gpu_is_a_warning_and_the_profile_line_says_cpu(
    paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, problem 9: the report showed a green tick on "no CUDA GPU" and "All on GPU
    (bf16)" on a CPU machine."""
    report = _report_with_gpu(monkeypatch, paths, None)
    gpu, profile = report.check("GPU"), report.check("Memory profile")
    assert gpu is not None and profile is not None
    assert gpu.ok and gpu.warning and gpu.mark == "⚠"
    assert "no CUDA GPU: generation will be very slow" in gpu.detail
    assert profile.detail.startswith("CPU:") and "GPU (bf16)" not in profile.detail
    assert profile.data["profile"] is None
    text = report.text()
    assert "⚠ GPU: no CUDA GPU" in text and "✓ GPU" not in text
    assert "All on GPU" not in text and "resident_bf16" not in text
    assert report.passed and len(report.warnings) == 1
    assert report.verdict() == "All checks passed, with 1 warning (see ⚠)."


def test_a_gpu_is_reported_with_its_memory_and_profile(
    paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.memory import GIB, GPUInfo

    big = GPUInfo("NVIDIA H200", 0, 140 * GIB, 139 * GIB, (9, 0))
    report = _report_with_gpu(monkeypatch, paths, big)
    gpu, profile = report.check("GPU"), report.check("Memory profile")
    assert gpu.mark == "✓" and "NVIDIA H200: 140.0 GiB VRAM" in gpu.detail
    assert profile.mark == "✓" and profile.data["profile"] == "resident_bf16"
    assert report.warnings == []
    small = GPUInfo("Small card", 0, 4 * GIB, 3 * GIB, (8, 6))
    report = _report_with_gpu(monkeypatch, paths, small)
    assert report.check("Memory profile").mark == "⚠"  # even the lightest profile is short


def test_model_set_fit_is_honest_about_gpu_and_disk() -> None:
    from engine.memory import GIB, GPUInfo
    from engine.models.registry import MODEL_SETS
    from idlora_studio.selftest import model_set_fit

    real = next(ms for ms in MODEL_SETS.values() if not ms.builtin)
    tiny = MODEL_SETS["tiny"]
    plenty = 10**13
    assert model_set_fit(tiny, None, plenty).level == "ok"
    no_gpu = model_set_fit(real, None, plenty)
    assert no_gpu.level == "warn" and "No CUDA GPU" in no_gpu.detail
    big = model_set_fit(real, GPUInfo("H200", 0, 140 * GIB, 139 * GIB, (9, 0)), plenty)
    assert big.level == "ok" and "Fits this GPU" in big.detail
    small = model_set_fit(real, GPUInfo("4 GB", 0, 4 * GIB, 3 * GIB, (8, 6)), plenty)
    assert small.level == "no" and "Needs at least" in small.detail
    full = model_set_fit(real, GPUInfo("H200", 0, 140 * GIB, 139 * GIB, (9, 0)), 10**9)
    assert full.level == "no" and "Not enough free disk" in full.detail
    assert (
        model_set_fit(real, GPUInfo("H200", 0, 140 * GIB, 139 * GIB, (9, 0)), 10**9, True).level
        == "ok"
    )


CONCURRENT_IMPORTS = r"""
import logging, sys, tempfile, threading
from pathlib import Path

failures = []


class Record(logging.Handler):
    def emit(self, record):
        failures.append(record.getMessage())


logging.getLogger().addHandler(Record(level=logging.ERROR))
from idlora_studio.selftest import _check_versions
from idlora_studio.workers.generation_worker import GenerationWorker

folder = Path(tempfile.mkdtemp())
worker = GenerationWorker(None, None, models_dir=folder, temp_dir=folder)
results = []
threads = [
    threading.Thread(target=worker.warm_up),
    threading.Thread(target=lambda: results.append(_check_versions())),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
(versions,) = results
print("versions:", versions.ok, versions.detail)
print("failures:", failures)
sys.exit(0 if versions.ok and not failures else 1)
"""


@pytest.mark.timeout(300)
def test_the_first_start_check_and_the_engine_warm_up_may_import_at_once() -> None:
    """On a first start the machine check reads the library versions on one thread while the
    generation worker imports the engine on another: both used to import diffusers at once,
    and one of them failed ("cannot import name 'DiffusionPipeline' from 'diffusers'"): the
    warm-up logged a failure or the check reported a broken install that was not. A fresh
    process, so nothing is imported yet."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", CONCURRENT_IMPORTS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
