"""Ed25519 signatures over the manifest: keys, signing, verification with trusted keys, the CLI's
`keygen`, `sign` and `--trusted-key`, and `configure` never shipping a stale signature."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from mmnet.cli.main import main
from mmnet.format.bundle import load_bundle, sign_bundle
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.signing import (
    SIGNATURE_FILE,
    TRUSTED_KEYS_ENV,
    generate_key,
    load_private_key,
    load_public_key,
    signature_document,
    trusted_keys_from,
    verify_signature,
)
from tests.support import tflite_fixtures as tfx


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    team, team_pub = generate_key(folder / "team")
    other, other_pub = generate_key(folder / "other")
    return {"team": team, "team.pub": team_pub, "other": other, "other.pub": other_pub}


@pytest.fixture
def bundle_dir(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


@pytest.fixture
def signed(bundle_dir, keys) -> Path:
    sign_bundle(bundle_dir, keys["team"])
    return bundle_dir


def _trusted(keys, *names):
    return tuple(load_public_key(keys[n]) for n in names)


def _signature(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / SIGNATURE_FILE).read_text())


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    private, public = generate_key(tmp_path / "key")
    assert public == tmp_path / "key.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public_key(public).key_id.startswith("ed25519:")
    with pytest.raises(ConfigError, match=r"key file .*key already exists; expected a new path"):
        generate_key(tmp_path / "key")


def test_a_signed_bundle_loads_with_its_key(signed, keys):
    doc = _signature(signed)
    assert sorted(doc) == ["algorithm", "key_id", "manifest_sha256", "signature"] and doc["algorithm"] == "ed25519"
    team = load_public_key(keys["team.pub"])
    bundle = load_bundle(signed, trusted_keys=_trusted(keys, "other.pub", "team.pub"))
    assert bundle.signed_by == team.key_id == doc["key_id"]
    assert load_bundle(signed).signed_by is None  # no trusted keys: not checked


def test_an_unsigned_bundle_is_refused_when_keys_are_trusted(bundle_dir, keys):
    with pytest.raises(BundleError, match=rf"bundle {bundle_dir} is not signed: .*manifest.sig does not exist; "
                                          r"expected a signature by a trusted key \(ed25519:"):
        load_bundle(bundle_dir, trusted_keys=_trusted(keys, "team.pub"))


def test_a_manifest_edited_after_signing_is_refused(signed, keys):
    """A consistent edit (mean/std here, with no checksum to update) passes every keyless check;
    the signature is what refuses it."""
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["preprocessing"]["mean"] = [100.0]
    tfx.rewrite_manifest(signed, manifest)
    assert load_bundle(signed).preprocessing.mean == (100.0,)
    with pytest.raises(BundleError, match=r"manifest.sig: the manifest changed after it was signed \(its sha256 is "):
        load_bundle(signed, trusted_keys=_trusted(keys, "team.pub"))


def test_a_signature_by_an_untrusted_key_is_refused(signed, keys):
    other = load_public_key(keys["other.pub"])
    with pytest.raises(BundleError, match=rf"signed by key 'ed25519:[0-9a-f]{{64}}', which is not a trusted key; "
                                          rf"trusted: {other.key_id}"):
        load_bundle(signed, trusted_keys=(other,))


def test_a_forged_signature_naming_a_trusted_key_is_refused(signed, keys):
    """The key id is not trusted by itself: a signature made with another key under the team's id fails."""
    manifest_bytes = (signed / "manifest.json").read_bytes()
    forged = signature_document(manifest_bytes, load_private_key(keys["other"]))
    forged["key_id"] = load_public_key(keys["team.pub"]).key_id
    (signed / SIGNATURE_FILE).write_text(json.dumps(forged))
    with pytest.raises(BundleError, match=r"the signature does not verify with trusted key ed25519:.*corrupt or forged"):
        load_bundle(signed, trusted_keys=_trusted(keys, "team.pub"))


@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda d: "not json", r"manifest.sig: not valid JSON"),
    (lambda d: "[[[1]]]", r"manifest.sig: the document nests deeper than 2 levels"),
    (lambda d: json.dumps({**d, "extra": 1}), r"expected an object with exactly the keys"),
    (lambda d: json.dumps({**d, "algorithm": "rsa"}), r"\$\.algorithm is 'rsa'; expected 'ed25519'"),
    (lambda d: json.dumps({**d, "signature": "!!"}), r"\$\.signature is not base64"),
    (lambda d: json.dumps({**d, "signature": base64.b64encode(b"x" * 10).decode()}), r"holds 10 bytes; expected"),
    (lambda d: json.dumps({**d, "key_id": None}), r"\$\.key_id is None; expected a non-empty string"),
    (lambda d: " " * 5000, r"manifest.sig has 5000 bytes; expected a signature document of at most 4096"),
    (lambda d: b"\xff", r"manifest.sig: not UTF-8 text"),
])
def test_malformed_signature_files_are_bundle_errors(signed, keys, edit, fragment):
    content = edit(_signature(signed))
    path = signed / SIGNATURE_FILE
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(BundleError, match=fragment):
        load_bundle(signed, trusted_keys=_trusted(keys, "team.pub"))


def test_sign_refuses_a_bundle_that_does_not_verify(bundle_dir, keys):
    model = bundle_dir / "models" / f"{tfx.INT8_ID}.tflite"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="has sha256"):
        sign_bundle(bundle_dir, keys["team"])
    assert not (bundle_dir / SIGNATURE_FILE).exists()


def test_key_files_are_checked(tmp_path, keys):
    with pytest.raises(ConfigError, match=r"trusted key .*team is a private key; expected the public key"):
        load_public_key(keys["team"])
    with pytest.raises(ConfigError, match=r"signing key .*team.pub is not an unencrypted PEM private key"):
        load_private_key(keys["team.pub"])
    with pytest.raises(ConfigError, match=r"trusted key .*missing.pub cannot be read"):
        load_public_key(tmp_path / "missing.pub")
    big = tmp_path / "big.pub"
    big.write_bytes(b"x" * 20000)
    with pytest.raises(ConfigError, match=r"has 20000 bytes; expected a PEM key file"):
        load_public_key(big)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pub = tmp_path / "ec.pub"
    ec_pub.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match=r"is a \w*(EC|EllipticCurve)PublicKey; expected an Ed25519 public key"):
        load_public_key(ec_pub)


def test_trusted_keys_from_option_then_environment(keys):
    team = str(keys["team.pub"])
    assert trusted_keys_from(None, environ={}) is None
    assert trusted_keys_from([], environ={TRUSTED_KEYS_ENV: ""}) is None
    both = trusted_keys_from(None, environ={TRUSTED_KEYS_ENV: os.pathsep.join([team, str(keys["other.pub"])])})
    assert [k.source for k in both] == [team, str(keys["other.pub"])]
    only = trusted_keys_from([team], environ={TRUSTED_KEYS_ENV: str(keys["other.pub"])})
    assert [k.source for k in only] == [team]  # the option wins over the environment
    with pytest.raises(ConfigError, match=rf"\${TRUSTED_KEYS_ENV}: trusted key .*nope.pub cannot be read"):
        trusted_keys_from(None, environ={TRUSTED_KEYS_ENV: "/nonexistent/nope.pub"})


def test_trusted_keys_need_checksums(signed, keys):
    with pytest.raises(ConfigError, match="trusted_keys needs verify_checksums=True"):
        load_bundle(signed, verify_checksums=False, trusted_keys=_trusted(keys, "team.pub"))
    with pytest.raises(ConfigError, match="trusted_keys is empty"):
        verify_signature(b"{}", signed / SIGNATURE_FILE, ())


# --- the command line -----------------------------------------------------------------------------


def test_cli_keygen_sign_and_inspect(bundle_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)
    key = tmp_path / "cli-key"
    assert main(["keygen", "--out", str(key)]) == 0
    assert "key id ed25519:" in capsys.readouterr().out
    pub = f"{key}.pub"
    assert main(["inspect", str(bundle_dir), "--trusted-key", pub]) == 2
    assert "is not signed" in capsys.readouterr().err
    assert main(["sign", str(bundle_dir), "--key", str(key)]) == 0
    assert f"signed {bundle_dir}: {bundle_dir / SIGNATURE_FILE}" in capsys.readouterr().out
    assert main(["inspect", str(bundle_dir), "--trusted-key", pub]) == 0
    assert "signature by trusted key ed25519:" in capsys.readouterr().out.splitlines()[-1]
    monkeypatch.setenv(TRUSTED_KEYS_ENV, pub)
    assert main(["inspect", str(bundle_dir)]) == 0
    (bundle_dir / SIGNATURE_FILE).unlink()
    assert main(["inspect", str(bundle_dir)]) == 2
    err = capsys.readouterr().err
    assert "mmnet inspect: error: bundle" in err and "is not signed" in err and "Traceback" not in err


def test_cli_sign_with_a_bad_key_is_one_line(bundle_dir, tmp_path, capsys):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    assert main(["sign", str(bundle_dir), "--key", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"mmnet sign: error: signing key {bad} is not an unencrypted PEM")
    assert not (bundle_dir / SIGNATURE_FILE).exists()


# --- republishing ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("configured") / "bundle")


def test_configure_drops_the_stale_signature_or_signs_again(configured, tmp_path, keys):
    from mmnet.pipeline.bundle import reconfigure_bundle
    from mmnet.pipeline.config import RuntimeSettings

    bundle_dir = Path(shutil.copytree(configured, tmp_path / "bundle"))
    sign_bundle(bundle_dir, keys["team"])
    trusted = _trusted(keys, "team.pub")
    assert load_bundle(bundle_dir, trusted_keys=trusted).signed_by is not None
    settings = RuntimeSettings(single_minion_systems=True, latency_model=False)
    reconfigure_bundle(bundle_dir, settings)
    assert not (bundle_dir / SIGNATURE_FILE).exists()  # the old one would no longer verify
    with pytest.raises(BundleError, match="is not signed"):
        load_bundle(bundle_dir, trusted_keys=trusted)
    reconfigure_bundle(bundle_dir, settings, signing_key=keys["team"])
    assert load_bundle(bundle_dir, trusted_keys=trusted).signed_by == trusted[0].key_id
