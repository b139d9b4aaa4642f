"""``idlora-studio models ...``: list, download and verify the model sets from a terminal.

Qt-free and torch-free: only the engine's registry and downloader (huggingface_hub).
Exit codes: 0 done, 1 error (printed as one sentence), 2 usage, 130 cancelled with Ctrl-C
(a cancelled download keeps its partial file and resumes next time).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any, TextIO


def register(subparsers: Any) -> None:
    """Add the ``models`` command and its sub-commands."""
    p = subparsers.add_parser("models", help="list, download and verify model sets")
    p.add_argument(
        "--models-dir", type=Path, default=None, help="models folder (default: the Studio's)"
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="model sets, sizes and what is on disk")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_cmd_list)

    dl = sub.add_parser("download", help="download a model set (resumes, verifies checksums)")
    dl.add_argument("set_id", metavar="SET_ID")
    dl.add_argument("--endpoint", default=None, help="hub URL (default: $HF_ENDPOINT or the hub)")
    dl.add_argument("--token", default=None, help="hub access token (default: $HF_TOKEN / login)")
    dl.add_argument(
        "--required-only", action="store_true", help="skip two-stage extras (upsampler, distilled)"
    )
    dl.set_defaults(func=_cmd_download)

    vf = sub.add_parser("verify", help="re-hash a downloaded model set")
    vf.add_argument("set_id", metavar="SET_ID")
    vf.set_defaults(func=_cmd_verify)


def _models_dir(args: argparse.Namespace) -> Path:
    if args.models_dir is not None:
        return Path(args.models_dir)
    from idlora_studio.paths import Paths

    return Paths.from_env().models_dir


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _get_set(set_id: str):  # noqa: ANN202 - ModelSet
    from engine.models.registry import get_set

    try:
        return get_set(set_id)
    except KeyError as exc:
        print(str(exc.args[0]), file=sys.stderr)
        return None


def _cmd_list(args: argparse.Namespace) -> int:
    from engine.models.registry import MODEL_SETS, status

    models_dir = _models_dir(args)
    rows = []
    for mset in MODEL_SETS.values():
        st = status(mset, models_dir)
        rows.append(
            {
                "id": mset.id,
                "title": mset.title,
                "variant": mset.variant,
                "total_bytes": mset.total_bytes,
                "required_bytes": mset.required_bytes,
                "bytes_present": st.bytes_present,
                "state": st.state.value,
                "gated": mset.gated,
                "builtin": mset.builtin,
                "vram_gib": mset.vram_needs,
                "files": [
                    {
                        "repo_id": f.file.repo_id,
                        "filename": f.file.filename,
                        "role": f.file.role,
                        "required": f.file.required,
                        "size_bytes": f.file.size_bytes,
                        "state": f.state.value,
                        "bytes_present": f.bytes_present,
                    }
                    for f in st.files
                ],
            }
        )
    if args.json:
        print(json.dumps({"models_dir": str(models_dir), "sets": rows}, indent=2))
        return 0
    print(f"Models folder: {models_dir}")
    for r in rows:
        size = "built in" if r["builtin"] else f"~{_gb(r['total_bytes'])}"
        gated = "  (gated: needs a hub token)" if r["gated"] else ""
        print(f"  {r['id']:<20} {r['state']:<9} {size:<12} {r['title']}{gated}")
        if r["vram_gib"]:
            est = ", ".join(f"{k} {v:.0f}" for k, v in r["vram_gib"].items())
            print(f"  {'':<20} VRAM estimate (GiB, 512x512x121): {est}")
    return 0


class _Bar:
    """One self-overwriting progress line on a terminal (plain lines otherwise)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_line = ""

    def __call__(self, p: Any) -> None:
        width = 30
        filled = int(width * p.fraction)
        bar = "#" * filled + "-" * (width - filled)
        speed = f"{p.speed_bps / 1e6:6.1f} MB/s" if p.speed_bps else "   -- MB/s"
        eta = _eta(p.eta_s)
        name = p.current_file[-40:]
        line = (
            f"[{bar}] {_gb(p.bytes_done)}/{_gb(p.bytes_total)} {speed} {eta} "
            f"{p.phase} {p.file_index}/{p.file_count} {name}"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
        elif p.phase != "downloading" or line[:34] != self._last_line[:34]:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last_line:
            self.stream.write("\n")
            self.stream.flush()


def _eta(s: float | None) -> str:
    if s is None:
        return "ETA --"
    s = int(s)
    if s >= 3600:
        return f"ETA {s // 3600}h{s % 3600 // 60:02d}m"
    return f"ETA {s // 60}m{s % 60:02d}s"


def _cmd_download(args: argparse.Namespace) -> int:
    from engine.api import Cancelled, CancelToken, EngineError
    from engine.models.download import Downloader

    mset = _get_set(args.set_id)
    if mset is None:
        return 1
    if mset.builtin:
        print(f"{mset.title} is built in; nothing to download.")
        return 0
    models_dir = _models_dir(args)
    cancel = CancelToken()
    bar = _Bar(sys.stderr)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = Downloader().download_set(
                mset,
                models_dir,
                progress=bar,
                cancel=cancel,
                endpoint=args.endpoint,
                token=args.token,
                include_optional=not args.required_only,
            )
        except BaseException as exc:  # noqa: BLE001 - reported below on the main thread
            outcome["error"] = exc

    # The transfer runs in a thread so Ctrl-C cancels it cleanly (partial file kept).
    thread = threading.Thread(target=work, name="models-download", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        cancel.cancel()
        thread.join()
    bar.close()
    err = outcome.get("error")
    if isinstance(err, Cancelled):
        print("Cancelled; run the same command again to resume.", file=sys.stderr)
        return 130
    if isinstance(err, EngineError):
        print(f"error: {err}", file=sys.stderr)
        return 1
    if err is not None:
        raise err
    res = outcome["result"]
    print(
        f"{mset.title}: {len(res.paths)} files ready in {models_dir} "
        f"({_gb(res.bytes_downloaded)} downloaded, {res.files_skipped} already there)."
    )
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from engine.models.download import verify_set

    mset = _get_set(args.set_id)
    if mset is None:
        return 1
    models_dir = _models_dir(args)

    def on_file(name: str, i: int, n: int) -> None:
        print(f"  [{i}/{n}] hashing {name}", file=sys.stderr)

    st, results = verify_set(mset, models_dir, progress=on_file)
    bad = [r for r in results if r.ok is False]
    unknown = [r for r in results if r.ok is None]
    for r in bad:
        print(f"MISMATCH {r.path} (expected {r.expected}, got {r.actual})")
    for r in unknown:
        print(f"UNCHECKED {r.path} (no reference hash: not downloaded by the Studio)")
    missing = [f for f in st.files if f.file.required and f.state.value in ("missing", "partial")]
    for f in missing:
        print(f"MISSING  {f.file.repo_id}/{f.file.filename} ({f.state.value})")
    ok = sum(1 for r in results if r.ok)
    print(f"{mset.title}: {ok} files verified, {len(bad)} damaged, {len(missing)} missing.")
    return 1 if bad or missing else 0
