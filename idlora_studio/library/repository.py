"""The identity library: people, their reference images, voice clips, consent and tags.

:class:`Library` is the only public entry point. Every method opens its own session and
transaction and returns frozen dataclasses (never ORM objects), so any method may be called
from any thread; the GUI calls the slow ones (imports) from a worker thread.

Durability rules every write follows:

1. all files of an import are *checked* before anything is written (bad input changes
   nothing and raises :class:`ImportRejected` naming the file);
2. media bytes go to the content-addressed store (atomic, fsynced) *before* the rows that
   reference them are committed, in one ``BEGIN IMMEDIATE`` transaction;
3. deletes commit the rows first and then remove files no row references any more.

A crash at any point therefore leaves at worst unreferenced files, which
:meth:`Library.collect_garbage` (also run by :meth:`Library.open`) removes.

Names are unique case-insensitively (after collapsing whitespace), so ``library remove
NAME`` is unambiguous. Tags are normalised to lower case. Each identity with images has
exactly one default image (likewise clips): the first one added becomes the default and
removing the default promotes the oldest remaining one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from engine.api import DiskFullError
from engine.fsutil import disk_full, is_disk_full
from idlora_studio.paths import Paths

from . import access, importer
from .checking import LocalChecks, MediaChecks
from .db import LibraryError, ReadOnlyLibraryError, SessionScopes, make_engine  # noqa: F401
from .media_types import FaceBox, ImageImport, ImportRejected, VoiceImport
from .migrate import HEAD_REVISION, MigrationResult, current_revision, migrate
from .models import (
    Identity,
    ReferenceImage,
    Tag,
    VoiceClip,
    identity_tags,
    media_ref_columns,
    utcnow,
)
from .records import (  # noqa: F401 - re-exported: callers import them from here
    ClipAdded,
    ClipInfo,
    ConsentRecord,
    IdentityCreated,
    IdentityDetail,
    IdentitySummary,
    ImageAdded,
    ImageInfo,
)
from .store import MediaStore
from .values import (  # noqa: F401 - re-exported: callers import them from here
    CLIP_WINDOW_MAX_S,
    CLIP_WINDOW_MIN_S,
    CLIP_WINDOW_TRAINED_S,
    MAX_NAME_LEN,
    MAX_TAG_LEN,
    WINDOW_EPS_S,
    DuplicateNameError,
    InvalidInputError,
    NotFoundError,
    _window_values,
    check_clip_window,
    normalize_name,
    normalize_tags,
    text_of,
)

log = logging.getLogger(__name__)

CLIP_SOURCES = ("imported", "recorded")
ALREADY_PRESENT = "this file is already in the identity; it was not added again"


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _crop_json(crop: tuple[int, int, int, int] | None) -> str | None:
    return None if crop is None else json.dumps([int(v) for v in crop])


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Library(SessionScopes):
    """The identity library on one database file and one media store.

    Create with :meth:`open`; call :meth:`close` when done (or use as a context manager).
    """

    def __init__(self, paths: Paths, engine: Engine, store: MediaStore) -> None:
        super().__init__(engine, store)
        self.paths = paths
        self.migration: MigrationResult | None = None
        #: where files are checked before an import (:mod:`.checking`); the window swaps in
        #: a child process so that no check holds the GUI process's GIL
        self.checks: MediaChecks = LocalChecks()

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def open(cls, paths: Paths, *, collect: bool = True, read_only: bool | None = None) -> Library:
        """Create folders, back up and migrate the database if needed, connect.

        With ``collect`` (the default) unreferenced media left by an earlier crash is
        removed, unless another process is busy importing, and so is the debris of
        interrupted runs (:func:`access.clean_debris`). A library whose folder or database is
        read-only, or whose disk is too full for a write to start, opens *read-only*
        (``read_only`` True forces it, False refuses it): everything can be browsed, played,
        rendered and exported elsewhere; changes raise :class:`ReadOnlyLibraryError`, and
        :attr:`read_only` says why.
        """
        reason = None if read_only is False else access.read_only_reason(paths)
        if read_only and reason is None:
            reason = "opened read-only on request"
        if reason is None:
            try:
                return cls._open_writable(paths, collect)
            except Exception as exc:
                # A disk too full for SQLite to start its WAL fails the open itself.
                reason = None if read_only is False else access.disk_too_full(paths)
                if reason is None:
                    if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                        raise disk_full(
                            paths.data_dir, access.MIN_FREE_BYTES, "the library"
                        ) from exc
                    raise
        return cls._open_read_only(paths, reason)

    @classmethod
    def _open_writable(cls, paths: Paths, collect: bool) -> Library:
        try:
            paths.ensure()
        except OSError as exc:
            if is_disk_full(exc):
                raise
            raise LibraryError(
                f"The Studio's folders cannot be created ({exc.strerror}: {exc.filename})."
            ) from exc
        access.make_private(paths)
        engine = make_engine(paths.db_path)
        try:
            result = migrate(engine, paths.db_path, paths.backups_dir)
            access.make_private(paths)  # a new database file gets 0600 too
            lib = cls(paths, engine, MediaStore(paths.media_dir))
            lib.migration = result
            lib._backfill_peaks()
            if collect:
                lib.collect_garbage(blocking=False)
                access.clean_debris(paths)
        except BaseException:
            engine.dispose()
            raise
        return lib

    @classmethod
    def _open_read_only(cls, paths: Paths, reason: str) -> Library:
        for folder in (paths.config_dir, paths.cache_dir):  # may live elsewhere, writable
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
        if not paths.db_path.is_file():
            raise LibraryError(
                f"There is no library in {paths.data_dir}, and none can be created: {reason}."
            )
        revision = current_revision(paths.db_path)
        if revision != HEAD_REVISION:
            raise LibraryError(
                f"The library in {paths.data_dir} needs an upgrade (schema {revision} to "
                f"{HEAD_REVISION}) that cannot be written: {reason}."
            )
        engine = make_engine(paths.db_path, read_only=True)
        lib = cls(paths, engine, MediaStore(paths.media_dir, read_only=reason))
        lib.migration = MigrationResult(revision, HEAD_REVISION, None)
        log.info("library opened read-only: %s", reason)
        return lib

    def use_checks(self, checks: MediaChecks) -> None:
        """Check files with ``checks`` from now on (the previous ones are closed)."""
        old, self.checks = self.checks, checks
        old.close()

    def close(self) -> None:
        self.checks.close()
        self._engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ media
    def media_path(self, sha256: str) -> Path:
        """Path of a stored file by its hash (ids and hashes come from the dataclasses)."""
        return self.store.path(sha256)

    def _referenced(self, s: Session, candidates: Iterable[str] | None = None) -> set[str]:
        found: set[str] = set()
        cand = None if candidates is None else sorted(set(candidates))
        for table, column in media_ref_columns():
            t = Identity.metadata.tables[table]
            col = t.c[column]
            q = select(col).where(col.is_not(None)).distinct()
            if cand is not None:
                q = q.where(col.in_(cand))
            found.update(s.scalars(q))
        return found

    def collect_garbage(self, *, blocking: bool = True) -> int:
        """Remove media files no row references and stale temp files; return the count."""
        with self.store.collecting(blocking=blocking) as got:
            if not got:
                return 0
            with self._read() as s:
                referenced = self._referenced(s)
            return self.store.collect(referenced)

    def _collect_candidates(self, candidates: Iterable[str]) -> None:
        cand = {c for c in candidates if c}
        if not cand:
            return
        try:
            with self.store.collecting(blocking=True):
                with self._read() as s:
                    keep = self._referenced(s, cand)
                self.store.collect(keep, candidates=cand)
        except Exception as exc:  # collection is housekeeping; a later full pass retries
            # One line, not a traceback: in a command this reaches the user's terminal.
            log.warning("unreferenced media are removed at the next start (now: %s)", exc)

    # ------------------------------------------------------------------ reading
    def list_identities(self, search: str = "", tags: Iterable[str] = ()) -> list[IdentitySummary]:
        """Identities sorted by name. ``search``: every word must occur in the name, notes
        or a tag (case-insensitive). ``tags``: identities carrying *all* of them.

        One SQL statement (counts, default thumbnail and tags as correlated subqueries), so
        the cost does not grow with round trips: ~15 ms for 1,000 identities."""
        return self._summaries(search, tags)

    def _summaries(
        self, search: str = "", tags: Iterable[str] = (), ids: list[int] | None = None
    ) -> list[IdentitySummary]:
        img_count = (
            select(func.count(ReferenceImage.id))
            .where(ReferenceImage.identity_id == Identity.id)
            .scalar_subquery()
        )
        clip_count = (
            select(func.count(VoiceClip.id))
            .where(VoiceClip.identity_id == Identity.id)
            .scalar_subquery()
        )
        thumb = (
            select(ReferenceImage.thumbnail_sha256)
            .where(ReferenceImage.identity_id == Identity.id, ReferenceImage.is_default)
            .limit(1)
            .scalar_subquery()
        )
        tag_list = (
            select(func.group_concat(Tag.name, "\x1f"))
            .join(identity_tags, identity_tags.c.tag_id == Tag.id)
            .where(identity_tags.c.identity_id == Identity.id)
            .scalar_subquery()
        )
        q = select(
            Identity.id,
            Identity.name,
            Identity.consent_given_by.is_not(None),
            Identity.updated_at,
            img_count,
            clip_count,
            thumb,
            tag_list,
        )
        for word in search.split():
            pattern = _like(word.casefold())
            tag_match = exists(
                select(1)
                .select_from(identity_tags.join(Tag, identity_tags.c.tag_id == Tag.id))
                .where(
                    identity_tags.c.identity_id == Identity.id,
                    Tag.name.like(pattern, escape="\\"),
                )
            )
            q = q.where(
                or_(
                    Identity.name_key.like(pattern, escape="\\"),
                    func.lower(Identity.notes).like(pattern, escape="\\"),
                    tag_match,
                )
            )
        wanted = normalize_tags(tags)
        if wanted:
            having = (
                select(identity_tags.c.identity_id)
                .join(Tag, identity_tags.c.tag_id == Tag.id)
                .where(Tag.name.in_(wanted))
                .group_by(identity_tags.c.identity_id)
                .having(func.count() == len(wanted))
            )
            q = q.where(Identity.id.in_(having))
        if ids is not None:
            q = q.where(Identity.id.in_(ids))
        q = q.order_by(Identity.name_key)
        with self._read() as s:
            rows = s.execute(q).all()
        out = []
        for iid, name, consent, updated, n_img, n_clip, thumb_sha, tag_str in rows:
            out.append(
                IdentitySummary(
                    id=iid,
                    name=name,
                    tags=tuple(sorted(tag_str.split("\x1f"))) if tag_str else (),
                    thumbnail_path=self.store.path(thumb_sha) if thumb_sha else None,
                    image_count=n_img,
                    clip_count=n_clip,
                    has_consent=bool(consent),
                    updated_at=_aware(updated),
                )
            )
        return out

    def find_identity(self, name: str) -> IdentitySummary | None:
        """The identity with this name (case- and spacing-insensitive), or None."""
        try:
            _display, key = normalize_name(name)
        except InvalidInputError:
            return None
        with self._read() as s:
            iid = s.scalar(select(Identity.id).where(Identity.name_key == key))
        if iid is None:
            return None
        found = self._summaries(ids=[iid])
        return found[0] if found else None

    def get_identity(self, identity_id: int) -> IdentityDetail:
        with self._read() as s:
            ident = s.scalar(
                select(Identity)
                .where(Identity.id == identity_id)
                .options(
                    selectinload(Identity.tags),
                    selectinload(Identity.images),
                    selectinload(Identity.clips),
                )
            )
            if ident is None:
                raise NotFoundError(f"no identity with id {identity_id}")
            return self._detail(ident)

    def all_tags(self) -> list[str]:
        """Every tag in use, sorted."""
        with self._read() as s:
            used = select(identity_tags.c.tag_id)
            return list(s.scalars(select(Tag.name).where(Tag.id.in_(used)).order_by(Tag.name)))

    def _detail(self, ident: Identity) -> IdentityDetail:
        images = tuple(self._image_info(i) for i in ident.images)
        clips = tuple(self._clip_info(c) for c in ident.clips)
        consent = None
        if ident.consent_given_by is not None and ident.consent_date is not None:
            doc = ident.consent_document_sha256
            consent = ConsentRecord(
                given_by=ident.consent_given_by,
                date=ident.consent_date,
                scope=ident.consent_scope or "",
                document_path=self.store.path(doc) if doc else None,
            )
        return IdentityDetail(
            id=ident.id,
            name=ident.name,
            notes=ident.notes,
            tags=tuple(t.name for t in ident.tags),
            consent=consent,
            images=images,
            clips=clips,
            default_image_id=next((i.id for i in images if i.is_default), None),
            default_clip_id=next((c.id for c in clips if c.is_default), None),
            created_at=_aware(ident.created_at),
            updated_at=_aware(ident.updated_at),
        )

    def _image_info(self, r: ReferenceImage) -> ImageInfo:
        crop = json.loads(r.suggested_crop_json) if r.suggested_crop_json else None
        return ImageInfo(
            id=r.id,
            path=self.store.path(r.sha256),
            thumbnail_path=self.store.path(r.thumbnail_sha256) if r.thumbnail_sha256 else None,
            width=r.width,
            height=r.height,
            face_count=r.face_count,
            warnings=tuple(json.loads(r.warnings_json or "[]")),
            is_default=bool(r.is_default),
            sha256=r.sha256,
            extension=r.extension,
            original_name=r.original_name,
            faces=tuple(FaceBox(*f) for f in json.loads(r.faces_json or "[]")),
            suggested_crop=tuple(crop) if crop else None,  # type: ignore[arg-type]
            created_at=_aware(r.created_at),
        )

    def _clip_info(self, c: VoiceClip) -> ClipInfo:
        return ClipInfo(
            id=c.id,
            path=self.store.path(c.sha256),
            duration_s=c.duration_s,
            sample_rate=c.sample_rate,
            channels=c.channels,
            loudness_lufs=c.loudness_lufs,
            best_window=(c.best_start_s, c.best_end_s),
            source=c.source,
            original_name=c.original_name,
            peaks=importer.decode_peaks(c.peaks),
            warnings=tuple(json.loads(c.warnings_json or "[]")),
            is_default=bool(c.is_default),
            sha256=c.sha256,
            gain_db=c.gain_db,
            trimmed_range=(c.trim_start_s, c.trim_end_s),
            clipping=bool(c.clipping),
            noisy=bool(c.noisy),
            created_at=_aware(c.created_at),
            suggested_window=(
                (c.suggested_start_s, c.suggested_end_s)
                if c.suggested_start_s is not None and c.suggested_end_s is not None
                else (c.best_start_s, c.best_end_s)
            ),
        )

    # ------------------------------------------------------------------ identities
    def create_identity(
        self,
        name: str,
        *,
        notes: str = "",
        tags: Iterable[str] = (),
        consent: ConsentRecord | None = None,
    ) -> int:
        """Create an identity without media; returns its id."""
        return self.create_identity_with_media(
            name, notes=notes, tags=tags, consent=consent
        ).identity_id

    def create_identity_with_media(
        self,
        name: str,
        images: Iterable[Path | str | ImageImport] = (),
        clips: Iterable[Path | str | VoiceImport] = (),
        consent: ConsentRecord | None = None,
        *,
        notes: str = "",
        tags: Iterable[str] = (),
        clip_source: str = "imported",
    ) -> IdentityCreated:
        """Create an identity and import all its media in ONE transaction.

        Every file is checked first; if any is rejected (:class:`ImportRejected`, naming the
        file) or the name is taken (:class:`DuplicateNameError`), nothing is stored. Items may
        be paths or already-checked imports (e.g. from the recorder). The first image and
        clip become the defaults.
        """
        display, key = normalize_name(name)
        tag_names = normalize_tags(tags)
        self._check_consent(consent)
        self._check_source(clip_source)
        self._ensure_name_free(key, display)
        checked_images = [self._as_image(i) for i in images]
        checked_clips = [self._as_voice(c) for c in clips]
        doc_path = importer.check_document(consent.document_path) if _has_doc(consent) else None

        written: list[str] = []
        try:
            with self.store.writing():
                image_shas = []
                for im in checked_images:
                    image_shas.append(self._put(im.data, written))
                    if im.thumbnail:
                        self._put(im.thumbnail, written)
                clip_shas = [self._put(c.wav, written) for c in checked_clips]
                doc_sha = self._put_document(doc_path, written) if doc_path else None
                with self._write() as s:
                    ident = Identity(name=display, name_key=key, notes=notes or "")
                    self._apply_consent(ident, consent, doc_sha)
                    ident.tags = self._get_tags(s, tag_names)
                    s.add(ident)
                    try:
                        s.flush()
                    except IntegrityError as exc:
                        raise DuplicateNameError(display) from exc
                    img_results = [
                        self._insert_image(s, ident.id, im, sha)
                        for im, sha in zip(checked_images, image_shas, strict=True)
                    ]
                    clip_results = [
                        self._insert_clip(s, ident.id, c, sha, clip_source)
                        for c, sha in zip(checked_clips, clip_shas, strict=True)
                    ]
                    new_id = ident.id
        except BaseException:
            self._collect_candidates(written)
            raise
        return IdentityCreated(new_id, tuple(img_results), tuple(clip_results))

    def add_media(
        self,
        identity_id: int,
        images: Iterable[Path | str | ImageImport] = (),
        clips: Iterable[Path | str | VoiceImport] = (),
        *,
        clip_source: str = "imported",
    ) -> IdentityCreated:
        """Import several files into an existing identity in ONE transaction (files dropped
        on an identity card): all are checked first; either all land or none."""
        self._check_source(clip_source)
        self._require(identity_id)
        checked_images = [self._as_image(i) for i in images]
        checked_clips = [self._as_voice(c) for c in clips]
        written: list[str] = []
        try:
            with self.store.writing():
                image_shas = []
                for im in checked_images:
                    image_shas.append(self._put(im.data, written))
                    if im.thumbnail:
                        self._put(im.thumbnail, written)
                clip_shas = [self._put(c.wav, written) for c in checked_clips]
                with self._write() as s:
                    ident = self._get(s, identity_id)
                    img_results = [
                        self._insert_image(s, ident.id, im, sha)
                        for im, sha in zip(checked_images, image_shas, strict=True)
                    ]
                    clip_results = [
                        self._insert_clip(s, ident.id, c, sha, clip_source)
                        for c, sha in zip(checked_clips, clip_shas, strict=True)
                    ]
                    ident.updated_at = utcnow()
        except BaseException:
            self._collect_candidates(written)
            raise
        return IdentityCreated(identity_id, tuple(img_results), tuple(clip_results))

    def update_identity(
        self,
        identity_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        tags: Iterable[str] | None = None,
        consent: ConsentRecord | None = None,
        clear_consent: bool = False,
    ) -> None:
        """Change the given fields; ``None`` leaves a field as it is. ``tags`` replaces the
        whole set. ``clear_consent=True`` removes the consent record."""
        new_name = normalize_name(name) if name is not None else None
        tag_names = normalize_tags(tags) if tags is not None else None
        self._check_consent(consent)
        doc_path = importer.check_document(consent.document_path) if _has_doc(consent) else None
        written: list[str] = []
        old_doc: str | None = None
        try:
            with self.store.writing():
                doc_sha = self._put_document(doc_path, written) if doc_path else None
                with self._write() as s:
                    ident = self._get(s, identity_id)
                    old_doc = ident.consent_document_sha256
                    if new_name is not None and new_name[1] != ident.name_key:
                        taken = s.scalar(
                            select(Identity.name).where(
                                Identity.name_key == new_name[1], Identity.id != identity_id
                            )
                        )
                        if taken is not None:
                            raise DuplicateNameError(taken)
                    if new_name is not None:
                        ident.name, ident.name_key = new_name
                    if notes is not None:
                        ident.notes = notes
                    if tag_names is not None:
                        ident.tags = self._get_tags(s, tag_names)
                    if clear_consent:
                        self._apply_consent(ident, None, None)
                    elif consent is not None:
                        self._apply_consent(ident, consent, doc_sha)
                    ident.updated_at = utcnow()
                    s.flush()
                    self._drop_unused_tags(s)
        except BaseException:
            self._collect_candidates(written)
            raise
        self._collect_candidates([old_doc] if old_doc else [])

    def delete_identity(self, identity_id: int) -> None:
        """Delete the identity with its images, clips and consent; free their media."""
        with self._write() as s:
            ident = self._get(s, identity_id)
            media = {ident.consent_document_sha256}
            media.update(
                s.scalars(
                    select(ReferenceImage.sha256).where(ReferenceImage.identity_id == identity_id)
                )
            )
            media.update(
                s.scalars(
                    select(ReferenceImage.thumbnail_sha256).where(
                        ReferenceImage.identity_id == identity_id
                    )
                )
            )
            media.update(
                s.scalars(select(VoiceClip.sha256).where(VoiceClip.identity_id == identity_id))
            )
            # Rows of images/clips/tags go with the identity (ON DELETE CASCADE).
            s.execute(delete(Identity).where(Identity.id == identity_id))
            self._drop_unused_tags(s)
        self._collect_candidates(m for m in media if m)

    # ------------------------------------------------------------------ images
    def _as_image(self, item: Path | str | ImageImport) -> ImageImport:
        return item if isinstance(item, ImageImport) else self.checks.image(item)

    def _as_voice(self, item: Path | str | VoiceImport) -> VoiceImport:
        return item if isinstance(item, VoiceImport) else self.checks.voice(item)

    def add_image(self, identity_id: int, path: Path | str) -> ImageAdded:
        """Check and import an image file; raises :class:`ImportRejected` on bad input."""
        self._require(identity_id)
        return self.add_checked_image(identity_id, self.checks.image(path))

    def add_checked_image(
        self, identity_id: int, checked: ImageImport, *, make_default: bool = False
    ) -> ImageAdded:
        """Store an image that :func:`image_checks.check_image` already accepted (as the
        identity's default image, in the same transaction, with ``make_default``)."""
        written: list[str] = []
        try:
            with self.store.writing():
                sha = self._put(checked.data, written)
                if checked.thumbnail:
                    self._put(checked.thumbnail, written)
                with self._write() as s:
                    ident = self._get(s, identity_id)
                    result = self._insert_image(s, ident.id, checked, sha)
                    if make_default:
                        self._make_default(s, ReferenceImage, ident.id, result.image_id)
                    ident.updated_at = utcnow()
        except BaseException:
            self._collect_candidates(written)
            raise
        return result

    def add_cropped_image(
        self, image_id: int, crop: tuple[int, int, int, int] | None = None
    ) -> ImageAdded:
        """A new reference image cut out of image ``image_id`` (its suggested crop unless
        ``crop`` is given), checked like an import. The original stays; when it was the
        identity's default image, the crop becomes the default."""
        with self._read() as s:
            row = s.get(ReferenceImage, image_id)
            if row is None:
                raise NotFoundError(f"no image with id {image_id}")
            identity_id, sha, was_default = row.identity_id, row.sha256, row.is_default
            name = row.original_name or f"image-{image_id}{row.extension}"
            stored = json.loads(row.suggested_crop_json) if row.suggested_crop_json else None
        box = tuple(crop) if crop is not None else (tuple(stored) if stored else None)
        if box is None:
            raise InvalidInputError(
                f"image {image_id} has no suggested crop (no face was found); give a crop"
            )
        source = Path(name)
        checked = self.checks.crop(self.store.path(sha), box, f"{source.stem}-crop{source.suffix}")
        return self.add_checked_image(identity_id, checked, make_default=was_default)

    def remove_image(self, image_id: int) -> None:
        self._remove_media_row(ReferenceImage, image_id, "image")

    def set_default_image(self, identity_id: int, image_id: int) -> None:
        self._set_default(ReferenceImage, identity_id, image_id, "image")

    # ------------------------------------------------------------------ clips
    def add_voice_clip(
        self, identity_id: int, path: Path | str, *, source: str = "imported"
    ) -> ClipAdded:
        """Check and import a voice clip; raises :class:`ImportRejected` on bad input."""
        self._check_source(source)
        self._require(identity_id)
        return self.add_checked_clip(identity_id, self.checks.voice(path), source=source)

    def add_checked_clip(
        self, identity_id: int, checked: VoiceImport, *, source: str = "recorded"
    ) -> ClipAdded:
        """Store a clip that :func:`audio_checks.check_voice_clip` already accepted (the
        recorder's path: it checks the take itself, then hands the result here)."""
        self._check_source(source)
        written: list[str] = []
        try:
            with self.store.writing():
                sha = self._put(checked.wav, written)
                with self._write() as s:
                    ident = self._get(s, identity_id)
                    result = self._insert_clip(s, ident.id, checked, sha, source)
                    ident.updated_at = utcnow()
        except BaseException:
            self._collect_candidates(written)
            raise
        return result

    def remove_clip(self, clip_id: int) -> None:
        self._remove_media_row(VoiceClip, clip_id, "voice clip")

    def _remove_media_row(
        self, model: type[ReferenceImage] | type[VoiceClip], row_id: int, what: str
    ) -> None:
        """Delete an image or clip row, promote another default if it was the default, and
        collect its media files if nothing else references them."""
        with self._write() as s:
            row = s.get(model, row_id)
            if row is None:
                raise NotFoundError(f"no {what} with id {row_id}")
            media = [row.sha256, getattr(row, "thumbnail_sha256", None)]
            iid, was_default = row.identity_id, row.is_default
            s.execute(delete(model).where(model.id == row_id))
            if was_default:
                self._promote_default(s, model, iid)
            self._touch(s, iid)
        self._collect_candidates(m for m in media if m)

    def set_default_clip(self, identity_id: int, clip_id: int) -> None:
        self._set_default(VoiceClip, identity_id, clip_id, "voice clip")

    def set_clip_window(self, clip_id: int, start_s: float, end_s: float) -> ClipInfo:
        """Choose the reference window of a clip: the part generation encodes.

        ``start_s``/``end_s`` are seconds in the stored clip. The window must lie inside the
        clip and last between :data:`CLIP_WINDOW_MIN_S` and :data:`CLIP_WINDOW_MAX_S`
        (ID-LoRA was trained on ~5 s references). Bad input raises
        :class:`InvalidInputError` (or :class:`NotFoundError`) and changes nothing.
        Returns the updated clip.
        """
        start, end = _window_values(start_s, end_s)
        with self._write() as s:
            row = s.get(VoiceClip, clip_id)
            if row is None:
                raise NotFoundError(f"no voice clip with id {clip_id}")
            start, end = check_clip_window(start, end, row.duration_s)
            row.best_start_s, row.best_end_s = start, end
            self._touch(s, row.identity_id)
            s.flush()
            return self._clip_info(row)

    def reset_clip_window(self, clip_id: int) -> ClipInfo:
        """Put a clip's reference window back to the suggested one; returns the clip."""
        with self._write() as s:
            row = s.get(VoiceClip, clip_id)
            if row is None:
                raise NotFoundError(f"no voice clip with id {clip_id}")
            if row.suggested_start_s is not None and row.suggested_end_s is not None:
                row.best_start_s, row.best_end_s = row.suggested_start_s, row.suggested_end_s
                self._touch(s, row.identity_id)
            s.flush()
            return self._clip_info(row)

    # ------------------------------------------------------------------ internals
    def _put(self, data: bytes, written: list[str]) -> str:
        sha = self.store.put_bytes(data)
        written.append(sha)
        return sha

    def _put_document(self, path: Path, written: list[str]) -> str:
        # A document already in the store (e.g. an unchanged consent passed back) is reused.
        if path.parent.parent == self.store.root and self.store.exists(path.name):
            written.append(path.name)
            return path.name
        try:
            sha = self.store.put_file(path)
        except OSError as exc:
            raise ImportRejected(path, f"cannot read the consent document ({exc})") from exc
        written.append(sha)
        return sha

    def _ensure_name_free(self, key: str, display: str) -> None:
        with self._read() as s:
            existing = s.scalar(select(Identity.name).where(Identity.name_key == key))
        if existing is not None:
            raise DuplicateNameError(existing)

    def _require(self, identity_id: int) -> None:
        with self._read() as s:
            self._get(s, identity_id)

    @staticmethod
    def _get(s: Session, identity_id: int) -> Identity:
        ident = s.get(Identity, identity_id)
        if ident is None:
            raise NotFoundError(f"no identity with id {identity_id}")
        return ident

    @staticmethod
    def _touch(s: Session, identity_id: int) -> None:
        s.execute(update(Identity).where(Identity.id == identity_id).values(updated_at=utcnow()))

    @staticmethod
    def _check_source(source: str) -> None:
        if source not in CLIP_SOURCES:
            raise InvalidInputError(f"clip source must be one of {CLIP_SOURCES}, not {source!r}")

    @staticmethod
    def _check_consent(consent: ConsentRecord | None) -> None:
        if consent is None:
            return
        if not consent.given_by or not consent.given_by.strip():
            raise InvalidInputError("consent: say who gave it")
        if not isinstance(consent.date, dt.date):
            raise InvalidInputError("consent: the date must be a date")
        if consent.date > dt.date.today() + dt.timedelta(days=1):
            raise InvalidInputError(f"consent: the date {consent.date} is in the future")

    @staticmethod
    def _apply_consent(ident: Identity, consent: ConsentRecord | None, doc: str | None) -> None:
        if consent is None:
            ident.consent_given_by = ident.consent_date = ident.consent_scope = None
            ident.consent_document_sha256 = None
            return
        ident.consent_given_by = consent.given_by.strip()
        ident.consent_date = consent.date
        ident.consent_scope = consent.scope
        ident.consent_document_sha256 = doc

    @staticmethod
    def _get_tags(s: Session, names: tuple[str, ...]) -> list[Tag]:
        if not names:
            return []
        existing = {t.name: t for t in s.scalars(select(Tag).where(Tag.name.in_(names)))}
        out = []
        for n in names:
            tag = existing.get(n)
            if tag is None:
                tag = Tag(name=n)
                s.add(tag)
            out.append(tag)
        return out

    @staticmethod
    def _drop_unused_tags(s: Session) -> None:
        s.flush()
        s.execute(delete(Tag).where(~Tag.id.in_(select(identity_tags.c.tag_id))))

    @staticmethod
    def _insert_image(s: Session, identity_id: int, im: ImageImport, sha: str) -> ImageAdded:
        dup = s.scalar(
            select(ReferenceImage.id).where(
                ReferenceImage.identity_id == identity_id, ReferenceImage.sha256 == sha
            )
        )
        if dup is not None:
            return ImageAdded(dup, (*im.warnings, ALREADY_PRESENT), im.faces, im.suggested_crop)
        has_default = s.scalar(
            select(ReferenceImage.id).where(
                ReferenceImage.identity_id == identity_id, ReferenceImage.is_default
            )
        )
        row = ReferenceImage(
            identity_id=identity_id,
            sha256=sha,
            extension=im.extension,
            thumbnail_sha256=_sha_of(im.thumbnail),
            width=im.width,
            height=im.height,
            face_count=len(im.faces),
            faces_json=json.dumps([[f.x, f.y, f.width, f.height] for f in im.faces]),
            suggested_crop_json=_crop_json(im.suggested_crop),
            warnings_json=json.dumps(list(im.warnings)),
            original_name=text_of(im.source.name)[:255],
            is_default=has_default is None,
        )
        s.add(row)
        s.flush()
        return ImageAdded(row.id, tuple(im.warnings), tuple(im.faces), im.suggested_crop)

    @staticmethod
    def _insert_clip(
        s: Session, identity_id: int, c: VoiceImport, sha: str, source: str
    ) -> ClipAdded:
        dup = s.scalar(
            select(VoiceClip.id).where(
                VoiceClip.identity_id == identity_id, VoiceClip.sha256 == sha
            )
        )
        if dup is not None:
            return ClipAdded(dup, (*c.warnings, ALREADY_PRESENT), c.duration_s, c.best_window)
        has_default = s.scalar(
            select(VoiceClip.id).where(VoiceClip.identity_id == identity_id, VoiceClip.is_default)
        )
        row = VoiceClip(
            identity_id=identity_id,
            sha256=sha,
            duration_s=float(c.duration_s),
            source_duration_s=float(c.source_duration_s),
            sample_rate=int(c.sample_rate),
            channels=int(c.channels),
            loudness_lufs=float(c.loudness_lufs),
            gain_db=float(c.gain_db),
            trim_start_s=float(c.trimmed_range[0]),
            trim_end_s=float(c.trimmed_range[1]),
            best_start_s=float(c.best_window[0]),
            best_end_s=float(c.best_window[1]),
            suggested_start_s=float(c.best_window[0]),
            suggested_end_s=float(c.best_window[1]),
            clipping=bool(c.clipping),
            noisy=bool(c.noisy),
            noise_floor_db=float(c.noise_floor_db),
            source=source,
            original_name=text_of(c.source.name)[:255],
            warnings_json=json.dumps(list(c.warnings)),
            peaks=importer.encode_peaks(c.peaks),
            is_default=has_default is None,
        )
        s.add(row)
        s.flush()
        return ClipAdded(row.id, tuple(c.warnings), float(c.duration_s), tuple(c.best_window))

    @staticmethod
    def _promote_default(s: Session, model: type, identity_id: int) -> None:
        oldest = s.scalar(
            select(model.id).where(model.identity_id == identity_id).order_by(model.id).limit(1)
        )
        if oldest is not None:
            s.execute(update(model).where(model.id == oldest).values(is_default=True))

    def _set_default(self, model: type, identity_id: int, item_id: int, what: str) -> None:
        with self._write() as s:
            self._get(s, identity_id)
            owner = s.scalar(select(model.identity_id).where(model.id == item_id))
            if owner is None:
                raise NotFoundError(f"no {what} with id {item_id}")
            if owner != identity_id:
                raise InvalidInputError(
                    f"{what} {item_id} belongs to another identity, not to {identity_id}"
                )
            self._make_default(s, model, identity_id, item_id)
            self._touch(s, identity_id)

    @staticmethod
    def _make_default(s: Session, model: type, identity_id: int, item_id: int) -> None:
        # Clear first, then set: the partial unique index allows one default at a time.
        s.execute(
            update(model)
            .where(and_(model.identity_id == identity_id, model.is_default))
            .values(is_default=False)
        )
        s.execute(update(model).where(model.id == item_id).values(is_default=True))

    def _backfill_peaks(self) -> None:
        """Waveform peaks for clips stored before schema revision 0002."""
        with self._read() as s:
            todo = s.execute(
                select(VoiceClip.id, VoiceClip.sha256).where(VoiceClip.peaks.is_(None))
            )
            todo = todo.all()
        for clip_id, sha in todo:
            try:
                peaks = importer.encode_peaks(importer.compute_peaks(self.store.path(sha)))
            except Exception as exc:  # a missing/damaged file must not stop the Studio opening
                log.warning("cannot compute waveform peaks of clip %s: %s", clip_id, exc)
                peaks = b""
            with self._write() as s:
                s.execute(update(VoiceClip).where(VoiceClip.id == clip_id).values(peaks=peaks))


def _has_doc(consent: ConsentRecord | None) -> bool:
    return consent is not None and consent.document_path is not None


def _sha_of(data: bytes) -> str | None:
    import hashlib

    return hashlib.sha256(data).hexdigest() if data else None
