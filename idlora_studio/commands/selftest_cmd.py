"""``idlora-studio self-test [--json]``: check this machine and run one tiny generation.

Prints the report (or JSON with ``--json``); exit 0 when every check passed, 1 otherwise.
torch and diffusers are imported inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "self-test",
        help="check GPU, disk and versions and run the pipeline on the built-in tiny model",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument(
        "--models-dir", type=Path, default=None, help="models folder (default: the Studio's)"
    )
    p.add_argument("--device", default=None, help="force a device for the generation (cpu, cuda)")
    p.set_defaults(func=_cmd_self_test)


def _cmd_self_test(args: argparse.Namespace) -> int:
    from idlora_studio.paths import Paths
    from idlora_studio.selftest import run_self_test

    paths = Paths.from_env().ensure()

    def progress(name: str, index: int, count: int) -> None:
        if not args.json and name != "done":
            print(f"[{index + 1}/{count}] {name}…", file=sys.stderr, flush=True)

    report = run_self_test(paths, progress, models_dir=args.models_dir, device=args.device)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text())
    return 0 if report.passed else 1
