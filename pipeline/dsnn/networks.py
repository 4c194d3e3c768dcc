"""The Keras networks of a multi-dsNN: monolithic baselines, dsNNs, the preprocessor; TFLite export.

A dsNN is a fully connected network on the features (``hidden`` ReLU layers, then softmax). The
monolithic baseline is such a network in the FC case and the zoo's LeNet-5 in the CNN case, whose
layers up to ``flatten`` become the shared preprocessor (§3.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.pipeline._tf import keras
from mmnet.pipeline.dsnn.config import DsnnConfig
from mmnet.pipeline.export import convert_keras_model
from mmnet.pipeline.zoo.costs import keras_model_costs
from mmnet.pipeline.zoo.registry import build_model
from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["Trained", "mlp", "train", "lenet5", "preprocessor_of", "predict", "export_tflite", "FEATURES_LAYER"]

FEATURES_LAYER = "flatten"  # LeNet-5's convolutional part ends here


@dataclass(frozen=True)
class Trained:
    model: Any
    hidden: tuple[int, ...]
    macs: int
    params: int


def mlp(n_features: int, num_classes: int, hidden: tuple[int, ...], *, name: str = "dsnn") -> Any:
    inputs = keras.Input((n_features,), name="features")
    x = inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden{i + 1}")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def lenet5(resolution: int, channels: int, num_classes: int) -> Any:
    return build_model(VariantSpec("lenet5", 1.0, resolution), channels=channels, num_classes=num_classes)


def train(model: Any, x: np.ndarray, y: np.ndarray, config: DsnnConfig, *, hidden: tuple[int, ...] = (),
          sample_weight: np.ndarray | None = None, seed_offset: int = 0, epochs: int | None = None) -> Trained:
    """Adam on hard labels; the weights start from ``config.seed + seed_offset`` (reproducible)."""
    keras.utils.set_random_seed(config.seed + seed_offset)
    fresh = keras.models.clone_model(model)  # initial weights drawn under the seed just set
    fresh.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy")
    fresh.fit(x, y, sample_weight=sample_weight, epochs=epochs or config.epochs, batch_size=config.batch_size,
              verbose=0, shuffle=True)
    costs = keras_model_costs(fresh)
    return Trained(fresh, tuple(hidden), int(costs.macs), int(costs.params))


def predict(model: Any, x: np.ndarray, *, batch: int = 1024) -> np.ndarray:
    """Probabilities (N, classes) in float32, in batches (no ``fit`` callbacks, no progress bar)."""
    out = [model(x[i:i + batch], training=False).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def preprocessor_of(model: Any) -> Any:
    """The monolithic CNN's convolutional part: input to the flattened features."""
    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output, name="preprocessor")


def export_tflite(model: Any, path: Path) -> Path:
    """float32 TFLite with a batch-1 input (the pipeline's converter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(convert_keras_model(model, "float32"))
    return path
