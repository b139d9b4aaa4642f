"""Issue 11, problem 9 (first run): on the first start a non-modal panel checks GPU, VRAM and
disk, offers the model sets and the self-test, and never shows success for what is not
there (a CPU machine gets a warning; the profile line says CPU)."""

from __future__ import annotations

import functools

import pytest
from PySide6.QtCore import Qt

LONG = 60_000


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.memory

    monkeypatch.setattr(engine.memory, "gpu_info", lambda index=0: None)


def test_first_start_shows_an_honest_non_modal_check(qtbot, real_window, no_gpu) -> None:  # noqa: ANN001
    from idlora_studio.app import offer_first_run
    from idlora_studio.selftest import run_self_test

    window = real_window
    assert window.settings.get("first_run_done") is False
    panel = offer_first_run(window)
    assert panel is not None and panel.isVisible()
    assert not panel.isModal() and window.isEnabled()  # the window stays usable
    qtbot.waitUntil(lambda: panel.report is not None, timeout=LONG)

    assert panel.machine_marks["GPU"].text() == "⚠"
    assert "no CUDA GPU: generation will be very slow" in panel.machine_lines["GPU"].text()
    assert panel.machine_lines["Memory profile"].text().startswith("CPU")
    assert "GPU (bf16)" not in panel.machine_lines["Memory profile"].text()
    assert (
        panel.machine_marks["Disk"].text() == "✓" and "free" in panel.machine_lines["Disk"].text()
    )
    # Model sets: the real ones are not offered as fine on a CPU; the tiny ones (LTX-2 and
    # LTX-2.3, built here) run.
    from engine.models.registry import MODEL_SETS

    builtin = [k for k in panel.set_marks if MODEL_SETS[k].builtin]
    assert sorted(builtin) == ["tiny", "tiny-ltx2.3"]
    assert all(panel.set_marks[k].text() == "✓" for k in builtin)
    real = [k for k in panel.set_marks if k not in builtin]
    # (⚠ for the missing GPU, or ✗ where this disk is also too small for the download)
    assert real and all(panel.set_marks[k].text() in ("⚠", "✗") for k in real)
    assert all("No CUDA GPU" in panel.set_lines[k].text() for k in real)

    opened: list[bool] = []
    panel.models_requested.connect(lambda: opened.append(True))
    qtbot.mouseClick(panel.models_button, Qt.MouseButton.LeftButton)
    assert opened == [True]

    panel._self_test = functools.partial(run_self_test, generation=False)
    with qtbot.waitSignal(panel.self_test_finished, timeout=LONG) as done:
        qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    report = done.args[0]
    assert "⚠ GPU: no CUDA GPU" in panel.report_view.toPlainText()
    assert (
        panel.test_status.text() == report.verdict() == "All checks passed, with 1 warning (see ⚠)."
    )

    panel.close()
    assert window.settings.get("first_run_done") is True
    assert offer_first_run(window) is None  # not again on the next start
    # ... but always from Help > Check This Machine…
    check = next(a for a in window.help_menu.actions() if "Check This Machine" in a.text())
    check.trigger()
    assert panel.isVisible()
    panel.close()
