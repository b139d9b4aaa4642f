"""Downloader against a real HTTP server that speaks the hub's URL layout.

The server (http.server in a thread on 127.0.0.1) serves ``/{repo}/resolve/{rev}/{path}`` (HEAD and
GET; large files redirect to a "CDN" host with X-Linked-Etag/X-Linked-Size like the hub),
``/cdn/...`` with Range support, and ``/api/models/{repo}/tree/{rev}[/{path}]``. It logs every
request with its Range header and the bytes it sent, so resume is checked on the wire.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest

from engine.api import Cancelled, CancelToken, DiskFullError, ModelNotFoundError
from engine.models import download as dl
from engine.models.registry import (
    FileState,
    ModelFile,
    ModelSet,
    local_path,
    state_path,
    status,
)

REPO = "test-org/tiny-ltx"
LORA_REPO = "test-org/tiny-idlora"
GATED_REPO = "test-org/gated"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@dataclass
class FakeHub:
    port: int
    repos: dict[str, dict[str, bytes]]
    log: list[dict] = field(default_factory=list)
    drop_first_get_after: dict[str, int] = field(default_factory=dict)  # path -> bytes
    tamper: dict[str, bytes] = field(default_factory=dict)  # path -> bytes served instead
    advertise_real_hash: bool = False  # with tamper: ETag of the real bytes, body tampered
    chunk_delay_s: float = 0.0
    gated: set[str] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gets(self, path: str) -> list[dict]:
        return [e for e in self.log if e["method"] == "GET" and e["file"] == path]


def _make_handler(hub: FakeHub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _error(self, code: int, error_code: str) -> None:
            body = json.dumps({"error": error_code}).encode()
            self._send(
                code,
                {
                    "X-Error-Code": error_code,
                    "Content-Length": str(len(body)),
                    "Content-Type": "application/json",
                },
                body,
            )

        def _file(self, repo: str, path: str) -> bytes | None:
            return hub.repos.get(repo, {}).get(path)

        def _served(self, path: str, data: bytes) -> bytes:
            return hub.tamper.get(path, data)

        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

        def _route(self) -> None:
            url = self.path.split("?", 1)[0]
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", url):
                return self._tree(m.group(1), m.group(3) or "")
            if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", url):
                return self._resolve(m.group(1), m.group(3))
            if m := re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", url):
                return self._cdn(m.group(1), m.group(2))
            self._error(404, "RepoNotFound")

        def _tree(self, repo: str, root: str) -> None:
            if repo in hub.gated:
                return self._error(403, "GatedRepo")
            if repo not in hub.repos:
                return self._error(404, "RepoNotFound")
            entries = []
            for path, data in sorted(hub.repos[repo].items()):
                if root and not path.startswith(root + "/"):
                    continue
                served = self._served(path, data) if not hub.advertise_real_hash else data
                entry = {"type": "file", "path": path, "size": len(data), "oid": _git_sha1(data)}
                if path.endswith(".safetensors"):
                    entry["lfs"] = {"oid": _sha256(served), "size": len(data), "pointerSize": 130}
                entries.append(entry)
            body = json.dumps(entries).encode()
            hub.log.append({"method": "GET", "file": "(tree)", "range": None, "sent": 0})
            self._send(
                200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
            )

        def _resolve(self, repo: str, path: str) -> None:
            if repo in hub.gated:
                return self._error(403, "GatedRepo")
            if repo not in hub.repos:
                return self._error(404, "RepoNotFound")
            data = self._file(repo, path)
            if data is None:
                return self._error(404, "EntryNotFound")
            hub.log.append(
                {
                    "method": self.command,
                    "file": path,
                    "range": None,
                    "sent": 0,
                    "auth": self.headers.get("authorization"),
                }
            )
            if path.endswith(".safetensors"):  # LFS: redirect to the CDN host like the hub
                served = self._served(path, data) if not hub.advertise_real_hash else data
                self._send(
                    302,
                    {
                        "Location": f"http://localhost:{hub.port}/cdn/{repo}/{path}",
                        "X-Linked-Etag": f'"{_sha256(served)}"',
                        "X-Linked-Size": str(len(data)),
                        "ETag": f'"{_git_sha1(data)}"',
                        "X-Repo-Commit": COMMIT,
                        "Content-Length": "0",
                    },
                )
                return
            body = self._served(path, data)
            self._send(
                200,
                {
                    "ETag": f'"{_git_sha1(data)}"',
                    "X-Repo-Commit": COMMIT,
                    "Content-Length": str(len(body)),
                },
                body,
            )

        def _cdn(self, repo: str, path: str) -> None:
            data = self._file(repo, path)
            if data is None:
                return self._error(404, "EntryNotFound")
            body = self._served(path, data)
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            entry = {
                "method": self.command,
                "file": path,
                "range": rng,
                "sent": 0,
                "auth": self.headers.get("authorization"),
            }
            hub.log.append(entry)
            part = body[start:]
            headers = {"Content-Length": str(len(part)), "Accept-Ranges": "bytes"}
            if rng:
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            self.send_response(206 if rng else 200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            cut = hub.drop_first_get_after.pop(path, None)
            step = 8192
            for i in range(0, len(part), step):
                if cut is not None and entry["sent"] >= cut:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)  # drop mid-body
                    return
                try:
                    self.wfile.write(part[i : i + step])
                except (BrokenPipeError, ConnectionResetError):
                    return
                entry["sent"] += len(part[i : i + step])
                if hub.chunk_delay_s:
                    time.sleep(hub.chunk_delay_s)

    return Handler


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    # conftest sets HF_HUB_OFFLINE=1 and huggingface_hub caches it at import in
    # constants.HF_HUB_OFFLINE (is_offline_mode() returns that attribute): undo both here.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    # http_get hands out 10 MiB chunks (constants.DOWNLOAD_CHUNK_SIZE, read per call): progress,
    # cancel and the resume point move in those steps. Scale it down with the test files.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    repos = {
        REPO: {
            "model_index.json": json.dumps({"_class_name": "LTX2Pipeline"}).encode(),
            "transformer/config.json": b'{"num_layers": 2}',
            "transformer/diffusion_pytorch_model-00001-of-00002.safetensors": _blob(300_000, 1),
            "transformer/diffusion_pytorch_model-00002-of-00002.safetensors": _blob(120_000, 2),
            "vae/diffusion_pytorch_model.safetensors": _blob(50_000, 3),
        },
        LORA_REPO: {"id_lora.safetensors": _blob(80_000, 4), "README.md": b"# card"},
        GATED_REPO: {"weights.safetensors": _blob(1000, 5)},
    }
    fake = FakeHub(port=0, repos=repos, gated={GATED_REPO})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def _set(lora_sha: str | None = None, repo: str = REPO) -> ModelSet:
    files = (
        ModelFile(repo, "model_index.json", 40, "pipeline_index"),
        ModelFile(repo, "transformer/*", 420_000, "transformer"),
        ModelFile(repo, "vae/*", 50_000, "vae", required=False),
        ModelFile(LORA_REPO, "id_lora.safetensors", 80_000, "id_lora", sha256=lora_sha),
    )
    return ModelSet("test", "Test set", "", "ltx2", files, files[-1], "test")


BIG = "transformer/diffusion_pytorch_model-00001-of-00002.safetensors"


def test_download_progress_verify_and_skip(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)  # read at call time, not import time
    events: list[dl.DownloadProgress] = []
    mset = _set()
    res = dl.Downloader(progress_interval_s=0).download_set(
        mset, tmp_path, progress=events.append, cancel=CancelToken()
    )
    total = sum(len(d) for p, d in hub.repos[REPO].items() if p != "transformer/config.json")
    total += len(hub.repos[REPO]["transformer/config.json"]) + 80_000
    assert events[-1].phase == "done"
    assert events[-1].bytes_done == events[-1].bytes_total == total
    done = [e.bytes_done for e in events]
    assert done == sorted(done) and len(set(done)) > 5
    assert any(e.current_file.endswith(BIG) for e in events)
    assert any(e.speed_bps > 0 for e in events)
    # Every file landed, byte-identical, in the diffusers layout; nothing bookkeeping inside.
    for path, data in hub.repos[REPO].items():
        assert local_path(tmp_path, REPO, path).read_bytes() == data
    assert (tmp_path / "test-org--tiny-idlora" / "id_lora.safetensors").read_bytes() == (
        hub.repos[LORA_REPO]["id_lora.safetensors"]
    )
    assert not list((tmp_path / "test-org--tiny-ltx").rglob("*.incomplete"))
    assert res.bytes_downloaded == total and res.files_skipped == 0
    # The hub token went to the hub but never to the CDN host.
    assert all(e["auth"] for e in hub.log if e["file"] == BIG and e["method"] == "HEAD")
    assert all(e["auth"] is None for e in hub.gets(BIG))
    st = status(mset, tmp_path)
    assert st.state is FileState.VERIFIED and st.bytes_present == total

    # Second run: nothing re-downloaded.
    n_gets = len(hub.gets(BIG))
    res2 = dl.download_set(mset, tmp_path, endpoint=hub.endpoint)
    assert len(hub.gets(BIG)) == n_gets and res2.bytes_downloaded == 0
    assert res2.files_skipped == len(res.paths)

    # A file changed on disk is no longer "verified"; verify_set finds the damage.
    target = local_path(tmp_path, REPO, BIG)
    raw = bytearray(target.read_bytes())
    raw[1000] ^= 0xFF
    target.write_bytes(bytes(raw))
    assert status(mset, tmp_path).state is FileState.PRESENT
    _, results = dl.verify_set(mset, tmp_path)
    bad = [r for r in results if r.ok is False]
    assert [r.path for r in bad] == [target]
    assert all(r.ok for r in results if r.path != target)


def test_resume_after_dropped_connection(hub: FakeHub, tmp_path: Path) -> None:
    size = len(hub.repos[REPO][BIG])
    hub.drop_first_get_after[BIG] = 100_000
    dl.download_set(_set(), tmp_path, endpoint=hub.endpoint)
    gets = hub.gets(BIG)
    assert len(gets) == 2
    assert gets[0]["range"] is None and 100_000 <= gets[0]["sent"] < size
    # The retry continued from the last whole chunk written before the break (not from zero)
    # and the server sent only the rest.
    start = int(re.fullmatch(r"bytes=(\d+)-", gets[1]["range"]).group(1))
    assert 64 * 1024 <= start <= gets[0]["sent"]
    assert gets[1]["sent"] == size - start
    assert local_path(tmp_path, REPO, BIG).read_bytes() == hub.repos[REPO][BIG]


def test_cancel_keeps_partial_and_next_run_resumes(hub: FakeHub, tmp_path: Path) -> None:
    size = len(hub.repos[REPO][BIG])
    hub.chunk_delay_s = 0.002
    cancel = CancelToken()
    seen: list[dl.DownloadProgress] = []

    def on_progress(p: dl.DownloadProgress) -> None:
        seen.append(p)
        if p.current_file.endswith(BIG) and p.phase == "downloading" and p.bytes_done > 150_000:
            cancel.cancel()

    with pytest.raises(Cancelled):
        dl.Downloader(progress_interval_s=0).download_set(
            _set(), tmp_path, progress=on_progress, cancel=cancel, endpoint=hub.endpoint
        )
    part = state_path(tmp_path, REPO, BIG, ".incomplete")
    kept = part.stat().st_size
    assert 0 < kept < size
    assert part.read_bytes() == hub.repos[REPO][BIG][:kept]
    assert not local_path(tmp_path, REPO, BIG).exists()
    assert status(_set(), tmp_path).state is FileState.PARTIAL

    hub.chunk_delay_s = 0.0
    before = len(hub.gets(BIG))
    events: list[dl.DownloadProgress] = []
    dl.Downloader(progress_interval_s=0).download_set(
        _set(), tmp_path, progress=events.append, endpoint=hub.endpoint
    )
    resumed = hub.gets(BIG)[before:]
    assert [g["range"] for g in resumed] == [f"bytes={kept}-"]
    assert resumed[0]["sent"] == size - kept
    assert events[0].bytes_done >= kept  # progress starts from what was on disk
    assert local_path(tmp_path, REPO, BIG).read_bytes() == hub.repos[REPO][BIG]
    assert not part.exists()


@pytest.mark.parametrize("how", ["pinned_sha_in_registry", "hub_hash_lies"])
def test_hash_mismatch_rejected(hub: FakeHub, tmp_path: Path, how: str) -> None:
    real = hub.repos[LORA_REPO]["id_lora.safetensors"]
    bad = bytearray(real)
    bad[5] ^= 0x55
    hub.tamper["id_lora.safetensors"] = bytes(bad)
    if how == "pinned_sha_in_registry":
        mset = _set(lora_sha=_sha256(real))  # the hub consistently serves other bytes
    else:
        hub.advertise_real_hash = True  # hub metadata right, transferred bytes wrong
        mset = _set()
    with pytest.raises(dl.ChecksumMismatchError) as info:
        dl.download_set(mset, tmp_path, endpoint=hub.endpoint)
    assert "id_lora.safetensors" in str(info.value)
    assert info.value.actual == _sha256(bytes(bad))
    assert not local_path(tmp_path, LORA_REPO, "id_lora.safetensors").exists()
    assert not state_path(tmp_path, LORA_REPO, "id_lora.safetensors", ".incomplete").exists()
    lora_status = [f for f in status(mset, tmp_path).files if f.file.role == "id_lora"][0]
    assert lora_status.state is FileState.MISSING


def test_disk_full_refused_before_any_byte(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dl, "free_bytes", lambda path: 200_000)
    with pytest.raises(DiskFullError) as info:
        dl.Downloader(disk_margin_bytes=10_000).download_set(
            _set(), tmp_path, endpoint=hub.endpoint
        )
    assert "GB needed" in str(info.value) and "GB free" in str(info.value)
    assert info.value.needed_bytes > info.value.free_bytes == 200_000
    assert not [e for e in hub.log if e["method"] == "GET" and e["file"] != "(tree)"]
    assert not list(tmp_path.rglob("*.incomplete"))


def test_clear_errors(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    gated = ModelSet(
        "g",
        "Gated",
        "",
        "ltx2",
        (ModelFile(GATED_REPO, "weights.safetensors", 1000, "x"),),
        None,
        "",
    )
    with pytest.raises(ModelNotFoundError, match="gated.*licence"):
        dl.download_set(gated, tmp_path, endpoint=hub.endpoint)

    missing = ModelSet(
        "m", "Missing", "", "ltx2", (ModelFile(REPO, "nope.safetensors", 10, "x"),), None, ""
    )
    with pytest.raises(ModelNotFoundError, match="nope.safetensors was not found"):
        dl.download_set(missing, tmp_path, endpoint=hub.endpoint)

    no_match = ModelSet(
        "n", "N", "", "ltx2", (ModelFile(REPO, "text_encoder/*", 10, "x"),), None, ""
    )
    with pytest.raises(ModelNotFoundError, match="matches"):
        dl.download_set(no_match, tmp_path, endpoint=hub.endpoint)

    # Nothing listening on this port: a network error, not a crash.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(dl.NetworkError, match="Cannot reach"):
        dl.download_set(_set(), tmp_path, endpoint=dead)

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(dl.NetworkError, match="Offline mode"):
        dl.download_set(_set(), tmp_path, endpoint=hub.endpoint)


def test_models_cli_list_download_verify(hub: FakeHub, tmp_path: Path, monkeypatch, capsys) -> None:
    from engine.models import registry
    from idlora_studio.cli import main

    monkeypatch.setitem(registry.MODEL_SETS, "test", _set())
    base = ["models", "--models-dir", str(tmp_path)]

    assert main([*base, "list", "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)["sets"]}
    assert listed["test"]["state"] == "missing" and listed["tiny"]["builtin"]
    assert "ltx2-celebvhq" in listed and listed["ltx2-celebvhq"]["gated"]

    assert main([*base, "download", "test", "--endpoint", hub.endpoint]) == 0
    out = capsys.readouterr()
    assert "files ready" in out.out and "[" in out.err  # summary and a progress bar
    assert main([*base, "list", "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)["sets"]}
    assert listed["test"]["state"] == "verified"

    assert main([*base, "verify", "test"]) == 0
    target = local_path(tmp_path, LORA_REPO, "id_lora.safetensors")
    target.write_bytes(b"x" + target.read_bytes()[1:])
    assert main([*base, "verify", "test"]) == 1
    assert "MISMATCH" in capsys.readouterr().out
    assert main([*base, "download", "nope"]) == 1


def test_registry_sets_are_plain_data(tmp_path: Path) -> None:
    from engine.models import registry

    sets = registry.MODEL_SETS
    assert {
        "ltx2-celebvhq",
        "ltx2-talkvid",
        "ltx2.3-celebvhq-3k",
        "ltx2.3-talkvid-3k",
        "tiny",
    } <= set(sets)
    repos = {f.repo_id for s in sets.values() for f in s.files}
    assert {
        "Lightricks/LTX-2",
        "Lightricks/LTX-2.3",
        "AviadDahan/ID-LoRA-CelebVHQ",
        "AviadDahan/ID-LoRA-TalkVid",
        "AviadDahan/LTX-2.3-ID-LoRA-CelebVHQ-3K",
        "AviadDahan/LTX-2.3-ID-LoRA-TalkVid-3K",
    } == repos
    for s in sets.values():
        if s.builtin:
            assert registry.status(s, tmp_path).complete
            continue
        assert s.gated and s.lora is not None and s.lora.role == "id_lora"
        assert all(f.sha256 is None for f in s.files)  # nothing pinned that was not verified
        assert 60e9 < s.required_bytes <= s.total_bytes < 100e9
        roles = {f.role for f in s.files if f.required}
        if s.layout == "single-file":  # the checkpoint carries the transformer and both VAEs
            assert {"checkpoint", "transformer_config", "vae_config", "audio_vae_config"} <= roles
        else:
            assert {"transformer", "vae", "audio_vae"} <= roles
        assert {"text_encoder", "vocoder", "connectors", "id_lora"} <= roles
        optional = {f.role for f in s.files if not f.required}
        assert optional == {"spatial_upsampler", "distilled_lora"}
        assert list(s.vram_needs) == list(memory_order())
        st = registry.status(s, tmp_path)
        assert st.state is FileState.MISSING and st.bytes_present == 0


def memory_order() -> tuple[str, ...]:
    from engine.memory import PROFILE_ORDER

    return PROFILE_ORDER
