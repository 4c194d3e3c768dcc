"""The harness host driver's parts (``mmnet harness``): adb output parsing and device choice, the protocol's
documents and binary test set, and the conversion of the app's results.

Runs against a fake adb that emulates phones and the app are tested in tests/integration/test_harness_host.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmnet.cli import main
from mmnet.format.bundle import load_bundle
from mmnet.format.errors import ConfigError
from mmnet.harness.adb import choose_device, find_adb, parse_battery, parse_devices, parse_getprop
from mmnet.harness.errors import DeviceError, ResultError
from mmnet.harness.protocol import (
    DEVICE_ROOT,
    RunRequest,
    RunSettings,
    SystemSettings,
)
from mmnet.harness.results import RunContext, harness_result, latency_stats
from mmnet.harness.testset import read_testset, write_testset
from tests.support import fake_adb
from tests.support.harness_bundle import MASTER, build_harness_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_harness_bundle(tmp_path_factory.mktemp("harness") / "tiny")


# --- adb parsing and device choice ---------------------------------------------------------------

DEVICES_L = (
    "* daemon not running; starting now at tcp:5037\n"
    "* daemon started successfully\n"
    "List of devices attached\n"
    "R58M123ABC             device usb:1-1 product:panther model:Pixel_7 device:panther transport_id:1\n"
    "emulator-5554          offline transport_id:2\n"
    "0123456789ABCDEF       unauthorized usb:1-2 transport_id:3\n"
    "ZY22                   no permissions (missing udev rules? user is in the plugdev group); "
    "see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:4\n"
    "\n"
)


def test_parse_devices_reads_every_state():
    entries = parse_devices(DEVICES_L)
    assert [(e.serial, e.state) for e in entries] == [
        ("R58M123ABC", "device"), ("emulator-5554", "offline"), ("0123456789ABCDEF", "unauthorized"),
        ("ZY22", "no permissions")]
    assert entries[0].model == "Pixel 7" and entries[0].detail("transport_id") == "1"
    assert entries[3].detail("usb") == "1-3"


def test_choose_device_explains_what_to_do():
    entries = parse_devices(DEVICES_L)
    assert choose_device(entries).serial == "R58M123ABC"
    with pytest.raises(DeviceError, match=r"device 0123456789ABCDEF is unauthorized: unlock the phone and accept"):
        choose_device(entries, "0123456789ABCDEF")
    with pytest.raises(DeviceError, match=r"emulator-5554 is offline: reconnect the cable or run `adb reconnect`"):
        choose_device(entries, "emulator-5554")
    with pytest.raises(DeviceError, match=r"no device with serial 'NOPE' is connected \(adb lists: R58M123ABC \(Pixel 7\)"):
        choose_device(entries, "NOPE")
    with pytest.raises(DeviceError, match=r"^no device is connected: plug in a phone with USB debugging on"):
        choose_device([])
    two = parse_devices("List of devices attached\nA device model:X\nB device model:Y\n")
    with pytest.raises(DeviceError,
                       match=r"^2 devices are connected: A \(X\) \[device\], B \(Y\) \[device\]; choose one with --serial"):
        choose_device(two)
    with pytest.raises(DeviceError, match=r"^no usable device: ZY22 \[no permissions\]: this user may not open the USB device"):
        choose_device([entries[3]])


def test_getprop_and_battery_parsing():
    assert parse_getprop("[ro.product.model]: [Pixel 7]\n[empty]: []\nnoise\n") == {"ro.product.model": "Pixel 7", "empty": ""}
    usb = parse_battery("  AC powered: false\n  USB powered: true\n  level: 40\n  scale: 50\n")
    assert usb == {"power_source": "usb", "level": 0.8}
    assert parse_battery("  AC powered: false\n  USB powered: false\n  level: 9\n")["power_source"] == "battery"


def test_find_adb_order_and_errors(tmp_path):
    program = tmp_path / "my-adb"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert find_adb(str(program), {"ADB": "/nope"}) == str(program)
    assert find_adb(None, {"ADB": str(program)}) == str(program)
    with pytest.raises(ConfigError, match=r"^--adb is '/no/adb': no such file; expected the path of the adb program"):
        find_adb("/no/adb", {})
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(ConfigError, match=r"^\$ADB is '.*plain': not executable"):
        find_adb(None, {"ADB": str(plain)})
    with pytest.raises(Exception, match=r"adb was not found on PATH; install Android platform-tools"):
        find_adb(None, {"PATH": str(tmp_path / "empty")})


# --- protocol pieces ----------------------------------------------------------------------------

def test_latency_stats_golden():
    # numpy linear percentiles of 1..4: p90 = 3 + 0.7 * (4 - 3); sample std = sqrt(5/3).
    assert latency_stats([4.0, 1.0, 3.0, 2.0]) == {
        "count": 4, "mean": 2.5, "median": 2.5, "p90": pytest.approx(3.7), "p99": pytest.approx(3.97),
        "min": 1.0, "max": 4.0, "std": pytest.approx((5 / 3) ** 0.5)}
    assert latency_stats([7.0])["std"] == 0.0
    assert latency_stats([]) is None


def test_testset_binary_layout(tmp_path):
    frames = np.arange(2 * 2 * 3 * 1, dtype=np.uint8).reshape(2, 2, 3, 1)
    write_testset(frames, np.array([1, 258]), tmp_path)
    assert (tmp_path / "frames.bin").read_bytes() == bytes(range(12))
    assert (tmp_path / "labels.bin").read_bytes() == b"\x01\x00\x00\x00\x02\x01\x00\x00"  # int32 little-endian
    assert json.loads((tmp_path / "testset.json").read_text()) == {
        "count": 2, "height": 2, "width": 3, "channels": 1, "dtype": "uint8"}
    back, labels, _ = read_testset(tmp_path)
    assert np.array_equal(back, frames) and labels.tolist() == [1, 258]


def test_request_follows_the_protocol_and_round_trips():
    settings = RunSettings(delegate="gpu", threads=2, runs=None, duration_s=5.0, frame_interval_ms=33.3)
    request = RunRequest(run_id="20261124T071500Z-ab12", kind="system", bundle_id="tiny-0123456789ab",
                         settings=settings, system=SystemSettings(modes=("normal", "private"), master_url="http://x:8501"))
    doc = request.to_json()
    assert set(doc) == fake_adb.REQUEST_KEYS
    assert doc["bundle_dir"] == f"{DEVICE_ROOT}/bundles/tiny-0123456789ab"
    assert doc["system"]["testset_dir"] == f"{DEVICE_ROOT}/runs/20261124T071500Z-ab12/testset"
    assert RunRequest.from_json(doc, source="r") == request


@pytest.mark.parametrize("changes, message", [
    ({"runs": 10, "duration_s": 2.0}, "expected exactly one of them set"),
    ({"delegate": "tpu"}, "delegate is 'tpu'; expected one of ['cpu', 'xnnpack', 'gpu', 'nnapi']"),
    ({"threads": 0}, "threads is 0; expected an int in [1, 64]"),
    ({"models": ("a", "a")}, "name a model twice"),
])
def test_run_settings_reject_bad_values(changes, message):
    with pytest.raises(ConfigError) as error:
        RunSettings(**changes)
    assert message in str(error.value)


def test_runs_and_duration_are_exclusive(capsys, bundle):
    with pytest.raises(SystemExit) as error:
        main(["harness", "profile", str(bundle), "--runs", "5", "--duration-s", "2"])
    assert error.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


# --- conversion checks ----------------------------------------------------------------------------

def _app_result(bundle: Path, **changes) -> dict:
    manifest = load_bundle(bundle).manifest
    model = next(m for m in manifest["models"] if m["id"] == MASTER)
    doc = {
        "protocol_version": 1, "run_id": "r1", "kind": "profile",
        "device": {"manufacturer": "Google", "model": "Pixel 7", "device": "panther", "sdk_int": 34, "release": "14",
                   "soc_manufacturer": "Google", "soc_model": "Tensor G2", "abis": ["arm64-v8a"], "cpu_cores": 8,
                   "fingerprint": "f"},
        "app": {"version_name": "0.1.0", "version_code": 1, "litert_version": "1.4.0"},
        "environment": {"charging": False, "battery_level": 0.5, "battery_temp_c": 30.0, "warnings": []},
        "models": [{"model_id": MASTER, "sha256": model["sha256"], "delegate": "cpu", "threads": 1,
                    "latencies_ms": [1.0, 2.0], "preprocessing_ms": [],
                    "energy": {"source": "fuel_gauge", "mj_per_inference": 0.5, "idle_baseline_mw": 300.0,
                               "active_mw": 800.0, "samples": 10, "sample_hz": 10.0, "note": None},
                    "thermal": {"status_before": 0, "status_after": 0, "cooldown_waited_s": 0.0},
                    "started_utc": "2026-11-24T07:15:00Z", "ended_utc": "2026-11-24T07:15:01Z"}],
        "system": None,
    }
    doc.update(changes)
    return doc


def _convert(bundle: Path, doc: dict, tmp_path: Path, manifest: dict | None = None) -> dict:
    context = RunContext(bundle_id="tiny-0", manifest_sha256="0" * 64, source="result.json", trace_root=tmp_path,
                         out_dir=tmp_path, host_power_source="usb")
    return harness_result(doc, manifest or load_bundle(bundle).manifest, context)


def test_conversion_warns_about_charging_and_foreign_files(bundle, tmp_path):
    doc = _app_result(bundle, environment={"charging": True, "battery_level": 0.5, "battery_temp_c": 30.0, "warnings": []})
    doc["models"][0]["sha256"] = "f" * 64
    warnings = _convert(bundle, doc, tmp_path)["environment_info"]["warnings"]
    assert any(w.startswith("the phone was charging during the run") for w in warnings)
    assert any(w.startswith("before the run the phone was powered over usb") for w in warnings)
    assert any(f"model {MASTER}: the app ran a file with sha256 ffffffffffff" in w for w in warnings)


def test_conversion_checks_the_flatbuffer_a_packed_model_ran_as(bundle, tmp_path):
    # A packed SIEVE model: sha256 is the shipped (packed) file's, tflite_sha256 the flatbuffer its packing spec names.
    manifest = load_bundle(bundle).manifest
    next(m for m in manifest["models"] if m["id"] == MASTER)["packing"] = {"tflite_sha256": "c" * 64}
    doc = _app_result(bundle)
    doc["models"][0]["tflite_sha256"] = "c" * 64
    converted = _convert(bundle, doc, tmp_path, manifest)
    result = converted["results"][0]
    assert result["sha256_matches_bundle"] and result["tflite_sha256"] == "c" * 64
    assert not any("flatbuffer" in w for w in converted["environment_info"]["warnings"])

    doc["models"][0]["tflite_sha256"] = "d" * 64
    warnings = _convert(bundle, doc, tmp_path, manifest)["environment_info"]["warnings"]
    assert any(f"model {MASTER}: the app ran a flatbuffer with sha256 dddddddddddd…, but the bundle's packing spec "
               "says cccccccccccc…" in w for w in warnings)


def test_conversion_accepts_a_result_without_the_flatbuffers_sha256(bundle, tmp_path):
    # Apps of protocol version 1 before packed models sent no tflite_sha256: nothing to check, null in the result.
    converted = _convert(bundle, _app_result(bundle), tmp_path)
    assert converted["results"][0]["tflite_sha256"] is None
    assert not any("flatbuffer" in w for w in converted["environment_info"]["warnings"])


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["models"][0].update(model_id="resnet50"),
     "result.json: $.models[0].model_id 'resnet50' is not a model bundle 'tiny' ships"),
    (lambda d: d["models"][0].pop("latencies_ms"), "result.json: $.models[0]: 'latencies_ms' is a required property"),
    (lambda d: d["models"][0]["energy"].update(source="rapl"), "result.json: $.models[0].energy.source: 'rapl' is not one of"),
    (lambda d: d.update(protocol_version=2), "result.json: $.protocol_version: 1 was expected"),
    (lambda d: d.update(kind="system"), "result.json: $.system is null for kind 'system'"),
])
def test_conversion_rejects_results_that_break_the_protocol(bundle, tmp_path, mutate, message):
    doc = _app_result(bundle)
    mutate(doc)
    with pytest.raises(ResultError) as error:
        _convert(bundle, doc, tmp_path)
    assert message in str(error.value)
