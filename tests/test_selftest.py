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


def test_cli_self_test_json_passes_with_the_tiny_generation(tmp_path: Path) -> None:
    env = dict(os.environ, IDLORA_STUDIO_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-m", "idlora_studio", "self-test", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)  # stdout is JSON and nothing else
    assert report["passed"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"Software", "GPU", "Disk", "Memory profile", "Tiny generation"}
    assert checks["Software"]["data"]["torch"] and checks["Software"]["data"]["diffusers"]
    gen = checks["Tiny generation"]
    assert gen["ok"] and gen["data"]["width"] == 64 and gen["data"]["height"] == 64
    assert gen["data"]["num_frames"] == 9 and gen["data"]["audio_codec"] == "aac"
    assert gen["data"]["timings"]["generate_s"] > 0 and gen["data"]["mp4_bytes"] > 1000
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA GPU" in checks["GPU"]["detail"]
    assert checks["Disk"]["data"]["models"]["free_bytes"] > 0
    # The tiny model was built where the Studio keeps models.
    assert list((tmp_path / "home" / "cache" / "models").glob("tiny-ltx2-*/model_index.json"))


def test_cli_text_report_and_exit_code_one_on_a_failed_check(
    paths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from idlora_studio import selftest
    from idlora_studio.cli import main

    assert main(["self-test"]) == 0
    text = capsys.readouterr().out
    assert "✓ Tiny generation: 64x64, 9 frames, 2 steps" in text
    assert "All checks passed." in text

    # Pretend the disk is almost full: that check fails, the rest still runs, exit code 1.
    monkeypatch.setattr(selftest, "MIN_FREE_BYTES", 10**18)
    assert main(["self-test"]) == 1
    text = capsys.readouterr().out
    assert "✗ Disk: only" in text and "free some space" in text
    assert "✓ Tiny generation" in text and "FAILED" in text
