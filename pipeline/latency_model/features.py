"""The op parser: a .tflite file's ops as the regression sees them (:class:`LayerFeatures`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnet.format.checks import check_bool, check_choice, check_int, check_text
from mmnet.format.errors import ModelError
from mmnet.pipeline.latency_model.config import LATENCY_PRECISIONS
from mmnet.pipeline.zoo.costs import conv_macs, dense_macs, depthwise_macs
from mmnet.runtime.interpreter import load_interpreter

__all__ = ["INVOKE_OP", "FEATURE_NAMES", "LayerFeatures", "invoke_features", "tflite_layer_features"]

# Pseudo-op of the features that carry a precision's per-invoke overhead.
INVOKE_OP = "INVOKE"
FEATURE_NAMES = ("macs", "in_elements", "out_elements", "weights")


@dataclass(frozen=True)
class LayerFeatures:
    """One TFLite op as the regression sees it.

    Shapes drop the batch of 1: a 4-D NHWC tensor gives (H, W, C), a (1, C) vector (1, 1, C), any
    other shape (rows, 1, last dim). ``kernel`` is the filter size of (depthwise) convolutions, 1
    for every other op (pooling windows are not in the op list). ``stride`` of convolutions and
    pooling is inferred from the map sizes (the interpreter does not expose op options):
    ``round(in_h / out_h)``, at least 1; every other op has stride 1.
    ``constant`` marks an op whose inputs are all constants (a float16 model's weight DEQUANTIZE):
    the interpreter evaluates it once when the model is loaded.
    """

    op: str
    precision: str
    kernel: int
    stride: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    macs: int
    constant: bool = False

    def __post_init__(self) -> None:
        where = f"layer features of {self.op!r}"
        check_text(f"{where}: op", self.op, error=ModelError)
        check_choice(f"{where}: precision", self.precision, LATENCY_PRECISIONS, error=ModelError)
        for name in ("kernel", "stride"):
            check_int(f"{where}: {name}", getattr(self, name), low=1, error=ModelError)
        for name in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "macs"):
            check_int(f"{where}: {name}", getattr(self, name), low=0, error=ModelError)
        check_bool(f"{where}: constant", self.constant, error=ModelError)

    @property
    def in_elements(self) -> int:
        return self.in_h * self.in_w * self.in_c

    @property
    def out_elements(self) -> int:
        return self.out_h * self.out_w * self.out_c

    @property
    def weights(self) -> int:
        """Filter elements of a MAC-bearing op: its MACs per output position (eq. 5.1/5.2)."""
        return self.macs // (self.out_h * self.out_w) if self.macs else 0

    def vector(self) -> list[float]:
        """The regression's features, in the order of :data:`FEATURE_NAMES`.

        Kernel, stride and channel counts enter through these sizes (as in Neurosurgeon): MACs for
        the arithmetic, input and output elements for the memory traffic, weights for the filter
        reads that dominate convolutions on 1x1 maps.
        """
        return [float(self.macs), float(self.in_elements), float(self.out_elements), float(self.weights)]


def _hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 4:
        return shape[0] * shape[1], shape[2], shape[3]
    if len(shape) == 2 and shape[0] == 1:
        return 1, 1, shape[1]
    if not shape:
        return 1, 1, 1
    return math.prod(shape[:-1]), 1, shape[-1]


def _conv(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    n, kh, kw, m = filter_shape  # [N, Kh, Kw, M]
    return max(kh, kw), round(conv_macs((kh, kw), m, n, out_h, out_w))


def _depthwise(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    _, kh, kw, c = filter_shape  # [1, Kh, Kw, M * multiplier]
    return max(kh, kw), round(depthwise_macs((kh, kw), c, out_h, out_w))


def _dense(filter_shape: tuple[int, ...], out_h: int, out_w: int) -> tuple[int, int]:
    n, m = filter_shape  # [N, M], applied to every output row
    return 1, out_h * out_w * dense_macs(m, n)


# (kernel, MACs) of the MAC-bearing ops from their filter and output map, as mmnet.pipeline.zoo.costs
# counts them; every other op has kernel 1 and 0 MACs.
_MAC_OPS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _dense}
# Ops sliding a window over a map: the only ones with a stride.
_WINDOW_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"})


def tflite_layer_features(path: str | Path) -> list[LayerFeatures]:
    """Features of every op of a .tflite file, in execution order.

    The op list is read without the XNNPACK delegate, so it is the model's own operators (with
    XNNPACK they collapse into one DELEGATE node). An op's precision is ``int8`` when its first
    non-constant input is int8/uint8, else ``float32`` (float16 constants feed float32 kernels).
    """
    path = Path(path)
    interpreter = load_interpreter(path, use_xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the public API has no op list
    produced = {out for op in ops for out in op["outputs"]}
    graph_inputs = {t["index"] for t in interpreter.get_input_details()}

    constant: dict[int, bool] = {}
    for op in ops:  # execution order: every input is settled before the op that reads it
        for index in op["inputs"]:
            if index >= 0 and index not in constant:
                constant[index] = index not in graph_inputs and index not in produced
        constant.update({out: all(constant[i] for i in op["inputs"] if i >= 0) for out in op["outputs"]})

    def shape(index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in tensors[index]["shape"])

    features = []
    for op in ops:
        inputs = [i for i in op["inputs"] if i >= 0]
        if not op["outputs"]:
            raise ModelError(f"{path}: op {op['index']} ({op['op_name']}) has no outputs; expected at least one")
        variable = [i for i in inputs if not constant[i]]
        main = (variable or inputs or op["outputs"])[0]  # an op without inputs is sized by its output
        in_hwc = _hwc(shape(main))
        out_hwc = _hwc(shape(op["outputs"][0]))
        kernel, macs = 1, 0
        if op["op_name"] in _MAC_OPS:
            filter_shape = shape(inputs[1]) if len(inputs) > 1 else ()
            try:
                kernel, macs = _MAC_OPS[op["op_name"]](filter_shape, out_hwc[0], out_hwc[1])
            except ValueError as e:  # a filter of unexpected rank
                raise ModelError(
                    f"{path}: op {op['index']} ({op['op_name']}) has filter shape {list(filter_shape)}; "
                    f"expected the TFLite layout ({e})"
                ) from e
        dtype = np.dtype(tensors[main]["dtype"])
        features.append(
            LayerFeatures(
                op=op["op_name"],
                precision="int8" if dtype in (np.int8, np.uint8) else "float32",
                kernel=kernel,
                stride=max(1, round(in_hwc[0] / out_hwc[0])) if op["op_name"] in _WINDOW_OPS else 1,
                in_h=in_hwc[0],
                in_w=in_hwc[1],
                in_c=in_hwc[2],
                out_h=out_hwc[0],
                out_w=out_hwc[1],
                out_c=out_hwc[2],
                macs=macs,
                constant=not variable,
            )
        )
    return features


def invoke_features(precision: str) -> LayerFeatures:
    """The pseudo-op :data:`INVOKE_OP` of ``precision``: what a timing of the per-invoke overhead is of."""
    return LayerFeatures(INVOKE_OP, precision, 1, 1, 0, 0, 0, 0, 0, 0, 0)
