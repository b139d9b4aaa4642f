"""Model manager: status of a models folder, download from a local hub server with progress,
cancel and resume, the disk check, files on disk, and "Check this machine"."""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path

from PySide6.QtCore import Qt

from engine.models import registry
from engine.models.download import Downloader
from engine.models.registry import local_path, state_path
from tests.engine.test_download import BIG, LORA_REPO, REPO, FakeHub, _set, hub  # noqa: F401

LONG = 30_000


def _manager(qtbot, paths, sets, models_dir: Path, **kw):  # noqa: ANN001, ANN202
    from idlora_studio.ui.model_manager import ModelManager

    mm = ModelManager(paths, sets=sets, models_dir=models_dir, **kw)
    qtbot.addWidget(mm)
    mm.show()
    qtbot.waitUntil(lambda: all(c.badge.text() for c in mm.cards.values()), timeout=5000)
    return mm


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _safetensors(path: Path, keys: list[str]) -> Path:
    header = {
        k: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i, k in enumerate(keys)
    }
    raw = json.dumps(header).encode()
    return _write(path, struct.pack("<Q", len(raw)) + raw + b"\0" * 4 * len(keys))


def test_status_of_a_models_folder(qtbot, paths, tmp_path: Path) -> None:  # noqa: ANN001
    models = tmp_path / "models"
    # Set "partial": the index by hand, half of the LoRA downloaded, no transformer.
    _write(local_path(models, REPO, "model_index.json"), b"{}" * 20)
    _write(state_path(models, LORA_REPO, "id_lora.safetensors", ".incomplete"), b"x" * 30_000)
    partial = _set()
    # Set "installed": every required file placed by hand in another repo folder.
    other = "test-org/by-hand"
    files = (
        registry.ModelFile(other, "model_index.json", 40, "pipeline_index"),
        registry.ModelFile(other, "transformer/*", 1000, "transformer"),
    )
    by_hand = registry.ModelSet("hand", "By hand", "", "ltx2", files, None, "")
    _write(local_path(models, other, "model_index.json"), b"{}")
    _write(local_path(models, other, "transformer/w.safetensors"), b"w" * 5000)
    sets = [partial, by_hand, registry.MODEL_SETS["ltx2-talkvid"], registry.MODEL_SETS["tiny"]]
    mm = _manager(qtbot, paths, sets, models)

    card = mm.cards["test"]
    assert card.badge.text() == "Partly downloaded"
    assert card.download_button.text() == "Resume download" and card.download_button.isEnabled()
    assert card.size_label.text().startswith("30 kB of about 550 kB on disk")  # 40 + 30,000 B
    assert card.verify_button.isEnabled()
    hand = mm.cards["hand"]
    assert hand.badge.text() == "Installed"
    assert not hand.download_button.isEnabled()
    assert mm.cards["ltx2-talkvid"].badge.text() == "Not installed"
    talk = mm.cards["ltx2-talkvid"]
    need = registry.MODEL_SETS["ltx2-talkvid"].vram_needs["fp8_weights"]
    assert f"Weights in fp8 {need:.0f} GiB" in talk.vram_label.text()
    assert "gated" in talk.size_label.text()
    assert mm.cards["tiny"].badge.text() == "Built in"
    assert mm.cards["tiny"].download_button.isHidden()

    # Verify: files placed by hand have no reference hash; that is said, not called damage.
    qtbot.mouseClick(hand.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: hand.message.isVisible(), timeout=LONG)
    assert hand.message.text() == (
        "1 file(s) placed by hand have no reference hash to check against."
    )


def test_download_progress_cancel_and_resume(qtbot, paths, hub: FakeHub, tmp_path) -> None:  # noqa: ANN001, F811
    models = tmp_path / "models"
    hub.chunk_delay_s = 0.01  # ~0.4 s for the big file: time to see progress and cancel
    mm = _manager(
        qtbot,
        paths,
        [_set()],
        models,
        endpoint=hub.endpoint,
        downloader_factory=lambda: Downloader(progress_interval_s=0.0),
    )
    card = mm.cards["test"]
    assert card.badge.text() == "Not installed"
    qtbot.mouseClick(card.download_button, Qt.MouseButton.LeftButton)
    assert card.cancel_button.isVisible() and card.progress.isVisible()
    assert not card.download_button.isEnabled()
    qtbot.waitUntil(lambda: card.progress.value() > 100, timeout=LONG)
    text = card.progress_label.text()
    assert " of " in text and "/s" in text and "left" in text and "file " in text
    qtbot.mouseClick(card.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not mm.is_downloading("test"), timeout=LONG)
    assert "Download cancelled" in card.message.text()
    assert not card.progress.isVisible()
    qtbot.waitUntil(lambda: card.badge.text() == "Partly downloaded", timeout=5000)
    assert card.download_button.text() == "Resume download"
    assert state_path(models, REPO, BIG, ".incomplete").is_file()

    # Resume: the big file continues with a Range request; everything lands verified.
    hub.chunk_delay_s = 0.0
    changed: list[bool] = []
    mm.models_changed.connect(lambda: changed.append(True))
    qtbot.mouseClick(card.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not mm.is_downloading("test"), timeout=LONG)
    assert "Downloaded and verified" in card.message.text(), card.message.text()
    assert any(g["range"] for g in hub.gets(BIG))
    qtbot.waitUntil(lambda: card.badge.text() == "Installed · verified", timeout=5000)
    assert local_path(models, REPO, BIG).read_bytes() == hub.repos[REPO][BIG]
    assert changed == [True]


def test_disk_full_is_refused_before_any_byte(qtbot, paths, hub: FakeHub, tmp_path) -> None:  # noqa: ANN001, F811
    models = tmp_path / "models"
    mm = _manager(
        qtbot,
        paths,
        [_set()],
        models,
        endpoint=hub.endpoint,
        downloader_factory=lambda: Downloader(disk_margin_bytes=10**18),
    )
    card = mm.cards["test"]
    qtbot.mouseClick(card.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not mm.is_downloading("test"), timeout=LONG)
    assert card.message.text().startswith("Not enough disk space for Test set")
    assert "GB free" in card.message.text()
    assert hub.gets(BIG) == []  # not one byte fetched
    assert not (models / "test-org--tiny-ltx" / "transformer").exists()


def _diffusers_folder(root: Path, skip: str = "") -> Path:
    _write(root / "model_index.json", b'{"_class_name": "LTX2Pipeline"}')
    for name in ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder"):
        if name == skip:
            continue
        _write(root / name / "config.json", b"{}")
        _safetensors(root / name / "diffusion_pytorch_model.safetensors", [f"{name}.w"])
    _write(root / "tokenizer" / "tokenizer.json", b"{}")
    _write(root / "scheduler" / "scheduler_config.json", b"{}")
    return root


def test_use_files_on_disk_checked_and_remembered(qtbot, paths, tmp_path: Path) -> None:  # noqa: ANN001
    from idlora_studio.ui.model_manager import LocalSources

    ms = registry.MODEL_SETS["ltx2-celebvhq"]
    mm = _manager(qtbot, paths, [ms], tmp_path / "models")
    card = mm.cards[ms.id]
    broken = _diffusers_folder(tmp_path / "broken", skip="vocoder")
    mm.use_local_files(ms.id, "diffusers-folder", broken)
    qtbot.waitUntil(lambda: card.message.isVisible(), timeout=LONG)
    assert "not a complete diffusers folder: missing vocoder/" in card.message.text()
    assert LocalSources.load(paths.config_dir).get(ms.id) is None

    bad_file = _safetensors(tmp_path / "other.safetensors", ["encoder.weight"])
    mm.use_local_files(ms.id, "single-file", bad_file, broken)
    qtbot.waitUntil(lambda: "no LTX-2 transformer" in card.message.text(), timeout=LONG)

    good = _diffusers_folder(tmp_path / "LTX-2")
    lora = _safetensors(
        tmp_path / "idlora.safetensors",
        ["diffusion_model.transformer_blocks.0.audio_attn1.to_q.lora_A.weight"],
    )
    changed: list[bool] = []
    mm.models_changed.connect(lambda: changed.append(True))
    mm.use_local_files(ms.id, "diffusers-folder", good, None, lora)
    qtbot.waitUntil(lambda: bool(changed), timeout=LONG)
    saved = LocalSources.load(paths.config_dir).get(ms.id)
    assert saved is not None and saved.model == good and saved.lora == lora
    assert (paths.config_dir / "model_sources.json").is_file()
    qtbot.waitUntil(lambda: card.forget_button.isVisible(), timeout=5000)
    assert str(good) in card.local_label.text()
    qtbot.mouseClick(card.forget_button, Qt.MouseButton.LeftButton)
    assert LocalSources.load(paths.config_dir).get(ms.id) is None


def test_check_this_machine_shows_the_report(qtbot, paths, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import engine.memory
    from idlora_studio.selftest import run_self_test

    monkeypatch.setattr(engine.memory, "gpu_info", lambda index=0: None)  # a CPU machine

    mm = _manager(
        qtbot,
        paths,
        [registry.MODEL_SETS["tiny"]],
        tmp_path / "models",
        self_test=functools.partial(run_self_test, generation=False),
    )
    qtbot.mouseClick(mm.check_button, Qt.MouseButton.LeftButton)
    assert not mm.check_button.isEnabled()
    qtbot.waitUntil(lambda: mm.report_view.isVisible(), timeout=LONG)
    text = mm.report_view.toPlainText()
    assert "✓ Software: python" in text and "✓ Disk:" in text
    # No success shown for what is not there: the missing GPU is a warning, the profile CPU.
    assert "⚠ GPU: no CUDA GPU: generation will be very slow" in text
    assert "✓ Memory profile: CPU" in text and "GPU (bf16)" not in text
    assert mm.last_report.passed
    assert mm.check_status.text() == "All checks passed, with 1 warning (see ⚠)."
    assert mm.check_button.isEnabled()
