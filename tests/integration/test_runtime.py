"""The runtime against a master server on loopback: device vs served answers, every cloud fault and its fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mmnet.format.bundle import load_bundle
from mmnet.runtime.runtime import Runtime
from mmnet.server.launch import running_app, running_server
from tests.support import tflite_fixtures as tfx

pytestmark = pytest.mark.server

@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_splitting_fixture_bundle(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


def test_device_and_served_master_give_identical_answers(bundle, bundle_dir):
    frames = tfx.random_frames(10, seed=1)
    device = tfx.device_master_answers(bundle, frames)
    with running_server(bundle_dir) as url, Runtime(bundle, mode="mission_critical", master_url=url,
                                                    placement="cloud") as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames)]
    assert [r.label for r in results] == device
    assert {r.master_placement for r in results} == {"cloud"} and not any(r.fallbacks for r in results)
    assert all(r.energy_mj > 0 for r in results)  # radio energy of the transfers


def _faulty_app(kind: str, *, fail_after: int = 0) -> Starlette:
    """A TF-Serving look-alike that fails in one way after ``fail_after`` good replies."""
    served = {"n": 0}

    async def predict(request: Request):
        body = await request.json()
        served["n"] += 1
        if served["n"] <= fail_after:
            return JSONResponse({"predictions": [[1.0, 0.0, 0.0] for _ in body["instances"]]})
        if kind == "http_5xx":
            return JSONResponse({"error": "boom"}, status_code=500)
        if kind == "malformed":
            return Response(b"{not json", media_type="application/json")
        if kind == "timeout":
            import anyio

            await anyio.sleep(1.0)
            return JSONResponse({"predictions": [[1.0, 0.0, 0.0]]})
        raise AssertionError(kind)

    return Starlette(routes=[Route("/v1/models/{name}:predict", predict, methods=["POST"])])


@pytest.mark.parametrize("kind", ["http_5xx", "malformed", "timeout"])
def test_cloud_faults_fall_back_to_the_device_master(bundle, kind):
    frames = tfx.random_frames(6, seed=2)
    device = tfx.device_master_answers(bundle, frames)
    with running_app(_faulty_app(kind, fail_after=2)) as url, Runtime(
            bundle, mode="mission_critical", master_url=url, placement="cloud", remote_timeout_s=0.3,
            remote_retries=0) as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames)]
        stats = runtime.stats()
    assert len(results) == len(frames)  # zero frames lost
    assert [r.master_placement for r in results[:2]] == ["cloud", "cloud"]
    assert all(r.master_placement == "device" and r.fallbacks == (f"cloud_{kind}",) for r in results[2:])
    assert [r.label for r in results[2:]] == device[2:]
    assert stats["fallbacks"] == {f"cloud_{kind}": 4}


def test_connection_refused_and_server_killed_mid_stream(bundle, bundle_dir):
    frames = tfx.random_frames(8, seed=3)
    device = tfx.device_master_answers(bundle, frames)
    with running_server(bundle_dir) as url:
        runtime = Runtime(bundle, mode="mission_critical", master_url=url, placement="cloud", remote_timeout_s=0.5,
                          remote_retries=1)
        first = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames[:4])]
    # The server is gone now: the same runtime keeps answering from the device.
    rest = [runtime.classify(f, timestamp_s=float(i + 4)) for i, f in enumerate(frames[4:])]
    runtime.close()
    assert all(r.master_placement == "cloud" for r in first)
    assert all(r.master_placement == "device" and r.fallbacks == ("cloud_unreachable",) for r in rest)
    assert [r.label for r in first + rest] == device
    assert runtime.stats()["fallbacks"] == {"cloud_unreachable": 4}


def test_without_a_device_master_a_cloud_failure_leaves_an_unverified_minion_answer(bundle):
    frames = tfx.random_frames(4, seed=5)
    with running_app(_faulty_app("http_5xx")) as url, Runtime(
            bundle, mode="normal", master_url=url, device_master=False, remote_retries=0) as runtime:
        results = [runtime.classify(f, timestamp_s=float(i)) for i, f in enumerate(frames)]
    needed_master = [r for r in results if r.recovered or r.path.startswith("master")]
    assert needed_master, "no frame went to the master, so no cloud failure was tested"
    for r in needed_master:
        assert not r.verified and r.label == r.minion_answer and "cloud_http_5xx" in r.fallbacks
    answered_on_the_device = [r for r in results if r not in needed_master]
    assert answered_on_the_device, "every frame went to the master, so no verified minion answer was checked"
    assert all(r.verified for r in answered_on_the_device)


@pytest.fixture(scope="module")
def always_recover(bundle_dir, tmp_path_factory):
    """The same bundle, but every threshold above any confidence: the detector recovers every frame."""
    return load_bundle(tfx.write_always_recovering_bundle(bundle_dir, tmp_path_factory.mktemp("recover") / "tiny"))


def test_an_unanswered_recovery_is_unverified_and_leaves_no_history(always_recover):
    frame = tfx.random_frames(1, seed=6)[0]
    with running_app(_faulty_app("http_5xx")) as url, Runtime(
            always_recover, mode="normal", master_url=url, device_master=False, remote_retries=0) as runtime:
        first = runtime.classify(frame, timestamp_s=0.0)
        second = runtime.classify(frame, timestamp_s=0.01)  # the same view: history rules would apply
    assert first.recovered and not first.verified and first.master_answer is None
    assert first.label == first.minion_answer and first.fallbacks == ("cloud_http_5xx",)
    # No master verdict on the first frame, so the second is detected (and recovered) again.
    assert second.path == "minions" and second.recovered and not second.verified
    assert runtime.stats()["unverified"] == 2
