"""Fetch a model set from the Hugging Face hub: disk check, progress, resume, cancel, checksums.

Qt-free; the Studio runs :class:`Downloader` in a worker thread and forwards its progress callback
to a signal. Transfers go through ``huggingface_hub``: the hub's file listing
(``HfApi.list_repo_tree``) resolves sub-folder patterns, ``get_hf_file_metadata`` (HEAD on the
``resolve`` URL) gives size, ETag (the LFS sha256 for large files), commit and the CDN location,
and ``huggingface_hub.file_download.http_get`` streams the bytes, sending ``Range`` to continue a
partial file and retrying dropped connections from where they broke.

Why not ``hf_hub_download`` per file: since huggingface_hub 1.x it writes each download to a
process-unique temporary file and deletes it on any failure, so a download that is cancelled or
killed restarts from zero. A 38 GB transformer must survive both, so partial files are ours:
``<models_dir>/.downloads/<owner>--<name>/<path>.incomplete`` with a ``.json`` note of the ETag it
belongs to; the next run continues it with a Range request, and only a verified file is renamed
into ``<models_dir>/<owner>--<name>/<path>`` (layout: :mod:`engine.models.registry`).

huggingface_hub hands the body over in ``DOWNLOAD_CHUNK_SIZE`` pieces (10 MiB): progress, cancel
and the point a dropped connection resumes from move in those steps.

Verification: a file's sha256 must equal the registry's pinned hash when there is one, else the
hub's LFS sha256 (the ETag of LFS files); small non-LFS files are checked against their git blob
hash (the ETag the hub sends for them). A mismatch deletes the bad file and raises
:class:`ChecksumMismatchError` naming it.

Endpoint: the ``endpoint`` argument, else ``HF_ENDPOINT`` as set *now* (huggingface_hub reads it
only at import), else the public hub. Offline mode (``HF_HUB_OFFLINE``) refuses with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.api import Cancelled, CancelToken, DiskFullError, EngineError, ModelNotFoundError
from engine.fsutil import atomic_write_text, free_bytes, fsync_dir, sha256_file
from engine.models.registry import (
    FileState,
    ModelFile,
    ModelSet,
    SetStatus,
    local_path,
    read_json,
    resolved_paths,
    state_path,
    status,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


class ChecksumMismatchError(EngineError):
    """A downloaded (or verified) file's hash differs from the expected one; the file was removed."""

    def __init__(self, path: str, expected: str, actual: str, kind: str = "sha256") -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{path}: checksum mismatch ({kind} expected {expected[:12]}…, got {actual[:12]}…). "
            "The damaged file was deleted; download it again."
        )


class NetworkError(EngineError):
    """The hub could not be reached (offline, connection refused, timeout). Retrying may help."""


@dataclass(frozen=True)
class DownloadProgress:
    """Passed to the progress callback (throttled to a few calls a second, plus file boundaries).

    ``bytes_done``/``bytes_total`` cover the whole set, counting bytes already on disk;
    ``speed_bps`` is smoothed over the last seconds; ``eta_s`` is None until a speed is known.
    ``phase``: "checking", "downloading", "verifying" or "done".
    """

    bytes_done: int
    bytes_total: int
    speed_bps: float
    eta_s: float | None
    current_file: str
    file_index: int
    file_count: int
    phase: str

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


@dataclass(frozen=True)
class PlannedFile:
    """One concrete repo file to fetch, with what the hub says about it."""

    entry: ModelFile
    path_in_repo: str
    url: str
    size: int
    etag: str
    commit: str | None
    sha256: str | None  # expected sha256 (registry pin, or hub LFS), None for git-hashed files

    @property
    def label(self) -> str:
        return f"{self.entry.repo_id}/{self.path_in_repo}"


@dataclass(frozen=True)
class DownloadResult:
    """What :meth:`Downloader.download_set` did."""

    model_set: ModelSet
    paths: tuple[Path, ...]
    bytes_downloaded: int
    files_skipped: int


@dataclass(frozen=True)
class VerifyResult:
    """One file's outcome in :func:`verify_set`: ``ok`` True/False, or None when no reference hash
    is known (a file placed by hand)."""

    path: Path
    ok: bool | None
    expected: str | None
    actual: str | None


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The hub endpoint to use: argument, else ``HF_ENDPOINT`` now, else the public hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def git_blob_sha1(path: Path, chunk: int = 1 << 20) -> str:
    """Git's blob hash of a file (sha1 of ``b"blob <size>\\0"`` + content), as the hub's ETag of
    non-LFS files."""
    h = hashlib.sha1()  # noqa: S324 - git's object id, not a security use
    h.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- progress


class _Meter:
    """Aggregates byte counts from the transfer into throttled :class:`DownloadProgress` calls."""

    def __init__(
        self,
        callback: Callable[[DownloadProgress], None] | None,
        total: int,
        done: int,
        file_count: int,
        interval_s: float = 0.2,
    ) -> None:
        self._cb = callback
        self.total = total
        self.done = done
        self.file_count = file_count
        self.file_index = 0
        self.current = ""
        self.phase = "checking"
        self._interval = interval_s
        self._lock = threading.Lock()
        self._last_emit = 0.0
        self._win_t = time.monotonic()
        self._win_bytes = 0
        self.speed = 0.0
        self.transferred = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            self.transferred += max(n, 0)
            self._win_bytes += n
            now = time.monotonic()
            dt = now - self._win_t
            # First estimate quickly, then smooth over quarter-second windows.
            if dt >= (0.25 if self.speed else 0.02):
                inst = max(self._win_bytes, 0) / dt
                self.speed = inst if self.speed == 0.0 else 0.3 * inst + 0.7 * self.speed
                self._win_t, self._win_bytes = now, 0
        self.emit()

    def emit(self, force: bool = False) -> None:
        if self._cb is None:
            return
        now = time.monotonic()
        if not force and now - self._last_emit < self._interval:
            return
        self._last_emit = now
        left = max(self.total - self.done, 0)
        eta = left / self.speed if self.speed > 0 else None
        self._cb(
            DownloadProgress(
                bytes_done=min(self.done, self.total),
                bytes_total=self.total,
                speed_bps=self.speed,
                eta_s=eta,
                current_file=self.current,
                file_index=self.file_index,
                file_count=self.file_count,
                phase=self.phase,
            )
        )


class _BarHook:
    """Stands in for huggingface_hub's tqdm bar: forwards byte counts and checks cancel per chunk."""

    def __init__(self, meter: _Meter, cancel: CancelToken) -> None:
        self._meter = meter
        self._cancel = cancel

    def __enter__(self) -> _BarHook:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        # Raised before the chunk is written: the partial file stays consistent.
        if self._cancel.cancelled:
            raise Cancelled("download cancelled; the partial file is kept and resumes next time")
        self._meter.add(int(n))

    def close(self) -> None:
        return None


# ----------------------------------------------------------------------------- downloader


class Downloader:
    """Downloads model sets; see the module docstring. One instance may serve many downloads.

    ``disk_margin_bytes``: free space kept beyond the bytes still to fetch (default 1 GB or 2%).
    """

    def __init__(
        self,
        *,
        disk_margin_bytes: int | None = None,
        revision: str | None = None,
        progress_interval_s: float = 0.2,
    ) -> None:
        self.disk_margin_bytes = disk_margin_bytes
        self.revision = revision
        self.progress_interval_s = progress_interval_s

    # --- hub access, with errors turned into sentences ---

    def _hub_call(self, what: str, repo_id: str, endpoint: str, token: str | None, fn: Callable):
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            from huggingface_hub.errors import RemoteEntryNotFoundError
        except ImportError:  # huggingface_hub < 1.0
            from huggingface_hub.errors import EntryNotFoundError as RemoteEntryNotFoundError

        try:
            return fn()
        except GatedRepoError as exc:
            raise ModelNotFoundError(
                f"{repo_id} is gated: accept its licence at {endpoint}/{repo_id} while signed in, "
                "then give the Studio an access token (Settings, or `hf auth login`).",
                (repo_id,),
            ) from exc
        except RemoteEntryNotFoundError as exc:
            raise ModelNotFoundError(
                f"{what} was not found in {repo_id} (404). The model set may have moved; update "
                "the Studio or point it at files on disk.",
                (f"{repo_id}/{what}",),
            ) from exc
        except RevisionNotFoundError as exc:
            raise ModelNotFoundError(f"{repo_id} has no revision {self.revision!r}.") from exc
        except RepositoryNotFoundError as exc:
            hint = "" if token else " If it is private or gated, sign in with an access token."
            raise ModelNotFoundError(
                f"{repo_id} was not found on {endpoint} or needs access (HTTP "
                f"{exc.response.status_code}).{hint}",
                (repo_id,),
            ) from exc
        except OfflineModeIsEnabled as exc:
            raise NetworkError(_offline_message()) from exc
        except HfHubHTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            if code in (401, 403):
                raise ModelNotFoundError(
                    f"{endpoint} refused access to {repo_id} (HTTP {code}): sign in with a token "
                    "that may read it.",
                    (repo_id,),
                ) from exc
            raise NetworkError(
                f"{endpoint} answered HTTP {code} for {repo_id}: try again later."
            ) from exc
        except _transport_errors() as exc:
            raise NetworkError(
                f"Cannot reach {endpoint} ({type(exc).__name__}). Check the internet connection "
                "(and HF_ENDPOINT / proxy settings); a started download resumes where it stopped."
            ) from exc

    def plan(
        self,
        model_set: ModelSet,
        models_dir: Path,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        include_optional: bool = True,
    ) -> list[PlannedFile]:
        """Resolve patterns and fetch each file's size/ETag from the hub (no file bytes)."""
        from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

        ep = resolve_endpoint(endpoint)
        api = HfApi(endpoint=ep, token=token)
        planned: list[PlannedFile] = []
        for mf in model_set.files:
            if not mf.required and not include_optional:
                continue
            rev = self.revision or mf.revision
            lfs_sha: dict[str, str] = {}
            if mf.is_pattern:
                root = mf.listing_root or None

                def _list(mf: ModelFile = mf, root: str | None = root, rev: str = rev) -> list:
                    return list(
                        api.list_repo_tree(
                            mf.repo_id, path_in_repo=root, recursive=True, revision=rev
                        )
                    )

                entries = self._hub_call(mf.filename, mf.repo_id, ep, token, _list)
                files = [e for e in entries if hasattr(e, "blob_id") and mf.matches(e.path)]
                if not files:
                    raise ModelNotFoundError(
                        f"No file in {mf.repo_id} matches {mf.filename!r}.", (mf.filename,)
                    )
                for e in files:
                    if e.lfs is not None:
                        lfs_sha[e.path] = e.lfs.sha256
                listing = {"files": [{"path": e.path, "size": e.size} for e in files]}
                lp = state_path(models_dir, mf.repo_id, mf.filename, ".listing.json")
                lp.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(lp, json.dumps(listing, indent=1))
                paths = sorted(e.path for e in files)
            else:
                paths = [mf.filename]
            for p in paths:
                url = hf_hub_url(mf.repo_id, p, revision=rev, endpoint=ep)

                def _head(url: str = url) -> Any:
                    return get_hf_file_metadata(url, token=token, endpoint=ep)

                meta = self._hub_call(p, mf.repo_id, ep, token, _head)
                if meta.etag is None or meta.size is None:
                    raise NetworkError(f"{ep} sent no ETag/size for {mf.repo_id}/{p}.")
                expected = mf.sha256 if not mf.is_pattern else None
                if expected is None:
                    expected = lfs_sha.get(p)
                if expected is None and _SHA256_RE.match(meta.etag):
                    expected = meta.etag
                planned.append(
                    PlannedFile(
                        entry=mf,
                        path_in_repo=p,
                        url=meta.location or url,
                        size=int(meta.size),
                        etag=meta.etag,
                        commit=meta.commit_hash,
                        sha256=expected,
                    )
                )
        return planned

    def download_set(
        self,
        model_set: ModelSet,
        models_dir: Path,
        *,
        progress: Callable[[DownloadProgress], None] | None = None,
        cancel: CancelToken | None = None,
        endpoint: str | None = None,
        token: str | None = None,
        include_optional: bool = True,
    ) -> DownloadResult:
        """Download every file of ``model_set`` into ``models_dir`` (verified, resumable).

        Raises :class:`~engine.api.DiskFullError` before any byte is fetched when the disk is too
        full, :class:`~engine.api.Cancelled` when ``cancel`` is set (partial file kept),
        :class:`ChecksumMismatchError`, :class:`~engine.api.ModelNotFoundError` (404, gated,
        401) or :class:`NetworkError` (offline, unreachable).
        """
        from huggingface_hub import constants

        models_dir = Path(models_dir)
        cancel = cancel or CancelToken()
        if model_set.builtin:
            return DownloadResult(model_set, (), 0, 0)
        if constants.is_offline_mode():
            raise NetworkError(_offline_message())
        ep = resolve_endpoint(endpoint)
        models_dir.mkdir(parents=True, exist_ok=True)

        # 1. What is there to fetch (HEAD requests and listings only).
        plan = self.plan(
            model_set, models_dir, endpoint=ep, token=token, include_optional=include_optional
        )
        cancel.raise_if_cancelled()

        # 2. What is already here: verified files are skipped, partial files continue.
        skip: set[str] = set()
        have = 0
        for pf in plan:
            if _is_verified_current(models_dir, pf):
                skip.add(pf.label)
                have += pf.size
            else:
                have += _partial_size(models_dir, pf)
        total = sum(pf.size for pf in plan)

        # 3. Disk space for what is left, before any byte is written.
        remaining = total - have
        margin = self.disk_margin_bytes
        if margin is None:
            margin = max(1_000_000_000, remaining // 50)
        free = free_bytes(models_dir)
        if remaining > 0 and free < remaining + margin:
            err = DiskFullError(
                f"Not enough disk space for {model_set.title}: {(remaining + margin) / 1e9:.1f} GB "
                f"needed in {models_dir}, {free / 1e9:.1f} GB free. Free some space or choose "
                "another models folder."
            )
            err.needed_bytes = remaining + margin  # type: ignore[attr-defined]
            err.free_bytes = free  # type: ignore[attr-defined]
            raise err

        # 4. Fetch, verify, move into place, one file at a time.
        meter = _Meter(progress, total, have, len(plan), self.progress_interval_s)
        meter.phase = "downloading"
        meter.emit(force=True)
        paths: list[Path] = []
        for i, pf in enumerate(plan, start=1):
            meter.file_index, meter.current = i, pf.label
            final = local_path(models_dir, pf.entry.repo_id, pf.path_in_repo)
            if pf.label not in skip:
                cancel.raise_if_cancelled()
                meter.phase = "downloading"
                meter.emit(force=True)
                self._fetch_one(models_dir, pf, meter, cancel, ep, token)
            paths.append(final)
        meter.phase = "done"
        meter.current = ""
        meter.emit(force=True)
        return DownloadResult(model_set, tuple(paths), meter.transferred, len(skip))

    def _fetch_one(
        self,
        models_dir: Path,
        pf: PlannedFile,
        meter: _Meter,
        cancel: CancelToken,
        endpoint: str,
        token: str | None,
    ) -> None:
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        repo = pf.entry.repo_id
        part = state_path(models_dir, repo, pf.path_in_repo, ".incomplete")
        note = state_path(models_dir, repo, pf.path_in_repo, ".json")
        final = local_path(models_dir, repo, pf.path_in_repo)
        part.parent.mkdir(parents=True, exist_ok=True)

        old = read_json(note)
        if part.exists() and (
            old is None or old.get("etag") != pf.etag or part.stat().st_size > pf.size
        ):
            # A partial file of another version (or too long): it cannot be continued.
            meter.add(-part.stat().st_size)
            part.unlink()
        atomic_write_text(note, json.dumps(_note(pf, verified=False)))

        headers = build_hf_headers(token=token)
        headers["Accept-Encoding"] = "identity"
        if urlparse(pf.url).netloc != urlparse(endpoint).netloc:
            headers.pop("authorization", None)  # never send the token to the CDN
        resume = part.stat().st_size if part.exists() else 0

        def bar(**_: Any) -> _BarHook:
            return _BarHook(meter, cancel)

        with open(part, "ab") as fh:
            try:
                self._hub_call(
                    pf.path_in_repo,
                    repo,
                    endpoint,
                    token,
                    lambda: http_get(
                        pf.url,
                        fh,
                        resume_size=resume,
                        headers=headers,
                        expected_size=pf.size,
                        displayed_filename=pf.path_in_repo,
                        tqdm_class=bar,  # type: ignore[arg-type]
                    ),
                )
            finally:
                fh.flush()
                os.fsync(fh.fileno())

        meter.phase = "verifying"
        meter.emit(force=True)
        actual, expected, kind = _hash_for(part, pf)
        if expected is not None and actual != expected:
            part.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            # The bytes counted for this file are gone.
            meter.add(-pf.size)
            raise ChecksumMismatchError(pf.label, expected, actual, kind)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)
        fsync_dir(final.parent)
        st = final.stat()
        data = _note(pf, verified=expected is not None)
        data.update(sha256=actual if kind == "sha256" else None, mtime_ns=st.st_mtime_ns)
        atomic_write_text(note, json.dumps(data))


def download_set(
    model_set: ModelSet,
    models_dir: Path,
    *,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> DownloadResult:
    """Shortcut for ``Downloader().download_set(...)``."""
    return Downloader().download_set(
        model_set, models_dir, progress=progress, cancel=cancel, endpoint=endpoint, token=token
    )


# ----------------------------------------------------------------------------- helpers


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level exception types of the HTTP client huggingface_hub uses (httpx2 in 2.x,
    httpx in 1.x, requests before)."""
    for mod_name in ("httpx2", "httpx"):
        try:
            mod = __import__(mod_name)
        except ImportError:
            continue
        return (mod.TransportError,)
    import requests

    return (requests.ConnectionError, requests.Timeout)


def _offline_message() -> str:
    return (
        "Offline mode is on (HF_HUB_OFFLINE is set), so models cannot be downloaded. Unset it, "
        "or point the Studio at model files already on disk."
    )


def _note(pf: PlannedFile, *, verified: bool) -> dict[str, Any]:
    return {
        "path": pf.path_in_repo,
        "etag": pf.etag,
        "size": pf.size,
        "commit": pf.commit,
        "expected_sha256": pf.sha256,
        "verified": verified,
    }


def _partial_size(models_dir: Path, pf: PlannedFile) -> int:
    part = state_path(models_dir, pf.entry.repo_id, pf.path_in_repo, ".incomplete")
    note = read_json(state_path(models_dir, pf.entry.repo_id, pf.path_in_repo, ".json"))
    if part.is_file() and note is not None and note.get("etag") == pf.etag:
        return min(part.stat().st_size, pf.size)
    return 0


def _is_verified_current(models_dir: Path, pf: PlannedFile) -> bool:
    final = local_path(models_dir, pf.entry.repo_id, pf.path_in_repo)
    note = read_json(state_path(models_dir, pf.entry.repo_id, pf.path_in_repo, ".json"))
    if not final.is_file() or note is None or not note.get("verified"):
        return False
    st = final.stat()
    return (
        note.get("etag") == pf.etag
        and note.get("size") == st.st_size == pf.size
        and note.get("mtime_ns") == st.st_mtime_ns
    )


def _hash_for(path: Path, pf: PlannedFile) -> tuple[str, str | None, str]:
    """(actual, expected, kind) for a downloaded file."""
    if pf.sha256 is not None:
        return sha256_file(path), pf.sha256, "sha256"
    if _GIT_SHA1_RE.match(pf.etag):
        return git_blob_sha1(path), pf.etag, "git-sha1"
    return sha256_file(path), None, "sha256"  # nothing to compare against: record it only


def verify_set(
    model_set: ModelSet,
    models_dir: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[SetStatus, list[VerifyResult]]:
    """Re-hash every file of ``model_set`` on disk against the hash recorded at download (or the
    registry's pin). A mismatching file is marked unverified (not deleted: it may be the user's).
    ``progress(path, index, count)`` is called before each file. Offline: no hub access."""
    models_dir = Path(models_dir)
    todo: list[tuple[ModelFile, str]] = []
    for mf in model_set.files:
        for p in resolved_paths(models_dir, mf) or []:
            if local_path(models_dir, mf.repo_id, p).is_file():
                todo.append((mf, p))
    results: list[VerifyResult] = []
    for i, (mf, p) in enumerate(todo, start=1):
        final = local_path(models_dir, mf.repo_id, p)
        if progress is not None:
            progress(f"{mf.repo_id}/{p}", i, len(todo))
        note_path = state_path(models_dir, mf.repo_id, p, ".json")
        note = read_json(note_path) or {}
        expected = (
            (mf.sha256 if not mf.is_pattern else None)
            or note.get("expected_sha256")
            or note.get("sha256")
        )
        etag = note.get("etag") or ""
        if expected:
            actual = sha256_file(final)
        elif _GIT_SHA1_RE.match(etag):
            expected, actual = etag, git_blob_sha1(final)
        else:
            results.append(VerifyResult(final, None, None, sha256_file(final)))
            continue
        ok = actual == expected
        if note:
            st = final.stat()
            note.update(verified=ok, mtime_ns=st.st_mtime_ns, size=st.st_size)
            atomic_write_text(note_path, json.dumps(note))
        results.append(VerifyResult(final, ok, expected, actual))
    return status(model_set, models_dir), results


__all__ = [
    "ChecksumMismatchError",
    "DownloadProgress",
    "DownloadResult",
    "Downloader",
    "FileState",
    "NetworkError",
    "PlannedFile",
    "VerifyResult",
    "download_set",
    "git_blob_sha1",
    "resolve_endpoint",
    "verify_set",
]
