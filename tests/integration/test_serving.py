"""The master server on loopback sockets and in child processes, and its client against real and fake servers.

Expected probabilities always come from a local ``TFLiteClassifier`` run on the same frames with the same
preprocessing, never from constants: the server must reproduce the device bit for bit (float32
survives the JSON round trip exactly). Request decoding, the configuration and the interpreter pool
are unit-tested in tests/unit/test_serving.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mmnet.format.bundle import load_bundle
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.remote import TOKEN_ENV, RemoteMaster, RemoteMasterError
from mmnet.server.launch import ServerError, running_app, running_server, running_server_process
from tests.support import tflite_fixtures as tfx
from tests.support.serving import (
    FRAME,
    MAX_INSTANCES,
    RGB,
    b64_png,
    configured_with_int8_master,
    encoded,
    image_b64,
    with_constant,
)

TOKEN = "s3cret-token"
MAX_BODY = 16 * 1024


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("serving") / "bundle")


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def frames(bundle) -> np.ndarray:
    val, _ = bundle.load_split("val")
    test, _ = bundle.load_split("test")
    return np.concatenate([val, test])  # 11 distinct uint8 (8, 8, 1) frames


def local_probabilities(bundle, model_id: str, frames: np.ndarray) -> np.ndarray:
    record = bundle.model(model_id)
    classifier = TFLiteClassifier(bundle.model_path(model_id))
    return classifier.predict(preprocess(frames, bundle.preprocessing, record.resolution))


@pytest.fixture(scope="module")
def expected(bundle, frames) -> np.ndarray:
    probs = local_probabilities(bundle, tfx.FLOAT_ID, frames)
    # The frames must not all give one answer, or a server mixing them up would go unnoticed.
    assert len({tuple(np.round(p, 4)) for p in probs}) == len(frames)
    return probs


@pytest.fixture(scope="module")
def url(bundle_dir):
    with running_server(
        bundle_dir, threads=2, max_body_bytes=MAX_BODY, max_instances=MAX_INSTANCES
    ) as base:
        yield base


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def predict_url(base: str, name: str = "tiny") -> str:
    return f"{base}/v1/models/{name}:predict"


def post(http, base: str, body, *, name: str = "tiny", **kw) -> requests.Response:
    return http.post(predict_url(base, name), data=encoded(body), timeout=10, **kw)


def assert_serves(http, base: str, frames, expected) -> None:
    reply = post(http, base, {"instances": frames[:2].tolist()})
    assert reply.status_code == 200, reply.text
    np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32), expected[:2])


# --- predictions ---------------------------------------------------------------------------------


@pytest.mark.server
def test_raw_and_png_instances_match_the_local_interpreter(http, url, frames, expected):
    raw = post(http, url, {"instances": frames[:MAX_INSTANCES].tolist()})
    assert raw.status_code == 200, raw.text
    got = np.asarray(raw.json()["predictions"], dtype=np.float32)
    np.testing.assert_array_equal(got, expected[:MAX_INSTANCES])

    png = post(http, url, {"instances": [b64_png(f) for f in frames[3:]]})
    assert png.status_code == 200, png.text
    np.testing.assert_array_equal(np.asarray(png.json()["predictions"], dtype=np.float32), expected[3:])

    # (H, W) frames are fine for a one-channel bundle, and instances may mix encodings.
    mixed = post(http, url, {"instances": [frames[5][:, :, 0].tolist(), b64_png(frames[6])]})
    assert mixed.status_code == 200, mixed.text
    np.testing.assert_array_equal(np.asarray(mixed.json()["predictions"], dtype=np.float32), expected[5:7])


@pytest.mark.server
def test_jpeg_instances_are_decoded_like_pillow(http, url, bundle, frames):
    instance = image_b64(frames[2][:, :, 0], "JPEG")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(instance["b64"]))))[None, :, :, None]
    reply = post(http, url, {"instances": [instance]})
    assert reply.status_code == 200, reply.text
    np.testing.assert_array_equal(
        np.asarray(reply.json()["predictions"], dtype=np.float32),
        local_probabilities(bundle, tfx.FLOAT_ID, decoded),
    )


@pytest.mark.server
def test_columnar_inputs_are_answered_with_outputs(http, url, frames, expected):
    for inputs in (frames[:3].tolist(), {"frames": frames[:3].tolist()}):
        reply = post(http, url, {"inputs": inputs, "signature_name": "serving_default"})
        assert reply.status_code == 200, reply.text
        assert set(reply.json()) == {"outputs"}
        np.testing.assert_array_equal(np.asarray(reply.json()["outputs"], dtype=np.float32), expected[:3])


@pytest.mark.server
def test_model_id_and_version_urls(http, url, frames, expected):
    for path in (f"/v1/models/{tfx.FLOAT_ID}:predict", "/v1/models/tiny/versions/1:predict"):
        reply = http.post(url + path, json={"instances": frames[:1].tolist()}, timeout=10)
        assert reply.status_code == 200, (path, reply.text)
        np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32), expected[:1])


@pytest.mark.server
def test_status_metadata_and_health(http, url, bundle):
    for path in ("/v1/models/tiny", f"/v1/models/{tfx.FLOAT_ID}", "/v1/models/tiny/versions/1"):
        reply = http.get(url + path, timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }
    meta = http.get(url + "/v1/models/tiny/metadata", timeout=10).json()
    assert meta["model_spec"]["name"] == "tiny"
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    dims = [int(d["size"]) for d in signature["inputs"]["frames"]["tensor_shape"]["dim"]]
    assert dims == [-1, *bundle.preprocessing.frame_shape]
    assert meta["mmnet"]["model_id"] == tfx.FLOAT_ID and meta["mmnet"]["labels"] == list(bundle.labels)
    health = http.get(url + "/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["model"] == tfx.FLOAT_ID and health.json()["interpreters"] == 2


@pytest.mark.server
@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/v1/models/nope", 404, "model 'nope' is not served here; expected one of ['tiny', 'tiny-r12-float32']"),
        ("/v1/models/tiny/versions/2", 404, "model 'tiny' has no version '2'; the only version is '1'"),
        ("/v1/models/tiny:predict", 405, "'predict' needs POST"),
        ("/v2/anything", 404, "GET /v2/anything: Not Found"),
    ],
)
def test_unknown_paths_are_tf_serving_errors(http, url, path, status, fragment):
    reply = http.get(url + path, timeout=10)
    assert reply.status_code == status
    assert fragment in reply.json()["error"]


@pytest.mark.server
def test_predict_on_unknown_model_is_404(http, url, frames):
    reply = post(http, url, {"instances": frames[:1].tolist()}, name="nope")
    assert reply.status_code == 404
    assert reply.json() == {"error": "model 'nope' is not served here; expected one of ['tiny', 'tiny-r12-float32']"}


# --- validation ----------------------------------------------------------------------------------



@pytest.mark.server
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "the request body is not valid JSON"),
        (with_constant("NaN"), "the body contains NaN"),
        ({"instances": [[FRAME.tolist()]]}, "instances[0] has shape (1, 8, 8, 1)"),
        ({"instances": [image_b64(RGB)]}, "instances[0].b64 is a PNG image in mode 'RGB'"),
    ],
)
def test_bad_requests_are_400_and_the_server_keeps_serving(http, url, frames, expected, body, fragment):
    reply = post(http, url, body)
    assert reply.status_code == 400, reply.text
    assert fragment in reply.json()["error"]
    assert_serves(http, url, frames, expected)


@pytest.mark.server
def test_oversized_bodies_are_413(http, url, frames, expected):
    body = json.dumps({"instances": [FRAME.tolist()] * 200}).encode()
    assert len(body) > MAX_BODY
    declared = post(http, url, body)
    assert declared.status_code == 413
    assert declared.json()["error"] == f"the request body has {len(body)} bytes; the limit is {MAX_BODY}"

    def chunked():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    streamed = http.post(predict_url(url), data=chunked(), timeout=10)
    assert streamed.status_code == 413
    assert streamed.json()["error"] == f"the request body has more than {MAX_BODY} bytes; the limit is {MAX_BODY}"
    assert_serves(http, url, frames, expected)


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.server
def test_bearer_token(bundle, frames, expected, http):
    with running_server(bundle, token=TOKEN, threads=1) as base:
        missing = post(http, base, {"instances": frames[:1].tolist()})
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert "missing bearer token" in missing.json()["error"]
        wrong = post(http, base, {"instances": frames[:1].tolist()}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert http.get(base + "/v1/models/tiny", timeout=10).status_code == 401
        assert http.get(base + "/healthz", timeout=10).status_code == 200  # stays open

        ok = post(http, base, {"instances": frames[:2].tolist()}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, ok.text
        np.testing.assert_array_equal(np.asarray(ok.json()["predictions"], dtype=np.float32), expected[:2])
        with RemoteMaster(base, "tiny", token=TOKEN) as client:
            np.testing.assert_array_equal(client.predict(frames[4]).probabilities, expected[4])
        with RemoteMaster(base, "tiny", token="wrong") as client, pytest.raises(RemoteMasterError) as info:
            client.predict(frames[4])
        assert info.value.kind == "http_4xx" and info.value.status == 401 and info.value.attempts == 1


# --- concurrency ---------------------------------------------------------------------------------


@pytest.mark.server
def test_concurrent_clients_get_their_own_answers(url, frames, expected):
    """8 threads x 15 requests on a pool of 2 interpreters: every reply belongs to its frame."""
    errors: list[str] = []
    done = []

    def worker(k: int) -> None:
        with RemoteMaster(url, "tiny", encoding="png" if k % 2 else "raw", timeout_s=10.0) as client:
            for j in range(15):
                i = (k * 5 + j) % len(frames)
                got = client.predict(frames[i]).probabilities
                if not np.array_equal(got, expected[i]):
                    errors.append(f"thread {k} request {j}: frame {i} got {got}, expected {expected[i]}")
            done.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert sorted(done) == list(range(8))


@pytest.mark.server
def test_each_interpreter_serves_one_request_at_a_time(bundle, frames, expected, monkeypatch):
    """The pool's guarantee, observed: no classifier runs two predicts at once, yet two run in
    parallel (a pool of 2, not one global lock). A short sleep inside predict widens the window."""
    original = TFLiteClassifier.predict
    lock = threading.Lock()
    active: set[int] = set()
    overlaps: list[int] = []
    peak = [0]

    def observed(self, batch):
        with lock:
            if id(self) in active:
                overlaps.append(id(self))
            active.add(id(self))
            peak[0] = max(peak[0], len(active))
        try:
            time.sleep(0.01)
            return original(self, batch)
        finally:
            with lock:
                active.discard(id(self))

    with running_server(bundle, threads=2) as base:
        monkeypatch.setattr(TFLiteClassifier, "predict", observed)
        results: list[tuple[int, np.ndarray]] = []

        def worker(k: int) -> None:
            with RemoteMaster(base, "tiny", encoding="raw", timeout_s=10.0) as client:
                for j in range(6):
                    i = (k + 3 * j) % len(frames)
                    results.append((i, client.predict(frames[i]).probabilities))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not overlaps
    assert peak[0] == 2
    assert len(results) == 6 * 6
    for i, got in results:
        np.testing.assert_array_equal(got, expected[i])


# --- which model is served -----------------------------------------------------------------------


@pytest.mark.server
def test_a_server_serves_the_configured_master(bundle, frames, http):
    configured = configured_with_int8_master(bundle)
    with running_server(configured, threads=1) as base:
        reply = post(http, base, {"instances": frames[:4].tolist()}, name=tfx.INT8_ID)
        assert reply.status_code == 200, reply.text
        np.testing.assert_array_equal(
            np.asarray(reply.json()["predictions"], dtype=np.float32),
            local_probabilities(bundle, tfx.INT8_ID, frames[:4]),
        )
        assert post(http, base, {"instances": frames[:1].tolist()}, name=tfx.FLOAT_ID).status_code == 404


# --- client failures -----------------------------------------------------------------------------


def _fake_app(handler) -> Starlette:
    return Starlette(routes=[Route("/v1/models/{name}:predict", handler, methods=["POST"])])


@pytest.mark.server
def test_client_retries_5xx_then_succeeds():
    calls = []

    async def flaky(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            return JSONResponse({"error": "warming up"}, status_code=503)
        return JSONResponse({"predictions": [[0.25, 0.75]]})

    with running_app(_fake_app(flaky)) as base, RemoteMaster(base, "m", retries=2, backoff_s=0.05) as client:
        result = client.predict(FRAME)
    assert result.attempts == 3 and len(calls) == 3
    np.testing.assert_array_equal(result.probabilities, np.float32([0.25, 0.75]))
    assert result.total_ms >= result.rtt_ms > 0
    # Exponential backoff: 0.05 s, then 0.1 s.
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.1


@pytest.mark.server
def test_client_gives_up_after_the_last_5xx_and_never_retries_4xx():
    calls = []

    async def broken(request: Request) -> Response:
        calls.append(request.path_params["name"])
        status = 500 if request.path_params["name"] == "down" else 400
        return JSONResponse({"error": f"status {status}"}, status_code=status)

    with running_app(_fake_app(broken)) as base:
        with RemoteMaster(base, "down", retries=2, backoff_s=0.0) as client, pytest.raises(RemoteMasterError) as info:
            client.predict(FRAME)
        assert info.value.kind == "http_5xx" and info.value.status == 500 and info.value.attempts == 3
        assert "HTTP 500: status 500" in str(info.value)
        with RemoteMaster(base, "bad", retries=2, backoff_s=0.0) as client, pytest.raises(RemoteMasterError) as info:
            client.predict(FRAME)
        assert info.value.kind == "http_4xx" and info.value.attempts == 1
    assert calls == ["down"] * 3 + ["bad"]


@pytest.mark.server
def test_client_timeout():
    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.0)
        return JSONResponse({"predictions": [[1.0]]})

    with running_app(_fake_app(slow)) as base, RemoteMaster(base, "m", timeout_s=0.2, retries=1, backoff_s=0.0) as client:
        start = time.monotonic()
        with pytest.raises(RemoteMasterError) as info:
            client.predict(FRAME)
        elapsed = time.monotonic() - start
    assert info.value.kind == "timeout" and info.value.attempts == 2
    assert 0.4 <= elapsed < 1.5


@pytest.mark.server
@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (b"<html>oops</html>", "not valid JSON: Expecting value"),
        (b'{"outputs": [[0.5, 0.5]]}', "expected an object with 'predictions'"),
        (b'{"predictions": [[0.5, 0.5], [0.5, 0.5]]}', "expected one row"),
        (b'{"predictions": [[0.5, "x"]]}', "expected a non-empty list of numbers"),
        (b'{"predictions": [[0.5, NaN]]}', "NaN is not a JSON number"),
        (b'{"predictions": [[0.2, 0.3, 0.5]]}', "the row has 3 values; expected 2 (one per class)"),
    ],
)
def test_client_rejects_malformed_replies(reply, fragment):
    async def odd(request: Request) -> Response:
        return Response(reply, media_type="application/json")

    with running_app(_fake_app(odd)) as base, RemoteMaster(base, "m", num_classes=2, retries=2) as client:
        with pytest.raises(RemoteMasterError, match=re.escape(fragment)) as info:
            client.predict(FRAME)
    assert info.value.kind == "malformed" and info.value.attempts == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.server
def test_client_connection_refused():
    with RemoteMaster(f"http://127.0.0.1:{_free_port()}", "tiny", retries=1, backoff_s=0.0) as client:
        with pytest.raises(RemoteMasterError, match="connection failed") as info:
            client.predict(FRAME)
        assert info.value.kind == "unreachable" and info.value.attempts == 2 and info.value.status is None
        with pytest.raises(RemoteMasterError) as info:
            client.status()
        assert info.value.kind == "unreachable"


@pytest.mark.server
def test_client_against_the_real_server_then_server_stopped(bundle, frames, expected):
    with running_server(bundle, threads=1) as base:
        client = RemoteMaster(base, "tiny", retries=1, backoff_s=0.0)
        assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
        for encoding in ("png", "raw"):
            client.encoding = encoding
            result = client.predict(frames[7])
            np.testing.assert_array_equal(result.probabilities, expected[7])
            assert result.attempts == 1 and result.probabilities.dtype == np.float32
        with pytest.raises(RemoteMasterError) as info:
            RemoteMaster(base, "nope").predict(frames[7])
        assert info.value.kind == "http_4xx" and info.value.status == 404
        assert "model 'nope' is not served here" in str(info.value)
    # The kept-alive connection now points at a closed port.
    with client, pytest.raises(RemoteMasterError) as info:
        client.predict(frames[7])
    assert info.value.kind == "unreachable" and info.value.attempts == 2


# --- shutdown ------------------------------------------------------------------------------------


@pytest.mark.server
def test_in_flight_requests_finish_when_the_server_stops():
    started = threading.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await asyncio.sleep(0.5)
        return JSONResponse({"predictions": [[1.0]]})

    replies = []
    with running_app(_fake_app(slow), graceful_timeout_s=3.0) as base:
        t = threading.Thread(
            target=lambda: replies.append(requests.post(predict_url(base, "m"), json={}, timeout=5))
        )
        t.start()
        assert started.wait(5)
    t.join(timeout=5)
    assert [r.status_code for r in replies] == [200]
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/", timeout=2)


@pytest.mark.server
def test_kept_alive_connections_are_fast(url):
    """Without TCP_NODELAY on the accepted sockets, every reply on a kept-alive connection would wait
    ~40 ms for a delayed ACK; loopback replies take ~1 ms, so a median under 25 ms tells them apart.
    A session of its own: the module's shared one may hold a connection the server is just closing
    for idleness, and a request racing that close is reset."""
    with requests.Session() as session:
        assert session.get(url + "/healthz", timeout=10).status_code == 200  # opens the connection
        times = []
        for _ in range(10):
            start = time.perf_counter()
            assert session.get(url + "/healthz", timeout=10).status_code == 200
            times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.025, times


# --- serve() in its own process ------------------------------------------------------------------


@pytest.mark.server
def test_serve_in_a_child_process_with_a_token_from_the_environment(bundle_dir, frames, expected):
    with running_server_process(bundle_dir, token=TOKEN, threads=1) as base:
        assert requests.get(base + "/v1/models/tiny", timeout=10).status_code == 401
        with RemoteMaster(base, "tiny", token=TOKEN) as client:
            np.testing.assert_array_equal(client.predict(frames[1]).probabilities, expected[1])
    with pytest.raises(requests.ConnectionError):  # stopped by SIGTERM
        requests.get(base + "/healthz", timeout=2)


@pytest.mark.server
def test_serve_reports_a_busy_port(bundle_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        done = subprocess.run(
            [sys.executable, "-m", "mmnet.server", str(bundle_dir), "--port", str(port)],
            capture_output=True, text=True, timeout=120, env=env,
        )
    assert done.returncode == 2, done.stderr
    assert f"ServerError: the master server could not start on 127.0.0.1:{port}" in done.stderr


@pytest.mark.server
def test_a_child_that_fails_to_start_reports_its_log(tmp_path):
    with pytest.raises(ServerError) as info, running_server_process(tmp_path / "missing", threads=1):
        pytest.fail("the server started without a bundle")
    message = str(info.value)
    assert message.startswith("the server process exited with code 2 during startup:\n")
    assert "BundleError: bundle " in message and "has no manifest" in message  # the child's own words


@pytest.mark.server
def test_client_needs_neither_tensorflow_nor_the_server_stack():
    script = r"""
import importlib.abc, sys
BLOCKED = {"tensorflow", "tf_keras", "keras", "mmnet.pipeline", "starlette", "uvicorn"}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        blocked = next((b for b in BLOCKED if name == b or name.startswith(b + ".")), None)
        if blocked is not None:
            raise ImportError(f"{name} is blocked in this test", name=blocked)
sys.meta_path.insert(0, Blocker())
from mmnet.runtime.remote import RemoteMaster
from mmnet.format.errors import DependencyError
import mmnet.server.decoding  # pure request decoding: numpy and Pillow only
for module in ("mmnet.server.app", "mmnet.server.launch"):
    try:
        __import__(module)
    except DependencyError as e:
        print(module, e)
    else:
        sys.exit(f"{module} imported without starlette and uvicorn")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for module in ("mmnet.server.app", "mmnet.server.launch"):
        assert f"{module} the master server needs the 'serve' extra (starlette is missing)" in done.stdout
