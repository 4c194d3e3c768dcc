"""A bundle on disk that is wrong in any way is a BundleError naming the file and what was expected,
never another exception; and the cross-references that need no key (runtime config made for this
bundle, distinct split files, every report file checksummed, preprocessing recorded once) hold."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmnet.format.bundle import load_bundle, sha256_file, write_manifest
from mmnet.format.errors import BundleError
from tests.support import tflite_fixtures as tfx
from tests.support.fuzz import FUZZ


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Path:
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("configured") / "bundle")


@pytest.fixture
def bundle_dir(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


@pytest.fixture
def configured_dir(configured, tmp_path) -> Path:
    return Path(shutil.copytree(configured, tmp_path / "bundle"))


def _manifest(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))


def _refused(bundle_dir: Path, pattern: str) -> str:
    with pytest.raises(BundleError, match=pattern) as info:
        load_bundle(bundle_dir)
    return str(info.value)


# --- what used to escape as another exception ------------------------------------------------------


def test_labels_file_not_utf8(bundle_dir):
    (bundle_dir / "labels.txt").write_bytes(b"cat\ndog\n\xff\xfe\n")
    _refused(bundle_dir, r"labels.txt: not UTF-8 text \(byte 0xff at offset 8\); expected the labels, one per line")


@pytest.mark.parametrize("field", ["model", "labels_file", "split"])
def test_nul_in_a_referenced_file_name(bundle_dir, field):
    manifest = _manifest(bundle_dir)
    if field == "model":
        manifest["models"][0]["file"] = "models/a\x00b.tflite"
        path = r"\$\.models\[0\]\.file"
    elif field == "labels_file":
        manifest["labels_file"] = "lab\x00els.txt"
        path = r"\$\.labels_file"
    else:
        manifest["data"]["val"]["file"] = "data/v\x00al.npz"
        path = r"\$\.data\.val\.file"
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, rf"manifest.json: {path}: .* does not match")


def test_a_5000_character_name_is_refused_by_the_schema(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["models"][0]["file"] = "models/" + "a" * 5000
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, r"\$\.models\[0\]\.file: .* is too long")


def test_a_name_longer_than_the_file_system_allows(bundle_dir):
    # Within the schema's 1024 characters, beyond the file system's 255 per name: the OS refuses it.
    manifest = _manifest(bundle_dir)
    manifest["labels_file"] = "l" * 300
    tfx.rewrite_manifest(bundle_dir, manifest)
    message = _refused(bundle_dir, r"labels_file: file .*\(\d+ characters\) cannot be read: File name too long")
    assert len(message) < 500


def test_symlink_loop_in_a_model_file(bundle_dir):
    (bundle_dir / "models" / "loop1").symlink_to("loop2")
    (bundle_dir / "models" / "loop2").symlink_to("loop1")
    manifest = _manifest(bundle_dir)
    manifest["models"][0]["file"] = "models/loop1"
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, r"models\[0\]\.file is 'models/loop1', which cannot be resolved inside the bundle")


def test_symlink_loop_as_labels_file(bundle_dir):
    (bundle_dir / "labels.txt").unlink()
    (bundle_dir / "labels.txt").symlink_to("labels.txt")
    _refused(bundle_dir, r"labels_file is 'labels.txt', which cannot be resolved inside the bundle")


@pytest.mark.parametrize(("value", "fragment"), [
    (10**400, r"not valid JSON: the integer 1000.* is beyond the 64-bit range"),
    (2**63, r"not valid JSON: the integer 9223372036854775808 is beyond the 64-bit range"),
    (2**60, r"\$\.models\[0\]\.macs: 1152921504606846976 is greater than the maximum of 9007199254740991"),
])
def test_macs_beyond_range(bundle_dir, value, fragment):
    manifest = _manifest(bundle_dir)
    manifest["models"][0]["macs"] = value
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, fragment)


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda m: m["preprocessing"]["std"].__setitem__(0, 1e-300), r"\$\.preprocessing\.std\[0\]: 1e-300 is less than"),
    (lambda m: m["preprocessing"]["mean"].__setitem__(0, 1e300), r"\$\.preprocessing\.mean\[0\]: 1e\+300 is greater"),
    (lambda m: m["models"][0].__setitem__("resolution", 2**40), r"\$\.models\[0\]\.resolution: 1099511627776 is greater"),
    (lambda m: m["dataset"].__setitem__("frame_shape", [8, 8, 1 << 30]), r"\$\.dataset\.frame_shape\[2\]"),
    (lambda m: m["labels"].__setitem__(0, "c\x0cat"), r"\$\.labels\[0\]: 'c\\x0cat' does not match"),
    (lambda m: m["models"][0]["output"].__setitem__("zero_point", 2**40), r"\$\.models\[0\]\.output\.zero_point"),
])
def test_schema_bounds_values_that_break_the_runtime(bundle_dir, mutate, fragment):
    """A std of 1e-300 turns every normalised pixel into inf; a resolution of 2**40 asks for that much
    memory; a form feed in a label splits labels.txt in Python but not in Java."""
    manifest = _manifest(bundle_dir)
    mutate(manifest)
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, fragment)


def test_runtime_config_integer_beyond_64_bits(configured_dir):
    path = configured_dir / "runtime_config.json"
    doc = json.loads(path.read_text())
    doc["upload"]["bytes"] = 10**400
    path.write_text(json.dumps(doc))
    manifest = _manifest(configured_dir)
    manifest["runtime_config"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    tfx.rewrite_manifest(configured_dir, manifest)
    _refused(configured_dir, r"runtime_config.json: not valid JSON: the integer .* is beyond the 64-bit range")


def test_manifest_not_utf8_or_too_large(bundle_dir):
    path = bundle_dir / "manifest.json"
    path.write_bytes(b'{"name": "\xff"}')
    _refused(bundle_dir, r"manifest.json: not UTF-8 text \(byte 0xff at offset 10\)")
    with path.open("wb") as f:
        f.truncate((16 << 20) + 1)
    _refused(bundle_dir, r"manifest.json has 16777217 bytes; expected a manifest of at most 16777216 bytes")


def test_unreadable_model_file_is_a_bundle_error(bundle_dir, monkeypatch):
    """An OS error while hashing (EIO, EACCES for a non-root user) names the file."""
    import mmnet.format.bundle as bundle_module

    def failing(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(bundle_module, "sha256_file", failing)
    _refused(bundle_dir, r"models\[0\]\.file: file .*tiny-r12-float32.tflite cannot be read: Permission denied")


# --- cross-references that need no key ------------------------------------------------------------


def test_runtime_config_must_name_this_bundle(configured_dir):
    manifest = _manifest(configured_dir)
    manifest["name"] = "other"
    write_manifest(manifest, configured_dir / "manifest.json")  # valid on its own
    _refused(configured_dir, r"runtime_config.json: \$\.bundle is 'tiny'; expected the manifest's name 'other'")


def test_runtime_config_master_must_be_the_manifests_master(configured_dir):
    manifest = _manifest(configured_dir)
    master = next(m for m in manifest["models"] if m["role"] == "master")
    master["role"] = "minion"
    tfx.rewrite_manifest(configured_dir, manifest)
    _refused(configured_dir, rf"\$\.master\.model '{master['id']}' is a minion in the manifest")


def test_runtime_config_minions_must_be_minions(configured_dir):
    manifest = _manifest(configured_dir)
    minion = next(m for m in manifest["models"] if m["role"] == "minion")
    minion["role"] = "master"
    tfx.rewrite_manifest(configured_dir, manifest)
    _refused(configured_dir, rf"model '{minion['id']}' runs as a minion but is a master in the manifest")


def test_runtime_config_master_resolution_must_match(configured_dir):
    path = configured_dir / "runtime_config.json"
    doc = json.loads(path.read_text())
    doc["master"]["resolution"] += 4
    path.write_text(json.dumps(doc))
    manifest = _manifest(configured_dir)
    manifest["runtime_config"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    tfx.rewrite_manifest(configured_dir, manifest)
    _refused(configured_dir, rf"\$\.master\.resolution is {tfx.RESOLUTION + 4}; expected the manifest's resolution")


def test_test_split_pointed_at_the_val_file(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["data"]["test"].update({k: manifest["data"]["val"][k] for k in ("file", "sha256", "bytes")})
    manifest["data"]["test"]["count"] = manifest["dataset"]["splits"]["test"] = manifest["data"]["val"]["count"]
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, r"\$\.data\.test\.sha256 equals \$\.data\.val\.sha256: the test split holds the validation")


@pytest.mark.parametrize("link", ["symlink", "hardlink", "dotted"])
def test_test_split_naming_the_val_file_another_way(bundle_dir, link):
    """The same file under another name: the sha256 check alone would not see a val file whose
    content the test entry does not claim; the file identity check does."""
    manifest = _manifest(bundle_dir)
    if link == "dotted":
        manifest["data"]["test"]["file"] = "data/./val.npz"
    else:
        target = bundle_dir / "data" / "test.npz"
        target.unlink()
        if link == "symlink":
            target.symlink_to("val.npz")
        else:
            os.link(bundle_dir / "data" / "val.npz", target)
    # The test entry claims the val file's size and a different (made-up) sha256, so only identity finds it.
    manifest["data"]["test"].update(bytes=manifest["data"]["val"]["bytes"], count=manifest["data"]["val"]["count"])
    manifest["dataset"]["splits"]["test"] = manifest["data"]["val"]["count"]
    tfx.rewrite_manifest(bundle_dir, manifest)
    with pytest.raises(BundleError, match=r"data\.(test|val)\.file names the same file as data\.(val|test)\.file"):
        load_bundle(bundle_dir, verify_checksums=False)


def test_a_minion_pointed_at_the_masters_file(bundle_dir):
    manifest = _manifest(bundle_dir)
    master, minion = manifest["models"]
    minion.update(file=master["file"], bytes=master["bytes"], sha256=master["sha256"])
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, r"models\[1\]\.file names the same file as models\[0\]\.file")


def test_writer_checksums_every_report_file(configured_dir):
    manifest = _manifest(configured_dir)
    listed = {e["file"] for e in manifest["report"]["files"]}
    on_disk = {p.relative_to(configured_dir).as_posix() for p in (configured_dir / "report").iterdir()}
    assert listed and all(name.endswith(".png") for name in listed)
    assert listed == on_disk - {"report/index.html", "report/systems.json"}
    bundle = load_bundle(configured_dir)
    assert set(bundle.checksummed_files) >= listed


def test_an_unchecksummed_report_file_is_refused(configured_dir):
    (configured_dir / "report" / "extra.png").write_bytes(b"\x89PNG not listed")
    _refused(configured_dir, r"'report/extra.png' is in the report folder but not checksummed by the manifest")


def test_a_modified_report_image_is_refused(configured_dir):
    manifest = _manifest(configured_dir)
    image = configured_dir / manifest["report"]["files"][0]["file"]
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF
    image.write_bytes(bytes(data))
    _refused(configured_dir, r"report\.files\[0\]\.file: file .*\.png has sha256 .* \(file modified or corrupt\)")


def test_a_report_image_dropped_from_the_manifest_is_refused(configured_dir):
    manifest = _manifest(configured_dir)
    dropped = manifest["report"]["files"].pop()
    write_manifest(manifest, configured_dir / "manifest.json")
    _refused(configured_dir, rf"'{dropped['file']}' is in the report folder but not checksummed")
    # A tool about to replace the report (mmnet configure) still loads it.
    assert load_bundle(configured_dir, runtime_config=False).runtime_config is None


@pytest.mark.parametrize("key", ["mean", "std", "resize_method"])
def test_preprocessing_recorded_twice_must_agree(bundle_dir, key):
    manifest = _manifest(bundle_dir)
    other = {"mean": [100.0], "std": [50.0], "resize_method": "nearest"}[key]
    manifest["build"]["config"]["preprocessing"] = {key: other}
    tfx.rewrite_manifest(bundle_dir, manifest)
    _refused(bundle_dir, rf"\$\.preprocessing\.{key} is .*; the build config in \$\.build\.config\.preprocessing\.{key} "
                         rf"says {other!r}".replace("[", r"\[").replace("]", r"\]"))
    manifest["build"]["config"]["preprocessing"] = {key: manifest["preprocessing"][key], "other": None}
    tfx.rewrite_manifest(bundle_dir, manifest)
    assert load_bundle(bundle_dir).name == "tiny"  # the same values recorded twice are fine


# --- fuzz: random edits of a valid bundle's JSON documents ----------------------------------------

_NAMES = st.sampled_from(["", "\x00", "a\x00b", "models/a\x00.tflite", "../x", "/etc/passwd", "x" * 5000, "y" * 300,
                          "\ud800", "models", ".", "report/index.html", "data/val.npz", "labels.txt", "\u2028",
                          "manifest.json", "data/./test.npz", "tiny", "other"])
_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, -1, 2**53, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-300, 1e300, -0.0]),
    st.text(max_size=20), _NAMES,
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=8)


_NEST = "@@nest:{}@@"
# Fields that name files or tie documents together: drawn as often as all the others together.
_HOT_KEYS = {"file", "labels_file", "bundle", "name", "id", "model", "bytes", "macs", "resolution", "labels"}


def _paths(doc, prefix=()):
    """Every (container path, key) of a JSON document, down to depth 12."""
    if len(prefix) >= 12:
        return
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield prefix, key
        yield from _paths(value, (*prefix, key))


def _dumps(doc) -> str:
    """JSON text of ``doc`` with each nesting marker expanded (json.dumps itself cannot nest 5,000 deep)."""
    text = json.dumps(doc)
    for depth in (63, 64, 100, 5000):
        text = text.replace(json.dumps(_NEST.format(depth)), "[" * depth + "1" + "]" * depth)
    return text


def _mutate(doc, data):
    """One random edit of ``doc`` in place: a new value, a deletion, a deep nesting or a huge list."""
    paths = list(_paths(doc))
    hot = [p for p in paths if p[1] in _HOT_KEYS]
    prefix, key = data.draw(st.sampled_from(hot if hot and data.draw(st.booleans()) else paths))
    container = doc
    for part in prefix:
        container = container[part]
    action = data.draw(st.sampled_from(["name", "replace", "replace", "delete", "nest", "grow"]))
    if action == "delete":
        if isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    elif action == "nest":
        container[key] = _NEST.format(data.draw(st.sampled_from([63, 64, 100, 5000])))
    elif action == "grow":
        value = container[key]  # long lists of scalars; containers only doubled, so edits cannot compound to GBs
        container[key] = [value] * (data.draw(st.sampled_from([2, 1000])) if not isinstance(value, (dict, list)) else 2)
    elif action == "name":
        container[key] = data.draw(_NAMES)
    else:
        container[key] = data.draw(_VALUES)


def _load_or_bundle_error(bundle_dir: Path) -> None:
    try:
        load_bundle(bundle_dir)
    except BundleError:
        pass  # the only failure allowed: anything else escapes and fails the test


@pytest.fixture(scope="module")
def fuzz_dir(configured, tmp_path_factory) -> Path:
    return Path(shutil.copytree(configured, tmp_path_factory.mktemp("fuzz") / "bundle"))


@pytest.mark.fuzz
@FUZZ
@given(data=st.data())
def test_fuzz_manifest_edits_load_or_raise_bundle_error(fuzz_dir, configured, data):
    manifest = _manifest(configured)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(manifest, data)
    (fuzz_dir / "manifest.json").write_text(_dumps(manifest), encoding="utf-8")
    _load_or_bundle_error(fuzz_dir)


@pytest.mark.fuzz
@FUZZ
@given(data=st.data())
def test_fuzz_runtime_config_edits_load_or_raise_bundle_error(fuzz_dir, configured, data):
    """The manifest is updated to the edited runtime config's checksum, so the edit reaches the
    config's own checks (a consistent edit, as an attacker without the signing key can make)."""
    config = json.loads((configured / "runtime_config.json").read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(config, data)
    path = fuzz_dir / "runtime_config.json"
    path.write_text(_dumps(config), encoding="utf-8")
    manifest = _manifest(configured)
    manifest["runtime_config"].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    (fuzz_dir / "manifest.json").write_text(_dumps(manifest), encoding="utf-8")
    _load_or_bundle_error(fuzz_dir)


@pytest.mark.fuzz
@FUZZ
@given(labels=st.binary(max_size=64))
def test_fuzz_labels_file_bytes(fuzz_dir, configured, labels):
    shutil.copyfile(configured / "manifest.json", fuzz_dir / "manifest.json")
    shutil.copyfile(configured / "runtime_config.json", fuzz_dir / "runtime_config.json")
    (fuzz_dir / "labels.txt").write_bytes(labels)
    _load_or_bundle_error(fuzz_dir)


def test_a_manifest_without_report_files_loads_with_a_warning_but_is_never_signed(configured_dir, tmp_path, caplog):
    """Bundles written before `report.files` existed still load (their plots unchecksummed, said
    in a warning); signing one, or accepting one as signed, would claim to cover the plots."""
    from mmnet.format.bundle import sign_bundle
    from mmnet.format.signing import generate_key, load_public_key

    manifest = _manifest(configured_dir)
    del manifest["report"]["files"]
    write_manifest(manifest, configured_dir / "manifest.json")
    with caplog.at_level("WARNING", logger="mmnet.format.bundle"):
        assert load_bundle(configured_dir).runtime_config is not None
    assert "$.report has no 'files': the report's plots are not checksummed" in caplog.text
    key, pub = generate_key(tmp_path / "key")
    with pytest.raises(BundleError, match=r"\$\.report has no 'files', so the report's plots are not checksummed"):
        sign_bundle(configured_dir, key)
    from mmnet.format.signing import load_private_key, signature_document

    (configured_dir / "manifest.sig").write_text(json.dumps(signature_document(
        (configured_dir / "manifest.json").read_bytes(), load_private_key(key))))
    with pytest.raises(BundleError, match=r"a signature would not cover them"):
        load_bundle(configured_dir, trusted_keys=[load_public_key(pub)])
