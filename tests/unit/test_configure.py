"""The Configure runtime stage on synthetic model outputs: config, modes, unlabeled mode, report."""

import copy
import json

import numpy as np
import pytest

from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.runtime_config import MASTER_ONLY, MODES, check_runtime_config, load_runtime_config
from mmnet.pipeline.bundle import reconfigure_bundle
from mmnet.pipeline.config import DetectorConfig, EpsilonConfig, RuntimeSettings, TargetsConfig
from mmnet.pipeline.configure import build_configuration, write_configuration
from mmnet.pipeline.report.files import report_files
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS
from tests.support import tflite_fixtures as tfx

CLASSES = 4
N = 400


def _probabilities(rng, labels, accuracy, sharpness):
    """Model outputs right on ``accuracy`` of inputs, more confident when right."""
    n = len(labels)
    right = rng.random(n) < accuracy
    answers = np.where(right, labels, (labels + rng.integers(1, CLASSES, n)) % CLASSES)
    confidence = np.where(right, rng.uniform(0.55, 1.0, n), rng.uniform(0.3, 0.8, n)) ** (1 / sharpness)
    p = np.tile(((1 - confidence) / (CLASSES - 1))[:, None], (1, CLASSES))
    p[np.arange(n), answers] = confidence
    return p


def _record(model_id, role, resolution, latency_ms, val_accuracy):
    return {
        "id": model_id, "variant": model_id.rsplit("-", 1)[0], "role": role, "family": "f", "alpha": 0.5,
        "resolution": resolution, "precision": "int8", "quantization": "ptq", "source": "trained",
        "file": f"models/{model_id}.tflite", "sha256": "0" * 64, "bytes": 1000, "params": 10, "macs": 1000,
        "metrics": {"val_accuracy": val_accuracy, "test_accuracy": val_accuracy},
        "host_latency_ms": {"median": latency_ms, "p90": latency_ms, "mean": latency_ms, "min": latency_ms,
                            "runs": 50, "warmup": 10, "threads": 1, "xnnpack": True},
        "blessed": True, "reason": "ok", "tflite_metadata": False,
    }


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    labels = {s: rng.integers(0, CLASSES, N) for s in ("val", "test")}
    specs = {"master-int8": (0.97, 3.0), "m1-int8": (0.9, 1.0), "m2-int8": (0.88, 1.0), "m3-int8": (0.8, 1.0)}
    probabilities = {mid: {s: _probabilities(rng, labels[s], acc, sharp) for s in ("val", "test")}
                     for mid, (acc, sharp) in specs.items()}
    val_accuracy = {mid: float(np.mean(p["val"].argmax(1) == labels["val"])) for mid, p in probabilities.items()}
    manifest = {
        "name": "synthetic",
        "created_utc": "2026-01-01T00:00:00Z",
        "labels": [f"c{i}" for i in range(CLASSES)],
        "dataset": {"source": "synthetic", "num_classes": CLASSES, "frame_shape": [8, 8, 1],
                    "splits": {"train": 0, "val": N, "test": N}, "fingerprint": "sha256:" + "0" * 64},
        "preprocessing": {"frame_shape": [8, 8, 1], "frame_dtype": "uint8", "mean": [0.0], "std": [1.0],
                          "resize_method": "bilinear"},
        "models": [
            _record("master-int8", "master", 16, 10.0, val_accuracy["master-int8"]),
            _record("m1-int8", "minion", 8, 0.5, val_accuracy["m1-int8"]),
            _record("m2-int8", "minion", 8, 0.6, val_accuracy["m2-int8"]),
            _record("m3-int8", "minion", 8, 0.2, val_accuracy["m3-int8"]),
        ],
    }
    frames = rng.integers(0, 255, (N, 8, 8, 1), dtype=np.uint8)
    splits = {s: (frames, labels[s]) for s in ("val", "test")}
    return manifest, probabilities, splits


def _configure(synthetic, **settings):
    manifest, probabilities, splits = synthetic
    return build_configuration(RuntimeSettings(**settings), manifest, probabilities, splits)


def test_config_covers_every_profile_and_mode_and_validates(synthetic):
    result = _configure(synthetic)
    config = result.runtime_config
    check_runtime_config(config, "test", num_classes=CLASSES, shipped_models=["master-int8", "m1-int8", "m2-int8", "m3-int8"])
    assert set(config["selection"]) == {"3g", "lte", "wifi"}
    for profile, modes in config["selection"].items():
        assert set(modes) == set(MODES)
        assert modes["mission_critical"]["system"] == MASTER_ONLY
        assert modes["private"]["placement"] == "device"
        # The master on the device takes 10 ms; even Wi-Fi's round trip is slower, so it stays local.
        assert config["placement"][profile]["choice"] == "device"
        normal = modes["normal"]
        assert normal["system"] != MASTER_ONLY
        assert normal["expected"]["latency_ms"] < config["placement"][profile]["device_ms"]
        # Normal mode reaches the master's val accuracy; power-saving recovers less.
        assert normal["expected"]["accuracy"] >= config["master"]["val_accuracy"]
        saving = modes["power_saving"]["expected"]
        assert saving["recovery_rate"] <= normal["expected"]["recovery_rate"]
        assert saving["accuracy"] >= 0.99 * config["master"]["val_accuracy"]
    for system in config["systems"].values():
        assert all(m in config["detector"]["temperatures"] for m in system["minions"])
        assert len(system["modes"]["normal"]["thresholds"]) == CLASSES


def test_every_latency_includes_preprocessing(synthetic):
    config = _configure(synthetic).runtime_config
    for cost in config["latency"].values():
        assert cost["preprocess_ms"] > 0
        assert cost["total_ms"] == pytest.approx(cost["inference_ms"] + cost["preprocess_ms"])
        assert cost["energy_mj"] > 0 and cost["energy_source"].startswith("estimated")


def test_master_only_when_minions_are_not_worth_it(synthetic):
    manifest, probabilities, splits = synthetic
    slow = copy.deepcopy(manifest)
    for record in slow["models"]:
        if record["role"] == "minion":
            # any pair: 12 ms of minions > the 10 ms master
            record["host_latency_ms"].update(median=6.0, p90=6.0, mean=6.0, min=6.0)
    result = build_configuration(RuntimeSettings(), slow, probabilities, splits)
    normal = result.runtime_config["selection"]["lte"]["normal"]
    # A single (6 ms + P_r x 10 ms) would have to beat the master alone; on these outputs none does.
    assert normal["system"] == MASTER_ONLY, normal["system"]
    assert normal["why"].startswith("master alone") and normal["expected"]["recovery_rate"] == 1.0


def test_unlabeled_mode_uses_the_masters_answers(synthetic):
    result = _configure(synthetic, reference="master", targets=TargetsConfig(normal=0.99, power_saving=0.97))
    config = result.runtime_config
    assert config["reference"] == "master"
    assert config["master"]["val_accuracy"] == 1.0  # agreement of the master with itself
    normal = config["selection"]["lte"]["normal"]
    assert normal["system"] != MASTER_ONLY  # minions that reach the 99% agreement target
    assert normal["expected"]["accuracy"] >= 0.99
    assert any("Unlabeled" in note for note in result.report_data["notes"])
    assert result.report_data["reference"] == "master"


def test_labeled_and_unlabeled_thresholds_differ(synthetic):
    labeled = _configure(synthetic).runtime_config
    unlabeled = _configure(synthetic, reference="master").runtime_config
    assert labeled["detector"]["temperatures"] != unlabeled["detector"]["temperatures"]


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["selection"]["lte"]["normal"].update(system="pair:x+y"), "not defined in $.systems"),
    (lambda c: next(iter(c["systems"].values()))["modes"]["normal"]["thresholds"].append(0.5), "one per class"),
    (lambda c: next(iter(c["systems"].values()))["modes"]["normal"]["thresholds"].__setitem__(0, 2.0), "thresholds"),
    (lambda c: c["detector"]["temperatures"].clear(), "temperatures"),
    (lambda c: c["selection"]["lte"]["private"].update(placement="cloud"), "never leaves the device"),
    (lambda c: c["selection"]["lte"]["mission_critical"].update(system=next(iter(c["systems"]))), "runs no minions"),
    (lambda c: c.update(schema_version="9.9"), "schema_version"),
    (lambda c: c.update(default_profile="5g"), "default_profile"),
])
def test_schema_and_rules_reject_bad_configs(synthetic, mutate, message, tmp_path):
    config = copy.deepcopy(_configure(synthetic).runtime_config)
    mutate(config)
    path = tmp_path / "runtime_config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(BundleError) as error:
        load_runtime_config(path, num_classes=CLASSES)
    assert message in str(error.value) and str(path) in str(error.value)


def test_unknown_network_profile_is_a_clear_error(synthetic):
    with pytest.raises(ConfigError, match=r"runtime.network_profiles\[1\] is '5g'; expected one of \['3g', 'lte', 'wifi'\]"):
        _configure(synthetic, network_profiles=("lte", "5g"))


def test_report_references_only_files_that_exist(synthetic, tmp_path):
    result = _configure(synthetic)
    files = write_configuration(result, tmp_path)
    index = tmp_path / files["index"]
    referenced = report_files(index)
    assert any(name.endswith(".png") for name in referenced)
    for name in referenced:
        assert (index.parent / name).is_file(), name
    html = index.read_text(encoding="utf-8")
    oracle = result.report_data["chosen"]["oracle_recovery_rate_test"]
    assert f"{100 * oracle:.2f}%" in html
    assert "per-class" in html.lower()
    systems = json.loads((tmp_path / files["systems"]).read_text())
    assert {row["system"] for row in systems} >= set(result.runtime_config["systems"])
    assert (tmp_path / files["model_card"]).read_text().startswith("#")


def test_power_saving_may_accept_confident_disagreements(synthetic):
    paper = DetectorConfig(members=(PER_CLASS,))  # the relaxation belongs to the paper's rule
    strict = _configure(synthetic, detector=paper).runtime_config
    relaxed = _configure(synthetic, power_saving_disagreement=True, detector=paper).runtime_config
    fitted = [tuned["power_saving"]["disagreement_threshold"] for tuned in
              (system["modes"] for system in relaxed["systems"].values())]
    assert any(value is not None for value in fitted)
    assert all(system["modes"]["power_saving"]["disagreement_threshold"] is None for system in strict["systems"].values())
    for profile in relaxed["selection"]:
        saving, normal = (relaxed["selection"][profile][m]["expected"] for m in ("power_saving", "normal"))
        assert saving["recovery_rate"] <= normal["recovery_rate"]
        assert saving["accuracy"] >= 0.99 * relaxed["master"]["val_accuracy"]
        assert saving["recovery_rate"] <= strict["selection"][profile]["power_saving"]["expected"]["recovery_rate"]


def test_each_system_ships_the_member_with_the_lowest_cross_fitted_recovery_rate(synthetic):
    result = _configure(synthetic)
    shipped = {row["system"]: row["modes"] for row in result.systems}
    kinds = set()
    for name, system in result.runtime_config["systems"].items():
        for tuning, tuned in system["modes"].items():
            members = shipped[name][tuning]["members"]
            chosen = members["chosen"]
            kinds.add(chosen)
            assert tuned["detector"]["kind"] == chosen
            reached = {k: m["val"]["recovery_rate"] for k, m in members.items() if k != "chosen" and m["reached"]}
            assert reached[chosen] == min(reached.values()), (name, tuning, reached)
            assert tuned["val"]["recovery_rate"] == pytest.approx(reached[chosen])
    assert LOGISTIC in kinds, "the learned detector never won here, so its shipping was not tested"
    logistic = next(t["detector"] for s in result.runtime_config["systems"].values() for t in s["modes"].values()
                    if t["detector"]["kind"] == LOGISTIC)
    assert len(logistic["weights"]) == len(logistic["features"]) in (3, 9)


def test_guaranteed_mode_declines_what_val_is_too_small_to_certify(synthetic):
    """400 val frames cannot certify 0.3% extra errors at delta 0.1 (998 are needed, delta shared by two
    detectors): no system may
    speculate in normal mode; a budget of 3% they can certify, and the test split then keeps it."""
    tight = _configure(synthetic, detector=DetectorConfig(threshold_mode="guaranteed")).runtime_config
    assert all("normal" not in system["modes"] for system in tight["systems"].values())
    assert all(tight["selection"][p]["normal"]["system"] == MASTER_ONLY for p in tight["selection"])
    loose = _configure(synthetic, detector=DetectorConfig(threshold_mode="guaranteed",
                                                          epsilon=EpsilonConfig(normal=0.03, power_saving=0.05)))
    normal = [s["modes"]["normal"] for s in loose.runtime_config["systems"].values() if "normal" in s["modes"]]
    assert normal, "no system was certified at 3%"
    master = loose.runtime_config["master"]["test_accuracy"]
    for tuned in normal:
        assert tuned["test"]["recovery_rate"] < 1.0
        assert tuned["test"]["accuracy"] >= master - 0.03 - 0.02  # the guarantee, with sampling slack on 400 test frames
    certified = [m["certification"] for row in loose.systems for mode in row["modes"].values() if mode
                 for k, m in mode["members"].items() if k != "chosen"]
    # two members share delta: each certifies at 0.05, which with no error seen takes ln 0.05 / ln 0.97 = 98.4 frames
    assert all(c["frames_to_certify"] == 99 and c["can_certify"] and c["level"] == 0.05
               for c in certified if c["epsilon"] == 0.03)


def test_reconfigure_refuses_a_bundle_holding_a_symlink(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not for the bundle")
    (bundle_dir / "notes.txt").symlink_to(secret)
    before = sorted(p.name for p in bundle_dir.iterdir())
    with pytest.raises(BundleError, match=r"notes.txt is a symbolic link \(to .*secret.txt\); expected regular files only"):
        reconfigure_bundle(bundle_dir, RuntimeSettings())
    assert sorted(p.name for p in bundle_dir.iterdir()) == before
    assert not list(tmp_path.glob(".bundle.staging-*"))
    (bundle_dir / "notes.txt").unlink()
    reconfigure_bundle(bundle_dir, RuntimeSettings(single_minion_systems=True, latency_model=False))
    assert (bundle_dir / "runtime_config.json").is_file()  # the same bundle without the link republishes


def test_a_sieve_models_detector_is_fitted_on_the_val_frames_its_search_did_not_see(synthetic):
    """The format search chose a SIEVE model's formats on some val frames, where it agrees with its master
    more than on fresh ones: its systems' detectors (and its temperature) use the other val frames only."""
    manifest, probabilities, splits = synthetic
    manifest = copy.deepcopy(manifest)
    searched = list(range(0, N, 3))
    sieve = next(m for m in manifest["models"] if m["id"] == "m1-int8")
    sieve["sieve"] = {"model": "accurate", "search_val_frames": searched}
    result = build_configuration(RuntimeSettings(single_minion_systems=True), manifest, probabilities, splits)
    frames = {row["system"]: {m["certification"]["frames"] for mode in row["modes"].values() if mode
                              for k, m in mode["members"].items() if k != "chosen"} for row in result.systems}
    assert frames["single:m1-int8"] == {N - len(searched)}
    assert frames["pair:m1-int8+m2-int8"] == {N - len(searched)}  # any SIEVE model of a system counts
    assert frames["single:m2-int8"] == {N}


def test_search_frames_outside_the_val_split_are_a_clear_error(synthetic):
    manifest, probabilities, splits = synthetic
    manifest = copy.deepcopy(manifest)
    next(m for m in manifest["models"] if m["id"] == "m1-int8")["sieve"] = {"model": "accurate", "search_val_frames": [N]}
    with pytest.raises(BundleError, match=f"m1-int8: sieve.search_val_frames names val frame {N}"):
        build_configuration(RuntimeSettings(), manifest, probabilities, splits)
