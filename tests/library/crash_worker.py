"""Spawned by test_crash.py: imports real files into a library in a loop until killed.

Usage: ``python crash_worker.py SEED`` with ``IDLORA_STUDIO_HOME`` set. Prints ``ready``
once the library is open, then repeatedly:

* creates ``batch-<seed>-<n>`` with two images and one clip in one transaction (the test
  checks that such an identity always has all three or does not exist);
* creates ``solo-<seed>-<n>`` and adds an image and a clip to it one at a time;
* every few rounds deletes an identity, removes an image, switches a default.

Every file is new (random pixels; espeak-ng speech, made once, at a random gain with a
little random noise: the clip checks refuse anything that is not speech) so every round
writes to the media store, and everything goes through the real checks and the public
Library API.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from idlora_studio.library import Library
from idlora_studio.paths import Paths


def make_image(path: Path, rng: np.random.Generator) -> Path:
    arr = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


_SPEECH: tuple[np.ndarray, int] | None = None


def make_clip(path: Path, rng: np.random.Generator) -> Path:
    global _SPEECH
    if _SPEECH is None:
        from tests.media_fixtures import speech_wav

        made = speech_wav(path.with_name("speech-src.wav"), "Hello, this is my voice for the test.")
        data, sr = sf.read(str(made), dtype="float32")
        made.unlink()
        _SPEECH = (data, sr)
    data, sr = _SPEECH
    x = data * rng.uniform(0.3, 0.9) + rng.standard_normal(len(data)).astype(np.float32) * 1e-4
    sf.write(str(path), x.astype(np.float32), sr, subtype="PCM_16")
    return path


def main() -> int:
    seed = int(sys.argv[1])
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="crash-worker-"))
    lib = Library.open(Paths.from_env())
    # Load torch, the speech detector and the loudness meter (scipy) before saying ready, so
    # the kills land in imports (the test kills within half a second of "ready").
    from idlora_studio.library.audio_checks import check_voice_clip

    check_voice_clip(make_clip(work / "warm.wav", rng))
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        imgs = [make_image(work / f"i{n}-{k}.png", rng) for k in range(2)]
        clip = make_clip(work / f"c{n}.wav", rng)
        lib.create_identity_with_media(f"batch-{seed}-{n}", imgs, [clip], tags=["batch"])
        solo = lib.create_identity(f"solo-{seed}-{n}", tags=["solo"])
        lib.add_image(solo, make_image(work / f"s{n}.png", rng))
        lib.add_voice_clip(solo, make_clip(work / f"sc{n}.wav", rng))
        if n % 3 == 0:
            people = lib.list_identities()
            victim = pick.choice(people)
            lib.delete_identity(victim.id)
            detail = lib.get_identity(solo)
            extra = lib.add_image(solo, make_image(work / f"x{n}.png", rng))
            lib.set_default_image(solo, extra.image_id)
            lib.remove_image(detail.images[0].id)
        for p in work.iterdir():
            p.unlink()


if __name__ == "__main__":
    raise SystemExit(main())
