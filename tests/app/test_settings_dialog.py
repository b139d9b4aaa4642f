"""Tools > Settings…: the GPUs found and what the Studio will do with them, the mode and GPU
list saved as edited (a bad list refused), the render farm fields and its connection test."""

from __future__ import annotations

import json
from pathlib import Path

from idlora_studio.settings import Settings


def test_gpu_and_farm_settings(qtbot, tmp_path: Path) -> None:
    from idlora_studio.ui.settings_dialog import SettingsDialog

    settings = Settings(tmp_path / "settings.json")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.detected.text() != "Looking for GPUs…", timeout=60_000)
    import torch

    if not torch.cuda.is_available():
        assert dialog.detected.text() == "no CUDA GPU"
        assert dialog.plan_note.text().startswith("Auto: one take at a time.")
        assert "No CUDA GPU, so takes run on the CPU" in dialog.plan_note.text()
    # the mode is saved as chosen
    dialog.mode.setCurrentIndex(dialog.mode.findData("jobs"))
    assert settings.get("parallel_mode") == "jobs"
    assert settings.flush()  # written on the settings' own thread
    assert json.loads((tmp_path / "settings.json").read_text())["parallel_mode"] == "jobs"
    # a bad GPU list is refused with the reason and not saved
    dialog.gpu_list.setText("0,zero")
    dialog.gpu_list.editingFinished.emit()
    assert "Not saved" in dialog.plan_note.text() and "'0,zero'" in dialog.plan_note.text()
    assert settings.get("gpus") == ""
    dialog.gpu_list.setText("0,1")
    dialog.gpu_list.editingFinished.emit()
    assert settings.get("gpus") == "0,1"
    # render farm fields
    dialog.farm_on.setChecked(True)
    dialog.per_take.setValue(2)
    dialog.group_mode.setCurrentIndex(dialog.group_mode.findData("sequence"))
    assert settings.get("farm_enabled") is True
    assert (settings.get("farm_gpus_per_take"), settings.get("farm_group_mode")) == (2, "sequence")
    dialog.address.setText("")
    dialog.test_connection()
    qtbot.waitUntil(lambda: dialog.farm_note.text().startswith("Not connected"), timeout=30_000)
    assert "no render farm address is set" in dialog.farm_note.text()
    assert dialog.test_button.isEnabled()


def test_settings_action_in_the_tools_menu(qtbot, paths) -> None:  # noqa: ANN001
    from idlora_studio.app import build_main_window
    from idlora_studio.library import Library

    settings = Settings.load(paths.settings_path)
    library = Library.open(paths)
    window = build_main_window(paths, settings, library)
    qtbot.addWidget(window)
    try:
        action = next(a for a in window.tools_menu.actions() if a.text() == "&Settings…")
        action.trigger()
        assert window.settings_dialog.isVisible()
        assert window.settings_dialog.settings is settings
    finally:
        window.shutdown()
        library.close()
