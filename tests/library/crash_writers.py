"""Spawned by test_crash_debris.py: runs a real CLI command and stops it in its write phase.

Usage: ``python crash_writers.py MODE ARGS...`` with ``IDLORA_STUDIO_HOME`` set. MODE is
``bundle-import``, ``render`` or ``batch``; ARGS are the CLI arguments. The write the command
makes first (a bundle's media file in the staging folder, the encoder's temp file of a render
or of a batch take) is let through, then ``writing`` is printed and the process waits to be
killed -- so the kill lands in the write phase every time, not by luck of timing.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def _pause() -> None:
    print("writing", flush=True)
    while True:
        time.sleep(1)


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "bundle-import":
        from idlora_studio.library import bundle

        real = bundle._extract

        def extract(*a: Any, **k: Any) -> None:
            real(*a, **k)
            _pause()

        bundle._extract = extract
    elif mode in ("render", "batch"):
        import engine.export.encode as encode
        import engine.media.video as video

        class PausingFile:
            def __init__(self, path: Any) -> None:
                self._fh = open(path, "w+b")  # noqa: SIM115 - closed by the kill
                self._n = 0

            def write(self, data: bytes) -> int:
                n = self._fh.write(data)
                self._n += 1
                if self._n == 3:
                    self._fh.flush()
                    _pause()
                return n

            def __getattr__(self, name: str) -> Any:
                return getattr(self._fh, name)

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                self._fh.close()

        encode.open_output_file = PausingFile
        video._open_output_file = PausingFile
        if mode == "batch":
            from engine.cli import runners as gen_runners
            from tests.engine.test_cli_generate import FakeGenerator

            gen_runners._generator_factory = FakeGenerator.load
    from idlora_studio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
