"""Tiny real TFLite models and a tiny real bundle for the runtime tests.

The models are a conv + softmax classifier (12x12x1 -> 3 classes) with fixed random weights,
converted with ``tf.lite.TFLiteConverter`` to float32 and to full-integer int8. The converted files
are committed (``tests/fixtures/tiny-r12-{float32,int8}.tflite``, ~2 KB each), so the TF-free runtime
is tested without TensorFlow; :func:`reference_scores` is the same network in numpy, the float
reference the interpreter is checked against. Regenerate the files (needs TensorFlow) with
``.venv/bin/python -m tests.support.tflite_fixtures``; an integration test checks that the committed files
still match a fresh conversion's outputs.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import sha256_file, write_manifest
from mmnet.runtime.interpreter import TFLiteClassifier

RESOLUTION = 12
CHANNELS = 1
NUM_CLASSES = 3
FILTERS = 4
FRAME_SHAPE = (8, 8, 1)  # recorded frames; the models take them resized to RESOLUTION
MEAN = (127.5,)
STD = (64.0,)
LABELS = ("cat", "dog", "eel")
FLOAT_ID = "tiny-r12-float32"
INT8_ID = "tiny-r12-int8"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PRECISIONS = ("float32", "int8")


def normalised_inputs(n: int, seed: int) -> np.ndarray:
    """Normalised model inputs; per-frame brightness and contrast vary so the outputs do."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(-1.5, 1.5, (n, 1, 1, 1))
    std = rng.uniform(0.2, 1.5, (n, 1, 1, 1))
    noise = rng.normal(0.0, 1.0, (n, RESOLUTION, RESOLUTION, CHANNELS))
    return (mean + std * noise).astype(np.float32)


def random_frames(n: int = 12, seed: int = 0) -> np.ndarray:
    """``n`` random uint8 frames of the fixture bundle's recorded shape."""
    return np.random.default_rng(seed).integers(0, 256, (n, *FRAME_SHAPE), dtype=np.uint8)


def device_master_answers(bundle: Any, frames: np.ndarray) -> list[int]:
    """The device master's label for each frame (the runtime in mission-critical mode)."""
    from mmnet.runtime.runtime import Runtime

    with Runtime(bundle, mode="mission_critical") as runtime:
        return [runtime.classify(f, timestamp_s=float(i)).label for i, f in enumerate(frames)]


def tiny_weights() -> list[np.ndarray]:
    """Conv kernel (3, 3, 1, 4), conv bias, dense kernel (4, 3), dense bias: Keras' weight order.

    From numpy so the fixture does not depend on Keras' initialiser seeding. With this seed and the
    doubled dense kernel, inputs from normalised_inputs() split between classes 0 and 1 with
    confidences from ~0.5 to ~1.
    """
    rng = np.random.default_rng(0)
    shapes = [(3, 3, CHANNELS, FILTERS), (FILTERS,), (FILTERS, NUM_CLASSES), (NUM_CLASSES,)]
    weights = [rng.normal(0.0, 1.0, shape).astype(np.float32) for shape in shapes]
    weights[2] *= 2.0
    return weights


def reference_scores(inputs: np.ndarray) -> np.ndarray:
    """The tiny network in numpy (same-padded 3x3 conv, ReLU, global average pool, dense, softmax)."""
    kernel, bias, dense, dense_bias = (w.astype(np.float64) for w in tiny_weights())
    x = np.pad(inputs.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((len(inputs), RESOLUTION, RESOLUTION, FILTERS))
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("nhwc,cf->nhwf", x[:, dy : dy + RESOLUTION, dx : dx + RESOLUTION], kernel[dy, dx])
    features = np.maximum(conv + bias, 0.0).mean(axis=(1, 2))
    logits = features @ dense + dense_bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def tflite_bytes(precision: str) -> bytes:
    """The committed float32 or int8 tiny model."""
    return (FIXTURES / f"tiny-r12-{precision}.tflite").read_bytes()


def write_tflite(path: Path, precision: str) -> Path:
    """Write the float32 or int8 tiny model to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tflite_bytes(precision))
    return path


def convert_tiny_models() -> dict[str, bytes]:
    """A fresh conversion of the tiny network with TensorFlow: {precision: .tflite bytes}."""
    from mmnet.pipeline._tf import keras, tf

    inputs = keras.Input((RESOLUTION, RESOLUTION, CHANNELS))
    x = keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.set_weights(tiny_weights())
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
    return {"float32": float_bytes, "int8": int8_bytes}


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


def write_configured_fixture_bundle(bundle_dir: Path, detectors: tuple[str, ...] = ("per_class_confidence",)) -> Path:
    """The fixture bundle with a runtime config from the real configure stage, its detector one of
    ``detectors`` (by default the paper's rule).

    The manifest says the master takes 5 ms and the minion 0.1 ms on the device, so the single
    minion system pays off; Wi-Fi's ~30 ms round trip keeps the master on the device.
    """
    from mmnet.format.preprocessing import PreprocessingSpec
    from mmnet.pipeline.bundle import attach_configuration
    from mmnet.pipeline.config import DetectorConfig, RuntimeSettings
    from mmnet.pipeline.configure import build_configuration
    from mmnet.runtime.preprocessing import preprocess

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
    settings = RuntimeSettings(single_minion_systems=True, latency_model=False, detector=DetectorConfig(members=detectors))
    attach_configuration(manifest, bundle_dir, build_configuration(settings, manifest, probabilities, splits))
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


def write_retuned_bundle(configured: Path, bundle_dir: Path, tuned: dict[str, dict[str, Any]]) -> Path:
    """A copy of a configured fixture bundle whose every system's tuned modes are updated with
    ``tuned[mode]`` (e.g. fixed thresholds, or a logistic detector), checksums kept valid."""
    from mmnet.format.runtime_config import write_runtime_config

    shutil.copytree(configured, bundle_dir)
    config_path = bundle_dir / "runtime_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for system in config["systems"].values():
        for mode, entry in system["modes"].items():
            entry.update(copy.deepcopy(tuned.get(mode, {})))
    write_runtime_config(config, config_path)
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["runtime_config"].update(sha256=sha256_file(config_path), bytes=config_path.stat().st_size)
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


def write_splitting_fixture_bundle(root: Path) -> Path:
    """The configured fixture bundle (in ``root/configured``) retuned in ``root/tiny`` with fixed thresholds
    inside the tiny minion's confidences on random frames, so that accepted and recovered frames both occur
    (its six val frames are too few for the fitted detector to recover any); power-saving's are lower and
    accept a disagreement above 0.4."""
    configured = write_configured_fixture_bundle(root / "configured")
    return write_retuned_bundle(configured, root / "tiny", {
        "normal": {"thresholds": [0.45] * NUM_CLASSES, "disagreement_threshold": None},
        "power_saving": {"thresholds": [0.42] * NUM_CLASSES, "disagreement_threshold": 0.4}})


def write_always_recovering_bundle(configured: Path, bundle_dir: Path) -> Path:
    """A copy of a configured fixture bundle whose thresholds are above any confidence: the detector
    recovers every frame it checks."""
    from mmnet.runtime.detector import NEVER

    never = {"thresholds": [NEVER] * NUM_CLASSES, "detector": {"kind": "per_class_confidence"}}
    return write_retuned_bundle(configured, bundle_dir, {"normal": never, "power_saving": never})


def rewrite_manifest(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    """Overwrite manifest.json without validation (to build broken bundles)."""
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for precision, data in convert_tiny_models().items():
        (FIXTURES / f"tiny-r12-{precision}.tflite").write_bytes(data)
        print(f"wrote {FIXTURES / f'tiny-r12-{precision}.tflite'} ({len(data)} bytes)")
    sys.exit(0)
