"""Structured pruning: whole output channels of Conv2D/Dense layers removed, a smaller dense network.

Unstructured sparsity leaves every dense kernel its shape, so dense TFLite kernels do the same work;
removing channels shrinks the matrices themselves, which is a real latency gain on any backend.
Each Conv2D/Dense layer but the classifier keeps ``round(keep · channels)`` (at least 1) output
channels, those with the highest summed importance (:func:`~mmnet.pipeline.pruning.scores.channel_scores`
of the double-shot metric of ``(w_init, w_final)``). The kept channels' weights are copied into a
narrower copy of the architecture: the layer's kernel and bias columns, the following batch norm's
statistics, and the next layer's input rows (through a ``Flatten``, every spatial position of a
kept channel). Supported are chains (each layer with one input), such as LeNet-5 and the small VGG;
a residual ``Add`` or a concatenation raises ModelError.
"""

from __future__ import annotations

import numpy as np

from mmnet.format.checks import check_number
from mmnet.format.errors import ModelError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.pruning.scores import channel_scores, importance

__all__ = ["kept_channels", "narrow_model", "narrow_by_importance"]

# Layers that pass channels through unchanged (same last axis in and out).
_PASS_THROUGH = (
    keras.layers.ReLU,
    keras.layers.Activation,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.Dropout,
    keras.layers.GlobalAveragePooling2D,
)


def _single_input(layer) -> str:
    inbound = layer.inbound_nodes[0].inbound_layers
    if isinstance(inbound, (list, tuple)):
        if len(inbound) != 1:
            raise ModelError(f"layer {layer.name!r} has {len(inbound)} inputs; channel pruning supports chains only")
        inbound = inbound[0]
    return inbound.name


def kept_channels(metric: str, keep: float, initial, trained) -> dict[str, np.ndarray]:
    """Per Conv2D/Dense layer of ``trained`` but the last, the sorted indices of the output channels kept."""
    check_number("pruning.channel_keep", keep, positive=True, high=1.0)
    layers = [layer for layer in trained.layers if type(layer) in (keras.layers.Conv2D, keras.layers.Dense)]
    if len(layers) < 2:
        raise ModelError(f"model {trained.name!r} has fewer than two Conv2D/Dense layers; nothing to prune by channels")
    kept = {}
    for layer in layers[:-1]:  # the classifier keeps one output per class
        score = channel_scores(importance(metric, initial.get_layer(layer.name).kernel.numpy(), layer.kernel.numpy()))
        count = max(1, int(round(keep * score.size)))
        kept[layer.name] = np.sort(np.argsort(-score, kind="stable")[:count])
    return kept


def narrow_model(model, kept: dict[str, np.ndarray]):
    """A copy of ``model`` with only the ``kept`` output channels of the named layers, weights copied."""
    config = model.get_config()
    for entry in config["layers"]:
        name = entry["config"]["name"]
        if name in kept:
            field = "filters" if entry["class_name"] == "Conv2D" else "units"
            entry["config"][field] = int(len(kept[name]))
    narrow = keras.Model.from_config(config)

    channels: dict[str, np.ndarray | None] = {}  # per layer, the kept indices of its output's last axis (None: all)
    for layer in model.layers:
        target = narrow.get_layer(layer.name)
        if isinstance(layer, keras.layers.InputLayer):
            channels[layer.name] = None
            continue
        incoming = channels[_single_input(layer)]
        weights = layer.get_weights()
        if type(layer) in (keras.layers.Conv2D, keras.layers.Dense):
            out = kept.get(layer.name)
            kernel = weights[0] if incoming is None else np.take(weights[0], incoming, axis=-2)
            weights[0] = kernel if out is None else kernel[..., out]
            if layer.use_bias:
                weights[1] = weights[1] if out is None else weights[1][out]
            channels[layer.name] = out
        elif isinstance(layer, keras.layers.BatchNormalization):
            weights = [w if incoming is None else w[incoming] for w in weights]
            channels[layer.name] = incoming
        elif isinstance(layer, keras.layers.Flatten):
            height, width, depth = layer.input_shape[1:]
            if incoming is None:
                channels[layer.name] = None
            else:  # Flatten orders features (h, w, c) with c fastest
                positions = np.arange(height * width)[:, None] * depth
                channels[layer.name] = (positions + incoming[None, :]).ravel()
        elif isinstance(layer, _PASS_THROUGH):
            channels[layer.name] = incoming
        else:
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}) is not supported by channel pruning")
        target.set_weights(weights)
    return narrow


def narrow_by_importance(metric: str, keep: float, initial, trained):
    """:func:`narrow_model` of ``trained`` keeping the channels :func:`kept_channels` picks."""
    return narrow_model(trained, kept_channels(metric, keep, initial, trained))

