"""Keras models for the format search: batch-norm folding, a cached evaluator and the deployed model.

The search reformats what a deployed model stores, so it works on the model as TFLite runs it:
:func:`fold_batch_norm` folds every BatchNormalization that follows a Conv2D, DepthwiseConv2D or
Dense (whose output nothing else reads) into that layer's kernel and bias, as the TFLite converter
would; the folded kernels are then the weights the formats apply to.

Tensors (named in the search's JSON):

- ``<layer>/kernel``: the kernel of every Conv2D, DepthwiseConv2D and Dense (biases and other
  weights stay float32: one value per output channel);
- ``<layer>:out``: every activation a weighted layer reads, named by the layer that produces it
  (``input:out`` is the normalised frame); a tensor read by several layers is one tensor.

:class:`CachedEvaluator` runs the folded model on val once, layer by layer, and keeps every layer's
output. An evaluation then recomputes only the layers downstream of a reformatted tensor, eagerly
on the whole val batch, reading everything else from the cache, and rounds with the exact numpy
codec. A combination's repair evaluates it with one tensor changed at a time, so the combination's
own layer values are kept too (``set_reference``) and an evaluation starts from whichever base
(float32 or that combination) stays unchanged longest. :func:`deployed_model` rebuilds the folded
model with the weights rounded offline and a
:class:`~mmnet.pipeline.sieve.emulation.CustomFloatQuantize` layer after each reformatted
activation's producer: the model that is converted to TFLite.

Supported: functional models whose layers each run once (no shared or nested models); anything
else is a ModelError naming the layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mmnet.format.custom_float import FloatFormat, exponent_histogram, quantize
from mmnet.format.errors import ModelError
from mmnet.pipeline._tf import keras, tf
from mmnet.pipeline.sieve.emulation import CustomFloatQuantize
from mmnet.pipeline.sieve.search import TensorInfo

__all__ = ["fold_batch_norm", "CachedEvaluator", "deployed_model", "WEIGHTED_LAYERS", "kernel_name", "activation_name"]

WEIGHTED_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def kernel_name(layer: str) -> str:
    return f"{layer}/kernel"


def activation_name(producer: str) -> str:
    return f"{producer}:out"


def _producers(layer) -> list[str]:
    """Names of the layers whose outputs ``layer`` reads, in call order."""
    nodes = layer._inbound_nodes  # noqa: SLF001 - tf_keras exposes the functional graph only here
    if len(nodes) != 1:
        raise ModelError(f"layer {layer.name!r} is called {len(nodes)} times; the format search needs a functional "
                         "model whose layers each run once")
    inbound = nodes[0].inbound_layers
    return [inbound.name] if not isinstance(inbound, list) else [item.name for item in inbound]


def _graph(model) -> list[tuple[Any, list[str]]]:
    """``(layer, producer names)`` in topological order; ModelError for what the search cannot walk."""
    if not isinstance(model, keras.Model) or not model._is_graph_network:  # noqa: SLF001
        raise ModelError(f"model {getattr(model, 'name', model)!r} is not a functional Keras model; the format search "
                         "walks its layer graph")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "expected one frame in and one probability vector out")
    graph = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ModelError(f"layer {layer.name!r} is a nested model; flatten it before the format search")
        producers = [] if isinstance(layer, keras.layers.InputLayer) else _producers(layer)
        graph.append((layer, producers))
    return graph


def _fresh(layer, **changes):
    return layer.__class__.from_config({**layer.get_config(), **changes})


def _folded_weights(conv, bn) -> list[np.ndarray]:
    weights = conv.get_weights()
    kernel = weights[0]
    bias = weights[1] if conv.use_bias else np.zeros(kernel.shape[-1] if not isinstance(
        conv, keras.layers.DepthwiseConv2D) else kernel.shape[2] * kernel.shape[3], np.float32)
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = (gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)).astype(np.float32)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        folded = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        folded = kernel * scale
    return [folded.astype(np.float32), ((bias - bn.moving_mean.numpy()) * scale + beta).astype(np.float32)]


def _foldable(graph) -> dict[str, str]:
    """``{batch norm name: the weighted layer it folds into}``."""
    readers: dict[str, list[str]] = {}
    for layer, producers in graph:
        for p in producers:
            readers.setdefault(p, []).append(layer.name)
    layers = {layer.name: layer for layer, _ in graph}
    folds = {}
    for layer, producers in graph:
        if isinstance(layer, keras.layers.BatchNormalization) and len(producers) == 1:
            source = layers[producers[0]]
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0] if len(layer.axis) == 1 else None
            channels_last = axis in (-1, len(layer.input_shape) - 1)
            if isinstance(source, WEIGHTED_LAYERS) and readers[source.name] == [layer.name] and channels_last:
                folds[layer.name] = source.name
    return folds


def _rebuild(model, *, fold: bool, weight_formats: Mapping[str, FloatFormat], activation_formats: Mapping[str, FloatFormat],
             name: str):
    """The model's graph with fresh layers: BN folded, kernels rounded, quantise layers inserted."""
    graph = _graph(model)
    folds = _foldable(graph) if fold else {}
    folded_into = {conv: bn for bn, conv in folds.items()}
    layers = {layer.name: layer for layer, _ in graph}
    outputs: dict[str, Any] = {}
    new_input = None
    for layer, producers in graph:
        if isinstance(layer, keras.layers.InputLayer):
            new_input = keras.Input(shape=layer.input_shape[0][1:] if isinstance(layer.input_shape, list)
                                    else layer.input_shape[1:], name=layer.name)
            value = new_input
        elif layer.name in folds:
            outputs[layer.name] = outputs[producers[0]]  # the folded conv already applied it
            continue
        else:
            inputs = [outputs[p] for p in producers]
            if layer.name in folded_into:
                fresh = _fresh(layer, use_bias=True)
                value = fresh(inputs[0])
                weights = _folded_weights(layer, layers[folded_into[layer.name]])
            else:
                fresh = _fresh(layer)
                value = fresh(inputs if len(inputs) > 1 else inputs[0])
                weights = layer.get_weights()
            if kernel_name(layer.name) in weight_formats:
                weights = [quantize(np.asarray(weights[0], np.float32), weight_formats[kernel_name(layer.name)]),
                           *weights[1:]]
            fresh.set_weights(weights)
        key = activation_name(layer.name)
        if key in activation_formats:
            value = CustomFloatQuantize(activation_formats[key].name, name=f"{layer.name}_sieve")(value)
        outputs[layer.name] = value
    final = model.outputs[0]._keras_history.layer.name  # noqa: SLF001
    return keras.Model(new_input, outputs[final], name=name)


def fold_batch_norm(model):
    """A copy of ``model`` with BatchNormalization folded into the weighted layer before it (module docstring)."""
    return _rebuild(model, fold=True, weight_formats={}, activation_formats={}, name=f"{model.name}_folded")


def deployed_model(folded, formats: Mapping[str, FloatFormat], name: str | None = None):
    """``folded`` with kernels rounded to their formats and activations rounded at run time."""
    unknown = sorted(set(formats) - {t for t in _tensor_names(folded)})
    if unknown:
        raise ModelError(f"formats name tensors the model does not have: {unknown}")
    weights = {k: v for k, v in formats.items() if k.endswith("/kernel")}
    activations = {k: v for k, v in formats.items() if k.endswith(":out")}
    return _rebuild(folded, fold=False, weight_formats=weights, activation_formats=activations,
                    name=name or f"{folded.name}_sieve")


def _tensor_names(model) -> list[str]:
    names = []
    for layer, producers in _graph(model):
        if isinstance(layer, WEIGHTED_LAYERS):
            names.append(kernel_name(layer.name))
            names.extend(activation_name(p) for p in producers)
    return list(dict.fromkeys(names))


class CachedEvaluator:
    """:class:`~mmnet.pipeline.sieve.search.Evaluator` for a folded Keras model on val frames.

    ``x`` are normalised model inputs, ``y`` integer labels. Every layer's float32 output on the
    whole of ``x`` is computed once and cached; an evaluation recomputes only what a reformatted
    tensor changes (module docstring).
    """

    def __init__(self, folded, x: np.ndarray, y: np.ndarray) -> None:
        # A private copy: evaluations assign rounded kernels to its layers, never to the caller's model.
        folded = _rebuild(folded, fold=False, weight_formats={}, activation_formats={}, name=f"{folded.name}_evaluated")
        self.graph = _graph(folded)
        self.output_layer = folded.outputs[0]._keras_history.layer.name  # noqa: SLF001
        self.y = np.asarray(y)
        self.cache: dict[str, np.ndarray] = {}
        self.kernels: dict[str, np.ndarray] = {}
        for layer, producers in self.graph:
            if not producers:
                self.cache[layer.name] = np.asarray(x, np.float32)
                continue
            self.cache[layer.name] = self._call(layer, [self.cache[p] for p in producers])
            if isinstance(layer, WEIGHTED_LAYERS):
                self.kernels[layer.name] = layer.get_weights()[0].astype(np.float32)
        self._current_kernel: dict[str, str] = dict.fromkeys(self.kernels, "float32")
        self._reference: tuple[dict[str, FloatFormat], dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        order = {layer.name: i for i, (layer, _) in enumerate(self.graph)}
        tensors = []
        for name in _tensor_names(folded):
            if name.endswith("/kernel"):
                layer = name[: -len("/kernel")]
                values = self.kernels[layer]
                tensors.append(TensorInfo(name, "weight", layer, int(values.size), exponent_histogram(values)))
            else:
                producer = name[: -len(":out")]
                values = self.cache[producer]
                tensors.append(TensorInfo(name, "activation", producer, int(values[0].size), exponent_histogram(values)))
        self.tensors = tuple(tensors)
        # where a tensor's change first shows: its layer (kernel) or its producer (activation)
        self._position = {t.name: order[t.layer] for t in tensors}

    @staticmethod
    def _call(layer, inputs: list[np.ndarray]) -> np.ndarray:
        arguments = [tf.constant(v) for v in inputs]
        return np.asarray(layer(arguments if len(arguments) > 1 else arguments[0], training=False), np.float32)

    def _set_kernel(self, layer, fmt: FloatFormat | None) -> None:
        tag = fmt.name if fmt is not None else "float32"
        if self._current_kernel[layer.name] != tag:
            kernel = self.kernels[layer.name] if fmt is None else quantize(self.kernels[layer.name], fmt)
            layer.weights[0].assign(kernel)
            self._current_kernel[layer.name] = tag

    def _first_change(self, formats: Mapping[str, FloatFormat], base: Mapping[str, FloatFormat]) -> int:
        """Index in the graph of the first layer whose output differs between ``formats`` and ``base``."""
        changed = {k for k in set(formats) | set(base) if formats.get(k) != base.get(k)}
        return min((self._position[k] for k in changed), default=len(self.graph))

    def _run(self, formats: Mapping[str, FloatFormat], *, keep_all: bool = False):
        """The output on val with ``formats``, recomputing from the base (float32, or the reference
        combination) whose layers stay unchanged longest; with ``keep_all``, every layer's raw and
        rounded values too (a new reference)."""
        base_formats, base_raw, base_rounded = {}, self.cache, self.cache
        if self._reference is not None and (self._first_change(formats, self._reference[0])
                                            > self._first_change(formats, {})):
            base_formats, base_raw, base_rounded = self._reference
        raw_all: dict[str, np.ndarray] = {}
        rounded: dict[str, np.ndarray] = {}
        dirty: set[str] = set()
        for layer, producers in self.graph:
            name = layer.name
            kernel_fmt = formats.get(kernel_name(name)) if name in self.kernels else None
            base_kernel_fmt = base_formats.get(kernel_name(name)) if name in self.kernels else None
            if producers and (kernel_fmt != base_kernel_fmt or any(p in dirty for p in producers)):
                if name in self.kernels:
                    self._set_kernel(layer, kernel_fmt)
                raw = self._call(layer, [rounded.get(p, base_rounded[p]) for p in producers])
                dirty.add(name)
            else:
                raw = base_raw[name]
            act_fmt = formats.get(activation_name(name))
            if name in dirty or act_fmt != base_formats.get(activation_name(name)):
                rounded[name] = quantize(raw, act_fmt) if act_fmt is not None else raw
                dirty.add(name)
            if keep_all:
                raw_all[name] = raw
                rounded.setdefault(name, base_rounded[name])
        output = rounded.get(self.output_layer, base_rounded[self.output_layer])
        return output, raw_all, rounded

    def outputs(self, formats: Mapping[str, FloatFormat]) -> np.ndarray:
        """The model's output on val with ``formats`` applied."""
        return self._run(formats)[0]

    def set_reference(self, formats: Mapping[str, FloatFormat]) -> float:
        """Val accuracy with ``formats``, whose layer values are kept as the base of later evaluations
        (a combination's repair evaluates it with one tensor changed at a time)."""
        output, raw, rounded = self._run(formats, keep_all=True)
        self._reference = (dict(formats), raw, rounded)
        return float(np.mean(np.argmax(output, axis=1) == self.y))

    def accuracy(self, formats: Mapping[str, FloatFormat]) -> float:
        return float(np.mean(np.argmax(self.outputs(formats), axis=1) == self.y))
