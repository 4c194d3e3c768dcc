"""The Dynamic Duo server on loopback: real TFLite models (the tiny fixtures; the Coral pair when
``$MMNET_SHARED_DATA`` has it), real uvicorn, real HTTP.

Expected answers come from running the pair offline on the same frames (:mod:`tests.support.duo`),
never from constants: the server must send the little model's probabilities where the probe accepts
them and the big model's elsewhere, bit for bit. The decisions themselves (admission, batching,
routes, metrics) are unit-tested in tests/unit/test_duo_serving.py.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mmnet.format.errors import ConfigError
from mmnet.server.app import ServerConfig
from mmnet.server.duo import DuoConfig, load_duo
from mmnet.server.duo_app import ANSWERED_BY_HEADER, create_duo_app
from mmnet.server.launch import running_app, running_duo_server_process
from tests.support import duo as duo_fixture
from tests.support import tflite_fixtures as tfx
from tests.support.serving import b64_png

THRESHOLD = 0.6


@pytest.fixture(scope="module")
def duo_json(tmp_path_factory):
    return duo_fixture.write_duo(tmp_path_factory.mktemp("duo"), THRESHOLD)


def _predict(url: str, frames: np.ndarray, name: str = "duo", session=None) -> requests.Response:
    body = {"instances": [b64_png(f) for f in frames]}
    return (session or requests).post(f"{url}/v1/models/{name}:predict", json=body, timeout=30)


def _metrics(url: str) -> dict:
    text = requests.get(f"{url}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_the_pair_answers_as_it_does_offline_batched_and_counted(duo_json):
    frames = tfx.random_frames(40, seed=3)
    expected, routes = duo_fixture.offline_answers(frames, THRESHOLD)
    assert {"little", "big"} <= set(routes), "the frames must exercise both routes"
    system = load_duo(duo_json)
    app = create_duo_app(system, duo=DuoConfig(max_batch=4, max_wait_ms=20.0))
    groups = [list(range(i, min(i + 3, len(frames)))) for i in range(0, len(frames), 3)]
    with running_app(app) as url, ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda g: (g, _predict(url, frames[g])), groups))
        metrics = _metrics(url)
        metadata = requests.get(f"{url}/v1/models/{system.name}/metadata", timeout=10).json()
    for group, reply in replies:
        assert reply.status_code == 200, reply.text
        got = np.asarray(reply.json()["predictions"], dtype=np.float32)
        np.testing.assert_array_equal(got, expected[group])
        assert reply.headers[ANSWERED_BY_HEADER].split(",") == [routes[i] for i in group]
    little, big = routes.count("little"), routes.count("big")
    assert metrics[("mmnet_duo_frames_total", (("model", "little"),))] == little
    assert metrics[("mmnet_duo_frames_total", (("model", "big"),))] == big
    assert metrics[("mmnet_duo_recovery_rate", ())] == pytest.approx(big / len(frames))
    assert metrics[("mmnet_duo_requests_total", (("outcome", "answered"),))] == len(groups)
    assert metrics[("mmnet_duo_request_latency_seconds_count", ())] == len(groups)
    # 8 clients at once against batches of up to 4 frames waiting up to 20 ms: some passes batched
    passes = metrics[("mmnet_duo_batch_size_count", (("model", "little"),))]
    assert passes < len(frames) and metrics[("mmnet_duo_batch_size_sum", (("model", "little"),))] == len(frames)
    assert metadata["mmnet"]["little"] == tfx.INT8_ID and metadata["mmnet"]["max_batch"] == 4
    assert metadata["mmnet"]["little_batching"] == "batched"


def test_the_timing_log_holds_every_pass_and_request_on_the_monotonic_clock(duo_json):
    frames = tfx.random_frames(12, seed=5)
    _, routes = duo_fixture.offline_answers(frames, THRESHOLD)
    app = create_duo_app(load_duo(duo_json), duo=DuoConfig(max_batch=4, max_wait_ms=5.0))
    with running_app(app) as url, requests.Session() as session:
        since = requests.get(f"{url}/timings", params={"since": 10**12}, timeout=10).json()["next"]
        before = time.monotonic()
        for i, frame in enumerate(frames):
            body = {"instances": [b64_png(frame)]}
            reply = session.post(f"{url}/v1/models/duo:predict", json=body, headers={"X-Request-Id": f"r{i}"}, timeout=30)
            assert reply.status_code == 200
        after = time.monotonic()
        log = requests.get(f"{url}/timings", params={"since": since}, timeout=10).json()
        bad = requests.get(f"{url}/timings", params={"since": "-1"}, timeout=10)
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    passes = [dict(zip(log["pass_fields"], p)) for p in log["passes"]]
    assert sum(p["frames"] for p in passes if p["model"] == "little") == len(frames)
    assert sum(p["frames"] for p in passes if p["model"] == "big") == routes.count("big")
    assert all(before <= p["start"] <= p["end"] <= after for p in passes)
    logged = {r[1]: dict(zip(log["request_fields"], r)) for r in log["requests"]}
    assert sorted(logged) == sorted(f"r{i}" for i in range(len(frames)))
    for r in logged.values():
        assert r["status"] == 200 and before <= r["read"] <= r["submitted"] <= r["answered"] <= r["replied"] <= after


def test_the_single_system_sends_every_frame_to_the_big_model(duo_json):
    frames = tfx.random_frames(6, seed=4)
    system = load_duo(duo_json, big_alone=True)
    with running_app(create_duo_app(system)) as url:
        reply = _predict(url, frames, name=system.name)
        metrics = _metrics(url)
    assert reply.status_code == 200
    big = duo_fixture.offline_answers(frames, threshold=2.0)[0]  # nothing reaches 2.0: all big
    np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32), big)
    assert reply.headers[ANSWERED_BY_HEADER] == ",".join(["big"] * len(frames))
    assert metrics[("mmnet_duo_frames_total", (("model", "big"),))] == len(frames)


def test_full_queues_answer_429_with_retry_after_and_lose_no_admitted_request(duo_json):
    # Batches wait up to 1.5 s for company, so four one-frame requests fill a queue of four.
    frames = tfx.random_frames(6, seed=5)
    expected, _ = duo_fixture.offline_answers(frames, THRESHOLD)
    app = create_duo_app(load_duo(duo_json), config=ServerConfig(max_instances=2),
                         duo=DuoConfig(max_batch=64, max_wait_ms=1500.0, max_queued=4, max_recovery_queued=4))
    with running_app(app) as url, ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(_predict, url, frames[i : i + 1]) for i in range(4)]
        deadline = time.monotonic() + 5
        while app.state.scheduler.in_system < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = _predict(url, frames[4:5])
        answered = [f.result() for f in waiting]
        after = _predict(url, frames[5:6])
        metrics = _metrics(url)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "queue_full" in refused.json()["error"]
    for i, reply in enumerate(answered):
        assert reply.status_code == 200
        np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32), expected[i : i + 1])
    assert after.status_code == 200  # room again once the batch left
    assert metrics[("mmnet_duo_refusals_total", (("reason", "queue_full"),))] == 1
    assert metrics[("mmnet_duo_requests_total", (("outcome", "refused"),))] == 1


def test_bad_requests_get_the_master_servers_errors(duo_json):
    with running_app(create_duo_app(load_duo(duo_json))) as url:
        not_json = requests.post(f"{url}/v1/models/duo:predict", data=b"{", timeout=10)
        wrong_model = requests.post(f"{url}/v1/models/nope:predict", json={"instances": []}, timeout=10)
        openapi = requests.get(f"{url}/openapi.json", timeout=10).json()
        metrics = _metrics(url)
    assert not_json.status_code == 400 and "error" in not_json.json()
    assert wrong_model.status_code == 404 and "duo" in wrong_model.json()["error"]
    assert "/metrics" in openapi["paths"]
    assert "429" in openapi["paths"]["/v1/models/{name}:predict"]["post"]["responses"]
    assert metrics[("mmnet_duo_requests_total", (("outcome", "bad_request"),))] == 2


def test_a_request_larger_than_the_queue_is_a_configuration_error(duo_json):
    with pytest.raises(ConfigError, match="max_instances"):
        create_duo_app(load_duo(duo_json), config=ServerConfig(max_instances=8),
                       duo=DuoConfig(max_queued=4, max_recovery_queued=4))


def test_sigterm_drains_new_requests_503_admitted_ones_answered_then_exit(duo_json):
    frames = tfx.random_frames(2, seed=6)
    expected, _ = duo_fixture.offline_answers(frames, THRESHOLD)
    with running_duo_server_process(duo_json, duo_config=DuoConfig(max_batch=64, max_wait_ms=2000.0),
                                    max_instances=4) as (url, child):
        admitted: dict = {}
        thread = threading.Thread(target=lambda: admitted.setdefault("reply", _predict(url, frames[:1])))
        thread.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the frame waits for its batch (2 s)
            metrics = _metrics(url)
            if metrics[("mmnet_duo_queue_depth", (("queue", "in_system"),))] == 1:
                break
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        late = _predict(url, frames[1:2])
        health = requests.get(f"{url}/healthz", timeout=5)
        thread.join(timeout=10)
        code = child.wait(timeout=15)
    assert late.status_code == 503 and late.headers["Retry-After"] == "1"
    assert health.status_code == 503
    reply = admitted["reply"]
    assert reply.status_code == 200
    np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32), expected[:1])
    assert code == -signal.SIGTERM  # uvicorn re-raises the signal once shut down, as a supervisor expects
    assert metrics[("mmnet_duo_draining", ())] == 0  # read before the signal


def test_a_graph_that_fixes_its_batch_runs_one_invoke_per_frame():
    from mmnet.runtime.interpreter import TFLiteClassifier
    from mmnet.server.duo_app import BatchedInvoker
    from tests.support.shared_data import shared_data

    coral = TFLiteClassifier(shared_data() / "coral-imagenet" / "mobilenet_v1_0.25_128_quant.tflite")
    invoker, why = BatchedInvoker.for_classifier(coral)  # its graph ends in a RESHAPE to [1, 1001]
    assert invoker is None and why != "batched" and why
