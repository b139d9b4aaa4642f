"""Project bundles: one zip file that carries a whole project to another Studio.

Layout::

    manifest.json          format and app version, project, bin, timeline, takes with
                           recipes, identities used (consent records, images, clips), and
                           every media file with its SHA-256 and size
    media/<sha256>         the media files, stored (not compressed: they are MP4/WAV/PNG)

:func:`export_bundle` writes it atomically, re-hashing every media file as it copies it (a
damaged library file is reported, never bundled). :func:`import_bundle` checks *everything*
before the library is touched:

1. the file is a zip; entry count, names (no absolute paths, ``..``, backslashes, symlinks,
   nothing outside ``media/`` but ``manifest.json``), declared sizes against a limit and the
   free disk, per-entry compression ratios (zip bombs);
2. the manifest: format, a supported version, its structure, every hash it references
   listed, every listed file present with the declared size, no unlisted files;
3. every media file is extracted into a staging folder beside the store while its SHA-256
   and size are checked.

Only then does one transaction insert identities, takes, the project, its bin and timeline,
with the staged files moved into the content-addressed store first (existing content is
deduplicated). A failure at any point rolls the transaction back and removes the files this
import added, so the library is either complete or untouched.

Identities already in the library under the same name are reused when their consent record
and media hashes are the same; otherwise the bundle's identity comes in as "Name (imported)".
A project name that is taken gets the same kind of suffix.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, DateTime, LargeBinary, select

from engine.api import CancelToken, DiskFullError
from engine.fsutil import (
    atomic_path,
    disk_full,
    fsync_dir,
    is_disk_full,
    require_free,
    temp_prefix,
)

from .access import IMPORT_STAGING_PREFIX
from .bundle_checks import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MEDIA_PREFIX,
    BundleError,
    check_entry,
    check_media,
    parse_manifest,
)
from .db import DB_WRITE_BYTES, ReadOnlyLibraryError
from .models import Identity, ReferenceImage, VoiceClip
from .models_generation import Project, ProjectBinEntry, Take, TimelineClip
from .projects_repo import free_name, normalize_project_name
from .repository import LibraryError

if TYPE_CHECKING:
    from .repository import Library


#: Limits an import enforces before extracting anything.
MAX_ENTRIES = 20_000
MAX_MANIFEST_BYTES = 64 << 20
DEFAULT_MAX_TOTAL_BYTES = 200 << 30
MAX_COMPRESSION_RATIO = 100
FREE_SPACE_MARGIN = 64 << 20

_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleExport:
    path: Path
    media_files: int
    size_bytes: int


# ----------------------------------------------------------------------------- rows <-> JSON
_ROW_SKIP = {"id", "identity_id", "project_id", "take_id", "image_id", "clip_id", "job_id"}


def _row_json(obj: Any, skip: set[str] = _ROW_SKIP) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in obj.__table__.columns:
        if col.name in skip:
            continue
        value = getattr(obj, col.key)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        out[col.key] = value
    return out


def _row_kwargs(model: type, data: dict[str, Any], skip: set[str] = _ROW_SKIP) -> dict[str, Any]:
    """Constructor arguments for ``model`` from exported JSON (unknown keys are ignored)."""
    kwargs: dict[str, Any] = {}
    for col in model.__table__.columns:  # type: ignore[attr-defined]
        if col.name in skip or col.key not in data:
            continue
        value = data[col.key]
        if value is not None:
            if isinstance(col.type, DateTime):
                value = dt.datetime.fromisoformat(value)
            elif isinstance(col.type, Date):
                value = dt.date.fromisoformat(value)
            elif isinstance(col.type, LargeBinary):
                value = base64.b64decode(value)
        kwargs[col.key] = value
    return kwargs


# ----------------------------------------------------------------------------- export


def _app_version() -> str:
    from idlora_studio import __version__

    return __version__


def _collect_manifest(library: Library, project_id: int) -> tuple[dict[str, Any], list[str]]:
    """The manifest (without the media list) and the hashes of every file it references."""
    media: list[str] = []

    def ref(sha: str | None) -> str | None:
        if sha and sha not in media:
            media.append(sha)
        return sha

    with library._read() as s:  # noqa: SLF001 - same package
        project = s.get(Project, project_id)
        if project is None:
            raise BundleError(f"There is no project with id {project_id}.")
        bin_rows = s.scalars(
            select(ProjectBinEntry)
            .where(ProjectBinEntry.project_id == project_id)
            .order_by(ProjectBinEntry.position, ProjectBinEntry.take_id)
        ).all()
        clip_rows = s.scalars(
            select(TimelineClip)
            .where(TimelineClip.project_id == project_id)
            .order_by(TimelineClip.track, TimelineClip.position_frames, TimelineClip.id)
        ).all()
        take_ids = sorted({b.take_id for b in bin_rows} | {c.take_id for c in clip_rows})
        takes = s.scalars(select(Take).where(Take.id.in_(take_ids)).order_by(Take.id)).all()

        identity_ids: set[int] = set()
        for t in takes:
            if t.identity_id is not None:
                identity_ids.add(t.identity_id)
            if t.image_id is not None:
                img = s.get(ReferenceImage, t.image_id)
                if img is not None:
                    identity_ids.add(img.identity_id)
            if t.clip_id is not None:
                vc = s.get(VoiceClip, t.clip_id)
                if vc is not None:
                    identity_ids.add(vc.identity_id)
        identities = s.scalars(
            select(Identity).where(Identity.id.in_(sorted(identity_ids))).order_by(Identity.id)
        ).all()

        ident_out = []
        for ident in identities:
            consent = None
            if ident.consent_given_by is not None:
                consent = {
                    "given_by": ident.consent_given_by,
                    "date": ident.consent_date.isoformat() if ident.consent_date else None,
                    "scope": ident.consent_scope or "",
                    "document_sha256": ref(ident.consent_document_sha256),
                }
            images = []
            for im in ident.images:
                ref(im.sha256)
                ref(im.thumbnail_sha256)
                images.append({"key": f"image-{im.id}", **_row_json(im)})
            clips = []
            for vc in ident.clips:
                ref(vc.sha256)
                clips.append({"key": f"clip-{vc.id}", **_row_json(vc)})
            ident_out.append(
                {
                    "key": f"identity-{ident.id}",
                    "name": ident.name,
                    "notes": ident.notes,
                    "tags": [t.name for t in ident.tags],
                    "created_at": ident.created_at.isoformat(),
                    "updated_at": ident.updated_at.isoformat(),
                    "consent": consent,
                    "images": images,
                    "clips": clips,
                }
            )

        takes_out = []
        for t in takes:
            ref(t.video_hash)
            ref(t.audio_hash)
            ref(t.thumbnail_hash)
            row = _row_json(t)
            row["recipe"] = json.loads(row.pop("recipe_json"))
            row["timings"] = json.loads(row.pop("timings_json") or "{}")
            takes_out.append(
                {
                    "key": f"take-{t.id}",
                    "identity": f"identity-{t.identity_id}" if t.identity_id else None,
                    "image": f"image-{t.image_id}" if t.image_id else None,
                    "clip": f"clip-{t.clip_id}" if t.clip_id else None,
                    **row,
                }
            )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": _app_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "project": {
                "name": project.name,
                "created_at": project.created_at.isoformat(),
                "updated_at": project.updated_at.isoformat(),
            },
            "bin": [{"take": f"take-{b.take_id}", "position": b.position} for b in bin_rows],
            "timeline": [
                {
                    "take": f"take-{c.take_id}",
                    "track": c.track,
                    "position_frames": c.position_frames,
                    "in_frame": c.in_frame,
                    "out_frame": c.out_frame,
                }
                for c in clip_rows
            ],
            "takes": takes_out,
            "identities": ident_out,
        }
    return manifest, media


def export_bundle(
    library: Library,
    project_id: int,
    out_path: Path | str,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
) -> BundleExport:
    """Write project ``project_id`` with everything it uses to one zip file, atomically.

    Raises :class:`BundleError` (unknown project, missing or damaged library media),
    :class:`engine.api.DiskFullError` (not enough space) and :class:`engine.api.Cancelled`
    (``cancel`` was set); in each case nothing is left behind.
    """
    out_path = Path(out_path)
    manifest, hashes = _collect_manifest(library, project_id)
    media = []
    total = 0
    for sha in hashes:
        p = library.store.path(sha)
        if not p.is_file():
            raise BundleError(
                f"A media file of this project is missing from the library ({sha[:12]}...)."
            )
        size = p.stat().st_size
        media.append({"sha256": sha, "size": size})
        total += size
    manifest["media"] = media
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
    needed = total + len(manifest_bytes) + 22 * (len(media) + 1) * 4 + (1 << 20)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    require_free(out_path.parent, needed, out_path.name)
    done = 0
    try:
        with atomic_path(out_path) as tmp:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                zf.writestr(MANIFEST, manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
                for item in media:
                    sha = item["sha256"]
                    info = zipfile.ZipInfo(MEDIA_PREFIX + sha, date_time=(2020, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_STORED
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    info.file_size = item["size"]
                    h = hashlib.sha256()
                    with (
                        open(library.store.path(sha), "rb") as src,
                        zf.open(info, "w", force_zip64=item["size"] > (1 << 31)) as dst,
                    ):
                        while block := src.read(_CHUNK):
                            if cancel is not None:
                                cancel.raise_if_cancelled()
                            h.update(block)
                            dst.write(block)
                            done += len(block)
                            if progress is not None and total:
                                progress(min(0.99, done / total))
                    if h.hexdigest() != sha:
                        raise BundleError(
                            f"A media file in the library is damaged ({sha[:12]}...): its "
                            "content no longer matches its hash. The bundle was not written."
                        )
    except BundleError:
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            raise disk_full(out_path.parent, needed, out_path.name) from exc
        raise
    if progress is not None:
        progress(1.0)
    return BundleExport(out_path, len(media), out_path.stat().st_size)


# ----------------------------------------------------------------------------- import checks


@dataclass(frozen=True)
class _Checked:
    manifest: dict[str, Any]
    media: dict[str, int]  # sha -> size
    infos: dict[str, zipfile.ZipInfo]


def _inspect(zf: zipfile.ZipFile, path: Path, max_total: int, free_dir: Path) -> _Checked:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise BundleError(
            f"The bundle has {len(infos)} entries, more than the {MAX_ENTRIES} allowed."
        )
    media_infos: dict[str, zipfile.ZipInfo] = {}
    manifest_info = None
    declared = 0
    for info in infos:
        kind = check_entry(info)
        if kind is None:
            continue
        if info.file_size < 0 or info.compress_size < 0:
            raise BundleError(f"The bundle entry {info.filename!r} has an invalid size.")
        declared += info.file_size
        if info.file_size > (1 << 20) and info.file_size > MAX_COMPRESSION_RATIO * max(
            1, info.compress_size
        ):
            raise BundleError(
                f"The bundle entry {info.filename!r} expands {info.file_size // max(1, info.compress_size)}"
                " times; it looks like a zip bomb and is refused."
            )
        if kind == "manifest":
            if manifest_info is not None:
                raise BundleError("The bundle contains two manifests.")
            manifest_info = info
        else:
            if kind in media_infos:
                raise BundleError(f"The bundle contains the file {kind[:12]}... twice.")
            media_infos[kind] = info
    if manifest_info is None:
        raise BundleError(f"{path.name} has no manifest.json: it is not a project bundle.")
    if manifest_info.file_size > MAX_MANIFEST_BYTES:
        raise BundleError("The bundle's manifest is unreasonably large; it is refused.")
    if declared > max_total:
        raise BundleError(
            f"The bundle declares {declared / 1e9:.1f} GB of content, more than the "
            f"{max_total / 1e9:.1f} GB limit."
        )
    require_free(free_dir, declared + FREE_SPACE_MARGIN, f"importing {path.name}")
    manifest = parse_manifest(_read_limited(zf, manifest_info, MAX_MANIFEST_BYTES))
    media = {item["sha256"]: item["size"] for item in manifest["media"]}
    for sha, size in media.items():
        info = media_infos.get(sha)
        if info is None:
            raise BundleError(f"The bundle lacks the media file {sha[:12]}... its manifest lists.")
        if info.file_size != size:
            raise BundleError(
                f"The media file {sha[:12]}... is {info.file_size} bytes in the bundle but the "
                f"manifest says {size}."
            )
    extra = set(media_infos) - set(media)
    if extra:
        raise BundleError(
            f"The bundle contains {len(extra)} media file(s) its manifest does not list."
        )
    return _Checked(manifest, media, media_infos)


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise BundleError(f"The bundle is damaged or truncated ({exc}).") from exc
    if len(data) > limit:
        raise BundleError(f"The bundle entry {info.filename!r} is larger than it declares.")
    return data


def _extract(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    sha: str,
    size: int,
    dest: Path,
    cancel: CancelToken | None = None,
) -> None:
    """Copy one media entry to ``dest``, checking size and hash as it streams."""
    h = hashlib.sha256()
    n = 0
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with zf.open(info) as src, open(fd, "wb") as out:
            while block := src.read(_CHUNK):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                n += len(block)
                if n > size:
                    raise BundleError(
                        f"The media file {sha[:12]}... is larger than the bundle declares."
                    )
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BundleError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BundleError(f"The bundle is damaged or truncated ({exc}).") from exc
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(dest.parent.parent, size, "the bundle's media") from exc
        raise BundleError(f"The bundle could not be read ({exc}).") from exc
    if n != size:
        raise BundleError(f"The media file {sha[:12]}... is truncated in the bundle.")
    if h.hexdigest() != sha:
        raise BundleError(
            f"The media file {sha[:12]}... does not match its hash: the bundle is damaged."
        )


# ----------------------------------------------------------------------------- import


def import_bundle(
    path: Path | str,
    library: Library,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Import a bundle into ``library``; returns the new project's id.

    Everything is checked before the library changes (see the module docstring). Raises
    :class:`BundleError` with a sentence naming the problem, :class:`engine.api.DiskFullError`
    or :class:`engine.api.Cancelled` (``cancel`` set before the commit began); in each case the
    library is unchanged.
    """
    path = Path(path)
    if library.read_only:
        raise ReadOnlyLibraryError(library.read_only)
    if path.is_dir():
        raise BundleError(
            f"{path} is a folder, not a bundle: give the bundle file itself (a .idlora file)."
        )
    if not path.is_file():
        raise BundleError(f"{path.name} does not exist.")
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path.name} is not a project bundle (it is not a zip file).")
    data_dir = library.paths.data_dir
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise BundleError(f"{path.name} is not a readable project bundle ({exc}).") from exc
    try:
        staging = Path(tempfile.mkdtemp(prefix=temp_prefix(IMPORT_STAGING_PREFIX), dir=data_dir))
    except OSError as exc:
        zf.close()
        if is_disk_full(exc):
            raise disk_full(data_dir, FREE_SPACE_MARGIN, f"importing {path.name}") from exc
        raise
    try:
        with zf:
            checked = _inspect(zf, path, max_total_bytes, data_dir)
            total = sum(checked.media.values()) or 1
            done = 0
            for sha, size in checked.media.items():
                _extract(zf, checked.infos[sha], sha, size, staging / sha, cancel)
                done += size
                if progress is not None:
                    progress(0.85 * done / total)
        check_media(checked.manifest, staging)
        if progress is not None:
            progress(0.9)
        if cancel is not None:
            cancel.raise_if_cancelled()  # the last moment: past here the import commits
        project_id = _commit(library, checked.manifest, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress is not None:
        progress(1.0)
    return project_id


def _move_into_store(library: Library, staged: Path, sha: str) -> bool:
    """Move a verified file into the store; True when this import added it."""
    target = library.store.path(sha)
    try:
        if target.is_file() and target.stat().st_size == staged.stat().st_size:
            return False
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    fsync_dir(target.parent)
    return True


def _same_identity(ident: Identity, data: dict[str, Any]) -> bool:
    consent = data.get("consent")
    mine = None
    if ident.consent_given_by is not None:
        mine = {
            "given_by": ident.consent_given_by,
            "date": ident.consent_date.isoformat() if ident.consent_date else None,
            "scope": ident.consent_scope or "",
            "document_sha256": ident.consent_document_sha256,
        }
    theirs = None
    if consent is not None:
        theirs = {
            "given_by": consent.get("given_by"),
            "date": consent.get("date"),
            "scope": consent.get("scope") or "",
            "document_sha256": consent.get("document_sha256"),
        }
    return (
        mine == theirs
        and {i.sha256 for i in ident.images} == {i["sha256"] for i in data["images"]}
        and {c.sha256 for c in ident.clips} == {c["sha256"] for c in data["clips"]}
    )


def _commit(library: Library, m: dict[str, Any], staging: Path) -> int:
    from .repository import Library as _Library
    from .values import normalize_name

    added: list[str] = []
    try:
        with library.store.writing():
            for item in m["media"]:
                if _move_into_store(library, staging / item["sha256"], item["sha256"]):
                    added.append(item["sha256"])
            with library._write() as s:  # noqa: SLF001 - same package, one transaction
                ident_ids: dict[str, int] = {}
                image_ids: dict[str, int] = {}
                clip_ids: dict[str, int] = {}
                taken_names = set(s.scalars(select(Identity.name)))
                for data in m["identities"]:
                    display, key = normalize_name(data["name"])
                    existing = s.scalar(select(Identity).where(Identity.name_key == key))
                    if existing is not None and _same_identity(existing, data):
                        ident_ids[data["key"]] = existing.id
                        by_sha = {i.sha256: i.id for i in existing.images}
                        for im in data["images"]:
                            image_ids[im["key"]] = by_sha[im["sha256"]]
                        by_sha = {c.sha256: c.id for c in existing.clips}
                        for vc in data["clips"]:
                            clip_ids[vc["key"]] = by_sha[vc["sha256"]]
                        continue
                    if existing is not None:
                        display = free_name(display, taken_names)
                    display, key = normalize_name(display)
                    taken_names.add(display)
                    consent = data.get("consent")
                    ident = Identity(
                        name=display,
                        name_key=key,
                        notes=data.get("notes") or "",
                        consent_given_by=consent["given_by"] if consent else None,
                        consent_date=dt.date.fromisoformat(consent["date"]) if consent else None,
                        consent_scope=consent.get("scope") if consent else None,
                        consent_document_sha256=consent.get("document_sha256") if consent else None,
                    )
                    if data.get("created_at"):
                        ident.created_at = dt.datetime.fromisoformat(data["created_at"])
                    if data.get("updated_at"):
                        ident.updated_at = dt.datetime.fromisoformat(data["updated_at"])
                    ident.tags = _Library._get_tags(s, tuple(sorted(set(data.get("tags") or []))))  # noqa: SLF001
                    s.add(ident)
                    s.flush()
                    ident_ids[data["key"]] = ident.id
                    for im in data["images"]:
                        row = ReferenceImage(
                            identity_id=ident.id, **_row_kwargs(ReferenceImage, im)
                        )
                        s.add(row)
                        s.flush()
                        image_ids[im["key"]] = row.id
                    for vc in data["clips"]:
                        row = VoiceClip(identity_id=ident.id, **_row_kwargs(VoiceClip, vc))
                        s.add(row)
                        s.flush()
                        clip_ids[vc["key"]] = row.id

                take_ids: dict[str, int] = {}
                shas = {
                    item["key"]: item["sha256"]
                    for ident in m["identities"]
                    for item in (*ident["images"], *ident["clips"])
                }
                for t in m["takes"]:
                    data = _localized(t, shas, library)
                    data["recipe_json"] = json.dumps(data.pop("recipe"))
                    data["timings_json"] = json.dumps(data.pop("timings", {}) or {})
                    take = Take(
                        identity_id=ident_ids.get(t["identity"]) if t.get("identity") else None,
                        image_id=image_ids.get(t["image"]) if t.get("image") else None,
                        clip_id=clip_ids.get(t["clip"]) if t.get("clip") else None,
                        **_row_kwargs(Take, data),
                    )
                    s.add(take)
                    s.flush()
                    take_ids[t["key"]] = take.id

                names = set(s.scalars(select(Project.name)))
                pname = free_name(normalize_project_name(m["project"]["name"]), names)
                project = Project(name=pname)
                s.add(project)
                s.flush()
                seen: set[int] = set()
                for b in m["bin"]:
                    tid = take_ids[b["take"]]
                    if tid in seen:
                        continue
                    seen.add(tid)
                    s.add(
                        ProjectBinEntry(
                            project_id=project.id, take_id=tid, position=int(b.get("position", 0))
                        )
                    )
                for c in m["timeline"]:
                    s.add(
                        TimelineClip(
                            project_id=project.id,
                            take_id=take_ids[c["take"]],
                            track=int(c.get("track", 0)),
                            position_frames=c["position_frames"],
                            in_frame=c["in_frame"],
                            out_frame=c["out_frame"],
                        )
                    )
                s.flush()
                project_id = project.id
    except BaseException as exc:
        _remove_added(library, added)
        if isinstance(exc, BundleError | DiskFullError):
            raise
        if is_disk_full(exc):
            raise disk_full(library.paths.data_dir, DB_WRITE_BYTES, "the import") from exc
        if isinstance(exc, Exception) and not isinstance(exc, LibraryError):
            # The database's own text would carry the whole SQL statement: say what it refused.
            reason = getattr(exc, "orig", None) or exc
            raise BundleError(f"The bundle could not be imported: {reason}") from exc
        raise
    return project_id


def _installed_model_sets() -> set[str]:
    from engine.models import registry

    return {"tiny", "tiny-ltx2", "tiny-ltx2.3", *registry.MODEL_SETS}


def _localized(take: dict[str, Any], shas: dict[str, str], library: Library) -> dict[str, Any]:
    """A take row as this machine may keep it: nothing that runs points at the other machine.

    * the LoRA path is dropped (a path on another machine; a registry model set brings its
      own LoRA from this machine's downloads when the take is run again);
    * a model set that is not a known set id (a folder, a file, a hub repo named by the
      other machine), or one the take ran with a LoRA file of its own (which this machine
      does not have), is marked unavailable (empty) and kept in the recipe for the record;
    * an unknown memory profile becomes ``auto``;
    * the request's image and voice become this library's copies of the take's reference
      image and clip (from the bundle), or nothing.
    """
    from engine.memory import PROFILES

    data = dict(take)
    recipe = dict(data["recipe"])
    request = dict(recipe["request"])
    origin = {"model_set": data.get("model_set"), "lora_path": data.get("lora_path")}
    origin["image"], origin["voice"] = request.get("image"), request.get("voice")
    image_sha, clip_sha = shas.get(take.get("image") or ""), shas.get(take.get("clip") or "")
    request["image"] = str(library.store.path(image_sha)) if image_sha else None
    request["voice"] = str(library.store.path(clip_sha)) if clip_sha else None
    recipe["request"] = request
    recipe["imported_from"] = origin
    data["recipe"] = recipe
    data["lora_path"] = None
    if origin["lora_path"] or data.get("model_set") not in _installed_model_sets():
        data["model_set"] = ""
    if data.get("memory_profile") not in ("auto", *PROFILES):
        data["memory_profile"] = "auto"
    return data


def _remove_added(library: Library, added: list[str]) -> None:
    """Undo the files this import put in the store (nothing references them after the
    rollback, unless another writer referenced the same content meanwhile)."""
    if added:
        library._collect_candidates(added)  # noqa: SLF001
