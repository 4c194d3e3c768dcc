"""The Dynamic Duo server overloaded (a short version of ``mmnet.benchmarks.duo_load --overload``): the
Coral pair (MobileNetV1 0.25/128 little, MobileNetV2 1.0/224 big) on real photos, 3× its sustainable
rate for 5 s, then half of it. Every request must get an answer or a 429, every answer must be the
pair's offline decision (model and class), the admitted requests' p95 must stay bounded, and the
server must answer every request again within 5 s of the drop.

The sustainable rate is measured here, in process, with the server's own decoding and worker
functions, so the test scales with the host (shared machines are slow at times). Skips without
``$MMNET_SHARED_DATA``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np
import pytest
from PIL import Image

from mmnet.benchmarks.duo_load import overload_summary, poisson_schedule, request_bytes, run_load
from mmnet.runtime.remote import png_bytes
from mmnet.server.decoding import parse_predict_body
from mmnet.server.duo import BIG, LITTLE, DuoConfig, load_duo
from mmnet.server.duo_app import DuoModels
from mmnet.server.launch import running_duo_server_process
from tests.support.shared_data import shared_data

DATA = shared_data()
PHOTOS = 24
THRESHOLD = 0.5  # on the little model's top probability: splits these photos between the two models
OVERLOAD_S = 5.0
AFTER_S = 7.0
CONFIG = DuoConfig(max_batch=8, max_wait_ms=2.0, max_queued=16, max_recovery_queued=8)


def _photos() -> np.ndarray:
    files = sorted((DATA / "imagenet-sample-a").iterdir())[:PHOTOS]
    frames = []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            frames.append(np.asarray(image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)))
    return np.stack(frames)


@pytest.fixture(scope="module")
def coral_duo(tmp_path_factory):
    from mmnet.format.bundle import sha256_file

    models = DATA / "coral-imagenet"

    def model(model_id: str, name: str, resolution: int) -> dict:
        path = models / name
        return {"id": model_id, "path": str(path), "sha256": sha256_file(path), "resolution": resolution}

    pair = {"target": {"baseline": "v2"}, "rule": "single", "system": "duo",
            "little": model("v1-0.25-128", "mobilenet_v1_0.25_128_quant.tflite", 128),
            "big": model("v2", "mobilenet_v2_1.0_224_quant.tflite", 224),
            "probe": {"kind": "per_class_confidence", "rule": "single", "thresholds": [THRESHOLD] * 1001}}
    block = {"preprocessing": {"frame_shape": [224, 224, 3], "frame_dtype": "uint8", "mean": [128.0] * 3,
                               "std": [128.0] * 3, "resize_method": "bilinear", "resize_policy": "center_crop"},
             "num_classes": 1001, "default_target": "v2", "default_rule": "single", "configurations": [pair]}
    path = tmp_path_factory.mktemp("coral-duo") / "duo_pool.json"
    path.write_text(json.dumps({"serving": block}), encoding="utf-8")
    return path


def test_three_times_the_sustainable_rate_loses_nothing_and_recovers(coral_duo):
    frames = _photos()
    system = load_duo(coral_duo)
    models = DuoModels(system)
    little_scores, routes = models.run_little(frames)
    big_scores = models.run_big(frames)
    expected_routes = [r.model for r in routes]
    assert {LITTLE, BIG} <= set(expected_routes), "the photos must exercise both routes"
    expected = np.where(np.asarray(expected_routes)[:, None] == LITTLE, little_scores, big_scores).argmax(axis=1)
    # the sustainable rate: 1 / (decoding a request + a little pass + the recovered share of a big one),
    # measured here. Decoding a photo's PNG costs about as much as the models on a quiet host: leaving it
    # out, half the "sustainable" rate after the overload was itself near what the two cores carry.
    json_bodies = [json.dumps({"instances": [{"b64": base64.b64encode(png_bytes(f)).decode("ascii")}]}).encode("ascii")
                   for f in frames]
    start = time.perf_counter()
    for body in json_bodies[:8]:
        parse_predict_body(body, system.preprocessing.frame_shape, 4, system.preprocessing.resize_policy)
    decode_s = (time.perf_counter() - start) / 8
    start = time.perf_counter()
    for frame in frames[:8]:
        models.run_little(frame[None])
    little_s = (time.perf_counter() - start) / 8
    start = time.perf_counter()
    for frame in frames[:8]:
        models.run_big(frame[None])
    big_s = (time.perf_counter() - start) / 8
    recovery = expected_routes.count(BIG) / len(expected_routes)
    sustainable = 1.0 / (decode_s + little_s + recovery * big_s)
    bodies = [request_bytes("/v1/models/duo:predict", body) for body in json_bodies]
    schedule = poisson_schedule([(3 * sustainable, OVERLOAD_S), (0.5 * sustainable, AFTER_S)], seed=0)
    with running_duo_server_process(coral_duo, duo_config=CONFIG, max_instances=4) as (url, _child):
        host, port = url.removeprefix("http://").split(":")
        replies = asyncio.run(run_load(host, int(port), bodies, schedule, keep_bodies=True))
    out = overload_summary(replies, sustainable, OVERLOAD_S, AFTER_S, expected, expected_routes)
    assert len(replies) == len(schedule)
    assert out["lost_or_other_status"] == 0, out["during"]["statuses"]
    assert out["during"]["refused_429"] > 0, "3x the sustainable rate must fill the queues"
    assert out["wrong"] == 0
    checked = sum(1 for r in replies if r.status == 200 and r.body)
    assert checked == out["during"]["answered"] + out["after"]["answered"] > 0
    # Bounded: without the queue bound the backlog grows by 2x the sustainable rate for the whole
    # overload, so the last admitted requests would wait (3 - 1) x OVERLOAD_S seconds and the p95 most
    # of that. The bound is set against that growth, not against service times measured before the
    # server shared the two cores with the load generator.
    unbounded_wait_ms = 1000 * (3 - 1) * OVERLOAD_S
    assert out["during"]["p95_ms"] < 0.5 * unbounded_wait_ms
    assert out["recovered_after_s"] is not None and out["recovered_after_s"] <= 5.0
