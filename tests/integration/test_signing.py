"""Signed bundles through the real command line (child processes): `mmnet keygen`, `sign`, `run`,
`inspect`, `serve` and `configure` with trusted keys; and the Java core's test vector, a manifest
signed here that `BundleSignatureTest` verifies in Java.

Regenerate the vector (a throwaway key signs it and is discarded)::

    .venv/bin/python -m tests.integration.test_signing --write-java-vector
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mmnet.format.signing import (
    SIGNATURE_FILE,
    TRUSTED_KEYS_ENV,
    generate_key,
    load_private_key,
    load_public_key,
    signature_document,
    verify_signature,
)
from tests.support import tflite_fixtures as tfx

ROOT = Path(__file__).resolve().parents[2]
VECTOR = ROOT / "android_harness" / "core" / "src" / "test" / "resources" / "signing"
MMNET = [sys.executable, "-m", "mmnet.cli.main"]


def write_java_vector(out: Path) -> None:
    """The tiny fixture manifest with each shipped model's file made the few bytes the Java test writes
    (``fake model <id>``), signed by a fresh key that is then discarded; its public key and another."""
    with tempfile.TemporaryDirectory() as scratch:
        manifest = tfx.fixture_manifest(Path(scratch))
        keys = {name: generate_key(Path(scratch) / name) for name in ("trusted", "untrusted")}
        private = load_private_key(keys["trusted"][0])
        for model in manifest["models"]:
            data = f"fake model {model['id']}".encode()
            model.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
        out.mkdir(parents=True, exist_ok=True)
        (out / "manifest.json").write_bytes(manifest_bytes)
        (out / SIGNATURE_FILE).write_text(json.dumps(signature_document(manifest_bytes, private), indent=2) + "\n")
        for name, (_, public) in keys.items():
            shutil.copyfile(public, out / f"{name}.pub")


def test_java_vector_verifies_in_python():
    """The committed vector is what Python's verifier accepts: the same bytes the JUnit test checks."""
    manifest_bytes = (VECTOR / "manifest.json").read_bytes()
    trusted = load_public_key(VECTOR / "trusted.pub")
    assert verify_signature(manifest_bytes, VECTOR / SIGNATURE_FILE, [trusted]) == trusted
    assert json.loads((VECTOR / SIGNATURE_FILE).read_text())["key_id"] == trusted.key_id
    assert not any("PRIVATE" in p.read_text() for p in VECTOR.iterdir()), "the vector never holds a private key"
    from mmnet.format.documents import validate_document

    validate_document(json.loads(manifest_bytes), "manifest", source="vector")


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("configured") / "bundle")


def _mmnet(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != TRUSTED_KEYS_ENV}
    environ.update(env or {})
    return subprocess.run([*MMNET, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=environ)


def test_cli_signs_and_the_runtime_commands_verify(configured, tmp_path):
    bundle = Path(shutil.copytree(configured, tmp_path / "bundle"))
    key = tmp_path / "team"
    made = _mmnet("keygen", "--out", str(key))
    assert made.returncode == 0, made.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    pub = f"{key}.pub"

    unsigned = _mmnet("run", str(bundle), "--split", "val", "--quiet", "--trusted-key", pub)
    assert unsigned.returncode == 2 and "is not signed" in unsigned.stderr and "Traceback" not in unsigned.stderr

    assert _mmnet("sign", str(bundle), "--key", str(key)).returncode == 0
    ran = _mmnet("run", str(bundle), "--split", "val", "--quiet", "--trusted-key", pub)
    assert ran.returncode == 0, ran.stderr
    inspected = _mmnet("inspect", str(bundle), env={TRUSTED_KEYS_ENV: pub})
    assert inspected.returncode == 0 and "signature by trusted key ed25519:" in inspected.stdout, inspected.stderr

    # An edit after signing: the keyless checks cannot see it (no checksum covers mean/std), the signature does.
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["preprocessing"]["mean"] = [10.0]
    tfx.rewrite_manifest(bundle, manifest)
    assert _mmnet("inspect", str(bundle)).returncode == 0
    edited = _mmnet("inspect", str(bundle), "--trusted-key", pub)
    assert edited.returncode == 2 and "the manifest changed after it was signed" in edited.stderr


def test_serve_refuses_an_unsigned_bundle_before_listening(configured, tmp_path):
    bundle = Path(shutil.copytree(configured, tmp_path / "bundle"))
    key, pub = generate_key(tmp_path / "team")
    started = time.monotonic()
    served = _mmnet("serve", str(bundle), "--port", "0", "--trusted-key", str(pub), timeout=60)
    assert served.returncode == 2, served.stdout + served.stderr
    assert "is not signed" in served.stderr and "Traceback" not in served.stderr
    assert time.monotonic() - started < 60


def test_configure_republishes_unsigned_or_signed_again(configured, tmp_path):
    bundle = Path(shutil.copytree(configured, tmp_path / "bundle"))
    key, pub = generate_key(tmp_path / "team")
    assert _mmnet("sign", str(bundle), "--key", str(key)).returncode == 0
    reconfigured = _mmnet("configure", str(bundle), timeout=300)
    assert reconfigured.returncode == 0, reconfigured.stderr
    assert not (bundle / SIGNATURE_FILE).exists()
    assert "is not signed" in _mmnet("inspect", str(bundle), "--trusted-key", str(pub)).stderr
    resigned = _mmnet("configure", str(bundle), "--key", str(key), timeout=300)
    assert resigned.returncode == 0, resigned.stderr
    assert _mmnet("inspect", str(bundle), "--trusted-key", str(pub)).returncode == 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-java-vector"]:
        sys.exit(f"usage: {sys.argv[0]} --write-java-vector")
    write_java_vector(VECTOR)
    print(f"wrote {VECTOR}")
