"""Voice analysis on pretrained models that ship inside their pip packages (no download).

* :mod:`engine.voice.vad`: where the speech is (Silero VAD, ``silero-vad`` package);
* :mod:`engine.voice.similarity`: how alike two voices sound (Resemblyzer's GE2E speaker
  encoder, ``resemblyzer`` package);
* :mod:`engine.voice.windows`: the best reference window of a clip, from the speech found.

Loudness (ITU-R BS.1770) is in :mod:`engine.media.audio`, through ``pyloudnorm``.
torch is imported lazily, so importing this package stays light.
"""
