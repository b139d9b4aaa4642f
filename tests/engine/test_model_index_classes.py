"""``model_index.json`` names classes: only the LTX-2 family's own are imported and loaded.

A model folder is input from anywhere (a download, a shared drive): a class name pointing at
another module must be refused before that module is imported, with a sentence naming the
component and the class, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.api import InvalidRequestError
from engine.models.sources import load_components
from engine.models.tiny import save_tiny_model
from idlora_studio.cli import main
from tests.media_fixtures import face_image, speech_wav


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny-ltx2", "ltx2")


def _with_index(tiny: Path, dest: Path, component: str, spec: Any) -> Path:
    shutil.copytree(tiny, dest)
    index = json.loads((dest / "model_index.json").read_text())
    index[component] = spec
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


@pytest.fixture
def trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module that leaves a marker file when it is imported."""
    marker = tmp_path / "imported.marker"
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "trap_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\nclass Evil: ...\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    yield marker
    sys.modules.pop("trap_module", None)


@pytest.mark.parametrize(
    ("component", "spec", "message"),
    [
        ("transformer", ["trap_module", "Evil"], "'trap_module'.'Evil' for 'transformer'"),
        ("vae", ["diffusers", "StableDiffusionPipeline"], "'StableDiffusionPipeline' for 'vae'"),
        ("scheduler", [".relative", "X"], "'.relative'.'X' for 'scheduler'"),
        ("tokenizer", ["transformers", "AutoModel"], "'AutoModel' for 'tokenizer'"),
        ("vocoder", [["x"], {"y": 1}], "for 'vocoder'"),
        ("connectors", "ltx2.LTX2TextConnectors", "not [library, class]"),
    ],
)
def test_unknown_component_classes_are_refused_before_import(
    tiny: Path, tmp_path: Path, trap: Path, component: str, spec: Any, message: str
) -> None:
    folder = _with_index(tiny, tmp_path / "model", component, spec)
    with pytest.raises(InvalidRequestError) as err:
        load_components(folder)
    assert message in str(err.value)
    assert not trap.exists(), "the named module was imported"


def test_known_classes_still_load(tiny: Path) -> None:
    comps, _ = load_components(tiny)
    assert type(comps["transformer"]).__name__ == "LTX2VideoTransformer3DModel"


def test_deep_model_index_is_a_clear_error(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "deep"
    shutil.copytree(tiny, folder)
    (folder / "model_index.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Exception) as err:  # noqa: PT011 - the type is checked below
        load_components(folder)
    assert "model_index.json cannot be read: it nests deeper than 64 levels" in str(err.value)
    assert not isinstance(err.value, RecursionError)


def test_cli_names_the_class_and_exits_1(
    tiny: Path, tmp_path: Path, trap: Path, capsys: Any
) -> None:
    folder = _with_index(tiny, tmp_path / "model", "transformer", ["trap_module", "Evil"])
    argv = ["generate", "--model", str(folder), "--device", "cpu", "--no-progress"]
    argv += ["--image", str(face_image(tmp_path / "f.jpg"))]
    argv += [
        "--voice",
        str(speech_wav(tmp_path / "v.wav", "Hello there, this is a short test of my voice.")),
    ]
    argv += ["--prompt", "[VISUAL]: x", "--out", str(tmp_path / "o.mp4"), "--frames", "9"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "only the LTX-2 family's own classes are loaded" in err
    assert "Traceback" not in err and not trap.exists()
    assert not (tmp_path / "o.mp4").exists()
