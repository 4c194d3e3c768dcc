"""The harness host driver (``mmnet harness``) against a fake adb (tests/support/fake_adb.py, run as a child
process) that emulates phones and the app.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mmnet.cli import main
from mmnet.format.bundle import load_bundle
from mmnet.format.device_profile import load_device_profile
from mmnet.format.runtime_config import MASTER_ONLY
from mmnet.harness.driver import Connection, WaitSettings, run_harness
from mmnet.harness.protocol import (
    APP_RUNS_ROOT,
    DEVICE_ROOT,
    RunSettings,
    validate_host_document,
)
from tests.support import fake_adb
from tests.support import tflite_fixtures as tfx
from tests.support.harness_bundle import MASTER, MINIONS, build_harness_bundle

SERIAL = "FAKE0001"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_harness_bundle(tmp_path_factory.mktemp("harness") / "tiny")


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
                              "energy": {"source": "power_monitor", "idle_mw": 400.0,
                                         "active_mw": {"master": 2400.0, "minion": 1400.0}}}))
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
