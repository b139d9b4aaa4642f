"""``idlora-studio`` entry point: no sub-command opens the window; sub-commands script it.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a
parser and sets ``func(args) -> int``. Modules must import heavy packages (torch, diffusers,
Qt) inside their handlers, so ``--version`` and ``--help`` stay instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from idlora_studio import __version__

# Modules that register sub-commands, in help order.
COMMAND_MODULES = (
    "idlora_studio.commands.library_cmd",
    "engine.cli",
    "idlora_studio.commands.models_cmd",
    "idlora_studio.commands.selftest_cmd",
    "idlora_studio.commands.bundle_cmd",
    "idlora_studio.commands.score_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idlora-studio",
        description="ID-LoRA Studio: talking video of a person, in their voice, on your GPU.",
    )
    parser.add_argument("--version", action="version", version=f"idlora-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from engine.text import printable_streams

    printable_streams(sys.stdout, sys.stderr)  # file names that are not UTF-8 print escaped
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from idlora_studio.app import run_gui

        return run_gui(sys.argv[:1])
    from idlora_studio.library import access
    from idlora_studio.paths import Paths

    paths = Paths.from_env()
    access.start(paths)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        access.end(paths)


if __name__ == "__main__":
    raise SystemExit(main())
