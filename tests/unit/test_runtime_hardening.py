"""The runtime never loses a frame silently: a failing path falls back to the best remaining one, a
frame no path can answer is counted by cause and fails `mmnet run`; configs that can never work,
model files that do not match the manifest and frames or timestamps the runtime cannot take fail
clearly, and the runtime stays usable after any of them (a fuzz test holds it).

Faults are injected into real components (the interpreters of a real tiny bundle raise); the
runtime against a real faulty server is tested in tests/integration/test_run_hardening.py.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmnet.format.bundle import load_bundle, sha256_file
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.format.runtime_config import RuntimeConfig, check_runtime_config
from mmnet.runtime.detector import calibrated_top1, calibration_table
from mmnet.runtime.remote import RemoteResult
from mmnet.runtime.replay import format_summary, replay
from mmnet.runtime.runtime import FALLBACK_CODES, FrameLostError, Runtime
from mmnet.server.master import select_master
from tests.support import tflite_fixtures as tfx
from tests.support.fuzz import FUZZ


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("hardening") / "tiny")


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def always_recover(bundle_dir, tmp_path_factory):
    """Every threshold above any confidence: the detector sends every frame it checks to the master."""
    return load_bundle(tfx.write_always_recovering_bundle(bundle_dir, tmp_path_factory.mktemp("recover") / "tiny"))


@pytest.fixture(scope="module")
def frames():
    return tfx.random_frames(8, seed=11)


def _broken(message: str):
    def fail(*args, **kwargs):
        raise ValueError(message)

    return fail


def _with_config(bundle, edit) -> object:
    """``bundle`` with an in-memory runtime config changed by ``edit(document)`` (no file, no validation)."""
    doc = copy.deepcopy(bundle.runtime_config.document)
    edit(doc)
    return replace(bundle, runtime_config=RuntimeConfig(doc))


# -- fallbacks ------------------------------------------------------------------------------------


def test_failing_minions_send_the_frame_to_the_master(bundle, frames, monkeypatch):
    master = tfx.device_master_answers(bundle, frames)
    with Runtime(bundle, mode="normal") as runtime:
        system = runtime.minion_system(runtime.config.selection(runtime.profile, "normal")["system"])
        monkeypatch.setattr(runtime._classifiers[system.minions[0]], "invoke_one", _broken("minion exploded"))
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(frames)]
        stats = runtime.stats()
    assert {r.decision.path for r in results} == {"minions"}  # the branch under test ran on every frame
    assert all(r.fallbacks == ("minion_error",) and r.path == "master_device" and r.verified for r in results)
    assert [r.label for r in results] == master and all(r.minion_answer is None for r in results)
    assert stats["fallbacks"] == {"minion_error": len(frames)} and stats["path_counts"] == {"master_device": len(frames)}
    assert runtime.losses() == {"frames_lost": 0, "lost_by_cause": {}}


def test_a_failing_device_master_leaves_the_minions_answer_unverified(always_recover, frames, monkeypatch):
    with Runtime(always_recover, mode="normal") as runtime:
        monkeypatch.setattr(runtime._classifiers[runtime.config.master_model], "invoke_one", _broken("master exploded"))
        results = [runtime.classify(f, timestamp_s=10.0 * i) for i, f in enumerate(frames)]
    assert all(r.recovered and r.fallbacks == ("device_master_error",) for r in results)
    assert all(not r.verified and r.label == r.minion_answer and r.master_answer is None for r in results)


def test_a_frame_no_path_answers_is_lost_by_cause_and_the_runtime_goes_on(bundle, frames, monkeypatch):
    good = tfx.device_master_answers(bundle, frames[1:2])[0]
    with Runtime(bundle, mode="mission_critical") as runtime:
        with monkeypatch.context() as patch:
            for classifier in runtime._classifiers.values():  # the master and the emergency minion
                patch.setattr(classifier, "invoke_one", _broken("interpreter exploded"))
            with pytest.raises(FrameLostError, match=r"frame 0 lost: no path could answer it \(failed before: "
                                                     r"device_master_error; then the emergency minions: ValueError: "
                                                     r"interpreter exploded\)") as lost:
                runtime.classify(frames[0], timestamp_s=0.0)
        assert lost.value.cause == "ValueError" and lost.value.fallbacks == ("device_master_error",)
        assert runtime.losses() == {"frames_lost": 1, "lost_by_cause": {"ValueError": 1}}
        assert runtime.stats()["path_counts"] == {} and runtime.stats()["frames"] == 0  # lost frames have no path
        again = runtime.classify(frames[1], timestamp_s=100.0)  # the interpreters work again: so does the runtime
    assert again.index == 1 and (again.label, again.path, again.verified) == (good, "master_device", True)


class _Client:
    """A master client (a benchmark's modelled network, say) that answers ``reply`` or raises it."""

    def __init__(self, reply) -> None:
        self.reply = reply

    def predict(self, frame):
        if isinstance(self.reply, BaseException):
            raise self.reply
        return RemoteResult(probabilities=self.reply, rtt_ms=1.0, attempts=1, total_ms=1.0)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("reply, code", [
    (np.eye(11, dtype=np.float32)[10], "cloud_malformed"),  # 11 probabilities for 3 classes: label 10 does not exist
    (np.full(1_300_000, 1e-6, np.float32), "cloud_malformed"),
    (np.eye(tfx.NUM_CLASSES, dtype=np.float32)[None, 1], "cloud_malformed"),  # a batch, not one row
    (KeyError("predictions"), "cloud_error"),  # a client raising something else than RemoteMasterError
])
def test_an_unusable_cloud_reply_falls_back_to_the_device_master(bundle, frames, reply, code):
    master = tfx.device_master_answers(bundle, frames[:3])
    with Runtime(bundle, mode="mission_critical", master_client=_Client(reply), placement="cloud") as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames[:3])]
    assert all(r.fallbacks == (code,) and r.master_placement == "device" and r.path == "master_device" for r in results)
    assert [r.label for r in results] == master


def test_the_master_client_is_told_the_bundles_class_count(bundle):
    with Runtime(bundle, mode="mission_critical", master_url="http://127.0.0.1:9", placement="cloud") as runtime:
        assert runtime._remote.num_classes == tfx.NUM_CLASSES  # not adopted from the first reply


def test_fallback_codes_name_every_code_a_frame_can_carry():
    assert {"cloud_timeout", "cloud_malformed", "cloud_error", "no_device_master", "minion_error",
            "device_master_error"} <= set(FALLBACK_CODES)


# -- replay and `mmnet run` -----------------------------------------------------------------------


def _lose_every_frame(monkeypatch) -> None:
    """Every path of the runtime fails (the replay's own master answers, off the timed path, still work)."""
    import mmnet.runtime.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "preprocess", _broken("preprocessing exploded"))
    monkeypatch.setattr(runtime_module, "model_input", _broken("preprocessing exploded"))


def test_replay_counts_lost_frames_by_cause_outside_the_path_counts(bundle, tmp_path, monkeypatch):
    frames, labels = bundle.load_split("test")
    _lose_every_frame(monkeypatch)
    trace = tmp_path / "trace.jsonl"
    with Runtime(bundle) as runtime, trace.open("w") as out:
        summary = replay(runtime, frames[:5], labels[:5], trace=out, progress=False)
    assert summary["frames"] == summary["frames_lost"] == 5 and summary["lost_by_cause"] == {"ValueError": 5}
    assert summary["path_counts"] == {} and summary["accuracy"] is None
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(row["index"], row["lost"], row["cause"]) for row in rows] == [(i, True, "ValueError") for i in range(5)]
    assert "preprocessing exploded" in rows[0]["error"] and rows[0]["fallbacks"]
    assert format_summary(summary).startswith("5 frames (5 lost: ValueError 5), ")


def test_run_exits_1_naming_the_lost_frames_and_the_trace(bundle_dir, tmp_path, monkeypatch, capsys):
    from mmnet.cli.main import main

    _lose_every_frame(monkeypatch)
    trace = tmp_path / "trace.jsonl"
    summary = tmp_path / "summary.json"
    code = main(["run", str(bundle_dir), "--split", "test", "--limit", "4", "--quiet", "--trace", str(trace),
                 "--summary-json", str(summary)])
    out = capsys.readouterr()
    assert code == 1
    assert out.out.startswith("4 frames (4 lost: ValueError 4)")  # the summary still prints
    assert out.err.endswith(f"mmnet run: 4 of 4 frames lost (ValueError 4); the trace {trace} holds each lost "
                            "frame's error\n")
    assert json.loads(summary.read_text())["frames_lost"] == 4 and len(trace.read_text().splitlines()) == 4


def test_run_without_a_trace_says_how_to_get_one(bundle_dir, monkeypatch, capsys):
    from mmnet.cli.main import main

    _lose_every_frame(monkeypatch)
    assert main(["run", str(bundle_dir), "--split", "test", "--limit", "2", "--quiet"]) == 1
    assert capsys.readouterr().err.endswith("rerun with --trace FILE for each lost frame's error\n")


# -- configs that can never work ------------------------------------------------------------------


def _nan_thresholds(doc):
    for system in doc["systems"].values():
        for tuned in system["modes"].values():
            tuned["thresholds"][0] = math.nan


def _temperatures(value):
    def edit(doc):
        for model in doc["detector"]["temperatures"]:
            doc["detector"]["temperatures"][model] = value

    return edit


def _nan_disagreement(doc):
    for system in doc["systems"].values():
        for tuned in system["modes"].values():
            tuned["disagreement_threshold"] = math.nan


@pytest.mark.parametrize("edit, error, message", [
    (_nan_thresholds, BundleError, r"\$\.systems\['single:tiny-r12-int8'\]\.modes\.\w+\.thresholds\[0\] is nan; "
                                   r"expected a finite number"),
    (_nan_disagreement, BundleError, r"disagreement_threshold is nan; expected a finite number"),
    (_temperatures(1e-300), ConfigError, r"temperature of minion 'tiny-r12-int8' is 1e-300; expected a finite "
                                         r"number in \[0\.01, 100\]"),
    (_temperatures(1e300), ConfigError, r"temperature of minion 'tiny-r12-int8' is 1e\+300; expected"),
    (lambda doc: doc["speculation_history"].update(temporal_distance_ms=math.inf), BundleError,
     r"\$\.speculation_history\.temporal_distance_ms is inf; expected a finite number"),
])
def test_a_config_that_can_never_work_fails_when_the_runtime_is_made(bundle, edit, error, message):
    broken = _with_config(bundle, edit)
    with pytest.raises(error, match=message):
        Runtime(broken)


def test_nan_and_out_of_range_temperatures_are_refused_in_the_document(bundle, tmp_path):
    nan = copy.deepcopy(bundle.runtime_config.document)
    _nan_thresholds(nan)
    with pytest.raises(BundleError, match=r"cfg: \$\.systems\['single:tiny-r12-int8'\].*is nan; expected a finite"):
        check_runtime_config(nan, "cfg")
    tiny = copy.deepcopy(bundle.runtime_config.document)
    _temperatures(1e-300)(tiny)
    with pytest.raises(BundleError, match=r"cfg: \$\.detector\.temperatures\['tiny-r12-int8'\]: 1e-300 is less than the "
                                          r"minimum of 0\.01"):
        check_runtime_config(tiny, "cfg")


def test_calibration_is_numerically_safe_at_the_extreme_temperatures():
    # Every term p^(1/T) underflows to 0 (the sum was a ZeroDivisionError) or one overflows (inf / inf: NaN).
    assert calibrated_top1([1e-5, 1e-6, 1e-7], 0.01) == (0, 1.0)
    assert calibrated_top1([1e-5, 1e-5, 1e-7], 0.01) == (0, 0.5)
    assert calibrated_top1([1e4, 1.0, 2.0], 0.01) == (0, 1.0)
    assert calibrated_top1(np.array([1e-5] + [1e-7] * 99), 0.01) == (0, 1.0)  # numpy's way, over 40 classes
    table = calibration_table([0.0] * 256, 0.01)  # an 8-bit output whose every code underflows
    assert calibrated_top1([3, 3, 1], 0.01, table) == (0, 0.5)
    assert calibrated_top1(np.array([3] * 200, dtype=np.uint8), 0.01, table) == (0, 1 / 200)
    assert calibrated_top1([0.7, 0.2, 0.1], 1.0) == (0, pytest.approx(0.7))  # the common case is untouched


# -- model files checked against the manifest -----------------------------------------------------


def _with_edited_resolution(source: Path, target: Path, model_id: str, resolution: int) -> Path:
    """A copy of the bundle whose manifest says ``model_id`` takes ``resolution`` (the file, and so
    its hash, unchanged: as if the file had been swapped and the hash updated with it)."""
    import shutil

    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    record = next(m for m in manifest["models"] if m["id"] == model_id)
    record["resolution"] = resolution
    record["input"]["shape"] = [1, resolution, resolution, tfx.CHANNELS]
    tfx.rewrite_manifest(target, manifest)
    assert sha256_file(target / record["file"]) == record["sha256"]
    return target


def test_a_minion_file_that_does_not_match_the_manifest_fails_at_load(bundle_dir, tmp_path):
    edited = load_bundle(_with_edited_resolution(bundle_dir, tmp_path / "edited", tfx.INT8_ID, 16))
    with pytest.raises(BundleError, match=r"model 'tiny-r12-int8' \(.*tiny-r12-int8\.tflite\): the manifest says "
                                          r"input \(1, 16, 16, 1\) and 3 classes; the file takes \(1, 12, 12, 1\) "
                                          r"and gives 3 outputs"):
        Runtime(edited)


def test_a_served_master_that_does_not_match_the_manifest_fails_at_load(tmp_path):
    plain = _with_edited_resolution(tfx.write_fixture_bundle(tmp_path / "plain"), tmp_path / "edited", tfx.FLOAT_ID, 16)
    with pytest.raises(BundleError, match=r"model 'tiny-r12-float32' .*the manifest says input \(1, 16, 16, 1\)"):
        select_master(load_bundle(plain))


# -- frames and timestamps ------------------------------------------------------------------------


def _deep_list(depth: int) -> list:
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


@pytest.mark.parametrize("frame, message", [
    ([[[0]] * 8] * 7 + [[[0]] * 3], r"frame is a list numpy cannot read as an array \(.*inhomogeneous"),
    (_deep_list(100_000), r"frame is a list numpy cannot read as an array"),
    (np.zeros(tfx.FRAME_SHAPE, dtype=object), r"frame has dtype object; expected uint8, or float in pixel units"),
    (np.zeros(tfx.FRAME_SHAPE, dtype=np.complex64), r"frame has dtype complex64; expected uint8"),
    (np.full(tfx.FRAME_SHAPE, 1e300), r"frame values span \[1e\+300, 1e\+300\]; expected float pixels in 0\.\.255"),
    (np.full(tfx.FRAME_SHAPE, -1e300), r"frame values span \[-1e\+300, -1e\+300\]"),
    (np.full(tfx.FRAME_SHAPE, 256.0, np.float32), r"frame values span \[256, 256\]"),
    (np.ma.masked_all(tfx.FRAME_SHAPE, dtype=np.uint8), r"frame is a numpy masked array; fill the masked pixels first"),
    (np.ma.masked_array(np.zeros(tfx.FRAME_SHAPE, np.uint8), mask=False), r"numpy masked array"),
])
def test_frames_the_runtime_cannot_take_are_data_errors(bundle, frames, frame, message):
    with Runtime(bundle) as runtime:
        first = runtime.classify(frames[0], timestamp_s=0.0)
        with pytest.raises(DataError, match=message):
            runtime.classify(frame, timestamp_s=50.0)
        assert runtime.classify(frames[0], timestamp_s=0.0).label == first.label


@pytest.mark.parametrize("timestamp, shown", [
    ("abc", "'abc' (str)"), (1j, "1j (complex)"), (math.nan, "nan (float)"), (math.inf, "inf (float)"),
    (True, "True (bool)"), pytest.param(10**400, "1000000000000000000000000000000000000000... (int)", id="10**400"),
    ([1.0], "[1.0] (list)"),
])
def test_timestamps_the_runtime_cannot_take_are_data_errors(bundle, frames, timestamp, shown):
    with Runtime(bundle) as runtime:
        with pytest.raises(DataError, match=f"^{re.escape(f'timestamp_s is {shown}; expected a finite number of seconds')}$"):
            runtime.classify(frames[0], timestamp_s=timestamp)
        assert runtime.classify(frames[0], timestamp_s=np.float32(2.5)).timestamp_s == 2.5  # numpy numbers are fine
        assert runtime.classify(frames[0], timestamp_s=3).timestamp_s == 3.0


def test_float_pixels_in_range_are_classified_as_their_uint8_twins(bundle, frames):
    with Runtime(bundle, mode="mission_critical") as runtime:
        as_uint8 = runtime.classify(frames[0], timestamp_s=0.0).label
        as_float = runtime.classify(frames[0].astype(np.float64), timestamp_s=10.0).label
    assert as_uint8 == as_float


_dtypes = st.sampled_from([np.uint8, np.int8, np.int64, np.float16, np.float32, np.float64, np.complex64, np.bool_,
                           object, "U2", "M8[s]"])
_shapes = st.sampled_from([tfx.FRAME_SHAPE, (8, 8), (8, 8, 3), (1, 8, 8, 1), (0, 8, 1), (), (8, 1, 8)])
_arrays = st.one_of(
    hnp.arrays(np.uint8, tfx.FRAME_SHAPE),
    hnp.arrays(np.float64, tfx.FRAME_SHAPE, elements=st.floats(allow_nan=True, allow_infinity=True)),
    hnp.arrays(np.float32, tfx.FRAME_SHAPE, elements=st.floats(0, 255, width=32)),
    _dtypes.flatmap(lambda dtype: _shapes.map(lambda shape: np.zeros(shape, dtype=dtype))),
)
_json_like = st.recursive(st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none()),
                          lambda children: st.lists(children, max_size=9), max_leaves=80)
_timestamps = st.one_of(st.none(), st.floats(), st.integers(), st.text(max_size=5), st.complex_numbers(),
                        st.booleans(), st.just(10**400))


@pytest.mark.fuzz
@FUZZ
@given(frame=st.one_of(_arrays, _json_like, _arrays.map(lambda a: a.tolist())), timestamp=_timestamps)
def test_fuzz_any_frame_gives_a_label_or_a_data_error_and_the_runtime_stays_usable(fuzz_runtime, frame, timestamp):
    runtime, good_frame, good_label = fuzz_runtime
    try:
        result = runtime.classify(frame, timestamp_s=timestamp)
    except DataError:
        pass
    else:
        assert 0 <= result.label < tfx.NUM_CLASSES and result.label_name == tfx.LABELS[result.label]
        assert math.isfinite(result.confidence) and 0.0 <= result.confidence <= 1.0 + 1e-6
    assert runtime.classify(good_frame, timestamp_s=None).label == good_label


@pytest.fixture(scope="module")
def fuzz_runtime(bundle):
    """One runtime for every example (as a camera stream has): master alone, so the check frame's
    label does not depend on the history the fuzzed frames leave."""
    good_frame = tfx.random_frames(1, seed=12)[0]
    with Runtime(bundle, mode="mission_critical") as runtime:
        yield runtime, good_frame, runtime.classify(good_frame).label
