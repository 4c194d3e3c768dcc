"""Device profiles (mmnet.format.device_profile and its JSON Schema)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest

from mmnet.format.device_profile import (
    DEFAULT_HOST_POWER_W,
    DEVICE_PROFILE_SCHEMA_VERSION,
    ComputePower,
    DeviceInfo,
    DeviceProfile,
    ModelTiming,
    ProfileSource,
    host_device_profile,
    load_device_profile,
    match_profile_to_bundle,
    write_device_profile,
)
from mmnet.format.documents import load_schema
from mmnet.format.errors import BundleError, ConfigError

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64


def _doc() -> dict:
    """A valid profile as the Android harness would write it (numbers made up for the test)."""
    return {
        "schema_version": "1.0",
        "device": {
            "name": "pixel-3",
            "kind": "android",
            "manufacturer": "Google",
            "model": "Pixel 3",
            "os": "Android 12",
            "soc": "Snapdragon 845",
            "cpu_cores": 8,
        },
        "source": {
            "tool": "android_harness 0.1",
            "created_utc": "2026-11-24T10:00:00Z",
            "notes": "",
        },
        "compute_power_w": {"value": 2.5, "measured": True, "source": "Monsoon power monitor"},
        "models": {
            "minion_a": {
                "sha256": SHA_A,
                "latency_ms": {"median": 12.5, "p90": 14.0, "mean": 12.9, "min": 11.0, "runs": 50},
                "energy_mj": None,
                "energy_source": None,
                "delegate": "xnnpack",
                "threads": 4,
            },
            "master": {
                "sha256": None,
                "latency_ms": {"median": 80.0, "p90": 95.0, "mean": 83.0, "runs": 20},
                "energy_mj": 190.0,
                "energy_source": "measured",
                "delegate": None,
                "threads": None,
            },
        },
        "preprocessing_ms": {"224": 3.5, "96": 1.25},
    }


def _write_doc(tmp_path: Path, doc) -> Path:
    path = tmp_path / "device_profile.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- schema --------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    schema = load_schema("device_profile")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"] == {"const": DEVICE_PROFILE_SCHEMA_VERSION}


def _without(key):
    def mutate(doc):
        del doc[key]

    return mutate


def _set(path, value):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (_without("device"), r"\$: 'device' is a required property"),
        (_set(["schema_version"], "2.0"), r"\$\.schema_version: '1\.0' was expected"),
        (
            _set(["models", "minion_a", "latency_ms", "median"], -1.0),
            r"\$\.models\.minion_a\.latency_ms\.median: -1\.0 is less than the minimum of 0",
        ),
        (
            _set(["models", "master", "latency_ms", "runs"], 0),
            r"\$\.models\.master\.latency_ms\.runs: 0 is less than the minimum of 1",
        ),
        (_set(["device", "kind"], "iphone"), r"\$\.device\.kind: 'iphone' is not one of"),
        (_set(["device", "cpu_cores"], 0), r"\$\.device\.cpu_cores: 0 is less than the minimum"),
        (_set(["compute_power_w", "value"], 0), r"\$\.compute_power_w\.value: 0 is less than or"),
        (_set(["models", "master", "sha256"], "XYZ"), r"\$\.models\.master\.sha256: 'XYZ'"),
        (
            _set(["models", "master", "energy_source"], "guessed"),
            r"\$\.models\.master\.energy_source: 'guessed' is not one of",
        ),
        (_set(["source", "created_utc"], "today"), r"\$\.source\.created_utc: 'today' does not"),
        (_set(["preprocessing_ms", "0"], 1.0), r"\$\.preprocessing_ms: '0' does not match"),
        (_set(["models"], {}), r"\$\.models: \{\} should be non-empty"),
        (_set(["models", "bad id"], {}), r"\$\.models: 'bad id' does not match"),
        (_set(["extra"], 1), r"\$: Additional properties are not allowed \('extra' was"),
        (
            _set(["models", "master", "latency_ms", "p50"], 1.0),
            r"\$\.models\.master\.latency_ms: Additional properties are not allowed",
        ),
    ],
)
def test_schema_rejects_bad_documents_naming_file_and_json_path(tmp_path, mutate, fragment):
    doc = _doc()
    mutate(doc)
    path = _write_doc(tmp_path, doc)
    with pytest.raises(BundleError, match=fragment) as info:
        load_device_profile(path)
    assert str(info.value).startswith(f"{path}: $")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            _set(["models", "minion_a", "latency_ms", "min"], 13.0),
            r"\$\.models\.minion_a: latency_ms\.min is 13\.0, above median 12\.5",
        ),
        (
            _set(["models", "minion_a", "latency_ms", "p90"], 10.0),
            r"\$\.models\.minion_a: latency_ms\.median is 12\.5, above p90 10\.0",
        ),
        (
            _set(["models", "master", "energy_source"], None),
            r"\$\.models\.master: energy_mj is 190\.0 and energy_source is None; expected both",
        ),
    ],
)
def test_rules_beyond_the_schema_name_file_and_path(tmp_path, mutate, fragment):
    doc = _doc()
    mutate(doc)
    path = _write_doc(tmp_path, doc)
    with pytest.raises(BundleError, match=fragment) as info:
        load_device_profile(path)
    assert str(info.value).startswith(f"{path}: ")


def test_model_ids_that_are_not_identifiers_get_bracketed_paths(tmp_path):
    doc = _doc()
    doc["models"]["mobilenet-a0.50"] = doc["models"].pop("minion_a")
    doc["models"]["mobilenet-a0.50"]["latency_ms"]["min"] = 99.0
    with pytest.raises(BundleError, match=r"\$\.models\['mobilenet-a0\.50'\]: latency_ms\.min"):
        load_device_profile(_write_doc(tmp_path, doc))


def test_load_errors_for_missing_and_unparsable_files(tmp_path):
    with pytest.raises(BundleError, match=r"device profile .*absent\.json does not exist"):
        load_device_profile(tmp_path / "absent.json")
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(BundleError, match=r"broken\.json: not valid JSON"):
        load_device_profile(path)


# --- reading a profile ---------------------------------------------------------------------------


@pytest.fixture
def profile(tmp_path) -> DeviceProfile:
    return load_device_profile(_write_doc(tmp_path, _doc()))


def test_loaded_profile_fields(profile):
    assert profile.name == "pixel-3"
    assert profile.device.kind == "android" and profile.device.cpu_cores == 8
    assert profile.compute_power == ComputePower(2.5, True, "Monsoon power monitor")
    assert profile.latency_ms("minion_a") == 12.5
    assert profile.latency_ms("master") == 80.0
    assert profile.models["master"].min_ms is None
    assert profile.has_model("master") and not profile.has_model("minion_b")
    assert profile.preprocessing_ms(224) == 3.5
    assert profile.preprocessing_ms(96) == 1.25
    assert profile.preprocessing_ms(128) is None


def test_energy_measured_vs_estimated(profile):
    assert profile.energy_mj("master") == (190.0, "measured")
    # No recorded energy: compute power x median latency = 2.5 W x 12.5 ms = 31.25 mJ.
    assert profile.energy_mj("minion_a") == (pytest.approx(31.25), "estimated: 2.5 W x 12.5 ms")


def test_energy_recorded_as_estimated_says_so(tmp_path):
    doc = _doc()
    doc["models"]["master"]["energy_source"] = "estimated"
    profile = load_device_profile(_write_doc(tmp_path, doc))
    assert profile.energy_mj("master") == (190.0, "estimated: recorded in the profile")


def test_missing_model_error_names_the_id_and_the_known_ids(profile):
    expected = r"has no model 'minion_b'; known ids: \['minion_a', 'master'\]"
    with pytest.raises(ConfigError, match=expected):
        profile.latency_ms("minion_b")
    with pytest.raises(ConfigError, match="'minion_b'"):
        profile.energy_mj("minion_b")


# --- writing -------------------------------------------------------------------------------------


def test_write_load_round_trip(tmp_path, profile):
    path = tmp_path / "out" / "profile.json"
    path.parent.mkdir()
    write_device_profile(profile, path)
    assert load_device_profile(path) == profile
    assert json.loads(path.read_text(encoding="utf-8"))["preprocessing_ms"] == {
        "96": 1.25,
        "224": 3.5,
    }
    assert os.listdir(path.parent) == ["profile.json"]  # no temp file left behind


def test_write_validates_before_writing(tmp_path, profile):
    broken = copy.deepcopy(profile)
    object.__setattr__(broken.source, "created_utc", "yesterday")  # bypass the dataclass check
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BundleError, match=r"profile\.json: \$\.source\.created_utc"):
        write_device_profile(broken, out / "profile.json")
    assert os.listdir(out) == []


def test_write_into_missing_directory_is_a_config_error(tmp_path, profile):
    with pytest.raises(ConfigError, match="is not a directory"):
        write_device_profile(profile, tmp_path / "missing" / "profile.json")


def test_write_rejects_non_profiles(tmp_path):
    with pytest.raises(ConfigError, match="profile is a dict; expected a DeviceProfile"):
        write_device_profile(_doc(), tmp_path / "p.json")


# --- the dataclasses validate themselves ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"median_ms": -1.0}, "latency_ms.median is -1.0"),
        ({"runs": 0}, "latency_ms.runs is 0; expected an int >= 1"),
        ({"energy_mj": 3.0, "energy_source": "guessed"}, "energy_source is 'guessed'"),
        ({"energy_mj": 3.0}, "expected both null or both set"),
        ({"sha256": "ABC"}, "sha256 is 'ABC'; expected 64 lowercase hex digits"),
        ({"threads": 0}, "threads is 0; expected an int >= 1 or None"),
        ({"delegate": ""}, "delegate is ''"),
    ],
)
def test_model_timing_validates_itself(kwargs, fragment):
    fields = {"median_ms": 5.0, "p90_ms": 6.0, "mean_ms": 5.5, "runs": 10}
    fields.update(kwargs)
    with pytest.raises(ConfigError, match=fragment):
        ModelTiming(**fields)


def test_profile_validates_itself_and_keeps_private_copies():
    timing = ModelTiming(median_ms=5.0, p90_ms=6.0, mean_ms=5.5, runs=10)
    parts = {
        "device": DeviceInfo(name="x", kind="other"),
        "source": ProfileSource(tool="test", created_utc="2026-01-01T00:00:00Z"),
        "compute_power": ComputePower(1.0, False, "assumed"),
    }
    with pytest.raises(ConfigError, match="expected a non-empty dict"):
        DeviceProfile(models={}, **parts)
    with pytest.raises(ConfigError, match=r"preprocessing_ms resolution is 0"):
        DeviceProfile(models={"m": timing}, preprocessing={0: 1.0}, **parts)
    with pytest.raises(ConfigError, match="device.kind is 'phone'"):
        DeviceInfo(name="x", kind="phone")
    models = {"m": timing}
    profile = DeviceProfile(models=models, **parts)
    models["n"] = timing
    assert not profile.has_model("n")


# --- host profile from a manifest ----------------------------------------------------------------


def _latency(median, *, xnnpack=True, threads=1, with_min=True) -> dict:
    latency = {
        "median": median,
        "p90": median * 1.2,
        "mean": median * 1.05,
        "runs": 50,
        "warmup": 10,
        "threads": threads,
        "xnnpack": xnnpack,
    }
    if with_min:
        latency["min"] = median * 0.9
    return latency


def _manifest() -> dict:
    """The parts of a bundle manifest the device profile reads (see manifest.schema.json)."""
    return {
        "name": "digits",
        "models": [
            {"id": "master", "file": "models/master.tflite", "sha256": SHA_A, "blessed": True,
             "host_latency_ms": _latency(4.0, threads=2)},
            {"id": "minion_a", "file": "models/minion_a.tflite", "sha256": SHA_B, "blessed": True,
             "host_latency_ms": _latency(0.5, xnnpack=False, with_min=False)},
            {"id": "rejected", "file": None, "sha256": SHA_C, "blessed": False,
             "host_latency_ms": None},
        ],
    }


def test_host_device_profile_from_manifest(tmp_path):
    profile = host_device_profile(
        _manifest(), preprocessing_ms={24: 0.3}, created_utc="2026-11-24T12:00:00Z"
    )
    assert list(profile.models) == ["master", "minion_a"]  # no latency, no entry
    master = profile.models["master"]
    assert (master.median_ms, master.p90_ms, master.runs) == (4.0, pytest.approx(4.8), 50)
    assert master.min_ms == pytest.approx(3.6)
    assert (master.sha256, master.delegate, master.threads) == (SHA_A, "xnnpack", 2)
    minion = profile.models["minion_a"]
    assert (minion.min_ms, minion.delegate, minion.sha256) == (None, None, SHA_B)
    assert profile.device.kind == "host"
    assert profile.device.cpu_cores == os.cpu_count()
    assert profile.source.created_utc == "2026-11-24T12:00:00Z"
    assert profile.compute_power.value_w == DEFAULT_HOST_POWER_W
    assert profile.compute_power.measured is False
    assert "assumed" in profile.compute_power.source
    assert profile.preprocessing_ms(24) == 0.3
    # No measured energy on the host: estimated from the assumed power.
    energy, how = profile.energy_mj("master")
    assert energy == pytest.approx(DEFAULT_HOST_POWER_W * 4.0)
    assert how.startswith("estimated: ")
    # The result is a schema-valid profile.
    path = tmp_path / "host.json"
    write_device_profile(profile, path)
    assert load_device_profile(path) == profile


def test_host_device_profile_with_a_given_power():
    profile = host_device_profile(_manifest(), compute_power_w=0.75)
    assert profile.compute_power.value_w == 0.75
    assert "0.75 W" in profile.compute_power.source and not profile.compute_power.measured
    assert profile.energy_mj("minion_a")[0] == pytest.approx(0.75 * 0.5)


def test_host_device_profile_errors():
    manifest = _manifest()
    for model in manifest["models"]:
        model["host_latency_ms"] = None
    with pytest.raises(BundleError, match="bundle 'digits' has no model with host_latency_ms"):
        host_device_profile(manifest)
    manifest = _manifest()
    del manifest["models"][1]["host_latency_ms"]["p90"]
    with pytest.raises(BundleError, match=r"\$\.models\[1\] \('minion_a'\) has no key 'p90'"):
        host_device_profile(manifest)
    manifest = _manifest()
    manifest["models"][0]["host_latency_ms"]["median"] = -2.0
    with pytest.raises(BundleError, match=r"\$\.models\[0\] \('master'\): latency_ms\.median"):
        host_device_profile(manifest)
    with pytest.raises(BundleError, match="manifest has no 'models' list"):
        host_device_profile({"name": "x"})


# --- matching a profile to a bundle --------------------------------------------------------------


def test_match_profile_to_bundle_reports_missing_models_and_sha_mismatches():
    profile = host_device_profile(_manifest())
    assert match_profile_to_bundle(profile, _manifest()) == []

    manifest = _manifest()
    manifest["models"][0]["sha256"] = SHA_C  # the master file was rebuilt since measuring
    manifest["models"].append(
        {"id": "minion_b", "file": "models/minion_b.tflite", "sha256": SHA_A, "blessed": True,
         "host_latency_ms": None}
    )
    warnings = match_profile_to_bundle(profile, manifest)
    assert len(warnings) == 2
    assert "'master'" in warnings[0] and SHA_A in warnings[0] and SHA_C in warnings[0]
    assert "different file" in warnings[0]
    assert "has no model 'minion_b' of bundle 'digits'" in warnings[1]
    # 'rejected' is not shipped, so its absence from the profile is not a warning.
    assert not any("rejected" in w for w in warnings)


def test_match_ignores_profiles_without_checksums(profile):
    manifest = {
        "name": "b",
        "models": [{"id": "master", "file": "m.tflite", "sha256": SHA_C}],
    }
    assert match_profile_to_bundle(profile, manifest) == []  # master's profile sha256 is null
