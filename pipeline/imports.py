"""Import stage: teams bring their own models.

A Keras model (``.keras``, ``.h5`` or a Keras SavedModel directory) joins the trained models and is
exported at every configured precision like them; a ``.tflite`` file is used as-is (one artifact,
its precision read from its input tensor) and goes straight to evaluation. Either way the model
must take frames preprocessed as this bundle records (``preprocessing`` in the config fixes the
normalisation when the model was trained with its own) and output one probability per class.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnet.format.bundle import sha256_file
from mmnet.format.errors import ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.export import ExportedArtifact
from mmnet.pipeline.train import TrainedModel, load_keras_model
from mmnet.pipeline.zoo.costs import keras_model_costs, tflite_model_costs
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess

__all__ = ["ImportTask", "import_model"]


@dataclass(frozen=True)
class ImportTask:
    path: str
    name: str
    role: str  # "master" | "minion"


def _check_signature(path: str, input_shape: tuple, num_outputs: int, splits: Splits) -> int:
    """Returns the model's square input resolution after checking it fits the dataset."""
    height, width, channels = (int(d) if d is not None else None for d in input_shape)
    expected_channels = splits.train.frame_shape[2]
    if height is None or height != width:
        raise ModelError(f"{path}: input must be square with a fixed size, got {list(input_shape)}")
    if channels != expected_channels:
        raise ModelError(f"{path}: input has {channels} channels, the dataset has {expected_channels}")
    if num_outputs != splits.train.num_classes:
        raise ModelError(f"{path}: output has {num_outputs} classes, the dataset has {splits.train.num_classes}; "
                         "name the model's outputs with dataset.output_labels (and dataset.label_offset)")
    return height


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def _import_keras(task: ImportTask, splits: Splits, preprocessing: PreprocessingSpec, out_dir: Path) -> dict:
    try:
        model = load_keras_model(task.path)
    except Exception as e:  # Keras raises many types for unreadable files
        raise ModelError(f"{task.path}: not a loadable Keras model ({type(e).__name__}: {e})") from e
    resolution = _check_signature(task.path, tuple(model.input_shape[1:]), int(model.output_shape[-1]), splits)
    accuracy = {
        name: _accuracy(model.predict(preprocess(getattr(splits, name).frames, preprocessing, resolution), verbose=0),
                        getattr(splits, name).labels)
        for name in ("val", "test")
    }
    destination = out_dir / task.name
    destination.mkdir(parents=True, exist_ok=True)
    keras_path = destination / "model.keras"
    model.save(str(keras_path))
    costs = keras_model_costs(model)
    trained = TrainedModel(
        variant=task.name, role=task.role, family="imported", alpha=None, resolution=resolution,
        keras_path=str(keras_path), params=costs.params, macs=costs.macs,
        keras_val_accuracy=accuracy["val"], keras_test_accuracy=accuracy["test"],
        epochs_run=0, duration_s=0.0, distilled=False, source="imported",
    )
    return {"kind": "keras", "record": trained.to_json()}


def _import_tflite(task: ImportTask, splits: Splits, out_dir: Path) -> dict:
    classifier = TFLiteClassifier(task.path)
    resolution = _check_signature(task.path, classifier.input_shape, classifier.num_classes, splits)
    # 8-bit quantised models (int8 or uint8 input, e.g. Coral's) are int8 precision; the record's
    # input tensor keeps the exact dtype and quantisation the runtime feeds.
    precision = "int8" if np.dtype(classifier.input_dtype) in (np.int8, np.uint8) else "float32"
    artifact_id = f"{task.name}-{precision}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{artifact_id}.tflite"
    shutil.copyfile(task.path, path)
    costs = tflite_model_costs(path)
    trained = TrainedModel(
        variant=task.name, role=task.role, family="imported", alpha=None, resolution=resolution,
        keras_path=str(path), params=costs.params, macs=costs.macs,
        keras_val_accuracy=None, keras_test_accuracy=None,
        epochs_run=0, duration_s=0.0, distilled=False, source="imported",
    )
    artifact = ExportedArtifact(
        artifact_id=artifact_id, precision=precision, quantization="none" if precision == "float32" else "ptq",
        path=str(path), bytes=path.stat().st_size, sha256=sha256_file(path),
        tflite_metadata=False, metadata_note="imported as-is", trained=trained,
    )
    return {"kind": "tflite", "record": artifact.to_json()}


def import_model(task: ImportTask, *, splits: Splits, preprocessing: PreprocessingSpec, out_dir: Path) -> dict:
    """Returns ``{"kind": "keras" | "tflite", "record": ...}`` for the next stage."""
    path = Path(task.path)
    if not path.exists():
        raise ModelError(f"{task.path}: imported {task.role} model does not exist")
    if path.suffix == ".tflite":
        return _import_tflite(task, splits, out_dir)
    return _import_keras(task, splits, preprocessing, out_dir)
