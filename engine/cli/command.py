"""``idlora-studio generate``'s handler: parse, check before loading, run, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
)
from engine.cli.common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Job,
    UsageError,
    _shown,
)
from engine.cli.jobs import check_inputs, parse_jobs_file, single_job, with_voice_window
from engine.cli.runners import REPORT_NAME, _report, _run_in_turn, _sigint_cancels, write_report
from engine.cli.scaleout import _run_on_farm, _run_one_per_device, resolve_devices
from engine.fsutil import check_writable


def run_generate(args: argparse.Namespace) -> int:
    """Handler of ``idlora-studio generate``; returns the exit code."""
    try:
        if args.jobs is not None:
            if args.out is not None:
                raise UsageError("--out is for one take; use --out-dir with --jobs")
            if args.voice_window is not None:
                raise UsageError(
                    '--voice-window is for one take; give a job its own "voice_window": '
                    "[start, end] in the jobs file"
                )
            out_dir = args.out_dir if args.out_dir is not None else Path.cwd()
            entries = parse_jobs_file(args.jobs, args, out_dir)
        else:
            if args.out_dir is not None:
                raise UsageError("--out-dir is for --jobs; use --out for one take")
            entries = [single_job(args)]
    except UsageError as exc:
        print(_shown(f"idlora-studio generate: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except EngineError as exc:
        _report("", exc, args.debug)
        return EXIT_ERROR

    batch = args.jobs is not None
    failures: list[str] = []
    jobs: list[Job] = []
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, Job):
            rows[entry.name] = {"job": entry.name, "output": str(entry.output), "status": "failed"}
            try:
                check_inputs(entry.request)
                check_writable(entry.output)  # before minutes of model loading
                entry = with_voice_window(entry)
            except (EngineError, OSError) as exc:
                _report(f"{entry.name}: " if batch else "", exc, args.debug)
                failures.append(entry.name)
                continue
            jobs.append(entry)
        else:
            index, name, problem = entry
            rows[name] = {"job": name, "status": "failed"}
            print(_shown(f"error: {name}: job {index}: {problem}."), file=sys.stderr)
            failures.append(name)
    if not jobs:
        if batch and not entries:
            print("the jobs file holds no jobs", file=sys.stderr)
            return EXIT_OK
        return EXIT_ERROR

    try:
        devices, mode = resolve_devices(args, batch) if args.ray is None else ([], None)
    except UsageError as exc:
        print(f"idlora-studio generate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EngineError as exc:
        _report("", exc, args.debug)
        return EXIT_ERROR
    args._devices, args._mode = devices, mode
    cancel = CancelToken()
    try:
        with _sigint_cancels(cancel):
            if args.ray is not None:
                code = _run_on_farm(args, jobs, rows, failures, batch, cancel)
            elif mode == "jobs":
                code = _run_one_per_device(args, jobs, devices, rows, failures, batch, cancel)
            else:
                code = _run_in_turn(args, jobs, rows, failures, batch, cancel)
            if code is not None:
                return code
    except (Cancelled, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED

    if batch:
        report = (args.out_dir if args.out_dir is not None else Path.cwd()) / REPORT_NAME
        try:
            write_report(report, list(rows.values()), args.score)
        except OSError as exc:
            _report("batch report: ", exc, args.debug)
        done = len(entries) - len(failures)
        summary = f"{done} of {len(entries)} jobs done"
        if failures:
            summary += f"; failed: {', '.join(failures)}"
        print(summary, file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK
