"""Tiny real TFLite models and a tiny real bundle for the runtime tests.

The models are a random-weight conv + softmax classifier (12x12x1 -> 3 classes) converted with
``tf.lite.TFLiteConverter`` to float32 and to full-integer int8. Building them takes a few seconds,
so ``tiny_models()`` converts once per process and callers write the bytes where they need them.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import sha256_file, write_manifest
from mmnet.runtime.interpreter import TFLiteClassifier

RESOLUTION = 12
CHANNELS = 1
NUM_CLASSES = 3
FRAME_SHAPE = (8, 8, 1)  # recorded frames; the models take them resized to RESOLUTION
MEAN = (127.5,)
STD = (64.0,)
LABELS = ("cat", "dog", "eel")
FLOAT_ID = "tiny-r12-float32"
INT8_ID = "tiny-r12-int8"


@dataclass(frozen=True)
class TinyModels:
    keras_model: Any
    float32_tflite: bytes
    int8_tflite: bytes


def normalised_inputs(n: int, seed: int) -> np.ndarray:
    """Normalised model inputs; per-frame brightness and contrast vary so the outputs do."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(-1.5, 1.5, (n, 1, 1, 1))
    std = rng.uniform(0.2, 1.5, (n, 1, 1, 1))
    noise = rng.normal(0.0, 1.0, (n, RESOLUTION, RESOLUTION, CHANNELS))
    return (mean + std * noise).astype(np.float32)


def _build_keras_model() -> Any:
    from mmnet.pipeline._tf import keras

    inputs = keras.Input((RESOLUTION, RESOLUTION, CHANNELS))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    # Weights from numpy so the fixture does not depend on Keras' initialiser seeding. With this
    # seed and the doubled dense layer, inputs from normalised_inputs() split between classes 0
    # and 1 with confidences from ~0.5 to ~1 (checked when the fixture was written).
    rng = np.random.default_rng(0)
    weights = [rng.normal(0.0, 1.0, w.shape).astype(np.float32) for w in model.get_weights()]
    weights[2] *= 2.0
    model.set_weights(weights)
    return model


@functools.lru_cache(maxsize=1)
def tiny_models() -> TinyModels:
    """The Keras model and its float32 and int8 TFLite conversions (built once per process)."""
    from mmnet.pipeline._tf import tf

    model = _build_keras_model()
    float_bytes = tf.lite.TFLiteConverter.from_keras_model(model).convert()

    calibration = normalised_inputs(64, seed=1)

    def representative_data():
        for i in range(len(calibration)):
            yield [calibration[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": irrelevant, the calibration sets them.
        warnings.simplefilter("ignore", UserWarning)
        int8_bytes = converter.convert()
    return TinyModels(keras_model=model, float32_tflite=float_bytes, int8_tflite=int8_bytes)


def write_tflite(path: Path, precision: str) -> Path:
    """Write the float32 or int8 tiny model to ``path``."""
    models = tiny_models()
    data = {"float32": models.float32_tflite, "int8": models.int8_tflite}[precision]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _tensor(shape: list[int], dtype: str, quant: tuple[float, int] | None) -> dict[str, Any]:
    scale, zero_point = quant if quant is not None else (None, None)
    return {"shape": shape, "dtype": dtype, "scale": scale, "zero_point": zero_point}


def _write_split(path: Path, n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, *FRAME_SHAPE), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, n).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(f, frames=frames, labels=labels)
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size, "count": n}


def fixture_manifest(bundle_dir: Path) -> dict[str, Any]:
    """Write models, data and labels into ``bundle_dir`` and return a matching manifest."""
    models = []
    for model_id, precision, role, macs in (
        (FLOAT_ID, "float32", "master", 5000),
        (INT8_ID, "int8", "minion", 4000),
    ):
        rel = f"models/{model_id}.tflite"
        path = write_tflite(bundle_dir / rel, precision)
        is_int8 = precision == "int8"
        classifier = TFLiteClassifier(path)
        models.append(
            {
                "id": model_id,
                "variant": "tiny-r12",
                "role": role,
                "family": "tiny",
                "alpha": None,
                "resolution": RESOLUTION,
                "precision": precision,
                "quantization": "ptq" if is_int8 else "none",
                "source": "trained",
                "file": rel,
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
                "params": 55,
                "macs": macs,
                "input": _tensor(
                    [1, RESOLUTION, RESOLUTION, CHANNELS],
                    precision,
                    classifier.input_quantization,
                ),
                "output": _tensor([1, NUM_CLASSES], precision, classifier.output_quantization),
                "metrics": {
                    "val_accuracy": 0.5,
                    "test_accuracy": 0.4,
                    "keras_val_accuracy": 0.5,
                    "keras_test_accuracy": 0.4,
                },
                "host_latency_ms": {
                    "median": 0.1, "p90": 0.2, "mean": 0.15, "min": 0.05,
                    "runs": 5, "warmup": 1, "threads": 1, "xnnpack": True,
                },
                "blessed": True,
                "reason": "fixture",
                "tflite_metadata": False,
            }
        )
    (bundle_dir / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    val = _write_split(bundle_dir / "data" / "val.npz", 6, seed=2)
    test = _write_split(bundle_dir / "data" / "test.npz", 5, seed=3)
    return {
        "schema_version": "1.0",
        "name": "tiny",
        "created_utc": "2026-11-23T17:00:00Z",
        "mmnet_version": "0.1.0",
        "dataset": {
            "source": "fixture:random",
            "fingerprint": "sha256:" + "ab" * 32,
            "num_classes": NUM_CLASSES,
            "frame_shape": list(FRAME_SHAPE),
            "splits": {"train": 10, "val": 6, "test": 5},
            "split_seed": 0,
        },
        "preprocessing": {
            "frame_shape": list(FRAME_SHAPE),
            "frame_dtype": "uint8",
            "mean": list(MEAN),
            "std": list(STD),
            "resize_method": "bilinear",
        },
        "labels": list(LABELS),
        "labels_file": "labels.txt",
        "data": {
            "val": {"file": "data/val.npz", **val},
            "test": {"file": "data/test.npz", **test},
        },
        "models": models,
        "failures": [{"variant": "tiny-r8", "stage": "convert", "error": "ValueError: fixture"}],
        "runtime_config": None,
        "build": {"config": {"fixture": True}, "git_commit": None},
    }


def write_fixture_bundle(bundle_dir: Path) -> Path:
    """A complete valid bundle (real .tflite files, real npz splits) in ``bundle_dir``."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    manifest = fixture_manifest(bundle_dir)
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


def write_configured_fixture_bundle(bundle_dir: Path) -> Path:
    """The fixture bundle with a runtime config from the real configure stage.

    The manifest says the master takes 5 ms and the minion 0.1 ms on the device, so the single
    minion system pays off; Wi-Fi's ~30 ms round trip keeps the master on the device.
    """
    from mmnet.format.preprocessing import PreprocessingSpec
    from mmnet.runtime.preprocessing import preprocess
    from mmnet.pipeline.bundle import attach_configuration
    from mmnet.pipeline.config import RuntimeSettings
    from mmnet.pipeline.configure import build_configuration

    bundle_dir.mkdir(parents=True, exist_ok=True)
    manifest = fixture_manifest(bundle_dir)
    for record in manifest["models"]:
        latency = 5.0 if record["role"] == "master" else 0.1
        record["host_latency_ms"].update(median=latency, p90=latency, mean=latency, min=latency)
    splits = {}
    for split in ("val", "test"):
        with np.load(bundle_dir / "data" / f"{split}.npz") as data:
            splits[split] = (data["frames"], data["labels"])
    spec = PreprocessingSpec.from_json(manifest["preprocessing"])
    probabilities = {}
    for record in manifest["models"]:
        classifier = TFLiteClassifier(bundle_dir / record["file"])
        probabilities[record["id"]] = {s: classifier.predict(preprocess(f, spec, record["resolution"]))
                                       for s, (f, _) in splits.items()}
    settings = RuntimeSettings(single_minion_systems=True, latency_model=False)
    attach_configuration(manifest, bundle_dir, build_configuration(settings, manifest, probabilities, splits))
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


def rewrite_manifest(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    """Overwrite manifest.json without validation (to build broken bundles)."""
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
