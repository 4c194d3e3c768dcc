"""The runtime and the pipeline follow the dissertation's rules where a review found them drifting.

Server-load detection (§5.2.1): "M&MNet measures the round-trip time for each request and compares
it with L_m estimations. If the measured latency is higher than L_m, it indicates a high load on
the server." A server that is slower than usual but still faster than the device keeps the master.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import RuntimeConfig, check_runtime_config
from mmnet.format.vocabulary import ReasonCode
from mmnet.runtime.selector import (
    SelectorTables,
    decide,
    initial_state,
    master_cloud_ms,
    observe_rtt,
    rtt_from_request_ms,
)
from tests.unit.test_selector import _config_doc, _latency

LTE = {"uplink_mbps": 5.85, "downlink_mbps": 12.73, "rtt_ms": 70.0}  # mmnet.runtime.network's "lte"
RAW_224_BYTES = 224 * 224 * 3  # a raw 224x224 RGB input tensor, the paper's Table 5.3 "input size"


def _lte_tables(device_master_ms: float) -> SelectorTables:
    """The test_selector config with an LTE profile, a raw 224x224 upload and a slow device master."""
    doc = _config_doc()
    doc["network_profiles"]["lte"] = {**copy.deepcopy(doc["network_profiles"]["wifi"]), "name": "lte", **LTE}
    doc["placement"]["lte"] = copy.deepcopy(doc["placement"]["wifi"])
    doc["selection"]["lte"] = copy.deepcopy(doc["selection"]["wifi"])
    doc["upload"] = {"encoding": "raw", "bytes": RAW_224_BYTES, "reply_bytes": 500, "server_ms": 0.0}
    doc["latency"][doc["master"]["model"]] = _latency(device_master_ms)
    check_runtime_config(doc, "test_fidelity config", num_classes=3)
    return SelectorTables.from_config(RuntimeConfig(doc))


def _serve(tables: SelectorTables, request_ms: float, requests: int):
    """The selector state after ``requests`` cloud requests that each took ``request_ms``."""
    state = initial_state(tables, "lte")
    for i in range(requests):
        rtt = rtt_from_request_ms(tables, state.link, request_ms)
        state = observe_rtt(tables, state, rtt_ms=rtt, now_s=float(i))
    return state


def test_a_loaded_server_still_faster_than_the_device_keeps_the_master_in_the_cloud():
    """LTE, L_m 1,000 ms, the server 300 ms slower than usual: each request takes ~576 ms.

    The RTT part of such a request (370 ms) is 5x the profile's 70 ms, which an RTT-ratio rule
    reads as an overloaded server; the paper's rule compares the 576 ms with L_m and keeps the
    master in the cloud, where it is still 424 ms faster than the device."""
    tables = _lte_tables(device_master_ms=1000.0)
    nominal_ms = master_cloud_ms(tables, initial_state(tables, "lte").link)
    assert nominal_ms == pytest.approx(276.2, abs=0.1)
    request_ms = nominal_ms + 300.0
    state = _serve(tables, request_ms, requests=50)
    assert state.link.rtt_ms == pytest.approx(370.0, rel=1e-3)  # the smoothing converged on the loaded RTT
    assert not state.server_overloaded
    d = decide(tables, state, mode="mission_critical", now_s=60.0)
    assert (d.path, d.placement) == ("master_cloud", "cloud")
    assert d.reasons[1].code is ReasonCode.CLOUD_FASTER
    assert d.estimates["L_t"] == pytest.approx(request_ms, rel=1e-3)


def test_a_server_slower_than_the_device_moves_the_master_to_the_device_after_smoothing():
    tables = _lte_tables(device_master_ms=1000.0)
    link = initial_state(tables, "lte").link
    request_ms = master_cloud_ms(tables, link) + 1000.0  # 1,276 ms: slower than the 1,000 ms device
    once = _serve(tables, request_ms, requests=1)
    assert not once.server_overloaded  # one slow request is a spike: the smoothed latency is 476 ms
    state = _serve(tables, request_ms, requests=10)
    assert state.server_overloaded
    d = decide(tables, state, mode="mission_critical", now_s=10.5)
    assert (d.path, d.placement, d.probe) == ("master_device", "device", False)
    assert d.reasons[1].code is ReasonCode.SERVER_OVERLOADED
    assert d.reasons[1].text.startswith("server overloaded (request latency ")
    assert d.reasons[1].text.endswith(" ms > L_m 1000.0 ms): master on device")
    # A probe answered faster than the device clears the overload.
    fast = rtt_from_request_ms(tables, link, 900.0)
    assert not observe_rtt(tables, state, rtt_ms=fast, now_s=20.0).server_overloaded


def test_a_slow_request_on_a_profile_slower_than_the_device_is_not_server_load():
    """Where the profile's own L_t is above L_m, a request slower than L_m (forced by the
    override) is what the link predicts, not a loaded server: no overload, so no probes."""
    tables = _lte_tables(device_master_ms=200.0)  # the nominal 276 ms cloud loses to a 200 ms device
    state = _serve(tables, 280.0, requests=20)
    assert not state.server_overloaded
    d = decide(tables, state, mode="mission_critical", now_s=100.0)
    assert (d.path, d.probe) == ("master_device", False)
    assert d.reasons[1].code is ReasonCode.DEVICE_FASTER


# --- preprocessing once per resolution ---------------------------------------------------------
#
# The runtime prepares a frame once per resolution (Runtime._input caches it): a second minion at a
# resolution already prepared, or the device master recovering at one, does not pay for it again.


def _shared_resolution_tables(execution: str) -> SelectorTables:
    """Minions a (5 ms, 2 ms of it preprocessing) and b (8 ms, 2 ms) and the 50 ms master (10 ms of
    preprocessing), all at resolution 32; c at 16."""
    doc = _config_doc()
    doc["minion_execution"] = execution
    master = doc["master"]["model"]
    for model, total, prep, resolution in ((master, 50.0, 10.0, 32), ("a", 5.0, 2.0, 32), ("b", 8.0, 2.0, 32),
                                           ("c", 3.0, 1.0, 16)):
        doc["latency"][model] = {**_latency(total), "inference_ms": total - prep, "preprocess_ms": prep,
                                 "resolution": resolution}
    check_runtime_config(doc, "test_fidelity config", num_classes=3)
    return SelectorTables.from_config(RuntimeConfig(doc))


def test_the_selector_counts_a_shared_resolution_once():
    tables = _shared_resolution_tables("serial")
    d = decide(tables, initial_state(tables, "wifi"), mode="private", now_s=0.0)  # master on the device
    # The pair: 5 + (8 - 2) ms, and a recovery by the master at the minions' resolution 40 ms, at P_r 0.2.
    assert d.estimates["expected_ms"]["pair:a+b"] == pytest.approx(5.0 + 6.0 + 0.2 * 40.0)
    # The single at resolution 16 shares nothing: 3 ms + 0.5 × 50 ms.
    assert d.estimates["expected_ms"]["single:c"] == pytest.approx(3.0 + 0.5 * 50.0)
    # In the cloud the master prepares nothing on the device: the recovery costs L_t.
    cloud = decide(tables, initial_state(tables, "wifi"), mode="normal", now_s=0.0, placement_override="cloud")
    assert cloud.estimates["expected_ms"]["pair:a+b"] == pytest.approx(11.0 + 0.2 * cloud.estimates["L_t"])


def test_parallel_minions_each_wait_for_their_resolution():
    tables = _shared_resolution_tables("parallel")
    d = decide(tables, initial_state(tables, "wifi"), mode="private", now_s=0.0)
    assert d.estimates["expected_ms"]["pair:a+b"] == pytest.approx(max(5.0, 8.0) + 0.2 * 40.0)


def test_pairing_counts_a_shared_resolution_once():
    from mmnet.pipeline.pairing import Cost, expected_cost

    a = Cost(5.0, 10.0, preprocess_ms=2.0, preprocess_mj=4.0, resolution=32)
    b = Cost(8.0, 16.0, preprocess_ms=2.0, preprocess_mj=4.0, resolution=32)
    c = Cost(3.0, 6.0, preprocess_ms=1.0, preprocess_mj=2.0, resolution=16)
    master = Cost(50.0, 100.0, preprocess_ms=10.0, preprocess_mj=20.0, resolution=32)
    pair = expected_cost([a, b], 0.2, master, "serial")
    assert (pair.latency_ms, pair.energy_mj) == pytest.approx((5.0 + 6.0 + 0.2 * 40.0, 10.0 + 12.0 + 0.2 * 80.0))
    single = expected_cost([c], 0.5, master, "serial")  # nothing shared
    assert (single.latency_ms, single.energy_mj) == pytest.approx((3.0 + 0.5 * 50.0, 6.0 + 0.5 * 100.0))
    parallel = expected_cost([a, b], 0.2, master, "parallel")  # both wait for the shared preparation
    assert (parallel.latency_ms, parallel.energy_mj) == pytest.approx((8.0 + 0.2 * 40.0, 10.0 + 12.0 + 0.2 * 80.0))
    cloud = expected_cost([a, b], 0.2, Cost(30.0, 5.0), "serial")  # a cloud master prepares nothing on the device
    assert cloud.latency_ms == pytest.approx(11.0 + 0.2 * 30.0)


def test_configure_records_resolutions_and_costs_a_pair_with_one_preparation():
    from mmnet.pipeline.config import RuntimeSettings
    from mmnet.pipeline.configure import build_configuration
    from tests.unit.test_configure import synthetic as synthetic_fixture

    manifest, probabilities, splits = synthetic_fixture.__wrapped__()
    config = build_configuration(RuntimeSettings(), manifest, probabilities, splits).runtime_config
    latency = config["latency"]
    assert {m: latency[m]["resolution"] for m in latency} == {r["id"]: r["resolution"] for r in manifest["models"]}
    master = latency[config["master"]["model"]]
    pairs = 0
    for modes in config["selection"].values():
        for mode in ("private", "normal"):
            choice = modes[mode]
            if not choice["system"].startswith("pair:") or choice["placement"] != "device":
                continue
            first, second = (latency[m] for m in config["systems"][choice["system"]]["minions"])
            assert first["resolution"] == second["resolution"] != master["resolution"]
            expected = first["total_ms"] + second["total_ms"] - second["preprocess_ms"]
            expected += choice["expected"]["recovery_rate"] * master["total_ms"]
            assert choice["expected"]["latency_ms"] == pytest.approx(expected)
            pairs += 1
    assert pairs > 0  # the synthetic minions share resolution 8: some device pair was costed


# --- the upload: raw, PNG or JPEG at a quality ---------------------------------------------------


def _photo(seed: int = 0, size: int = 64) -> np.ndarray:
    """A smooth, photo-like RGB frame (gradients and noise), where JPEG beats PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 3, y * 3, (x + y) * 2], axis=-1).astype(np.float64)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_a_jpeg_upload_is_measured_with_the_clients_encoder_and_decodes_on_the_server():
    from mmnet.runtime.network import REQUEST_OVERHEAD_BYTES, upload_bytes
    from mmnet.runtime.remote import RemoteMaster, request_body
    from mmnet.server.decoding import _decode_image

    frame = _photo()
    q90, q50 = upload_bytes(frame, "jpeg", 90), upload_bytes(frame, "jpeg", 50)
    body = request_body(frame, "jpeg", 90)
    assert q90 == len(body) + REQUEST_OVERHEAD_BYTES
    assert q50 < q90 < upload_bytes(frame, "png") < upload_bytes(frame, "raw")
    instance = json.loads(body)["instances"][0]
    decoded = _decode_image("$.instances[0]", instance["b64"], frame.shape)
    assert decoded.shape == frame.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frame.astype(int)).mean() < 12  # lossy (below the noise), the same picture
    with pytest.raises(ConfigError, match=r"RemoteMaster jpeg_quality is 100; expected"):
        RemoteMaster("http://127.0.0.1:9", "bundle", encoding="jpeg", jpeg_quality=100)


def test_configure_measures_a_jpeg_upload_on_the_val_frames():
    from mmnet.pipeline.config import RuntimeSettings
    from mmnet.pipeline.configure import build_configuration
    from mmnet.runtime.network import upload_bytes
    from tests.unit.test_configure import synthetic as synthetic_fixture

    manifest, probabilities, splits = synthetic_fixture.__wrapped__()
    photos = np.stack([_photo(i, 8) for i in range(len(splits["val"][0]))])
    manifest = copy.deepcopy(manifest)
    manifest["dataset"]["frame_shape"] = manifest["preprocessing"]["frame_shape"] = [8, 8, 3]
    manifest["preprocessing"].update(mean=[0.0] * 3, std=[1.0] * 3)
    splits = {"val": (photos, splits["val"][1]), "test": (photos[::-1].copy(), splits["test"][1])}
    settings = RuntimeSettings(upload_encoding="jpeg", upload_jpeg_quality=75)
    upload = build_configuration(settings, manifest, probabilities, splits).runtime_config["upload"]
    assert (upload["encoding"], upload["jpeg_quality"]) == ("jpeg", 75)
    assert upload["bytes"] == int(np.median([upload_bytes(f, "jpeg", 75) for f in photos[:64]]))


def test_the_runtime_client_sends_the_configured_encoding(tmp_path):
    from mmnet.format.bundle import load_bundle
    from mmnet.pipeline.bundle import reconfigure_bundle
    from mmnet.pipeline.config import RuntimeSettings
    from mmnet.runtime.runtime import Runtime
    from tests.support.harness_bundle import build_harness_bundle

    bundle_dir = build_harness_bundle(tmp_path / "bundle")
    reconfigure_bundle(bundle_dir, RuntimeSettings(upload_encoding="jpeg", upload_jpeg_quality=70))
    runtime = Runtime(load_bundle(bundle_dir), mode="normal")
    try:
        client = runtime._remote_master("http://127.0.0.1:9", None, 1.0, 0)
        assert (client.encoding, client.jpeg_quality) == ("jpeg", 70)
    finally:
        runtime.close()
