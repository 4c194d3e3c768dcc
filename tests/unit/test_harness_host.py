"""The harness host driver (``mmnet harness``) against a fake adb that emulates phones and the app.

The bundle is the tiny real TFLite fixture (tests/unit/tflite_fixtures.py) with a second minion
and 120-frame val/test splits labelled from the master's answers (15% flipped), configured with
the build host's numbers — small enough to build and re-pair in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmnet.harness.adb import choose_device, find_adb, parse_battery, parse_devices, parse_getprop
from mmnet.harness.driver import Connection, WaitSettings, run_harness
from mmnet.harness.errors import DeviceError, ResultError
from mmnet.harness.protocol import (
    APP_RUNS_ROOT,
    DEVICE_ROOT,
    RunRequest,
    RunSettings,
    SystemSettings,
    validate_host_document,
)
from mmnet.harness.results import RunContext, harness_result, latency_stats
from tests.support import fake_adb
from mmnet.harness.testset import read_testset, write_testset
from mmnet.cli import main
from mmnet.format.bundle import load_bundle, sha256_file, write_manifest
from mmnet.format.device_profile import load_device_profile
from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import MASTER_ONLY
from tests.unit import tflite_fixtures as tfx

SERIAL = "FAKE0001"
MASTER = tfx.FLOAT_ID
MINIONS = (tfx.INT8_ID, "tinyb-r12-float32")
SPLIT_SIZE = 120


def _build_bundle(path: Path) -> Path:
    """The tiny fixture bundle with a second minion (another variant) and labelled 120-frame splits."""
    from mmnet.runtime.interpreter import TFLiteClassifier
    from mmnet.format.preprocessing import PreprocessingSpec
    from mmnet.runtime.preprocessing import preprocess
    from mmnet.pipeline.bundle import reconfigure_bundle
    from mmnet.pipeline.config import RuntimeSettings

    tfx.write_fixture_bundle(path)
    manifest = json.loads((path / "manifest.json").read_text())
    master = next(m for m in manifest["models"] if m["role"] == "master")
    second = json.loads(json.dumps(master))
    second.update(id=MINIONS[1], variant="tinyb-r12", role="minion", file=f"models/{MINIONS[1]}.tflite", macs=4500)
    shutil.copyfile(path / master["file"], path / second["file"])
    manifest["models"].append(second)
    spec = PreprocessingSpec.from_json(manifest["preprocessing"])
    classifiers = {m["id"]: TFLiteClassifier(path / m["file"]) for m in manifest["models"]}
    rng = np.random.default_rng(7)
    for split in ("val", "test"):
        # Brightness and contrast vary per frame so the models' answers do.
        base, spread = rng.uniform(40, 215, (SPLIT_SIZE, 1, 1, 1)), rng.uniform(5, 90, (SPLIT_SIZE, 1, 1, 1))
        frames = np.clip(base + spread * rng.normal(0, 1, (SPLIT_SIZE, *tfx.FRAME_SHAPE)), 0, 255).astype(np.uint8)
        inputs = preprocess(frames, spec, tfx.RESOLUTION)
        answers = classifiers[MASTER].predict(inputs).argmax(1)
        labels = np.where(rng.random(SPLIT_SIZE) < 0.15, (answers + 1) % tfx.NUM_CLASSES, answers).astype(np.int64)
        npz = path / "data" / f"{split}.npz"
        np.savez(npz, frames=frames, labels=labels)
        manifest["data"][split].update(sha256=sha256_file(npz), bytes=npz.stat().st_size, count=SPLIT_SIZE)
        manifest["dataset"]["splits"][split] = SPLIT_SIZE
        for model in manifest["models"]:
            correct = classifiers[model["id"]].predict(inputs).argmax(1) == labels
            model["metrics"][f"{split}_accuracy"] = float(correct.mean())
    manifest["build"]["counts"] = {"artifacts": 3, "blessed": 3, "rejected": 0, "failures": 1}
    write_manifest(manifest, path / "manifest.json")
    return reconfigure_bundle(path, RuntimeSettings())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return _build_bundle(tmp_path_factory.mktemp("harness") / "tiny")


class Fake:
    """The fake adb world of one test."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.state = root / "adb-state"
        self.adb = fake_adb.write_adb_wrapper(root / "bin")
        monkeypatch.setenv(fake_adb.STATE_ENV, str(self.state))
        monkeypatch.setenv("ADB", str(self.adb))
        monkeypatch.delenv("ANDROID_SERIAL", raising=False)

    def scenario(self, *devices: dict) -> None:
        fake_adb.write_scenario(self.state, {"devices": list(devices)})

    def calls(self) -> list[list[str]]:
        return fake_adb.read_state(self.state)["calls"]

    def phone_file(self, remote: str, serial: str = SERIAL) -> Path:
        return fake_adb.device_file(self.state, serial, remote)


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Fake:
    return Fake(tmp_path, monkeypatch)


def _phone(serial: str = SERIAL, **spec) -> dict:
    return {"serial": serial, **spec}


FAST = ["--quiet", "--poll-s", "0.01", "--runs", "25", "--warmup", "2"]


def _harness(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["harness", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("mmnet harness")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- adb parsing and device choice ---------------------------------------------------------------

DEVICES_L = """\
* daemon not running; starting now at tcp:5037
* daemon started successfully
List of devices attached
R58M123ABC             device usb:1-1 product:panther model:Pixel_7 device:panther transport_id:1
emulator-5554          offline transport_id:2
0123456789ABCDEF       unauthorized usb:1-2 transport_id:3
ZY22                   no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:4

"""


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
    with pytest.raises(DeviceError, match=r"^2 devices are connected: A \(X\) \[device\], B \(Y\) \[device\]; choose one with --serial"):
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


# --- runs against the fake phone ------------------------------------------------------------------

def test_devices_lists_ready_and_broken_phones(fake, capsys):
    fake.scenario(_phone(), _phone("FAKE0002", state="unauthorized"), _phone("FAKE0003", installed=False,
                                                                            props={"ro.product.model": "Pixel 8a"}))
    code, out, _ = _harness(capsys, "devices")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("FAKE0001  Google Pixel 7, Android 14 (SDK 34), SoC Tensor G2") and "app installed" in lines[0]
    assert lines[1].startswith("FAKE0002  unauthorized: unlock the phone")
    assert "Pixel 8a" in lines[2] and "app not installed" in lines[2]


def test_profile_writes_a_valid_result_and_device_profile(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(app={"latency_ms": {MASTER: 40.0, "minion": 2.0},
                              "energy": {"source": "power_monitor", "idle_mw": 400.0, "active_mw": {"master": 2400.0, "minion": 1400.0}}}))
    out_dir = tmp_path / "run"
    code, out, err = _harness(capsys, "profile", str(bundle), "--out", str(out_dir), *FAST)
    assert code == 0, err
    doc = json.loads((out_dir / "harness_result.json").read_text())
    validate_host_document(doc, "harness_result", source="test")
    manifest = load_bundle(bundle).manifest
    shipped = {m["id"]: m for m in manifest["models"] if m["file"]}
    assert [r["model_id"] for r in doc["results"]] == list(shipped)
    master = next(r for r in doc["results"] if r["model_id"] == MASTER)
    assert master["performance_run"]["latency_ms"]["count"] == 25
    assert 36 < master["performance_run"]["latency_ms"]["median"] < 44  # the fake's 40 ms with 4% jitter
    assert master["energy"]["measured"] and master["energy"]["source"] == "power_monitor"
    assert all(r["sha256_matches_bundle"] for r in doc["results"])  # the app hashed what was pushed
    assert doc["environment_info"]["device"]["serial"] == SERIAL and doc["settings"]["runs"] == 25
    assert doc["meta"]["kind"] == "profile" and doc["system"] is None and doc["environment_info"]["warnings"] == []

    profile = load_device_profile(out_dir / "device_profile.json")
    assert profile.device.kind == "android" and profile.name == "Google Pixel 7"
    assert set(profile.models) == set(shipped)
    for model_id, timing in profile.models.items():
        assert timing.sha256 == shipped[model_id]["sha256"]
        assert timing.energy_source == "measured" and timing.delegate == "xnnpack" and timing.threads == 4
    assert profile.latency_ms(MASTER) == master["performance_run"]["latency_ms"]["median"]
    # Active minus idle: 2.0 W for the master, 1.0 W for both minions -> median 1.0 W, measured.
    assert profile.compute_power.measured and profile.compute_power.value_w == pytest.approx(1.0)
    assert profile.energy_mj(MASTER) == (pytest.approx(2.0 * master["performance_run"]["latency_ms"]["mean"]), "measured")
    assert profile.preprocessing_ms(tfx.RESOLUTION) == pytest.approx(0.05, rel=0.1)

    assert MASTER in out and "device profile:" in out and "power_monitor" in out
    calls = fake.calls()
    assert all(call[:2] == ["-s", SERIAL] for call in calls if call[:1] != ["devices"])
    assert ["shell", f"chmod -R a+rX {DEVICE_ROOT}"] in [call[2:] for call in calls]
    pushed = fake.phone_file(f"{DEVICE_ROOT}/bundles/{doc['bundle']['bundle_id']}")
    assert sorted(p.name for p in pushed.iterdir()) == ["labels.txt", "manifest.json", "models", "runtime_config.json"]
    assert not fake.phone_file(f"{DEVICE_ROOT}/runs/{doc['meta']['run_id']}").exists()  # cleaned up
    assert not fake.phone_file(f"{APP_RUNS_ROOT}/{doc['meta']['run_id']}").exists()


def test_convert_offline_gives_the_same_numbers(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(app={"energy": None, "thermal_after": 3}))
    run_dir = tmp_path / "run"
    assert _harness(capsys, "profile", str(bundle), "--out", str(run_dir), *FAST)[0] == 0
    code, out, err = _harness(capsys, "convert", str(run_dir / "raw" / "result.json"), "--bundle", str(bundle),
                              "--out", str(tmp_path / "again"))
    assert code == 0, err
    first, again = (json.loads((d / "harness_result.json").read_text()) for d in (run_dir, tmp_path / "again"))
    assert again["results"] == first["results"] and again["settings"] == first["settings"]
    assert again["environment_info"]["device"]["serial"] is None
    assert (load_device_profile(tmp_path / "again" / "device_profile.json").models
            == load_device_profile(run_dir / "device_profile.json").models)
    # No energy measured: the profile says so and assumes a power.
    profile = load_device_profile(run_dir / "device_profile.json")
    assert not profile.compute_power.measured and "assumed, not measured" in profile.compute_power.source
    assert all(t.energy_mj is None for t in profile.models.values())
    assert any("energy not measured" in w for w in first["environment_info"]["warnings"])
    # Every model ended at THERMAL_STATUS_SEVERE (3), above the request's limit (1).
    assert first["thermal"]["max_status"] == 3
    assert first["thermal"]["models_over_limit"] == [r["model_id"] for r in first["results"]]
    assert any(w.endswith("above the limit 1: the phone may have throttled") for w in first["environment_info"]["warnings"])


def test_two_phones_need_a_serial(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(), _phone("FAKE0002"))
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(tmp_path / "a"), *FAST)
    assert code == 2
    assert "2 devices are connected: FAKE0001 (Pixel 7) [device], FAKE0002 (Pixel 7) [device]; choose one with --serial" \
        in _one_error_line(err)
    code, _, err = _harness(capsys, "profile", str(bundle), "--serial", "FAKE0002", "--out", str(tmp_path / "b"), *FAST)
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "harness_result.json").read_text())["environment_info"]["device"]["serial"] == "FAKE0002"


def test_unauthorized_phone_is_one_clear_line(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(state="unauthorized"))
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(tmp_path / "a"), *FAST)
    assert code == 2
    assert "no usable device: FAKE0001 [unauthorized]: unlock the phone and accept" in _one_error_line(err)
    assert not (tmp_path / "a").exists()


def test_missing_app_needs_an_apk_and_the_apk_is_installed(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(installed=False))
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(tmp_path / "a"), *FAST)
    assert code == 2 and "org.mmnet.harness is not installed on FAKE0001 (Pixel 7) [device]; pass --apk" in _one_error_line(err)
    apk = tmp_path / "harness.apk"
    apk.write_bytes(b"PK fake apk")
    code, _, err = _harness(capsys, "profile", str(bundle), "--apk", str(apk), "--out", str(tmp_path / "b"), *FAST)
    assert code == 0, err
    assert ["-s", SERIAL, "install", "-r", "-g", str(apk)] in fake.calls()


def test_disconnect_mid_run_keeps_what_was_pulled_and_resumes(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(disconnect_after_polls=2, app={"steps": 4}))
    out_dir = tmp_path / "run"
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(out_dir), *FAST)
    assert code == 2
    line = _one_error_line(err)
    assert "device FAKE0001 is gone" in line and "said \"device 'FAKE0001' not found\"" in line, line
    assert "kept request.json, run.json, status.json in" in line
    assert f"resume with `mmnet harness resume {out_dir}`" in line
    status = json.loads((out_dir / "raw" / "status.json").read_text())
    assert status["state"] == "running" and status["progress"] == 0.25  # what the last good poll saw
    assert not (out_dir / "harness_result.json").exists()

    # Still unplugged: resume says so in one line.
    code, _, err = _harness(capsys, "resume", str(out_dir), "--quiet", "--poll-s", "0.01")
    assert code == 2 and "no device with serial 'FAKE0001' is connected" in _one_error_line(err)

    fake_adb.reconnect(fake.state, SERIAL)
    code, out, err = _harness(capsys, "resume", str(out_dir), "--quiet", "--poll-s", "0.01")
    assert code == 0, err
    doc = json.loads((out_dir / "harness_result.json").read_text())
    assert doc["meta"]["run_id"] == json.loads((out_dir / "raw" / "run.json").read_text())["run_id"]
    assert load_device_profile(out_dir / "device_profile.json").has_model(MASTER)


def test_disconnect_while_pushing_leaves_nothing_to_resume(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(disconnect_at_call=6))  # pm path, getprop, dumpsys, rm, mkdir, then the first push
    out_dir = tmp_path / "run"
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(out_dir), *FAST)
    assert code == 2
    line = _one_error_line(err)
    assert "device FAKE0001 is gone" in line and "`adb -s FAKE0001 push " in line
    assert "nothing was started on the phone: reconnect it and run the same command again" in line
    assert not (out_dir / "raw").exists()
    fake_adb.reconnect(fake.state, SERIAL)
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(out_dir), *FAST)
    assert code == 0, err


def test_install_failure_and_a_foreign_app_are_named(fake, bundle, tmp_path, capsys):
    apk = tmp_path / "harness.apk"
    apk.write_bytes(b"PK fake apk")
    fake.scenario(_phone(install_failure="INSTALL_FAILED_UPDATE_INCOMPATIBLE"))
    code, _, err = _harness(capsys, "profile", str(bundle), "--apk", str(apk), "--out", str(tmp_path / "a"), *FAST)
    assert code == 2
    assert f"installing {apk} on device FAKE0001 failed: Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE]" in _one_error_line(err)
    fake.scenario(_phone(no_activity=True))
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(tmp_path / "b"), *FAST)
    assert code == 2
    assert ("would not start org.mmnet.harness/.HarnessActivity: Error: Activity class "
            "{org.mmnet.harness/org.mmnet.harness.HarnessActivity} does not exist.") in _one_error_line(err)
    assert not (tmp_path / "b" / "raw").exists()


def test_app_failure_is_reported_with_its_message(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(app={"behaviour": "failed", "message": "delegate gpu unavailable: no OpenCL driver"}))
    code, _, err = _harness(capsys, "profile", str(bundle), "--delegate", "gpu", "--out", str(tmp_path / "a"), *FAST)
    assert code == 2
    line = _one_error_line(err)
    assert "the app reported run" in line and "failed: delegate gpu unavailable: no OpenCL driver" in line
    assert json.loads((tmp_path / "a" / "raw" / "status.json").read_text())["state"] == "failed"
    runs = fake.phone_file(f"{APP_RUNS_ROOT}")
    assert not any(runs.iterdir())  # the phone's run folder was removed


def test_slow_app_times_out_with_resume_and_cancel_hints(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone(app={"behaviour": "slow"}))
    out_dir = tmp_path / "a"
    code, _, err = _harness(capsys, "profile", str(bundle), "--out", str(out_dir), *FAST, "--timeout-s", "0.3")
    assert code == 2
    line = _one_error_line(err)
    assert "did not finish within 0.3 s (last status: running" in line
    assert f"`mmnet harness resume {out_dir} --timeout-s N`" in line
    assert "adb -s FAKE0001 shell am broadcast -a org.mmnet.harness.CANCEL --es run_id" in line


def test_app_that_never_starts_is_named(fake, bundle, tmp_path):
    fake.scenario(_phone(app={"behaviour": "silent"}))
    with pytest.raises(Exception, match=r"the app did not acknowledge run .* within 0.2 s: no .*/status.json on FAKE0001"):
        run_harness(bundle, RunSettings(runs=5), connection=Connection(), out_dir=tmp_path / "a",
                    wait=WaitSettings(poll_s=0.01, start_timeout_s=0.2, progress=False))


def test_ctrl_c_cancels_the_run_on_the_phone(fake, bundle, tmp_path):
    fake.scenario(_phone(app={"steps": 50}))

    def interrupt(_seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_harness(bundle, RunSettings(runs=5), connection=Connection(), out_dir=tmp_path / "a",
                    wait=WaitSettings(poll_s=0.01, progress=False), run_id="20261124T071500Z-c0de", sleep=interrupt)
    assert ["-s", SERIAL, "shell", "am broadcast -a org.mmnet.harness.CANCEL --es run_id 20261124T071500Z-c0de"] \
        in fake.calls()
    assert fake_adb.read_state(fake.state)["devices"][SERIAL]["runs"]["20261124T071500Z-c0de"]["cancelled"]


def test_system_run_compares_hybrid_mobile_and_cloud(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone())
    out_dir = tmp_path / "sys"
    code, out, err = _harness(capsys, "system", str(bundle), "--modes", "normal,power-saving", "--network", "wifi",
                              "--master-url", "http://192.168.1.2:8501", "--limit", "40", "--out", str(out_dir), *FAST)
    assert code == 0, err
    doc = json.loads((out_dir / "harness_result.json").read_text())
    system = doc["system"]
    assert system["network"] == "wifi" and system["master_url"] == "http://192.168.1.2:8501"
    assert set(system["hybrid"]) == {"normal", "power_saving"}
    for stats in (*system["hybrid"].values(), system["mobile_only"], system["cloud_only"]):
        assert stats["frames"] == 40 and stats["latency_ms"]["count"] == 40  # the pushed, limited test set
        lines = (out_dir / stats["trace"]).read_text().splitlines()
        assert len(lines) == 40
    labels = load_bundle(bundle).load_split("test")[1][:40]
    trace = [json.loads(line) for line in (out_dir / system["hybrid"]["normal"]["trace"]).read_text().splitlines()]
    assert [t["label"] for t in trace] == labels.tolist()  # labels survived the binary layout
    assert "hybrid normal" in out and "cloud-only" in out and "mobile-only" in out


def test_system_run_checks_the_network_profile(fake, bundle, tmp_path, capsys):
    fake.scenario(_phone())
    code, _, err = _harness(capsys, "system", str(bundle), "--network", "5g", "--out", str(tmp_path / "a"), *FAST)
    assert code == 2 and "network '5g' is not a profile of bundle 'tiny'; expected one of ['3g', 'lte', 'wifi']" \
        in _one_error_line(err)


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


def _convert(bundle: Path, doc: dict, tmp_path: Path) -> dict:
    context = RunContext(bundle_id="tiny-0", manifest_sha256="0" * 64, source="result.json", trace_root=tmp_path,
                         out_dir=tmp_path, host_power_source="usb")
    return harness_result(doc, load_bundle(bundle).manifest, context)


def test_conversion_warns_about_charging_and_foreign_files(bundle, tmp_path):
    doc = _app_result(bundle, environment={"charging": True, "battery_level": 0.5, "battery_temp_c": 30.0, "warnings": []})
    doc["models"][0]["sha256"] = "f" * 64
    warnings = _convert(bundle, doc, tmp_path)["environment_info"]["warnings"]
    assert any(w.startswith("the phone was charging during the run") for w in warnings)
    assert any(w.startswith("before the run the phone was powered over usb") for w in warnings)
    assert any(f"model {MASTER}: the app ran a file with sha256 ffffffffffff" in w for w in warnings)


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


# --- the acceptance test: the phone's numbers change the pairing and placement ------------------

def test_device_profiles_from_two_phones_change_pairing_and_placement(fake, bundle, tmp_path, capsys):
    """Phone A's master is 400x slower than its minions: the minion pair speculates and the master
    goes to the cloud (LTE round trip ~71 ms < 400 ms). Phone B's master takes 2 ms and each minion
    1.5 ms: two minions cost more than the master, which stays on the phone, alone."""
    slow_master = _phone("PHONEA", props={"ro.product.model": "Slowmaster 1"},
                         app={"latency_ms": {MASTER: 400.0, "minion": 1.0}})
    fast_master = _phone("PHONEB", props={"ro.product.model": "Fastmaster 2"},
                         app={"latency_ms": {MASTER: 2.0, "minion": 1.5}})
    fake.scenario(slow_master, fast_master)
    configs = {}
    for serial in ("PHONEA", "PHONEB"):
        out_dir = tmp_path / serial
        code, _, err = _harness(capsys, "profile", str(bundle), "--serial", serial, "--out", str(out_dir), *FAST)
        assert code == 0, err
        copy = tmp_path / f"bundle-{serial}"
        shutil.copytree(bundle, copy)
        assert main(["configure", str(copy), "--device-profile", str(out_dir / "device_profile.json")]) == 0
        capsys.readouterr()
        configs[serial] = load_bundle(copy).runtime_config.document

    a, b = configs["PHONEA"], configs["PHONEB"]
    assert a["device_profile"]["name"] == "Google Slowmaster 1" and b["device_profile"]["name"] == "Google Fastmaster 2"
    assert a["device_profile"]["power_measured"] and b["device_profile"]["power_measured"]
    for network in ("lte", "wifi"):
        assert a["placement"][network]["choice"] == "cloud" and b["placement"][network]["choice"] == "device"
        normal_a, normal_b = a["selection"][network]["normal"], b["selection"][network]["normal"]
        assert normal_a["system"] == f"pair:{MINIONS[1]}+{MINIONS[0]}" and normal_a["placement"] == "cloud"
        assert normal_b["system"] == MASTER_ONLY and normal_b["placement"] == "device"
    # The numbers behind the choices are the phones' own.
    assert 380 < a["latency"][MASTER]["inference_ms"] < 420 and 1.9 < b["latency"][MASTER]["inference_ms"] < 2.1
    assert a["latency"][MASTER]["energy_source"] == "measured"
