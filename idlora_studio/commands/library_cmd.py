"""``idlora-studio library ...``: add, list and remove identities from a terminal.

No Qt and no torch: only the library package (SQLAlchemy, and the media checks when files
are imported). Exit codes: 0 done, 1 rejected input or not found, 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from idlora_studio.commands.common import describe, errors, fail, open_library, shown


def register(subparsers: Any) -> None:
    """Add the ``library`` command and its sub-commands."""
    p = subparsers.add_parser("library", help="manage the identity library")
    sub = p.add_subparsers(dest="library_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create an identity from image and voice files")
    add.add_argument("name")
    add.add_argument("--image", action="append", default=[], type=Path, metavar="PATH")
    add.add_argument("--voice", action="append", default=[], type=Path, metavar="PATH")
    add.add_argument("--tag", action="append", default=[], metavar="TAG")
    add.add_argument("--notes", default="")
    add.add_argument(
        "--consent",
        metavar="TEXT",
        help="who agreed and to what, e.g. 'Ann Lee: demo videos' (recorded with today's date)",
    )
    add.add_argument("--consent-document", type=Path, metavar="PATH")
    add.set_defaults(func=_cmd_add)

    ls = sub.add_parser("list", help="list identities")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--search", default="")
    ls.add_argument("--tag", action="append", default=[], metavar="TAG")
    ls.set_defaults(func=_cmd_list)

    rm = sub.add_parser("remove", help="delete an identity and its media")
    rm.add_argument("name")
    rm.set_defaults(func=_cmd_remove)


def _consent(text: str | None, document: Path | None):  # noqa: ANN202
    from idlora_studio.library.repository import ConsentRecord

    if not text:
        if document is not None:
            raise SystemExit("--consent-document needs --consent TEXT")
        return None
    who, sep, scope = text.partition(":")
    if not sep:
        who, scope = text, text
    from idlora_studio.library.repository import text_of

    return ConsentRecord(
        given_by=text_of(who.strip()),
        date=dt.date.today(),
        scope=text_of(scope.strip()),
        document_path=document,
    )


def _cmd_add(args: argparse.Namespace) -> int:
    from idlora_studio.library.repository import text_of

    try:
        consent = _consent(args.consent, args.consent_document)
        with open_library(writing=True) as lib:
            created = lib.create_identity_with_media(
                args.name,
                images=args.image,
                clips=args.voice,
                consent=consent,
                notes=text_of(args.notes),
                tags=args.tag,
            )
            detail = lib.get_identity(created.identity_id)
    except errors() as exc:
        return fail(describe(exc))
    for res, img in zip(created.images, args.image, strict=True):
        for w in res.warnings:
            print(f"warning: {shown(img.name)}: {w}", file=sys.stderr)
    for res, clip in zip(created.clips, args.voice, strict=True):
        for w in res.warnings:
            print(f"warning: {shown(clip.name)}: {w}", file=sys.stderr)
    print(
        f"added {detail.name!r} (id {detail.id}): {len(detail.images)} image(s), "
        f"{len(detail.clips)} voice clip(s)"
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from idlora_studio.library.repository import text_of

    try:
        with open_library(writing=False) as lib:
            items = lib.list_identities(text_of(args.search), args.tag)
    except errors() as exc:
        return fail(describe(exc))
    if args.json:
        data = [
            {
                "id": x.id,
                "name": x.name,
                "tags": list(x.tags),
                "images": x.image_count,
                "clips": x.clip_count,
                "consent": x.has_consent,
                "thumbnail": str(x.thumbnail_path) if x.thumbnail_path else None,
                "updated_at": x.updated_at.isoformat(),
            }
            for x in items
        ]
        print(json.dumps(data, indent=2))
        return 0
    if not items:
        print("the library is empty" if not (args.search or args.tag) else "no match")
        return 0
    width = max(len(x.name) for x in items)
    for x in items:
        tags = f"  [{', '.join(x.tags)}]" if x.tags else ""
        consent = "" if x.has_consent else "  (no consent recorded)"
        print(f"{x.name:<{width}}  {x.image_count} img  {x.clip_count} clip{tags}{consent}")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    try:
        with open_library(writing=True) as lib:
            found = lib.find_identity(args.name)
            if found is None:
                return fail(f"no identity named '{shown(args.name)}'")
            lib.delete_identity(found.id)
    except errors() as exc:
        return fail(describe(exc))
    print(f"removed {found.name!r}")
    return 0
