"""The runtime must work where TensorFlow (and the pipeline) cannot even be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from mmnet.format.bundle import load_bundle
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.unit import tflite_fixtures as tfx

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib
import importlib.abc
import json
import sys

BLOCKED = {"tensorflow", "tf_keras", "keras", "pipeline"}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocker())

# The blocker works: TensorFlow really is unavailable here.
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tensorflow imported despite the blocker")

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
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({
    "backend": interpreter_backend(),
    "blocked_modules_loaded": loaded,
    "summary_last_line": summary.splitlines()[-1],
    "scores": scores,
}))
"""


def _run(script: str, bundle_dir: Path) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter of this venv with only the repo on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-c", script, str(bundle_dir)],
        cwd=bundle_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_runtime_runs_without_tensorflow(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    result = _run(SCRIPT, bundle_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "ai_edge_litert"
    assert report["blocked_modules_loaded"] == []
    assert report["summary_last_line"] == "verified: schema OK, 4 files checksummed"

    # Same scores as this (TensorFlow-enabled) process computes for the same bundle.
    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    assert sorted(report["scores"]) == [tfx.FLOAT_ID, tfx.INT8_ID]
    for model_id, scores in report["scores"].items():
        clf = TFLiteClassifier(bundle.model_path(model_id))
        expected = clf.predict(preprocess(frames, bundle.preprocessing, clf.input_shape[0]))
        np.testing.assert_allclose(np.array(scores, np.float32), expected, atol=1e-6)


NO_INTERPRETER_SCRIPT = r"""
import importlib.abc
import sys

BLOCKED = {"tensorflow", "tf_keras", "keras", "pipeline", "ai_edge_litert", "tflite_runtime"}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocker())
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
"""


def test_missing_interpreter_raises_dependency_error(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "bundle")
    result = _run(NO_INTERPRETER_SCRIPT, bundle_dir)
    assert result.returncode == 0, result.stderr
    assert "install one of: ai-edge-litert" in result.stdout
