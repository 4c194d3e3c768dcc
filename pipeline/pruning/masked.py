"""The TensorFlow side of unstructured pruning: SNIP's gradients and retraining with fixed masks.

Retraining wraps every Conv2D/Dense layer in tensorflow-model-optimization's
``PruneLowMagnitude`` with a schedule that never updates the masks (:class:`FixedMasks`): tfmot
then multiplies each kernel by its mask after every step (its ``weight_mask_op``), so pruned
weights stay exactly zero, while our masks, written into the wrapper's mask variables, decide what
is pruned, not tfmot's magnitude rule. ``strip_pruning`` then returns a plain Keras model that
exports like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from mmnet.format.errors import ModelError
from mmnet.pipeline._tf import keras, tf

__all__ = [
    "prunable_layers",
    "kernels",
    "snip_gradients",
    "copy_model",
    "compile_for_training",
    "train",
    "FixedMasks",
    "retrain_with_masks",
    "accuracy",
]

log = logging.getLogger(__name__)


def prunable_layers(model) -> list:
    """The layers whose kernels are pruned, in model order: Conv2D and Dense.

    Depthwise kernels stay dense: tfmot registers DepthwiseConv2D with no prunable weights (its
    wrapper has no mask to fix), and they hold a small share of a MobileNet's weights.
    """
    kinds = (keras.layers.Conv2D, keras.layers.Dense)
    layers = [layer for layer in model.layers if type(layer) in kinds]
    if not layers:
        raise ModelError(f"model {model.name!r} has no Conv2D or Dense layer to prune")
    return layers


def kernels(model) -> list[np.ndarray]:
    """The kernels of :func:`prunable_layers` as numpy arrays."""
    return [layer.kernel.numpy() for layer in prunable_layers(model)]


def snip_gradients(model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """``∂L/∂w`` of every prunable kernel for one minibatch (cross-entropy, training-mode forward)."""
    variables = [layer.kernel for layer in prunable_layers(model)]
    with tf.GradientTape() as tape:
        probabilities = model(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, probabilities)
        loss = tf.reduce_mean(loss)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def copy_model(model):
    """An independent copy (same architecture and weights) of a functional Keras model."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def compile_for_training(model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
          callbacks: Sequence = ()) -> None:
    """Adam on sparse cross-entropy, shuffled with ``seed``; the standard training of every method."""
    keras.utils.set_random_seed(seed)
    compile_for_training(model, learning_rate)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=list(callbacks))


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    probabilities = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


def _tfmot():
    import tensorflow_model_optimization as tfmot

    return tfmot


class FixedMasks(_tfmot().sparsity.keras.PruningSchedule):
    """A tfmot pruning schedule that never recomputes the masks: the masks written into the wrappers stay."""

    def __call__(self, step):
        return tf.constant(False), tf.constant(0.0)

    def get_config(self):
        return {"class_name": type(self).__name__, "config": {}}


def retrain_with_masks(model, masks: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, *, epochs: int,
                       batch_size: int, learning_rate: float, seed: int):
    """``model`` (not modified) pruned by ``masks`` (one per :func:`prunable_layers` kernel) and trained
    with the masks fixed; returns the stripped Keras model, whose pruned weights are exactly zero."""
    tfmot = _tfmot()
    names = [layer.name for layer in prunable_layers(model)]
    if len(masks) != len(names):
        raise ModelError(f"got {len(masks)} masks for the {len(names)} prunable layers of {model.name!r}; expected as many")
    by_name = dict(zip(names, masks))

    def wrap(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if layer.name in by_name:
            return tfmot.sparsity.keras.prune_low_magnitude(clone, pruning_schedule=FixedMasks())
        return clone

    keras.utils.set_random_seed(seed)
    wrapped = keras.models.clone_model(model, clone_function=wrap)
    for layer in wrapped.layers:
        inner = getattr(layer, "layer", layer)
        inner.set_weights(model.get_layer(inner.name).get_weights())
        if inner.name in by_name:
            (weight, mask, _threshold), = layer.pruning_vars
            keep = np.asarray(by_name[inner.name], dtype=bool)
            if keep.shape != tuple(weight.shape):
                raise ModelError(f"mask of {inner.name!r} has shape {keep.shape}; expected {tuple(weight.shape)}")
            mask.assign(keep.astype(np.float32))
            weight.assign(weight.numpy() * keep)
    train(wrapped, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
          callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    for name, keep in by_name.items():
        kernel = stripped.get_layer(name).kernel.numpy()
        if np.any(kernel[~np.asarray(keep, dtype=bool)] != 0):  # tfmot's masking is what this stage relies on
            raise ModelError(f"layer {name!r}: pruned weights became non-zero during retraining")
    return stripped
