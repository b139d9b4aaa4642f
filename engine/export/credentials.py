"""Content Credentials: a C2PA manifest signed with a local identity and embedded in the file."""

from __future__ import annotations

import datetime as _dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.export import encode
from engine.export.labels import DIGITAL_SOURCE_TYPE, app_version
from engine.fsutil import atomic_path

#: c2pa-python holds about twice the file in memory while it signs: larger exports (long
#: ProRes) are not signed, and their sidecar says why.
C2PA_MAX_BYTES = 300 << 20


@dataclass(frozen=True)
class SigningCredentials:
    """A PEM certificate chain (signer first) and its PEM private key, for C2PA signing."""

    cert_chain_pem: bytes
    private_key_pem: bytes
    alg: str = "es256"


_ephemeral_lock = threading.Lock()
_ephemeral: SigningCredentials | None = None


def c2pa_available() -> bool:
    """True when ``c2pa-python`` and ``cryptography`` import (the manifest can be signed)."""
    try:
        import c2pa  # noqa: F401
        import cryptography  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken native library
        return False
    return True


def make_signing_credentials(common_name: str = "ID-LoRA Studio") -> SigningCredentials:
    """A new local signing identity: a self-signed root and an ES256 signer certificate.

    The manifest it signs validates (its hashes and signature are checked) but is not
    *trusted*: no public trust list knows this root. That is what an offline desktop can do.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ID-LoRA Studio (local)"),
            ]
        )

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name(f"{common_name} local root"))
        .issuer_name(name(f"{common_name} local root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningCredentials(
        cert_chain_pem=cert.public_bytes(pem) + root.public_bytes(pem),
        private_key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def load_or_create_credentials(folder: Path | str) -> SigningCredentials | None:
    """The installation's signing identity in ``folder`` (created on first use, key 0600).

    None when C2PA signing is unavailable (``c2pa-python``/``cryptography`` missing).
    """
    if not c2pa_available():
        return None
    folder = Path(folder)
    cert_path, key_path = folder / "c2pa-signer-chain.pem", folder / "c2pa-signer-key.pem"
    if cert_path.is_file() and key_path.is_file():
        return SigningCredentials(cert_path.read_bytes(), key_path.read_bytes())
    creds = make_signing_credentials()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(key_path) as tmp:
        os.chmod(tmp, 0o600)
        tmp.write_bytes(creds.private_key_pem)
    with atomic_path(cert_path) as tmp:
        tmp.write_bytes(creds.cert_chain_pem)
    return creds


def default_credentials() -> SigningCredentials:
    """A per-process signing identity for callers that pass none."""
    global _ephemeral
    with _ephemeral_lock:
        if _ephemeral is None:
            _ephemeral = make_signing_credentials()
        return _ephemeral


MIME = {"mp4": "video/mp4", "mov": "video/quicktime", "wav": "audio/wav", "png": "image/png"}


def _c2pa_manifest(title: str, fmt: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "ID-LoRA Studio", "version": app_version()}],
        "title": title,
        "format": MIME[fmt],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": "ID-LoRA Studio", "version": app_version()},
                        }
                    ]
                },
            }
        ],
    }


def embed_c2pa(source: Path, dest: Path, fmt: str, title: str, creds: SigningCredentials) -> None:
    """Sign ``source`` into ``dest`` with an embedded manifest (raises on failure)."""
    import c2pa

    info = c2pa.C2paSignerInfo(creds.alg, creds.cert_chain_pem, creds.private_key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(_c2pa_manifest(title, fmt)) as b:
        with open(source, "rb") as src, encode.open_output_file(dest) as dst:
            b.sign(signer, MIME[fmt], src, dst)
            dst.flush()


def read_content_credentials(path: Path | str) -> dict[str, Any] | None:
    """The active C2PA manifest of a file and its validation state, or None if it has none."""
    if not c2pa_available():
        return None
    import c2pa

    try:
        with c2pa.Reader(str(path)) as reader:
            manifest = reader.get_active_manifest()
            state = reader.get_validation_state()
    except Exception:  # noqa: BLE001 - no manifest / unreadable
        return None
    if manifest is None:
        return None
    return {"manifest": manifest, "validation_state": state}
