"""`mmnet run` and `mmnet serve` as a user runs them (child processes) against real masters on
loopback: a wrong master reply is a counted fallback, a lost frame fails the run (exit 1, after
the summary), a model file that does not match the manifest fails at load, and the bearer token
comes from a file, never from the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mmnet.format.bundle import sha256_file, write_manifest
from mmnet.format.runtime_config import MASTER_ONLY, MODES, write_runtime_config
from mmnet.runtime.remote import TOKEN_ENV
from mmnet.server.launch import running_app, running_server
from tests.support import tflite_fixtures as tfx

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]


def _mmnet(*args: str, env: dict[str, str] | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "mmnet", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env=environment)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("run") / "tiny")


def _master_replying(rows) -> Starlette:
    """A TF-Serving look-alike answering every predict with ``{"predictions": rows}``, or 500 for None."""

    async def predict(request: Request):
        await request.body()
        if rows is None:
            return JSONResponse({"error": "boom"}, status_code=500)
        return JSONResponse({"predictions": rows})

    return Starlette(routes=[Route("/v1/models/{name}:predict", predict, methods=["POST"])])


def _mmnet_lines(command: str, result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"mmnet {command}")]


def _summary(tmp_path: Path, result: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads((tmp_path / "summary.json").read_text())


def test_a_reply_with_more_probabilities_than_classes_is_a_fallback_not_a_lost_frame(bundle_dir, tmp_path):
    eleven = [[0.0] * 10 + [1.0]]  # 11 classes for a bundle of 3: class 10 has no label
    with running_app(_master_replying(eleven)) as url:
        result = _mmnet("run", str(bundle_dir), "--split", "test", "--limit", "5", "--quiet", "--mode",
                        "mission-critical", "--placement", "cloud", "--master-url", url, "--timeout", "5",
                        "--summary-json", str(tmp_path / "summary.json"))
    summary = _summary(tmp_path, result)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5 frames (0 lost)")
    assert summary["frames_lost"] == 0 and summary["fallbacks"] == {"cloud_malformed": 5}
    assert summary["path_counts"] == {"master_device": 5}


def _without_minions(source: Path, target: Path) -> Path:
    """A copy of the bundle whose runtime config runs the master alone in every mode and defines no
    minion system: when no master answers, no emergency minion can either."""
    shutil.copytree(source, target)
    config_path = target / "runtime_config.json"
    config = json.loads(config_path.read_text())
    config["systems"] = {}
    for mode in MODES:
        config["modes"][mode].update(minions=False, thresholds=None)
    for by_mode in config["selection"].values():
        for chosen in by_mode.values():
            chosen.update(system=MASTER_ONLY, runner_ups=[])
    write_runtime_config(config, config_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["runtime_config"].update(sha256=sha256_file(config_path), bytes=config_path.stat().st_size)
    write_manifest(manifest, target / "manifest.json")
    return target


def test_frames_no_path_answers_fail_the_run_after_its_summary(bundle_dir, tmp_path):
    bundle = _without_minions(bundle_dir, tmp_path / "no-minions")
    trace = tmp_path / "trace.jsonl"
    with running_app(_master_replying(None)) as url:  # the cloud master fails; this device holds none
        result = _mmnet("run", str(bundle), "--split", "test", "--limit", "3", "--quiet", "--no-device-master",
                        "--master-url", url, "--trace", str(trace), "--summary-json", str(tmp_path / "summary.json"))
    summary = _summary(tmp_path, result)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("3 frames (3 lost: BundleError 3)")
    assert summary["lost_by_cause"] == {"BundleError": 3} and summary["path_counts"] == {}
    assert result.stderr.splitlines()[-1] == (f"mmnet run: 3 of 3 frames lost (BundleError 3); the trace {trace} "
                                              "holds each lost frame's error")
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [row["fallbacks"] for row in rows] == [["cloud_http_5xx"]] * 3
    assert "no minion system to fall back on" in rows[0]["error"]


def _with_edited_resolution(source: Path, target: Path, model_id: str) -> Path:
    """A copy whose manifest says ``model_id`` takes 16×16 frames; its file (so its hash) unchanged."""
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    record = next(m for m in manifest["models"] if m["id"] == model_id)
    record.update(resolution=16)
    record["input"]["shape"] = [1, 16, 16, tfx.CHANNELS]
    tfx.rewrite_manifest(target, manifest)
    return target


def test_a_minion_file_that_does_not_match_the_manifest_fails_the_run_at_load(bundle_dir, tmp_path):
    edited = _with_edited_resolution(bundle_dir, tmp_path / "edited", tfx.INT8_ID)
    result = _mmnet("run", str(edited), "--split", "test", "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr
    line = _mmnet_lines("run", result)  # LiteRT's own INFO line may precede it
    assert len(line) == 1 and line[0].startswith("mmnet run: error: model 'tiny-r12-int8' (")
    assert "the manifest says input (1, 16, 16, 1) and 3 classes; the file takes (1, 12, 12, 1)" in line[0]
    assert "Traceback" not in result.stderr


def test_a_served_master_that_does_not_match_the_manifest_fails_at_load(tmp_path):
    edited = _with_edited_resolution(tfx.write_fixture_bundle(tmp_path / "plain"), tmp_path / "edited", tfx.FLOAT_ID)
    result = _mmnet("serve", str(edited), "--port", str(_free_port()), timeout=60.0)  # before: served every 500
    assert result.returncode == 2, result.stderr
    line = _mmnet_lines("serve", result)
    assert len(line) == 1 and "model 'tiny-r12-float32'" in line[0] and "(1, 16, 16, 1)" in line[0]


# -- the bearer token ----------------------------------------------------------------------------


def _token_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_run_reads_the_token_from_a_file(bundle_dir, tmp_path):
    token = _token_file(tmp_path, "s3cret-token\n")  # stripped: an editor's newline is no part of it
    with running_server(bundle_dir, token="s3cret-token") as url:
        result = _mmnet("run", str(bundle_dir), "--split", "test", "--limit", "3", "--quiet", "--mode",
                        "mission-critical", "--placement", "cloud", "--master-url", url, "--token-file", str(token),
                        "--summary-json", str(tmp_path / "summary.json"))
    summary = _summary(tmp_path, result)
    assert result.returncode == 0, result.stderr
    assert summary["path_counts"] == {"master_cloud": 3} and summary["fallbacks"] == {}


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_missing_or_empty_token_file_is_one_line(bundle_dir, tmp_path, command):
    extra = ["--split", "test", "--master-url", "http://127.0.0.1:9"] if command == "run" else ["--port", "0"]
    missing = _mmnet(command, str(bundle_dir), *extra, "--token-file", str(tmp_path / "nope"), timeout=60.0)
    assert missing.returncode == 2 and len(_mmnet_lines(command, missing)) == 1
    assert _mmnet_lines(command, missing)[0].startswith(
        f"mmnet {command}: error: --token-file is '{tmp_path / 'nope'}'; expected a readable UTF-8 file holding the "
        "bearer token")
    empty = _mmnet(command, str(bundle_dir), *extra, "--token-file", str(_token_file(tmp_path, " \n")), timeout=60.0)
    assert empty.returncode == 2 and _mmnet_lines(command, empty)[0].endswith("it is empty")


@pytest.mark.parametrize("command", ["run", "serve"])
def test_the_token_is_no_longer_an_argument(bundle_dir, command):
    result = _mmnet(command, str(bundle_dir), "--token", "visible-in-ps", timeout=60.0)
    assert result.returncode == 2 and "visible-in-ps" not in result.stderr  # not taken for --token-file
    assert result.stderr.splitlines()[-1] == (
        f"mmnet {command}: error: --token: a token on the command line is visible to every user in the process "
        f"list; put it in a file (--token-file FILE) or in ${TOKEN_ENV}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_requires_the_token_read_from_its_file(bundle_dir, tmp_path):
    token = _token_file(tmp_path, "serve-token\n")
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    server = subprocess.Popen([sys.executable, "-m", "mmnet", "serve", str(bundle_dir), "--port", str(port),
                               "--token-file", str(token)], cwd=REPO, env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60.0
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if requests.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "mmnet serve did not come up"
            time.sleep(0.2)
        body = {"instances": tfx.random_frames(1).tolist()}
        predict = f"{url}/v1/models/{tfx.FLOAT_ID}:predict"
        assert requests.post(predict, json=body, timeout=10).status_code == 401
        wrong = requests.post(predict, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
        right = requests.post(predict, json=body, headers={"Authorization": "Bearer serve-token"}, timeout=10)
        assert wrong.status_code == 401 and right.status_code == 200, right.text
    finally:
        server.terminate()
        server.wait(timeout=15)
