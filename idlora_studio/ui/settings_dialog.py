"""Tools > Settings…: how takes are spread over GPUs, and the render farm.

* **GPUs**: the GPUs found (detected on a worker thread: it imports torch), the mode (Auto or
  the user's choice) and the GPUs to use; the line under them says what the Studio will do and
  why (``engine.distributed.strategy``). Applies from the next take on.
* **Render farm**: a Ray cluster address, whether queued takes go there, GPUs per take (more
  than one: a GPU group, passes or sequence); "Test connection" joins the cluster on a worker
  thread and says what it found. Applies after restarting the Studio (the queue's worker is
  chosen at start).

Every field is saved as it is edited (``Settings.set``); a GPU list that does not parse is
shown in red and not saved.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.settings import Settings
from idlora_studio.workers.tasks import run_in_thread


def _note(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName("settingsNote")
    return label


class SettingsDialog(QDialog):
    """The Studio's settings for scale-out (see the module docstring)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from engine.distributed.strategy import MODES, TITLES

        self.setWindowTitle("Settings")
        self.settings = settings
        self._gpus: list[Any] | None = None
        layout = QVBoxLayout(self)

        # GPUs
        box = QGroupBox("GPUs")
        outer = QVBoxLayout(box)
        form = QFormLayout()
        outer.addLayout(form)
        self.detected = QLabel("Looking for GPUs…")
        self.detected.setObjectName("detectedGpus")
        form.addRow("Found", self.detected)
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(TITLES[mode], mode)
        self.mode.setCurrentIndex(max(0, self.mode.findData(settings.get("parallel_mode"))))
        self.mode.currentIndexChanged.connect(self._mode_changed)
        form.addRow("Use them for", self.mode)
        self.gpu_list = QLineEdit(str(settings.get("gpus") or ""))
        self.gpu_list.setPlaceholderText("all, or e.g. 0,1")
        self.gpu_list.editingFinished.connect(self._gpus_edited)
        form.addRow("GPUs to use", self.gpu_list)
        self.plan_note = _note()
        self.plan_note.setObjectName("planNote")
        outer.addWidget(self.plan_note)
        layout.addWidget(box)

        # Render farm
        farm = QGroupBox("Render farm")
        fouter = QVBoxLayout(farm)
        fform = QFormLayout()
        fouter.addLayout(fform)
        self.farm_on = QCheckBox("Send queued takes to a Ray cluster")
        self.farm_on.setChecked(bool(settings.get("farm_enabled")))
        self.farm_on.toggled.connect(lambda on: self._save("farm_enabled", bool(on)))
        fform.addRow(self.farm_on)
        self.address = QLineEdit(str(settings.get("farm_address") or ""))
        self.address.setPlaceholderText("10.0.0.5:6379, ray://host:10001 or auto")
        self.address.editingFinished.connect(
            lambda: self._save("farm_address", self.address.text().strip())
        )
        fform.addRow("Cluster address", self.address)
        per = QHBoxLayout()
        self.per_take = QSpinBox()
        self.per_take.setRange(1, 16)
        self.per_take.setValue(int(settings.get("farm_gpus_per_take") or 1))
        self.per_take.valueChanged.connect(lambda v: self._save("farm_gpus_per_take", int(v)))
        self.group_mode = QComboBox()
        self.group_mode.addItem("passes", "passes")
        self.group_mode.addItem("sequence", "sequence")
        self.group_mode.setCurrentIndex(
            max(0, self.group_mode.findData(settings.get("farm_group_mode")))
        )
        self.group_mode.currentIndexChanged.connect(
            lambda _i: self._save("farm_group_mode", self.group_mode.currentData())
        )
        per.addWidget(self.per_take)
        per.addWidget(QLabel("split by"))
        per.addWidget(self.group_mode)
        per.addStretch(1)
        fform.addRow("GPUs per take", per)
        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        fform.addRow(test_row)
        self.farm_note = _note(self._farm_hint())
        self.farm_note.setObjectName("farmNote")
        fouter.addWidget(self.farm_note)
        layout.addWidget(farm)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        self._update_plan()
        run_in_thread(self._detect, self._detected, self._detect_failed)

    # ------------------------------------------------------------------ GPUs
    @staticmethod
    def _detect() -> list[Any]:
        from idlora_studio.workers.worker_choice import find_gpus

        return find_gpus()

    def _detected(self, gpus: list[Any]) -> None:
        from engine.distributed.strategy import describe_gpus

        self._gpus = gpus
        self.detected.setText(describe_gpus(gpus))
        self._update_plan()

    def _detect_failed(self, exc: BaseException) -> None:
        self._gpus = []
        self.detected.setText(f"GPUs could not be listed ({exc})")
        self._update_plan()

    def _mode_changed(self, _index: int) -> None:
        self._save("parallel_mode", self.mode.currentData())
        self._update_plan()

    def _gpus_edited(self) -> None:
        from engine.distributed.context import parse_gpus

        text = self.gpu_list.text().strip()
        try:
            parse_gpus(text)
        except ValueError as exc:
            self.plan_note.setText(f"Not saved: {exc}.")
            self.plan_note.setStyleSheet("color: #e0605a;")
            return
        self._save("gpus", text)
        self._update_plan()

    def _update_plan(self) -> None:
        self.plan_note.setStyleSheet("")
        if self._gpus is None:
            self.plan_note.setText("The plan is shown once the GPUs are found.")
            return
        from idlora_studio.workers.worker_choice import plan_from_settings

        plan = plan_from_settings(self.settings, self._gpus)
        titles = {
            "single": "one take at a time",
            "jobs": f"one take per GPU, {len(plan.devices)} at once",
            "passes": f"each take on {len(plan.devices)} GPUs, its guidance passes split",
            "sequence": f"each take on {len(plan.devices)} GPUs, its video tokens split",
        }
        who = "Auto" if self.settings.get("parallel_mode") == "auto" else "Your choice"
        reason = plan.reason[:1].upper() + plan.reason[1:]
        self.plan_note.setText(f"{who}: {titles[plan.mode]}. {reason}. Applies from the next take.")

    # ------------------------------------------------------------------ farm
    @staticmethod
    def _farm_hint() -> str:
        from idlora_studio.workers.farm.client import ray_available

        if not ray_available():
            return (
                'Ray is not installed: install it with pip install "idlora-studio[farm]". '
                "The farm applies after restarting the Studio."
            )
        return (
            "Inputs travel by content hash and are cached on the cluster; takes come back "
            "into the library. Applies after restarting the Studio."
        )

    def test_connection(self) -> None:
        """Join the cluster at the address on a worker thread and say what is there."""
        address = self.address.text().strip()
        self._save("farm_address", address)
        self.test_button.setEnabled(False)
        self.farm_note.setText(f"Connecting to {address or '(no address)'}…")

        def probe() -> str:
            from idlora_studio.workers.farm.client import FarmClient

            client = FarmClient(address)
            client.connect()
            try:
                return client.describe()
            finally:
                client.close()

        def done(text: str) -> None:
            self.test_button.setEnabled(True)
            self.farm_note.setText(f"Connected: {text}.")

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.farm_note.setText(f"Not connected: {exc}")

        run_in_thread(probe, done, failed)

    def _save(self, name: str, value: Any) -> None:
        self.settings.set(name, value)


def open_settings(window: Any) -> SettingsDialog:
    """Show the settings dialog of ``window`` (one at a time)."""
    dialog = getattr(window, "settings_dialog", None)
    if dialog is None:
        dialog = SettingsDialog(window.settings, window)
        window.settings_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog


__all__ = ["SettingsDialog", "open_settings"]
