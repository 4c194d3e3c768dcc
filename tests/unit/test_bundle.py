from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmnet.format.bundle import (
    MANIFEST_SCHEMA_VERSION,
    load_bundle,
    publish_bundle,
    sha256_file,
    write_manifest,
)
from mmnet.format.describe import format_bundle_summary
from mmnet.format.documents import load_schema, read_json, validate_document
from mmnet.format.errors import BundleError, ConfigError
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.support import tflite_fixtures as tfx


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture
def bundle_dir(pristine, tmp_path) -> Path:
    """A private copy of the valid fixture bundle that a test may break."""
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def _manifest(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / "manifest.json").read_text())


# --- schema ---------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    import jsonschema

    schema = load_schema("manifest")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"] == {"const": MANIFEST_SCHEMA_VERSION}


def test_unknown_schema_name():
    expected = (r"schema name is '../manifest'; expected one of \['compare_report', 'device_profile', 'dsnn_selector', "
                r"'manifest', 'multi_dsnn', 'runtime_config'\]")
    with pytest.raises(ConfigError, match=expected):
        load_schema("../manifest")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda m: m["models"][1].__setitem__("precision", "int4"),
            r"\$\.models\[1\]\.precision: 'int4' is not one of",
        ),
        (lambda m: m.pop("schema_version"), r"\$: 'schema_version' is a required property"),
        (
            lambda m: m.__setitem__("schema_version", "2.0"),
            r"\$\.schema_version: '1.0' was expected",
        ),
        (
            lambda m: m["models"][0].__setitem__("role", "boss"),
            r"\$\.models\[0\]\.role: 'boss' is not one of",
        ),
        (
            lambda m: m["models"][0].__setitem__("sha256", "XYZ"),
            r"\$\.models\[0\]\.sha256: 'XYZ' does not match",
        ),
        (
            lambda m: m["models"][0].__setitem__("surprise", 1),
            r"\$\.models\[0\]: Additional properties are not allowed \('surprise'",
        ),
        (lambda m: m["dataset"].__setitem__("fingerprint", "md5:1"), r"\$\.dataset\.fingerprint"),
        (
            lambda m: m["models"][0]["host_latency_ms"].pop("runs"),
            r"\$\.models\[0\]\.host_latency_ms: 'runs' is a required",
        ),
        (
            lambda m: m["models"][0]["input"].__setitem__("dtype", "int4"),
            r"\$\.models\[0\]\.input\.dtype",
        ),
        (
            lambda m: m.__setitem__("runtime_config", {"file": "rc.json"}),
            r"\$\.runtime_config: 'sha256' is a required",
        ),
    ],
)
def test_schema_rejects_bad_documents(bundle_dir, mutate, fragment):
    manifest = _manifest(bundle_dir)
    mutate(manifest)
    tfx.rewrite_manifest(bundle_dir, manifest)
    source = str(bundle_dir / "manifest.json")
    with pytest.raises(BundleError, match=fragment) as info:
        load_bundle(bundle_dir)
    assert str(info.value).startswith(f"{source}: $")


def test_schema_allows_extra_build_and_metrics_keys_and_nulls(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["build"]["anything"] = {"nested": [1, 2]}
    manifest["models"][0]["metrics"]["top5"] = 1.0
    manifest["models"][0]["metrics"]["keras_val_accuracy"] = None
    manifest["models"][0]["host_latency_ms"] = None
    manifest["models"][0]["alpha"] = None
    validate_document(manifest, "manifest", source="m.json")


# --- loading --------------------------------------------------------------------------------------


def test_valid_bundle_loads(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.path == bundle_dir and bundle.name == "tiny"
    assert bundle.labels == tfx.LABELS
    assert bundle.preprocessing.frame_shape == tfx.FRAME_SHAPE
    assert bundle.preprocessing.mean == tfx.MEAN
    assert [m.id for m in bundle.models] == [tfx.FLOAT_ID, tfx.INT8_ID]
    assert [m.id for m in bundle.blessed("minion")] == [tfx.INT8_ID]
    assert [m.id for m in bundle.blessed()] == [tfx.FLOAT_ID, tfx.INT8_ID]
    record = bundle.model(tfx.INT8_ID)
    assert record.precision == "int8" and record.role == "minion" and record.shipped
    assert record.val_accuracy == 0.5
    assert bundle.model_path(tfx.INT8_ID) == bundle_dir / "models" / f"{tfx.INT8_ID}.tflite"
    assert len(bundle.checksummed_files) == 4  # 2 models + 2 data splits


def test_load_split_and_predict(bundle_dir):
    bundle = load_bundle(bundle_dir)
    frames, labels = bundle.load_split("val")
    assert frames.dtype == np.uint8 and frames.shape == (6, *tfx.FRAME_SHAPE)
    assert labels.dtype == np.int64 and labels.shape == (6,)
    clf = TFLiteClassifier(bundle.model_path(tfx.FLOAT_ID))
    scores = clf.predict(preprocess(frames, bundle.preprocessing, clf.input_shape[0]))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # softmax rows
    with pytest.raises(ConfigError, match=r"split is 'train'; expected one of \['val', 'test'\]"):
        bundle.load_split("train")


def test_unknown_model_id_lists_known_ids(bundle_dir):
    bundle = load_bundle(bundle_dir)
    expected = rf"no model 'nope'; known ids: \['{tfx.FLOAT_ID}', '{tfx.INT8_ID}'\]"
    with pytest.raises(BundleError, match=expected):
        bundle.model("nope")
    with pytest.raises(ConfigError, match="role is 'boss'"):
        bundle.blessed("boss")


def test_missing_manifest_names_path(tmp_path):
    with pytest.raises(BundleError, match=f"{tmp_path / 'manifest.json'} does not exist"):
        load_bundle(tmp_path)


def test_manifest_not_json(bundle_dir):
    (bundle_dir / "manifest.json").write_text("{ nope")
    with pytest.raises(BundleError, match="manifest.json: not valid JSON"):
        load_bundle(bundle_dir)


def test_tampered_model_is_rejected(bundle_dir):
    path = bundle_dir / "models" / f"{tfx.INT8_ID}.tflite"
    expected = sha256_file(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    actual = sha256_file(path)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir)
    message = str(info.value)
    assert str(path) in message and "models[1].file" in message
    assert f"has sha256 {actual}; manifest expects {expected}" in message
    # Without checksum verification only sizes are checked, so the same bundle loads.
    assert load_bundle(bundle_dir, verify_checksums=False).checksummed_files == ()


def test_truncated_model_size_mismatch(bundle_dir):
    path = bundle_dir / "models" / f"{tfx.FLOAT_ID}.tflite"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match=rf"has 100 bytes; manifest expects {size}"):
        load_bundle(bundle_dir, verify_checksums=False)


def test_missing_model_file(bundle_dir):
    path = bundle_dir / "models" / f"{tfx.FLOAT_ID}.tflite"
    path.unlink()
    with pytest.raises(BundleError, match=rf"file {path} is missing from the bundle"):
        load_bundle(bundle_dir)


def test_tampered_split_detected_by_load_split(bundle_dir):
    bundle = load_bundle(bundle_dir)
    path = bundle_dir / "data" / "test.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"data.test.file: file .*test.npz has sha256"):
        bundle.load_split("test")


def test_labels_file_mismatch(bundle_dir):
    (bundle_dir / "labels.txt").write_text("cat\ndog\nemu\n")
    expected = r"labels.txt does not match .* line 3 is 'emu', expected 'eel'"
    with pytest.raises(BundleError, match=expected):
        load_bundle(bundle_dir)


def test_labels_file_too_short(bundle_dir):
    (bundle_dir / "labels.txt").write_text("cat\ndog\n")
    expected = r"line 3 is '<end of file>', expected 'eel' \(2 lines, 3 labels\)"
    with pytest.raises(BundleError, match=expected):
        load_bundle(bundle_dir)


def test_labels_count_must_equal_num_classes(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["dataset"]["num_classes"] = 4
    tfx.rewrite_manifest(bundle_dir, manifest)
    with pytest.raises(BundleError, match=r"\$\.labels has 3 entries; dataset.num_classes is 4"):
        load_bundle(bundle_dir)


@pytest.mark.parametrize("bad", ["../x.tflite", "/etc/passwd", "models/../../x.tflite"])
def test_path_escaping_the_bundle_is_rejected(bundle_dir, bad):
    outside = bundle_dir.parent / "x.tflite"
    shutil.copy(bundle_dir / "models" / f"{tfx.FLOAT_ID}.tflite", outside)
    manifest = _manifest(bundle_dir)
    manifest["models"][0]["file"] = bad
    tfx.rewrite_manifest(bundle_dir, manifest)
    expected = rf"models\[0\].file is '{bad}'; expected a relative path inside"
    with pytest.raises(BundleError, match=expected):
        load_bundle(bundle_dir)


def test_symlink_escaping_the_bundle_is_rejected(bundle_dir):
    model = bundle_dir / "models" / f"{tfx.FLOAT_ID}.tflite"
    outside = bundle_dir.parent / "outside.tflite"
    shutil.move(model, outside)
    model.symlink_to(outside)
    with pytest.raises(BundleError, match="resolves outside the bundle"):
        load_bundle(bundle_dir)


def test_duplicate_model_ids(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["models"][1]["id"] = manifest["models"][0]["id"]
    tfx.rewrite_manifest(bundle_dir, manifest)
    with pytest.raises(BundleError, match=rf"duplicate model ids \['{tfx.FLOAT_ID}'\]"):
        load_bundle(bundle_dir)


def test_model_input_shape_must_match_resolution(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["models"][0]["resolution"] = 16
    tfx.rewrite_manifest(bundle_dir, manifest)
    expected = r"models\[0\]\.input\.shape is \[1, 12, 12, 1\]; expected \[1, 16, 16, 1\]"
    with pytest.raises(BundleError, match=expected):
        load_bundle(bundle_dir)


def test_rejected_model_is_not_shipped(bundle_dir):
    manifest = _manifest(bundle_dir)
    manifest["models"][1].update(file=None, blessed=False, reason="accuracy dropped")
    (bundle_dir / "models" / f"{tfx.INT8_ID}.tflite").unlink()
    tfx.rewrite_manifest(bundle_dir, manifest)
    bundle = load_bundle(bundle_dir)
    assert not bundle.model(tfx.INT8_ID).shipped
    assert bundle.blessed("minion") == []
    with pytest.raises(BundleError, match="is not shipped .*accuracy dropped"):
        bundle.model_path(tfx.INT8_ID)
    manifest["models"][1]["blessed"] = True
    tfx.rewrite_manifest(bundle_dir, manifest)
    with pytest.raises(BundleError, match="is blessed but not shipped"):
        load_bundle(bundle_dir)


# --- write_manifest / publish_bundle --------------------------------------------------------------


def test_write_manifest_round_trip_and_refuses_invalid(bundle_dir, tmp_path):
    manifest = _manifest(bundle_dir)
    target = tmp_path / "out.json"
    write_manifest(manifest, target)
    assert json.loads(target.read_text()) == manifest
    bad = copy.deepcopy(manifest)
    bad["models"][0]["precision"] = "int4"
    other = tmp_path / "bad.json"
    with pytest.raises(BundleError, match=rf"{other}: \$\.models\[0\]\.precision"):
        write_manifest(bad, other)
    with pytest.raises(BundleError):
        write_manifest(bad, target)
    assert not other.exists()
    assert json.loads(target.read_text()) == manifest  # the previous file is untouched
    # No temp files left behind by the refused or the successful writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "out.json"]


def test_publish_bundle_into_empty_place(pristine, tmp_path):
    staging = Path(shutil.copytree(pristine, tmp_path / "staging"))
    final = publish_bundle(staging, tmp_path / "bundles" / "tiny")
    assert final == tmp_path / "bundles" / "tiny"
    assert not staging.exists()
    assert load_bundle(final).name == "tiny"


def test_publish_bundle_replaces_existing(pristine, tmp_path):
    final = Path(shutil.copytree(pristine, tmp_path / "final"))
    staging = Path(shutil.copytree(pristine, tmp_path / "staging"))
    manifest = _manifest(staging)
    manifest["name"] = "tiny-v2"
    write_manifest(manifest, staging / "manifest.json")
    publish_bundle(staging, final)
    assert load_bundle(final).name == "tiny-v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]  # old copy and staging gone


def test_publish_bundle_refuses_invalid_staging(pristine, tmp_path):
    final = Path(shutil.copytree(pristine, tmp_path / "final"))
    staging = Path(shutil.copytree(pristine, tmp_path / "staging"))
    (staging / "labels.txt").unlink()
    with pytest.raises(BundleError, match="labels.txt is missing"):
        publish_bundle(staging, final)
    assert load_bundle(final).name == "tiny" and staging.exists()


def test_publish_bundle_refuses_to_replace_a_non_bundle(pristine, tmp_path):
    staging = Path(shutil.copytree(pristine, tmp_path / "staging"))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="refusing to replace .*precious: it is not a bundle"):
        publish_bundle(staging, precious)
    assert (precious / "notes.txt").read_text() == "keep me"


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_summary(bundle_dir):
    manifest = _manifest(bundle_dir)
    # Make the minion cheaper than a second, bigger minion so the MACs sort is visible.
    big = copy.deepcopy(manifest["models"][1])
    big.update(id="tiny-r12-int8-big", macs=9000, file=None, blessed=False, reason="too slow")
    manifest["models"].append(big)
    write_manifest(manifest, bundle_dir / "manifest.json")
    text = format_bundle_summary(load_bundle(bundle_dir))
    lines = text.splitlines()
    assert lines[0].startswith("Bundle tiny")
    assert "fixture:random" in text and "sha256:abababababab" in text
    assert "train 10, val 6, test 5" in text
    assert "mean [127.5], std [64.0], resize bilinear" in text
    table = [
        line for line in lines if line.startswith("  ") and ("tiny-r12" in line or " role " in line)
    ]
    header, *rows = table
    ids = [row.split()[0] for row in rows]
    assert ids == [tfx.FLOAT_ID, tfx.INT8_ID, "tiny-r12-int8-big"]  # master first, then by MACs
    # Aligned columns: every row puts "role" values and the blessed mark under their headers.
    for column in ("role", "blessed"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows), column
    assert "✓ fixture" in rows[0] and "✗ too slow" in rows[2]
    assert "tiny-r8" in text and "convert" in text  # the failure
    assert "Runtime config: not present" in text
    assert lines[-1] == "verified: schema OK, 4 files checksummed"


@pytest.mark.parametrize("value, fragment", [("NaN", "NaN is not a JSON number"),
                                             ("-Infinity", "-Infinity is not a JSON number"),
                                             ("1e400", "1e400 is beyond the float range")])
def test_manifest_numbers_must_be_finite(bundle_dir, value, fragment):
    text = (bundle_dir / "manifest.json").read_text()
    needle = '"val_accuracy": 0.5'
    assert needle in text
    (bundle_dir / "manifest.json").write_text(text.replace(needle, f'"val_accuracy": {value}', 1))
    with pytest.raises(BundleError, match=f"manifest.json: not valid JSON: {fragment}"):
        load_bundle(bundle_dir)


def test_manifest_nested_too_deeply_is_a_bundle_error(bundle_dir):
    (bundle_dir / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(BundleError, match="manifest.json: not valid JSON: nested too deeply"):
        load_bundle(bundle_dir)


def test_read_json_refuses_what_python_json_accepts(tmp_path):
    path = tmp_path / "runtime_config.json"
    path.write_text('{"temperatures": {"m": NaN}}')
    assert json.loads(path.read_text())["temperatures"]["m"] != 0  # Python's json reads it (as nan)
    with pytest.raises(ConfigError, match=f"{path}: not valid JSON: NaN is not a JSON number"):
        read_json(path, "runtime config", ConfigError)
    path.write_text('{"temperatures": {"m": 1.5}}')
    assert read_json(path, "runtime config") == {"temperatures": {"m": 1.5}}
