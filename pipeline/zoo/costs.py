"""Computational cost of a model: the multiply-accumulates (MACs) of the dissertation's eq. 5.1-5.4.

A convolution with a KxK kernel, M input and N output feature maps and an HxW output map costs
K*K*M*N*H*W MACs; a depthwise convolution K*K*M*H*W. The width multiplier alpha scales M and N, the
resolution multiplier rho scales H and W (eq. 5.1-5.4). A dense layer costs M*N. Everything else
(batch normalisation, activations, adds, pooling, the squeeze-excite multiply, softmax) is counted
as 0 MACs: those are O(H*W*M) element-wise work, negligible next to the convolutions, and the
MobileNet mult-add counts the dissertation's tables quote leave them out too.

:func:`keras_model_costs` counts a Keras model of the zoo, :func:`tflite_model_costs` any .tflite
classifier (e.g. an imported minion or master) from its operator list; for the same network both
give the same MACs.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmnet.format.errors import ConfigError, ModelError
from mmnet.runtime.interpreter import load_interpreter

__all__ = [
    "conv_macs",
    "depthwise_macs",
    "dense_macs",
    "LayerCost",
    "ModelCosts",
    "keras_model_costs",
    "tflite_model_costs",
]

logger = logging.getLogger(__name__)


def _kernel_area(kernel: int | tuple[int, int]) -> int:
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if kh < 1 or kw < 1:
        raise ConfigError(f"kernel must be positive, got {kernel!r}")
    return kh * kw


def conv_macs(
    kernel: int | tuple[int, int],
    in_channels: int,
    out_channels: int,
    out_h: int,
    out_w: int,
    *,
    alpha: float = 1.0,
    rho: float = 1.0,
) -> float:
    """Eq. 5.1 / 5.3: K*K * (alpha*M) * (alpha*N) * (rho*H) * (rho*W) MACs of a convolution.

    ``kernel`` is K (or (Kh, Kw)), M = ``in_channels``, N = ``out_channels``, H x W the output map.
    """
    return _kernel_area(kernel) * (alpha * in_channels) * (alpha * out_channels) * (rho * out_h) * (rho * out_w)


def depthwise_macs(
    kernel: int | tuple[int, int],
    channels: int,
    out_h: int,
    out_w: int,
    *,
    alpha: float = 1.0,
    rho: float = 1.0,
) -> float:
    """Eq. 5.2 / 5.4: K*K * (alpha*M) * (rho*H) * (rho*W) MACs of a depthwise convolution.

    M = ``channels`` (input channels times the depth multiplier, i.e. the output channels).
    """
    return _kernel_area(kernel) * (alpha * channels) * (rho * out_h) * (rho * out_w)


def dense_macs(in_features: int, out_features: int) -> int:
    """M*N MACs of a fully connected layer with M inputs and N outputs (a 1x1 conv on a 1x1 map)."""
    return in_features * out_features


@dataclass(frozen=True)
class LayerCost:
    """Cost of one MAC-bearing layer (Keras layer or TFLite op)."""

    name: str
    kind: str  # "conv" | "depthwise" | "dense"
    kernel: tuple[int, int]
    in_channels: int
    out_channels: int
    out_h: int
    out_w: int
    macs: int
    params: int


@dataclass(frozen=True)
class ModelCosts:
    """Total parameters and MACs of a model (one input sample), with the per-layer breakdown."""

    params: int
    macs: int
    layers: tuple[LayerCost, ...]

    def to_json(self) -> dict[str, int]:
        return {"params": self.params, "macs": self.macs}


# ----------------------------------------------------------------------------------------- Keras

# Keras is imported on first use: the TFLite counter below runs without TensorFlow (pool evaluation,
# `mmnet configure`).
def _keras() -> Any:
    from mmnet.pipeline._tf import keras

    return keras


@functools.lru_cache(maxsize=1)
def _unsupported_keras() -> tuple[type, ...]:
    """Layers whose MACs the equations above do not describe; counting them as 0 would be wrong."""
    keras = _keras()
    return (
        keras.layers.Conv1D,
        keras.layers.Conv3D,
        keras.layers.SeparableConv1D,
        keras.layers.SeparableConv2D,
        keras.layers.DepthwiseConv1D,
        keras.layers.Conv2DTranspose,
        keras.layers.Wrapper,  # e.g. quantization wrappers: count the unwrapped model instead
    )


def _output_hwc(layer: Any) -> tuple[int, int, int]:
    try:
        shape = layer.output_shape
    except AttributeError as e:  # never called, or called more than once (shared layer)
        raise ModelError(f"layer {layer.name!r}: needs exactly one output shape to be costed ({e})") from e
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ModelError(f"layer {layer.name!r}: expected data_format channels_last, got {layer.data_format!r}")
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ModelError(f"layer {layer.name!r}: expected a fully defined (N, H, W, C) output, got {shape}")
    return shape[1], shape[2], shape[3]


def _conv_cost(layer: Any) -> LayerCost:
    if layer.groups != 1:
        raise ModelError(f"layer {layer.name!r}: grouped convolution (groups={layer.groups}) is not supported")
    h, w, n = _output_hwc(layer)
    m = layer.input_shape[-1]
    kernel = tuple(layer.kernel_size)
    macs = round(conv_macs(kernel, m, n, h, w))
    return LayerCost(layer.name, "conv", kernel, m, n, h, w, macs, layer.count_params())


def _depthwise_cost(layer: Any) -> LayerCost:
    h, w, c = _output_hwc(layer)
    kernel = tuple(layer.kernel_size)
    m = layer.input_shape[-1]
    macs = round(depthwise_macs(kernel, c, h, w))
    return LayerCost(layer.name, "depthwise", kernel, m, c, h, w, macs, layer.count_params())


def _dense_cost(layer: Any) -> LayerCost:
    shape = layer.output_shape
    if len(shape) != 2:
        raise ModelError(f"layer {layer.name!r}: expected a dense layer on (N, features) inputs, got output {shape}")
    m, n = layer.input_shape[-1], shape[-1]
    return LayerCost(layer.name, "dense", (1, 1), m, n, 1, 1, dense_macs(m, n), layer.count_params())


@functools.lru_cache(maxsize=1)
def _keras_costs() -> dict[type, Any]:
    """Exact types: a subclass (e.g. Conv2DTranspose) may compute something else."""
    keras = _keras()
    return {
        keras.layers.Conv2D: _conv_cost,
        keras.layers.DepthwiseConv2D: _depthwise_cost,
        keras.layers.Dense: _dense_cost,
    }


def _keras_layer_costs(model: Any) -> list[LayerCost]:
    costs: list[LayerCost] = []
    table = _keras_costs()
    for layer in model.layers:
        cost = table.get(type(layer))
        if cost is not None:
            costs.append(cost(layer))
        elif isinstance(layer, _keras().Model):
            costs.extend(_keras_layer_costs(layer))
        elif isinstance(layer, (*table, *_unsupported_keras())):
            raise ModelError(f"layer {layer.name!r}: MACs of {type(layer).__name__} layers are not modelled")
    return costs


def keras_model_costs(model: Any) -> ModelCosts:
    """Parameters and MACs (per input sample) of a built Keras model.

    Conv2D, DepthwiseConv2D and Dense layers (also inside nested models) are costed with eq.
    5.1-5.4 using each layer's actual output shape and channel counts, which already include alpha
    and rho (so alpha = rho = 1 here); every other layer costs 0 MACs. ``params`` is
    ``model.count_params()`` (including batch-norm statistics). Raises ModelError for layers whose
    cost the equations do not describe (separable, transposed, grouped or 1-D/3-D convolutions,
    wrapped layers) instead of silently counting them as free.
    """
    layers = tuple(_keras_layer_costs(model))
    return ModelCosts(params=int(model.count_params()), macs=sum(c.macs for c in layers), layers=layers)


# ---------------------------------------------------------------------------------------- TFLite

# Ops with MACs the equations do not model: a foreign model may contain them, so they are reported
# (the count is then a lower bound) rather than refused.
_UNMODELLED_TFLITE_OPS = frozenset({"TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE", "BATCH_MATMUL"})


@dataclass(frozen=True)
class _TfliteOp:
    """What costing one TFLite op needs; shapes as the interpreter reports them (batch first)."""

    name: str  # the op's output tensor
    where: str  # for error messages
    weights: tuple[int, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int

    def output_hw(self) -> tuple[int, int]:
        if len(self.out_shape) != 4:
            raise ModelError(f"{self.where}: expected a 4-D NHWC output, got shape {list(self.out_shape)}")
        return self.out_shape[1], self.out_shape[2]


def _tflite_conv(op: _TfliteOp) -> LayerCost:
    n, kh, kw, m = op.weights  # filter [N, Kh, Kw, M]
    h, w = op.output_hw()
    return LayerCost(op.name, "conv", (kh, kw), m, n, h, w, round(conv_macs((kh, kw), m, n, h, w)), op.params)


def _tflite_depthwise(op: _TfliteOp) -> LayerCost:
    _, kh, kw, c = op.weights  # filter [1, Kh, Kw, M * multiplier]
    h, w = op.output_hw()
    macs = round(depthwise_macs((kh, kw), c, h, w))
    return LayerCost(op.name, "depthwise", (kh, kw), op.in_shape[-1], c, h, w, macs, op.params)


def _tflite_dense(op: _TfliteOp) -> LayerCost:
    n, m = op.weights  # weights [N, M]
    rows = math.prod(op.out_shape[1:-1])  # positions per sample: 1 for (batch, features) outputs
    return LayerCost(op.name, "dense", (1, 1), m, n, 1, 1, rows * dense_macs(m, n), op.params)


_TFLITE_COSTS = {
    "CONV_2D": _tflite_conv,
    "DEPTHWISE_CONV_2D": _tflite_depthwise,
    "FULLY_CONNECTED": _tflite_dense,
}


def tflite_model_costs(path: str | Path) -> ModelCosts:
    """Parameters and MACs (per input sample) of a .tflite model, from its operator list.

    CONV_2D (filter [N, Kh, Kw, M]): Kh*Kw*M*N*H*W (eq. 5.1); DEPTHWISE_CONV_2D (filter
    [1, Kh, Kw, C*m]): Kh*Kw*C*m*H*W (eq. 5.2); FULLY_CONNECTED (weights [N, M]): M*N per output row.
    H x W is the op's output map. ``params`` counts the elements of the constant filter and bias
    tensors of those ops (a dequantised float16 constant counts too); batch norm is folded into
    them by the converter, so this is smaller than the Keras ``count_params()`` of the same model.
    Other ops cost 0 MACs; transposed/3-D convolutions and batch matmuls are not modelled and are
    logged as a warning (the MACs are then a lower bound).
    """
    path = Path(path)
    # Without the default delegate the op list is exactly the model's own operators.
    interpreter = load_interpreter(path, use_xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the public API has no op list
    produced_by = {out: op for op in ops for out in op["outputs"]}
    graph_inputs = {t["index"] for t in interpreter.get_input_details()}

    def is_constant(index: int) -> bool:
        if index in graph_inputs:
            return False
        producer = produced_by.get(index)
        if producer is None:
            return True
        return producer["op_name"] == "DEQUANTIZE" and all(is_constant(i) for i in producer["inputs"])

    def shape(index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in tensors[index]["shape"])

    def weight_params(op: dict) -> int:
        return sum(math.prod(shape(i)) for i in op["inputs"][1:3] if i >= 0 and is_constant(i))

    layers = []
    for op in ops:
        cost = _TFLITE_COSTS.get(op["op_name"])
        if cost is not None:
            operation = _TfliteOp(
                name=tensors[op["outputs"][0]]["name"],
                where=f"{path}: op {op['index']} ({op['op_name']})",
                weights=shape(op["inputs"][1]),
                in_shape=shape(op["inputs"][0]),
                out_shape=shape(op["outputs"][0]),
                params=weight_params(op),
            )
            layers.append(cost(operation))
    unmodelled = sorted({op["op_name"] for op in ops} & _UNMODELLED_TFLITE_OPS)
    if unmodelled:
        logger.warning("%s: MACs of %s ops are not counted; the total is a lower bound", path, ", ".join(unmodelled))
    layers_t = tuple(layers)
    return ModelCosts(params=sum(c.params for c in layers_t), macs=sum(c.macs for c in layers_t), layers=layers_t)
