"""The LTX-2 sigma schedule vs values computed by hand."""

from __future__ import annotations

import math

import pytest

from engine.pipeline.schedule import ltx2_sigmas, shift_exponent


def test_schedule_30_steps_hand_computed() -> None:
    s = ltx2_sigmas(30)
    assert len(s) == 31 and s[-1] == 0.0
    e = math.exp(2.05)
    # by hand: s' = e^m / (e^m + 1/s - 1), then 1 - s'' = (1 - s') * 0.9 / (1 - s'_last)
    last = e / (e + 30 - 1)  # s = 1/30
    for k, expected_raw in [(0, 1.0), (1, 29 / 30), (2, 28 / 30), (15, 0.5), (29, 1 / 30)]:
        shifted = e / (e + 1 / expected_raw - 1)
        stretched = 1 - (1 - shifted) * 0.9 / (1 - last)
        assert s[k] == pytest.approx(stretched, rel=1e-12)
    assert s[0] == pytest.approx(1.0)
    # 7.7679/(7.7679+30/29-1)=0.995581; last=7.7679/36.7679=0.211268; 1-0.004419*0.9/0.788732
    assert s[1] == pytest.approx(0.99496, abs=2e-5)
    assert s[29] == pytest.approx(0.1, abs=1e-12)  # terminal
    assert all(a > b for a, b in zip(s, s[1:], strict=False))
    assert shift_exponent(None) == 2.05
    assert shift_exponent(1024) == pytest.approx(0.95)
    assert shift_exponent(4096) == pytest.approx(2.05)


def test_schedule_matches_diffusers_scheduler_config() -> None:
    np = pytest.importorskip("numpy")
    from engine.models.tiny import _build_scheduler

    sch = _build_scheduler()
    sch.set_timesteps(sigmas=np.linspace(1.0, 1 / 30, 30), mu=2.05)
    ours = ltx2_sigmas(30)
    assert sch.sigmas.tolist() == pytest.approx(ours, abs=1e-6)
