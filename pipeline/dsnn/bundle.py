"""A chosen multi-dsNN system as a bundle: the monolithic baseline as the manifest's master model,
the system under ``multi_dsnn/`` (selector tree JSON, dsNNs and the CNN case's preprocessor as
float32 TFLite), the val and test frames; verified by ``load_bundle`` before it is published.

Only frame data sets (digits, mnist5k) make bundles: ``mmnet run`` feeds frames.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import MANIFEST_SCHEMA_VERSION, load_bundle, publish_bundle, sha256_file, write_manifest
from mmnet.format.documents import write_json_atomic
from mmnet.format.errors import ConfigError
from mmnet.format.multi_dsnn import SYSTEM_FILE, SYSTEM_SCHEMA_VERSION
from mmnet.format.version import __version__
from mmnet.pipeline._tf import keras
from mmnet.pipeline.dsnn.data import DesignData
from mmnet.pipeline.dsnn.design import DesignResult
from mmnet.pipeline.dsnn.networks import export_tflite
from mmnet.pipeline.dsnn.systems import SystemPoint
from mmnet.runtime.interpreter import TFLiteClassifier

__all__ = ["write_bundle"]

_MONOLITHIC_ID = "monolithic-float32"


def _file_ref(root: Path, relative: str) -> dict[str, Any]:
    path = root / relative
    return {"file": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _tensor(shape: tuple[int, ...]) -> dict[str, Any]:
    return {"shape": list(shape), "dtype": "float32", "scale": None, "zero_point": None}


def _frame_model(result: DesignResult, data: DesignData) -> Any:
    """The monolithic network taking frames: the FC case's network gets a Flatten in front."""
    model = result.monolithic.model
    if data.case == "cnn":
        return model
    inputs = keras.Input(data.preprocessing.frame_shape, name="frame")
    return keras.Model(inputs, model(keras.layers.Flatten(name="flatten")(inputs)), name="monolithic")


def _fingerprint(data: DesignData) -> str:
    digest = hashlib.sha256()
    for split in ("train", "val", "test"):
        digest.update(np.ascontiguousarray(data.frames[split]).tobytes())
        digest.update(np.ascontiguousarray(data.labels[split], dtype="<i8").tobytes())
    return "sha256:" + digest.hexdigest()


def _write_split(root: Path, name: str, frames: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    path = root / "data" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, frames=frames, labels=labels.astype(np.int64))
    return {**_file_ref(root, f"data/{name}.npz"), "count": int(len(labels))}


def _tflite_accuracy(path: Path, data: DesignData, split: str) -> float:
    classifier = TFLiteClassifier(path)
    x = data.inputs[split].reshape(len(data.labels[split]), *data.preprocessing.frame_shape)
    return float(np.mean(np.argmax(classifier.predict(x), axis=1) == data.labels[split]))


def write_bundle(result: DesignResult, data: DesignData, point: SystemPoint, out_dir: str | Path, *,
                 name: str) -> Path:
    """Writes, verifies and publishes the bundle of ``point`` at ``out_dir``; returns its path."""
    if data.frames is None or data.preprocessing is None:
        raise ConfigError(f"data set {data.name!r} has no frames; a bundle needs a frame data set (digits, mnist5k)")
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        return _write(result, data, point, staging, out_dir, name)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _write(result: DesignResult, data: DesignData, point: SystemPoint, staging: Path, out_dir: Path, name: str) -> Path:
    mono = result.monolithic
    spec = data.preprocessing
    design = result.design_of(point)
    export_tflite(_frame_model(result, data), staging / "models" / f"{_MONOLITHIC_ID}.tflite")
    mono_file = f"models/{_MONOLITHIC_ID}.tflite"
    mono_accuracy = {s: _tflite_accuracy(staging / mono_file, data, s) for s in ("val", "test")}
    frame_shape = tuple(spec.frame_shape)
    record = {
        "id": _MONOLITHIC_ID, "variant": "monolithic", "role": "master",
        "family": "lenet5" if data.case == "cnn" else "mlp", "alpha": 1.0 if data.case == "cnn" else None,
        "resolution": frame_shape[0], "precision": "float32", "quantization": "none", "source": "trained",
        **_file_ref(staging, mono_file), "params": mono.params, "macs": mono.macs,
        "input": _tensor((1, *frame_shape)), "output": _tensor((1, data.num_classes)),
        "metrics": {"val_accuracy": mono_accuracy["val"], "test_accuracy": mono_accuracy["test"],
                    "keras_val_accuracy": mono.accuracy["val"], "keras_test_accuracy": mono.accuracy["test"]},
        "host_latency_ms": None, "blessed": True,
        "reason": "the monolithic baseline the multi-dsNN replaces", "tflite_metadata": False,
    }

    system_dir = staging / "multi_dsnn"
    system_dir.mkdir()
    write_json_atomic(design.selector.to_json(), system_dir / "selector.json")
    preprocessor = None
    if mono.preprocessor is not None:
        export_tflite(mono.preprocessor, system_dir / "preprocessor.tflite")
        preprocessor = {**_file_ref(staging, "multi_dsnn/preprocessor.tflite"), "macs": mono.macs - mono.head_macs,
                        "params": int(mono.preprocessor.count_params())}
    dsnns = []
    for candidate in point.candidates:
        relative = f"multi_dsnn/dsnn-{candidate.part}.tflite"
        export_tflite(result.models[(point.threshold, candidate.part, candidate.hidden)], staging / relative)
        dsnns.append({"part": candidate.part, "hidden": list(candidate.hidden), **_file_ref(staging, relative),
                      "macs": candidate.macs, "params": candidate.params})
    test = result.on_test(point)
    system = {
        "schema_version": SYSTEM_SCHEMA_VERSION,
        "case": data.case,
        "features": {"count": design.selector.n_features, "source": "preprocessor" if preprocessor else "frame"},
        "preprocessor": preprocessor,
        "selector": {**_file_ref(staging, "multi_dsnn/selector.json"), "depth": design.selector.depth,
                     "leaves": design.selector.leaf_count},
        "dsnns": dsnns,
        "monolithic": _MONOLITHIC_ID,
        "design": {"threshold": point.threshold, "tail_shares": list(design.thresholds.shares),
                   "error_thresholds": list(design.thresholds.errors), "heuristic": design.heuristic,
                   "config": result.config.to_json()},
        "metrics": {"val_accuracy": point.accuracy, "test_accuracy": test.accuracy,
                    "monolithic_val_accuracy": mono.accuracy["val"], "monolithic_test_accuracy": mono.accuracy["test"],
                    "mean_macs": point.mean_macs, "macs_normalized": point.mean_macs / mono.macs,
                    "shares_val": list(point.shares), "shares_test": list(test.shares),
                    "misclassification_test": test.misclassification, "measured_with": "keras"},
    }
    write_json_atomic(system, staging / SYSTEM_FILE)

    labels = list(data.class_names)
    (staging / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "name": name,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mmnet_version": __version__,
        "dataset": {"source": f"builtin:{data.name}", "fingerprint": _fingerprint(data), "num_classes": len(labels),
                    "frame_shape": list(frame_shape), "splits": {s: int(len(v)) for s, v in data.labels.items()},
                    "split_seed": result.config.seed},
        "preprocessing": spec.to_json(),
        "labels": labels,
        "labels_file": "labels.txt",
        "data": {s: _write_split(staging, s, data.frames[s], data.labels[s]) for s in ("val", "test")},
        "models": [record],
        "failures": [],
        "runtime_config": None,
        "multi_dsnn": _file_ref(staging, SYSTEM_FILE),
        "build": {"tool": "mmnet.pipeline.dsnn", "config": None, "multi_dsnn": {"threshold": point.threshold,
                                                                               "trainings": result.trainings}},
    }
    write_manifest(manifest, staging / "manifest.json")
    load_bundle(staging)
    return publish_bundle(staging, out_dir)
