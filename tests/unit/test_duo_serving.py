"""The Dynamic Duo server's decisions, in process: its configuration, admission and backpressure, dynamic
batching on a fake clock, the probe's routes, the serving block's loading and the metrics text.

The server itself (sockets, workers, drain) is tested in tests/integration/test_duo_serving.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mmnet.format.errors import BundleError, ConfigError
from mmnet.runtime.learned_detector import SINGLE_FEATURES
from mmnet.server.__main__ import build_parser
from mmnet.server.app import ServerConfig
from mmnet.server.duo import (
    ACCEPTED,
    ADMITTED,
    BELOW_THRESHOLD,
    BIG,
    DRAINING,
    LITTLE,
    NO_FEATURES,
    NO_LITTLE,
    QUEUE_FULL,
    RECOVERY_FULL,
    BatchQueue,
    DuoConfig,
    Load,
    Probe,
    admit,
    duo_config_from,
    load_duo,
    plan_batch,
    retry_after_s,
    route_frame,
)
from mmnet.server.launch import duo_child_command
from mmnet.server.metrics import DuoMetrics
from tests.support import duo as duo_fixture
from tests.support import tflite_fixtures as tfx

# --- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, words", [
    ("max_batch", 0, "max_batch"), ("max_batch", 2.5, "max_batch"), ("max_wait_ms", -1.0, "max_wait_ms"),
    ("max_wait_ms", float("nan"), "max_wait_ms"), ("max_queued", 0, "max_queued"),
    ("max_recovery_queued", 0, "max_recovery_queued"), ("max_recovery_queued", 65, "at most max_queued"),
    ("drain_timeout_s", 0.0, "drain_timeout_s"), ("max_batch", True, "max_batch"),
])
def test_duo_config_refuses_bad_values_naming_the_field(field, value, words):
    with pytest.raises(ConfigError, match=words):
        DuoConfig(**{field: value})


def test_duo_config_is_frozen_and_converts_the_wait():
    config = DuoConfig(max_wait_ms=2.5)
    assert config.max_wait_s == pytest.approx(0.0025)
    with pytest.raises(AttributeError):
        config.max_batch = 3  # type: ignore[misc]


def test_server_flags_reach_the_duo_config_and_the_child_command():
    args = build_parser().parse_args(["--duo", "x.json", "--max-batch", "4", "--max-wait-ms", "1.5", "--max-queued", "10",
                                      "--max-recovery-queued", "5", "--drain-timeout-s", "3"])
    config = duo_config_from(args)
    assert config == DuoConfig(max_batch=4, max_wait_ms=1.5, max_queued=10, max_recovery_queued=5, drain_timeout_s=3.0)
    command = duo_child_command("x.json", host="127.0.0.1", port=1, config=ServerConfig(max_instances=4),
                                duo_config=config, target="t", rule="single", big_alone=True)
    again = build_parser().parse_args(command[3:])
    assert duo_config_from(again) == config and again.duo == "x.json" and (again.target, again.rule) == ("t", "single")
    assert again.big_alone


# --- admission and backpressure ------------------------------------------------------------------------


def test_admit_takes_requests_while_the_queues_have_room():
    config = DuoConfig(max_queued=10, max_recovery_queued=4)
    assert admit(Load(in_system=6, recovery_queued=3), 4, config) == admit(Load(0, 0), 1, config)
    assert admit(Load(6, 3), 4, config).admitted and admit(Load(6, 3), 4, config).reason == ADMITTED


def test_admit_refuses_with_429_when_the_frames_would_exceed_the_bound():
    config = DuoConfig(max_queued=10, max_recovery_queued=4)
    refused = admit(Load(in_system=7, recovery_queued=0), 4, config, big_seconds_per_frame=0.01)
    assert (refused.admitted, refused.status, refused.reason) == (False, 429, QUEUE_FULL)
    assert refused.retry_after_s == 1  # an empty recovery queue drains at once: the floor of 1 s


def test_admit_refuses_when_the_recovery_queue_could_overflow_and_says_how_long_to_wait():
    config = DuoConfig(max_queued=100, max_recovery_queued=20)
    assert admit(Load(in_system=30, recovery_queued=19), 2, config).admitted
    refused = admit(Load(in_system=30, recovery_queued=20), 2, config, big_seconds_per_frame=0.2)
    assert (refused.status, refused.reason) == (429, RECOVERY_FULL)
    assert refused.retry_after_s == math.ceil(20 * 0.2)
    # a single system has no recovery queue: only the total counts
    alone = admit(Load(in_system=30, recovery_queued=20), 2, config, big_seconds_per_frame=0.2, recovery_possible=False)
    assert alone.admitted


def test_admit_answers_503_while_draining_whatever_the_queues():
    refused = admit(Load(0, 0, draining=True), 1, DuoConfig())
    assert (refused.admitted, refused.status, refused.reason, refused.retry_after_s) == (False, 503, DRAINING, 1)


@pytest.mark.parametrize("ahead, per_frame, expected", [(0, 1.0, 1), (10, 0.05, 1), (10, 0.25, 3), (-3, 0.5, 1)])
def test_retry_after_is_whole_seconds_at_least_one(ahead, per_frame, expected):
    assert retry_after_s(ahead, per_frame) == expected


# --- dynamic batching on a fake clock ------------------------------------------------------------------


def test_plan_batch_leaves_full_batches_at_once_and_partial_ones_at_the_deadline():
    assert plan_batch(0, 0.0, 8, 0.002).take == 0 and plan_batch(0, 0.0, 8, 0.002).wait_s is None
    assert plan_batch(8, 0.0, 8, 0.002).take == 8
    assert plan_batch(20, 0.0, 8, 0.002).take == 8
    waiting = plan_batch(3, 0.0005, 8, 0.002)
    assert waiting.take == 0 and waiting.wait_s == pytest.approx(0.0015)
    assert plan_batch(3, 0.002, 8, 0.002).take == 3
    assert plan_batch(3, 0.0, 8, 0.0).take == 3  # no waiting: whatever is queued leaves


def test_batch_queue_on_a_fake_clock():
    clock = [100.0]
    queue: BatchQueue[str] = BatchQueue(max_batch=3, max_wait_s=0.010)
    assert queue.next_batch(clock[0]) == ([], None)
    queue.put("a", clock[0])
    clock[0] += 0.004
    queue.put("b", clock[0])
    batch, wait = queue.next_batch(clock[0])
    assert batch == [] and wait == pytest.approx(0.006)  # the oldest decides the deadline
    clock[0] += 0.006
    batch, wait = queue.next_batch(clock[0])
    assert batch == ["a", "b"] and wait == 0.0 and len(queue) == 0
    for item in "cdefg":
        queue.put(item, clock[0])
    assert queue.next_batch(clock[0])[0] == ["c", "d", "e"]  # a full batch does not wait
    assert queue.next_batch(clock[0])[0] == []  # two left, fresh: they wait
    assert queue.take_all(5) == ["f", "g"]


# --- the probe -------------------------------------------------------------------------------------------


def test_per_class_probe_accepts_at_its_class_threshold_and_recovers_below():
    probe = Probe("per_class", thresholds=np.array([0.5, 0.9, 0.7]))
    accepted = route_frame(probe, np.array([0.1, 0.0, 0.75], dtype=np.float32))
    assert (accepted.model, accepted.reason, accepted.answer) == (LITTLE, ACCEPTED, 2)
    # float32 0.7 is 0.699999988 in float64, as the pair search read it: just below a 0.7 threshold
    assert route_frame(probe, np.array([0.1, 0.0, 0.7], dtype=np.float32)).model == BIG
    recovered = route_frame(probe, np.array([0.1, 0.8, 0.1], dtype=np.float32))
    assert (recovered.model, recovered.reason, recovered.answer) == (BIG, BELOW_THRESHOLD, 1)
    assert recovered.score == pytest.approx(0.8)


def test_no_probe_means_a_single_system():
    route = route_frame(None, np.array([0.2, 0.8]))
    assert (route.model, route.reason) == (BIG, NO_LITTLE)


def test_logistic_probe_scores_the_little_model_alone():
    doc = {"kind": "logistic", "features": list(SINGLE_FEATURES), "weights": [10.0, 0.0, 0.0], "bias": -5.0,
           "threshold": 0.0}
    probe = Probe.from_json(doc, 3, "serving.probe")
    assert route_frame(probe, np.array([0.6, 0.3, 0.1])).model == LITTLE  # 10·0.6 − 5 = 1 ≥ 0
    assert route_frame(probe, np.array([0.4, 0.35, 0.25])).model == BIG  # 10·0.4 − 5 = −1
    assert route_frame(probe, np.zeros(3)).reason == NO_FEATURES


@pytest.mark.parametrize("doc, words", [
    (None, "probe object"), ({"kind": "nope"}, "kind"),
    ({"kind": "per_class_confidence", "thresholds": [0.5, 0.5]}, "3 numbers"),
    ({"kind": "per_class_confidence", "thresholds": [0.5, "x", 0.5]}, r"thresholds\[1\]"),
])
def test_bad_probes_are_refused_naming_what_was_wrong(doc, words):
    with pytest.raises(ConfigError, match=words):
        Probe.from_json(doc, 3, "serving.probe")


# --- the serving block -----------------------------------------------------------------------------------


def test_load_duo_reads_the_pair_and_the_single_system(tmp_path):
    path = duo_fixture.write_duo(tmp_path, threshold=0.7)
    pair = load_duo(path)
    assert (pair.little.id, pair.big.id, pair.probe.rule) == (tfx.INT8_ID, tfx.FLOAT_ID, "per_class")
    assert pair.probe.thresholds.tolist() == [0.7] * tfx.NUM_CLASSES
    assert pair.preprocessing.frame_shape == tfx.FRAME_SHAPE
    strict = load_duo(path, rule="single")
    assert strict.probe.rule == "single" and strict.probe.thresholds.tolist() == [1.0] * tfx.NUM_CLASSES
    alone = load_duo(path, big_alone=True)
    assert alone.little is None and alone.probe is None and alone.name == tfx.FLOAT_ID


def test_load_duo_refuses_unknown_choices_missing_files_and_changed_models(tmp_path):
    path = duo_fixture.write_duo(tmp_path)
    with pytest.raises(ConfigError, match="no configuration for target 'x'"):
        load_duo(path, target="x")
    doc = json.loads(path.read_text())
    doc["serving"]["configurations"][0]["big"]["sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_duo(path)
    doc["serving"]["configurations"][0]["big"]["path"] = "missing.tflite"
    path.write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="does not exist"):
        load_duo(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="cannot read it as JSON"):
        load_duo(path)
    path.write_text(json.dumps({"pool": {}}))
    with pytest.raises(ConfigError, match="no serving block"):
        load_duo(path)


# --- metrics ---------------------------------------------------------------------------------------------


def _families(metrics: DuoMetrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def test_metrics_text_parses_and_holds_what_was_recorded():
    metrics = DuoMetrics()
    metrics.requests.labels("answered").inc(3)
    metrics.requests.labels("refused").inc()
    metrics.judged([ACCEPTED, ACCEPTED, ACCEPTED, BELOW_THRESHOLD], recovered=1)
    metrics.queues(little=2, recovery=1, in_system=5)
    for seconds in (0.004, 0.004, 0.02):
        metrics.latency.observe(seconds)
    metrics.batch_size.labels("little").observe(4)
    families = _families(metrics)
    requests = {s.labels["outcome"]: s.value for s in families["mmnet_duo_requests"].samples if s.name.endswith("_total")}
    assert requests == {"answered": 3, "refused": 1, "draining": 0, "bad_request": 0, "error": 0}
    assert families["mmnet_duo_recovery_rate"].samples[0].value == pytest.approx(0.25)
    depth = {s.labels["queue"]: s.value for s in families["mmnet_duo_queue_depth"].samples}
    assert depth == {"little": 2, "recovery": 1, "in_system": 5}
    buckets = {s.labels["le"]: s.value for s in families["mmnet_duo_request_latency_seconds"].samples
               if s.name.endswith("_bucket")}
    assert buckets["0.005"] == 2 and buckets["0.02"] == 3 and buckets["+Inf"] == 3
    batch = [s for s in families["mmnet_duo_batch_size"].samples if s.name.endswith("_count")]
    assert batch[0].labels == {"model": "little"} and batch[0].value == 1


def test_two_apps_keep_their_metrics_apart():
    a, b = DuoMetrics(), DuoMetrics()
    a.requests.labels("answered").inc()
    assert b"mmnet_duo_requests_total{outcome=\"answered\"} 0.0" in b.render()


# --- the little model's batch as one invoke ----------------------------------------------------------------


@pytest.mark.parametrize("model_id", [tfx.INT8_ID, tfx.FLOAT_ID])
def test_a_batch_as_one_invoke_gives_what_one_invoke_per_frame_gives(model_id):
    from mmnet.runtime.interpreter import TFLiteClassifier
    from mmnet.server.duo_app import BatchedInvoker

    classifier = TFLiteClassifier(tfx.FIXTURES / f"{model_id}.tflite")
    invoker, why = BatchedInvoker.for_classifier(classifier)
    assert invoker is not None and why == "batched"
    inputs = tfx.normalised_inputs(5, seed=1)
    np.testing.assert_allclose(invoker.predict(inputs), classifier.predict(inputs), atol=1e-6)
    interpreter = invoker._interpreter(5)
    invoker.predict(inputs[::-1])
    assert invoker._interpreter(5) is interpreter  # resized and allocated once per batch size


def test_the_little_worker_runs_batches_of_batched_from_frames_as_one_invoke(duo_json_path):
    from mmnet.server.duo_app import BATCHED_FROM, DuoModels

    models = DuoModels(load_duo(duo_json_path))
    assert models.little_batching == "batched"
    calls = []
    predict = models.little_invoker.predict
    models.little_invoker.predict = lambda batch: calls.append(len(batch)) or predict(batch)
    frames = tfx.random_frames(BATCHED_FROM + 1, seed=2)
    scores, routes = models.run_little(frames)
    models.run_little(frames[:BATCHED_FROM - 1])
    assert calls == [BATCHED_FROM + 1]  # the smaller batch ran one invoke per frame
    looped = DuoModels(load_duo(duo_json_path), batched_little=False)
    assert looped.little_invoker is None and looped.little_batching == "off"
    np.testing.assert_allclose(looped.run_little(frames)[0], scores, atol=1e-6)
    assert [r.model for r in looped.run_little(frames)[1]] == [r.model for r in routes]


@pytest.fixture
def duo_json_path(tmp_path):
    return duo_fixture.write_duo(tmp_path)


def test_requests_being_decoded_count_against_the_admission_bound():
    from types import SimpleNamespace

    from mmnet.server.duo_app import DuoScheduler

    scheduler = DuoScheduler(SimpleNamespace(little=object()), DuoConfig(max_queued=4, max_recovery_queued=2),
                             DuoMetrics())
    scheduler.in_system = 2
    assert scheduler.admission(1).admitted
    scheduler.decoding = 2  # two bodies past their first check, not queued yet
    refused = scheduler.admission(1)
    assert not refused.admitted and refused.reason == QUEUE_FULL
    scheduler.decoding = 1  # after decoding, a request is checked without itself, with its frames
    assert scheduler.admission(1, admitted_before=True).admitted
    assert not scheduler.admission(2, admitted_before=True).admitted
