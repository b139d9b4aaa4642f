"""A take's voice match: computed on the worker after decoding, stored, kept across restarts."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engine.voice import similarity
from idlora_studio.library import Library
from idlora_studio.library.jobs_repo import JobSpec, TakesRepository
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)


def test_voice_match_is_stored_with_the_take_and_survives_a_restart(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    paths,  # noqa: ANN001
    qtbot,  # noqa: ANN001
) -> None:
    _, _, takes = repos
    queue = make_queue()
    finished: list[tuple[int, int]] = []
    queue.job_finished.connect(lambda j, t: finished.append((j, t)))
    queue.enqueue(tiny_request(tiny_inputs, seed=5), JobSpec(model_set="tiny"))
    qtbot.waitUntil(lambda: bool(finished), timeout=180_000)
    take = takes.get_take(finished[0][1])
    assert take.voice_match is not None and 0.0 <= take.voice_match <= 1.0
    assert take.voice_match_model == similarity.MODEL_ID == "resemblyzer-ge2e"
    # It is the real score of the take's audio against its reference clip (the stored WAV is
    # 16-bit, the worker scored the float audio: equal to a rounding).
    audio, sr = sf.read(str(take.audio_path), dtype="float32", always_2d=True)
    expected = similarity.similarity(
        similarity.embed_voice(audio.T, sr), similarity.embed_file(tiny_inputs[1])
    )
    assert take.voice_match == pytest.approx(expected, abs=0.02)

    # a restart: a new Library on the same folder reads the stored score
    reopened = Library.open(paths)
    try:
        again = TakesRepository.from_library(reopened).get_take(take.id)
    finally:
        reopened.close()
    assert again.voice_match == pytest.approx(take.voice_match)
    assert again.voice_match_model == "resemblyzer-ge2e"
    assert np.isfinite(again.voice_match)
