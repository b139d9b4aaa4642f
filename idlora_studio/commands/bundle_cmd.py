"""``idlora-studio bundle export|import`` and ``idlora-studio render``: projects from a terminal.

``bundle export PROJECT OUT`` writes a project bundle, ``bundle import FILE`` reads one into
the library, ``render PROJECT --out FILE`` exports a project's timeline without the window
(MP4, MOV/ProRes, WAV or a PNG frame). PROJECT is a project name or id. No Qt, no torch.
Exit codes: 0 done, 1 a problem (said in one sentence on stderr), 2 usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from idlora_studio.commands.common import describe, errors, fail, open_library, shown


def register(subparsers: Any) -> None:
    """Add the ``bundle`` and ``render`` commands."""
    p = subparsers.add_parser("bundle", help="export or import a project as one file")
    sub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    ex = sub.add_parser("export", help="write a project, its takes and identities to one file")
    ex.add_argument("project", help="project name or id")
    ex.add_argument("out", type=Path, help="bundle file to write (e.g. promo.idlora)")
    ex.set_defaults(func=_cmd_export)
    im = sub.add_parser("import", help="import a project bundle into the library")
    im.add_argument("file", type=Path, help="the bundle file (.idlora)")
    im.set_defaults(func=_cmd_import)

    r = subparsers.add_parser("render", help="export a project's timeline to a media file")
    r.add_argument("project", help="project name or id")
    r.add_argument("--out", type=Path, required=True, metavar="FILE")
    r.add_argument(
        "--format",
        choices=("mp4", "mov", "wav", "png"),
        help="default: from the file name's extension, else mp4",
    )
    r.add_argument("--width", type=int, help=_render_help("width", "output width"))
    r.add_argument("--height", type=int, help=_render_help("height", "output height"))
    r.add_argument("--quality", choices=("high", "medium", "small"), default="high")
    r.add_argument("--frame", type=int, help="timeline frame for --format png (default 0)")
    r.add_argument("--quiet", action="store_true", help="no progress display")
    r.set_defaults(func=_cmd_render)


def _render_help(name: str, text: str) -> str:
    from engine.limits import RENDER

    return RENDER[name].help(f"{text} (default: the timeline's)")


def _find_project(lib: Any, name_or_id: str) -> Any:
    from idlora_studio.library.projects_repo import ProjectsRepository
    from idlora_studio.library.repository import text_of

    found = ProjectsRepository.from_library(lib).find(text_of(name_or_id))
    if found is None:
        raise LookupError(f"There is no project named or numbered '{shown(name_or_id)}'.")
    return found


def _progress_printer(enabled: bool, label: str):  # noqa: ANN202
    last = [-1]

    def show(fraction: float) -> None:
        pct = int(fraction * 100)
        if enabled and pct != last[0]:
            last[0] = pct
            print(f"\r{label} {pct:3d}%", end="", file=sys.stderr, flush=True)

    return show


def _cmd_export(args: argparse.Namespace) -> int:
    from idlora_studio.library.bundle import export_bundle

    try:
        with open_library(writing=False) as lib:
            project = _find_project(lib, args.project)
            result = export_bundle(lib, project.id, args.out)
    except errors() as exc:
        return fail(describe(exc))
    print(
        f"Exported project {project.name!r} to {result.path} "
        f"({result.media_files} media files, {result.size_bytes / 1e6:.1f} MB)."
    )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from idlora_studio.library.bundle import import_bundle
    from idlora_studio.library.projects_repo import ProjectsRepository

    try:
        with open_library(writing=True) as lib:
            project_id = import_bundle(args.file, lib)
            project = ProjectsRepository.from_library(lib).get(project_id)
    except errors() as exc:
        return fail(describe(exc))
    print(
        f"Imported project {project.name!r} (id {project.id}) with {len(project.bin)} takes "
        f"and {len(project.clips)} timeline clips."
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from engine.export import export_timeline, load_or_create_credentials
    from idlora_studio.library.projects_repo import ProjectsRepository
    from idlora_studio.paths import Paths

    show = _progress_printer(not args.quiet and sys.stderr.isatty(), "Rendering")
    try:
        with open_library(writing=False) as lib:
            project = _find_project(lib, args.project)
            spec = ProjectsRepository.from_library(lib).timeline_spec(project.id)
            if not spec.clips:
                return fail(f"The timeline of project {project.name!r} is empty")
            try:
                creds = load_or_create_credentials(
                    Paths.from_env().config_dir / "content-credentials"
                )
            except OSError:  # a read-only config folder: sign with a one-off identity
                creds = None
            result = export_timeline(
                spec,
                args.out,
                args.format,
                width=args.width,
                height=args.height,
                quality=args.quality,
                frame_index=args.frame,
                progress=show,
                credentials=creds,
            )
    except errors() as exc:
        if not args.quiet and sys.stderr.isatty():
            print(file=sys.stderr)
        return fail(describe(exc))
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    what = "frame" if result.format == "png" else f"{result.duration_s:.2f} s"
    print(f"Rendered {project.name!r} to {result.path} ({what}); recipe in {result.sidecar_path}.")
    return 0
