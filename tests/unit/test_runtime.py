"""The runtime on a real tiny bundle: every mode, the detector's verdicts, the history rules, audits.

A master client here is an in-process stand-in; the runtime against a served master and its faults is
tested in tests/integration/test_runtime.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mmnet.format.bundle import load_bundle
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.format.runtime_config import MODES
from mmnet.runtime.detector import detect_frame
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.remote import RemoteResult
from mmnet.runtime.replay import SUMMARY_KEYS, replay
from mmnet.runtime.runtime import Runtime
from tests.support import tflite_fixtures as tfx


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_splitting_fixture_bundle(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers_every_frame(bundle, mode):
    frames = tfx.random_frames()
    with Runtime(bundle, mode=mode) as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames)]
    assert len(results) == len(frames)
    assert all(0 <= r.label < tfx.NUM_CLASSES and r.verified for r in results)
    paths = {r.path for r in results}
    if mode == "mission_critical":
        assert paths == {"master_device"} and not any(r.minion_answer is not None for r in results)
    else:
        assert paths <= {"minions", "minions_unchecked", "master_device"}
    assert all(r.master_placement in (None, "device") for r in results)  # no master URL: never the cloud
    for r in results:
        assert r.timings_ms["total"] >= r.timings_ms["overhead"] >= 0
        assert r.decision.reasons, "every decision says why"


def test_a_mode_switch_mid_stream_uses_the_new_modes_thresholds(bundle):
    frames = tfx.random_frames(2)
    with Runtime(bundle, mode="normal") as runtime:
        first = runtime.classify(frames[0], timestamp_s=0.0)
        runtime.mode = "power_saving"  # the user changes the mode between frames
        second = runtime.classify(frames[1], timestamp_s=10.0)
    assert first.path == second.path == "minions" and second.decision.thresholds_mode == "power_saving"
    normal, saving = (runtime.config.tuned(second.system, mode) for mode in ("normal", "power_saving"))
    assert (normal["thresholds"], normal["disagreement_threshold"]) != (saving["thresholds"], saving["disagreement_threshold"])
    assert second.detector["threshold"] == saving["thresholds"][second.minion_answer]
    assert second.detector["disagreement_threshold"] == saving["disagreement_threshold"]


def test_an_unknown_mode_is_refused_when_set_and_the_runtime_keeps_its_mode(bundle):
    with Runtime(bundle, mode="normal") as runtime:
        with pytest.raises(ConfigError, match="mode"):
            runtime.mode = "turbo"
        assert runtime.mode == "normal"
        assert runtime.classify(tfx.random_frames(1)[0], timestamp_s=0.0).decision.reasons[0].values["mode"] == "normal"


def test_8_bit_minions_are_calibrated_by_table_with_the_float_ways_bits(bundle):
    """The runtime hands the int8 minion's raw codes and its calibration table to the detector; the
    float way (dequantized scores from predict, calibrated_top1 on them) must give the same verdict,
    confidence bit for bit included."""
    frames = tfx.random_frames(40, seed=5)
    with Runtime(bundle, mode="normal") as runtime:
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(frames)]
        systems = {r.system: runtime.minion_system(r.system) for r in results if r.path == "minions"}
    assert systems and all(table is not None for system in systems.values() for table in system.tables)
    detected = [(r, f) for r, f in zip(results, frames) if r.path == "minions"]
    assert {r.recovered for r, _ in detected} == {True, False}  # accepted and recovered frames both occur
    classifiers = {m: TFLiteClassifier(bundle.model_path(m)) for s in systems.values() for m in s.minions}
    for r, frame in detected:
        system = systems[r.system]
        scores = [classifiers[m].predict(preprocess(frame[None], bundle.preprocessing, bundle.model(m).resolution))[0]
                  for m in system.minions]
        float_way = detect_frame(scores, system.temperatures, system.thresholds, system.disagreement_threshold)
        assert (r.minion_answer, r.detector["confidence"], r.detector["agree"], not r.recovered) == float_way[:4]


def test_recovered_frames_take_the_masters_answer(bundle):
    frames = tfx.random_frames(30, seed=4)
    master = tfx.device_master_answers(bundle, frames)
    with Runtime(bundle, mode="normal") as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames)]
    branches = Counter()
    for r, m in zip(results, master):
        if r.recovered:
            branches["recovered"] += 1
            assert r.label == m == r.master_answer and r.master_placement == "device"
        elif r.path == "minions":
            branches["accepted"] += 1
            assert r.label == r.minion_answer and r.detector["verdict"] == "accepted"
    assert branches["recovered"] > 0 and branches["accepted"] > 0, branches


@pytest.fixture(scope="module")
def always_recover(bundle_dir, tmp_path_factory):
    """The same bundle, but every threshold above any confidence: the detector recovers every frame."""
    return load_bundle(tfx.write_always_recovering_bundle(bundle_dir, tmp_path_factory.mktemp("recover") / "tiny"))


def _history_pair(bundle, frame, gap_s: float):
    with Runtime(bundle, mode="normal") as runtime:
        first = runtime.classify(frame, timestamp_s=0.0)
        second = runtime.classify(frame, timestamp_s=gap_s)
    return first, second


def test_history_rule_1_skips_detection_after_a_confirmed_frame(always_recover):
    frame = tfx.random_frames(1, seed=6)[0]
    first, second = _history_pair(always_recover, frame, 0.01)  # 10 ms later: the same view
    assert first.recovered and first.master_answer == first.minion_answer
    assert second.path == "minions_unchecked" and not second.recovered
    assert "history_agreed" in second.decision.reason_codes
    _, later = _history_pair(always_recover, frame, 60.0)  # a minute later: a new view, detected again
    assert later.path == "minions" and later.recovered


def test_history_rule_2_goes_to_the_master_after_a_corrected_frame(always_recover):
    # A frame on which the int8 minion and the float32 master disagree (random weights: they do).
    frames = tfx.random_frames(2000, seed=8)
    minion = TFLiteClassifier(always_recover.model_path(tfx.INT8_ID))
    master = TFLiteClassifier(always_recover.model_path(tfx.FLOAT_ID))
    x = preprocess(frames, always_recover.preprocessing, tfx.RESOLUTION)
    differ = np.flatnonzero(minion.predict(x).argmax(1) != master.predict(x).argmax(1))
    assert differ.size, "no frame where the fixture minion and master disagree"
    first, second = _history_pair(always_recover, frames[differ[0]], 0.01)
    assert first.recovered and first.master_answer != first.minion_answer
    assert second.path == "master_device" and second.minion_answer is None
    assert "history_corrected" in second.decision.reason_codes


def test_audits_check_confident_answers_off_the_critical_path(bundle):
    frames = tfx.random_frames(30, seed=7)
    # Room for every audit in flight: none is skipped however slow the audit thread runs.
    with Runtime(bundle, mode="normal", audit_rate=1.0, max_audits_in_flight=len(frames)) as runtime:
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(frames)]
        runtime.wait_for_audits()
        audits = runtime.stats()["audits"]
    accepted = sum(1 for r in results if r.path == "minions" and not r.recovered)
    assert accepted > 0
    assert audits["requested"] == audits["sent"] == audits["done"] == accepted == sum(r.audited for r in results)
    assert audits["failed"] == audits["skipped"] == audits["in_flight"] == 0


class _GatedMaster:
    """A master client whose answers wait until the test opens the gate; it counts its calls."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = 0

    def predict(self, frame):
        self.calls += 1
        assert self.gate.wait(10.0), "the test never opened the gate"
        return RemoteResult(probabilities=np.eye(tfx.NUM_CLASSES, dtype=np.float32)[0], rtt_ms=1.0, attempts=1)

    def close(self) -> None:
        self.gate.set()


def test_audits_in_flight_are_bounded_and_every_sampled_frame_is_counted(bundle):
    frames = tfx.random_frames(60, seed=9)
    master = _GatedMaster()
    with Runtime(bundle, mode="normal", master_client=master, placement="device", audit_rate=1.0,
                 max_audits_in_flight=3) as runtime:
        # Placement device: the frames' master runs here, while the audits go to the cloud master.
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(frames)]
        held = runtime.audits_in_flight
        blocked = runtime.stats()["audits"]
        master.gate.set()
        runtime.wait_for_audits()
        audits = runtime.stats()["audits"]
    accepted = sum(1 for r in results if r.path == "minions" and not r.recovered)
    assert accepted > 3  # more sampled frames than the bound
    assert held == blocked["in_flight"] == 3 and blocked["sent"] == 3
    assert audits["requested"] == accepted and audits["skipped"] == accepted - 3
    assert audits["done"] + audits["failed"] + audits["skipped"] == audits["requested"]
    assert audits["done"] == sum(r.audited for r in results) == 3 == master.calls and audits["in_flight"] == 0


def test_wait_for_audits_gives_up_after_its_timeout(bundle):
    master = _GatedMaster()
    with Runtime(bundle, mode="normal", master_client=master, placement="device", audit_rate=1.0) as runtime:
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(tfx.random_frames(20, seed=9))]
        assert any(r.audited for r in results)
        with pytest.raises(TimeoutError, match="still running after 0.05 s"):
            runtime.wait_for_audits(timeout_s=0.05)
        master.gate.set()
        runtime.wait_for_audits()
        assert runtime.stats()["audits"]["done"] == sum(r.audited for r in results)


def test_a_private_mode_audits_on_the_device(bundle):
    master = _GatedMaster()
    master.gate.set()
    with Runtime(bundle, mode="private", master_client=master, audit_rate=1.0) as runtime:
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(tfx.random_frames(30, seed=7))]
        runtime.wait_for_audits()
        audits = runtime.stats()["audits"]
    assert audits["done"] == sum(r.audited for r in results) > 0
    assert master.calls == 0  # no frame of a private mode leaves the device, audited or not


def test_bad_frames_are_clear_per_frame_errors(bundle):
    with Runtime(bundle) as runtime:
        with pytest.raises(DataError, match=r"shape \(8, 8, 3\); expected \(H, W, 1\) with H, W >= 1"):
            runtime.classify(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(DataError, match="NaN"):
            runtime.classify(np.full((8, 8, 1), np.nan, np.float32))
        with pytest.raises(DataError, match="dtype"):
            runtime.classify(np.zeros((8, 8, 1), np.int64))
        assert runtime.classify(np.zeros((8, 8, 1), np.float32)).verified  # float pixels are fine


def test_bad_options_and_bundles_without_config(bundle, tmp_path):
    with pytest.raises(ConfigError, match="needs a master URL"):
        Runtime(bundle, placement="cloud")
    with pytest.raises(ConfigError, match="never leaves the device"):
        Runtime(bundle, mode="private", master_url="http://127.0.0.1:9", placement="cloud")
    with pytest.raises(ConfigError, match="mode is 'turbo'"):
        Runtime(bundle, mode="turbo")
    with pytest.raises(ConfigError, match="a master URL or a master client, not both"):
        Runtime(bundle, master_url="http://127.0.0.1:9", master_client=object())
    plain = tfx.write_fixture_bundle(tmp_path / "plain")
    with pytest.raises(BundleError, match="no runtime_config.json"):
        Runtime(plain)


def test_a_master_client_stands_in_for_the_url_and_is_closed(bundle):
    class Scripted:
        closed = False

        def predict(self, frame):
            return RemoteResult(probabilities=np.eye(tfx.NUM_CLASSES, dtype=np.float32)[1], rtt_ms=5.0, attempts=1,
                                total_ms=5.0)

        def close(self):
            self.closed = True

    client = Scripted()
    with Runtime(bundle, mode="mission_critical", master_client=client, placement="cloud") as runtime:
        result = runtime.classify(tfx.random_frames(1)[0], timestamp_s=0.0)
    assert result.master_placement == "cloud" and result.label == 1 and client.closed


def test_replay_summary_has_every_documented_key(bundle, tmp_path):
    frames, labels = bundle.load_split("test")
    trace = tmp_path / "trace.jsonl"
    with Runtime(bundle) as runtime, trace.open("w") as out:
        summary = replay(runtime, frames, labels, trace=out, progress=False)
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["frames"] == len(frames) and summary["frames_lost"] == 0
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(len(frames)))
    assert summary["accuracy"] == pytest.approx(np.mean([row["label"] == row["true_label"] for row in rows]))


def test_overhead_benchmark_measures_every_part(bundle_dir):
    from mmnet.benchmarks.runtime_overhead import measure_overhead, to_markdown

    result = measure_overhead(bundle_dir, repeats=3)
    assert result["frames"] == 15 and result["overhead_us"]["p50"] > 0 and result["minion_invoke"]["median_us"] > 0
    assert result["overhead_us"]["p50"] == pytest.approx(float(np.median(result["overhead_us"]["pass_p50"])))
    assert len(result["overhead_us"]["pass_p50"]) == 3
    ratio = result["overhead_us"]["p50"] / result["minion_invoke"]["median_us"]
    assert result["overhead_to_invoke_ratio"] == pytest.approx(ratio)
    assert result["system"] != "master-only"  # the fixture's normal mode runs its minion, so every part is measured
    assert set(result["parts_us"]) == {"selector_decide", "detector", "detector_rule_only", "detector_1000_classes",
                                       "detector_1000_codes", "learned_detector", "learned_detector_1000_classes",
                                       "learned_detector_1000_codes"}
    assert min(result["parts_us"].values()) > 0
    assert len(result["pass_minions_us"]) == 3
    for key in ("paper", "learned"):  # the same passes with every system's detector of one kind
        variant = result[key]
        assert variant["frames"] == 15 and len(variant["overhead_us"]["pass_p50"]) == 3 and variant["overhead_us"]["p50"] > 0
    markdown = to_markdown({"overhead": result})
    assert "overhead per frame" in markdown and "with the learned detector on every system" in markdown
    assert "learned − paper per pass" in markdown
