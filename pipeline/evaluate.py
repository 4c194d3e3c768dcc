"""Evaluation stage: the deployed artifact is what counts.

Every TFLite artifact is loaded into the LiteRT interpreter and evaluated on val and test; a parity
gate compares its val accuracy with its Keras model's. The probabilities are kept as a stage
artifact for calibration. (Host latency is measured later, serially: see :mod:`mmnet.pipeline.latency`.)

Artifacts on disk (the directory it is given: the build's ``stages/evaluate/<key>/`` cache entry):
``<artifact id>.json`` (the manifest's model record) and ``<artifact id>.npz`` (``val_probabilities``,
``test_probabilities``).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnet.format.errors import ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import ExportConfig
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.export import ExportedArtifact
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess

__all__ = ["GateDecision", "parity_gate", "evaluate_artifact", "tensor_record"]


@dataclass(frozen=True)
class GateDecision:
    blessed: bool
    reason: str


def parity_gate(tflite_val_accuracy: float, keras_val_accuracy: float | None, margin_points: float | None) -> GateDecision:
    """Blesses an artifact unless its val accuracy is more than ``margin_points`` below its Keras model's.

    Accuracies are fractions; the margin is in percentage points. Without a Keras reference (an
    imported .tflite) or without a configured margin the artifact is blessed and the reason says why.
    """
    tflite_pct = 100.0 * tflite_val_accuracy
    if keras_val_accuracy is None:
        return GateDecision(True, f"no Keras reference (imported TFLite); TFLite val accuracy {tflite_pct:.2f}%")
    keras_pct = 100.0 * keras_val_accuracy
    drop = keras_pct - tflite_pct
    if margin_points is None:
        return GateDecision(True, f"no parity gate configured; TFLite val {tflite_pct:.2f}% vs Keras {keras_pct:.2f}% "
                                  f"(drop {drop:.2f} points)")
    # A small epsilon so that a drop of exactly the margin, computed in floating point, passes.
    if drop > margin_points + 1e-9:
        return GateDecision(
            False,
            f"rejected: TFLite val accuracy {tflite_pct:.2f}% is {drop:.2f} points below Keras {keras_pct:.2f}% "
            f"(margin {margin_points:.2f})",
        )
    return GateDecision(True, f"TFLite val accuracy {tflite_pct:.2f}% is within {margin_points:.2f} points "
                              f"of Keras {keras_pct:.2f}%")


def tensor_record(shape, dtype, quantization) -> dict:
    scale, zero_point = quantization if quantization is not None else (None, None)
    return {
        "shape": [int(d) for d in shape],
        "dtype": np.dtype(dtype).name,
        "scale": None if scale is None else float(scale),
        "zero_point": None if zero_point is None else int(zero_point),
    }


def evaluate_artifact(
    artifact: ExportedArtifact,
    *,
    splits: Splits,
    preprocessing: PreprocessingSpec,
    export: ExportConfig,
    out_dir: Path,
) -> dict:
    """Evaluates one artifact and returns its manifest model record.

    The record's ``file`` (set when the bundle ships it) and ``host_latency_ms`` are still null.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    xnnpack_error = None
    try:
        classifier = TFLiteClassifier(artifact.path, num_threads=1, use_xnnpack=True)
    except ModelError as e:
        # Phones run LiteRT with XNNPACK, so such an artifact is rejected; its numbers are still
        # measured with the builtin kernels (a file no kernel can run raises and is a dead letter).
        xnnpack_error = str(e).replace(str(Path(artifact.path).parent) + "/", "")  # no host path in the manifest
        classifier = TFLiteClassifier(artifact.path, num_threads=1, use_xnnpack=False)
    trained = artifact.trained
    resolution = classifier.input_shape[0]
    probabilities = {}
    accuracy = {}
    for name in ("val", "test"):
        split = getattr(splits, name)
        probabilities[name] = classifier.predict(preprocess(split.frames, preprocessing, resolution))
        accuracy[name] = float(np.mean(np.argmax(probabilities[name], axis=1) == split.labels))
    np.savez_compressed(
        out_dir / f"{artifact.artifact_id}.npz",
        val_probabilities=probabilities["val"],
        test_probabilities=probabilities["test"],
    )
    keras_val, keras_test = trained.keras_val_accuracy, trained.keras_test_accuracy
    gate = parity_gate(accuracy["val"], keras_val, export.parity_margin_points)
    if xnnpack_error is not None:
        gate = GateDecision(False, f"rejected: the XNNPACK delegate cannot run it ({xnnpack_error}); "
                                   f"with LiteRT's builtin kernels TFLite val accuracy is {100 * accuracy['val']:.2f}%")
    record = {
        "id": artifact.artifact_id,
        "variant": trained.variant,
        "role": trained.role,
        "family": trained.family,
        "alpha": trained.alpha,
        "resolution": int(resolution),
        "precision": artifact.precision,
        "quantization": artifact.quantization,
        "source": trained.source,
        "file": None,
        "sha256": artifact.sha256,
        "bytes": artifact.bytes,
        "params": int(trained.params),
        "macs": int(trained.macs),
        "input": tensor_record((1, *classifier.input_shape), classifier.input_dtype, classifier.input_quantization),
        "output": tensor_record((1, classifier.num_classes), classifier.output_dtype, classifier.output_quantization),
        "metrics": {
            "val_accuracy": accuracy["val"],
            "test_accuracy": accuracy["test"],
            "keras_val_accuracy": keras_val,
            "keras_test_accuracy": keras_test,
        },
        "host_latency_ms": None,
        "blessed": gate.blessed,
        "reason": gate.reason,
        "tflite_metadata": artifact.tflite_metadata,
    }
    if trained.compression is not None:
        # gzip: what a download of the pruned file costs; unstructured zeros shrink it, not the raw file
        gzip_bytes = len(gzip.compress(Path(artifact.path).read_bytes(), compresslevel=9, mtime=0))
        record["pruning"] = {**trained.compression, "gzip_bytes": gzip_bytes}
    if trained.sieve is not None:
        record["sieve"] = trained.sieve
    if xnnpack_error is not None:
        record["metrics"]["xnnpack"] = False
    (out_dir / f"{artifact.artifact_id}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record
