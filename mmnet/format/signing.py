"""Ed25519 signatures over a bundle's ``manifest.json``.

The manifest records the sha256 of every file the bundle ships (models, splits, runtime config,
report), so a signature over its exact bytes covers the whole bundle. The signature lives beside
the manifest in ``manifest.sig``, a small JSON document::

    {"algorithm": "ed25519", "key_id": "ed25519:<sha256 of the raw public key>",
     "manifest_sha256": "<sha256 of manifest.json>", "signature": "<base64 of 64 bytes>"}

``key_id`` and ``manifest_sha256`` only make the messages precise (which key signed, whether the
manifest changed after signing); the signature itself is what is checked. Keys are PEM files: the
private key PKCS#8 (mode 0600), the public key X.509 SubjectPublicKeyInfo, which the Java core
reads too. ``cryptography`` (the runtime extra) is imported only when a key or signature is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmnet.format.checks import check_text, fail
from mmnet.format.documents import parse_json
from mmnet.format.errors import BundleError, ConfigError, DependencyError

__all__ = [
    "ALGORITHM",
    "SIGNATURE_FILE",
    "TRUSTED_KEYS_ENV",
    "TrustedKey",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "signature_document",
    "trusted_keys_from",
    "verify_signature",
]

ALGORITHM = "ed25519"
SIGNATURE_FILE = "manifest.sig"
TRUSTED_KEYS_ENV = "MMNET_TRUSTED_KEYS"
# A signature document is ~250 bytes and a PEM key ~120; anything far larger is not one.
_MAX_SIGNATURE_BYTES = 4096
_MAX_KEY_BYTES = 16384
_SIGNATURE_KEYS = ("algorithm", "key_id", "manifest_sha256", "signature")


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:
        raise DependencyError(f"bundle signatures need the `cryptography` package: pip install 'mmnet[runtime]' ({e})") from e
    return serialization, ed25519


@dataclass(frozen=True)
class TrustedKey:
    """A public key a bundle's signature may be made with, and the file it came from."""

    key: Any  # cryptography's Ed25519PublicKey
    key_id: str
    source: str


def key_id(public_key: Any) -> str:
    """``ed25519:`` and the sha256 of the raw 32-byte public key, as the Java core computes it."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ALGORITHM}:{hashlib.sha256(raw).hexdigest()}"


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_KEY_BYTES:
            raise ConfigError(f"{what} {path} has {size} bytes; expected a PEM key file (at most {_MAX_KEY_BYTES} bytes)")
        return path.read_bytes()
    except (OSError, ValueError) as e:  # missing, unreadable, a NUL or an overlong name
        raise ConfigError(f"{what} {path} cannot be read: {e}") from e


def generate_key(private_path: str | Path) -> tuple[Path, Path]:
    """A new Ed25519 key pair: the private key at ``private_path`` (PEM, mode 0600) and the public
    key at ``<private_path>.pub``. Refuses to overwrite either file."""
    serialization, ed25519 = _crypto()
    private_path = Path(private_path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise ConfigError(f"key file {path} already exists; expected a new path (keys are never overwritten)")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        # O_EXCL: never follow a link planted at the path; 0600 from the first byte written.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem)
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(public_pem)
    except OSError as e:
        raise ConfigError(f"cannot write the key pair {private_path}, {public_path}: {e}") from e
    return private_path, public_path


def load_private_key(path: str | Path) -> Any:
    """The Ed25519 private key in the PEM file ``path``; ConfigError naming the file otherwise."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:  # not PEM, encrypted, or an unsupported key
        raise ConfigError(f"signing key {path} is not an unencrypted PEM private key ({e}); "
                          "expected the key file written by `mmnet keygen`") from e
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is a {type(key).__name__}; expected an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> TrustedKey:
    """The Ed25519 public key in the PEM file ``path`` (``KEY.pub`` of `mmnet keygen`)."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    data = _read_key_file(path, "trusted key")
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"trusted key {path} is a private key; expected the public key (the .pub file "
                          "`mmnet keygen` writes beside it): verifiers never need the private key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"trusted key {path} is not a PEM public key ({e}); expected the .pub file "
                          "written by `mmnet keygen`") from e
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"trusted key {path} is a {type(key).__name__}; expected an Ed25519 public key")
    return TrustedKey(key=key, key_id=key_id(key), source=str(path))


def trusted_keys_from(paths: Sequence[str] | None, environ: Mapping[str, str] = os.environ) -> tuple[TrustedKey, ...] | None:
    """The trusted keys named by ``paths`` (e.g. repeated ``--trusted-key``), else by the
    ``$MMNET_TRUSTED_KEYS`` path list (``os.pathsep``-separated); None when neither names any:
    signatures are then not checked."""
    if paths:
        return tuple(load_public_key(p) for p in paths)
    listed = [p for p in environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if p.strip()]
    if not listed:
        return None
    try:
        return tuple(load_public_key(p) for p in listed)
    except ConfigError as e:
        raise ConfigError(f"${TRUSTED_KEYS_ENV}: {e}") from e


def signature_document(manifest_bytes: bytes, private_key: Any) -> dict[str, str]:
    """The ``manifest.sig`` document signing ``manifest_bytes`` with ``private_key``."""
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "signature": base64.b64encode(private_key.sign(manifest_bytes)).decode("ascii"),
    }


def _read_signature(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():
            raise BundleError(f"{path} does not exist")
        size = path.stat().st_size
        if size > _MAX_SIGNATURE_BYTES:
            raise BundleError(f"{path} has {size} bytes; expected a signature document of at most "
                              f"{_MAX_SIGNATURE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: cannot be read: {e}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{path}: not UTF-8 text (invalid byte at {e.start}); expected a JSON signature document") from e
    doc = parse_json(text, str(path), max_depth=2)
    if not isinstance(doc, dict) or sorted(doc) != sorted(_SIGNATURE_KEYS):
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise BundleError(f"{path}: holds {found}; expected an object with exactly the keys {list(_SIGNATURE_KEYS)}")
    for key in _SIGNATURE_KEYS:
        check_text(f"{path}: $.{key}", doc[key], error=BundleError)
    if doc["algorithm"] != ALGORITHM:
        raise fail(f"{path}: $.algorithm", doc["algorithm"], repr(ALGORITHM), BundleError)
    return doc


def verify_signature(manifest_bytes: bytes, signature_path: str | Path, trusted_keys: Sequence[TrustedKey]) -> TrustedKey:
    """The trusted key whose signature in ``signature_path`` verifies ``manifest_bytes``; BundleError
    when the signature is missing, malformed, made with an untrusted key or does not verify."""
    signature_path = Path(signature_path)
    if not trusted_keys:
        raise ConfigError("trusted_keys is empty; expected at least one trusted public key (or None: no signature check)")
    _crypto()
    from cryptography.exceptions import InvalidSignature
    known = ", ".join(k.key_id for k in trusted_keys)
    if not signature_path.is_file() and not signature_path.is_symlink():
        raise BundleError(f"bundle {signature_path.parent} is not signed: {signature_path} does not exist; expected a "
                          f"signature by a trusted key ({known}): sign it with `mmnet sign {signature_path.parent} --key KEY`")
    doc = _read_signature(signature_path)
    try:
        signature = base64.b64decode(doc["signature"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise BundleError(f"{signature_path}: $.signature is not base64 ({e}); expected 64 bytes in base64") from e
    if len(signature) != 64:
        raise BundleError(f"{signature_path}: $.signature holds {len(signature)} bytes; expected an Ed25519 signature of 64")
    key = next((k for k in trusted_keys if k.key_id == doc["key_id"]), None)
    if key is None:
        raise BundleError(f"{signature_path}: signed by key {doc['key_id'][:80]!r}, which is not a trusted key; "
                          f"trusted: {known}")
    try:
        key.key.verify(signature, manifest_bytes)
    except InvalidSignature:
        actual = hashlib.sha256(manifest_bytes).hexdigest()
        if actual != doc["manifest_sha256"]:
            raise BundleError(f"{signature_path}: the manifest changed after it was signed (its sha256 is {actual}; "
                              f"the signature was made over {doc['manifest_sha256'][:80]}); expected the signed "
                              "manifest: re-sign it with `mmnet sign` if the change is wanted") from None
        raise BundleError(f"{signature_path}: the signature does not verify with trusted key {key.key_id} "
                          f"({key.source}); the signature is corrupt or forged") from None
    return key
