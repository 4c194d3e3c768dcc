"""Running a bundle's multi-dsNN (dissertation ch. 3): features, the selector's route, one dsNN.

Per frame: the frame is normalised with the bundle's preprocessing; its features are that frame
flattened (FC case) or the shared preprocessor's output (CNN case: the monolithic CNN's
convolutional part, on LiteRT); :func:`route` walks the selector tree on them (pure, no I/O) and
says which leaf and which part; exactly that part's dsNN runs (LiteRT) and answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import Bundle
from mmnet.format.errors import BundleError, DataError, ModelError
from mmnet.format.multi_dsnn import LEAF, MultiDsnnSystem, SelectorTree
from mmnet.runtime.interpreter import load_interpreter
from mmnet.runtime.preprocessing import preprocess

__all__ = ["Route", "route", "DsnnAnswer", "VectorModel", "MultiDsnnRunner"]

ROUTED = "routed"  # the only reason code: a tree always reaches a leaf


@dataclass(frozen=True)
class Route:
    """Where the selector sent an input and why: the leaf reached, its part, the path's length."""

    leaf: int
    part_index: int
    part: str
    depth: int
    reason: str = ROUTED

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "leaf": self.leaf, "part": self.part, "part_index": self.part_index,
                "depth": self.depth}


def route(tree: SelectorTree, features: np.ndarray) -> Route:
    """Walk ``tree`` on one input's ``features`` (float32, ``tree.n_features`` of them).

    A node goes left when ``float64(float32 feature) <= float64 threshold``: scikit-learn's rule,
    and the Java core's. DataError for the wrong count, dtype or a non-finite feature (a NaN
    compares false everywhere and would silently route right).
    """
    x = np.asarray(features)
    if x.dtype != np.float32 or x.ndim != 1 or x.shape[0] != tree.n_features:
        raise DataError(f"selector features are {x.dtype} {x.shape}; expected float32 ({tree.n_features},)")
    if not np.isfinite(x).all():
        raise DataError(f"selector features hold {int((~np.isfinite(x)).sum())} non-finite values; expected finite "
                        "float32 features")
    node, depth = 0, 0
    feature, threshold, left, right = tree.feature, tree.threshold, tree.left, tree.right
    while feature[node] != LEAF:
        # float(): the float32 value widened exactly to a Python float (float64); only the path's features are read.
        node = left[node] if float(x[feature[node]]) <= threshold[node] else right[node]
        depth += 1
    part = tree.part[node]
    return Route(leaf=node, part_index=part, part=tree.parts[part], depth=depth)


class VectorModel:
    """A float32 TFLite network with one input and one output of fixed shapes (batch 1)."""

    def __init__(self, path: Path, *, num_threads: int = 1, use_xnnpack: bool = True) -> None:
        self.path = Path(path)
        self._interpreter = load_interpreter(self.path, num_threads=num_threads, use_xnnpack=use_xnnpack)
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"model file {self.path} has {len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1")
        for role, detail in (("input", inputs[0]), ("output", outputs[0])):
            if np.dtype(detail["dtype"]) != np.float32 or int(detail["shape"][0]) != 1:
                raise ModelError(f"model file {self.path} has {role} {np.dtype(detail['dtype'])} {list(detail['shape'])}; "
                                 "expected float32 with batch 1")
        self.input_shape = tuple(int(v) for v in inputs[0]["shape"])
        self.output_shape = tuple(int(v) for v in outputs[0]["shape"])
        self._input_index, self._output_index = inputs[0]["index"], outputs[0]["index"]

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """The output for one input already shaped ``input_shape`` (float32)."""
        self._interpreter.set_tensor(self._input_index, x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)


@dataclass(frozen=True)
class DsnnAnswer:
    """One frame's answer: the class, the dsNN's scores, the route, and the stages' times (ms)."""

    answer: int
    scores: np.ndarray
    route: Route
    features_ms: float
    select_ms: float
    dsnn_ms: float


class MultiDsnnRunner:
    """The multi-dsNN of a verified bundle on LiteRT: ``classify(frame)`` runs one dsNN per frame."""

    def __init__(self, bundle: Bundle, *, num_threads: int = 1, use_xnnpack: bool = True) -> None:
        if bundle.multi_dsnn is None:
            raise BundleError(f"bundle {bundle.path} has no multi-dsNN system (no $.multi_dsnn in its manifest)")
        self.bundle = bundle
        self.system: MultiDsnnSystem = bundle.multi_dsnn
        self.tree = self.system.selector
        spec = bundle.preprocessing
        self._resolution = spec.frame_shape[0]
        self.preprocessor = None
        if self.system.preprocessor_path is not None:
            self.preprocessor = VectorModel(self.system.preprocessor_path, num_threads=num_threads,
                                            use_xnnpack=use_xnnpack)
            expected = (1, *spec.frame_shape)
            if self.preprocessor.input_shape != expected or self.preprocessor.output_shape != (1, self.tree.n_features):
                raise BundleError(f"preprocessor {self.preprocessor.path} maps {self.preprocessor.input_shape} to "
                                  f"{self.preprocessor.output_shape}; expected {expected} to (1, {self.tree.n_features})")
        elif int(np.prod(spec.frame_shape)) != self.tree.n_features:
            raise BundleError(f"the selector reads {self.tree.n_features} features; a flattened frame "
                              f"{spec.frame_shape} has {int(np.prod(spec.frame_shape))}")
        self.dsnns = {}
        for part in self.tree.parts:
            model = VectorModel(self.system.dsnn_paths[part], num_threads=num_threads, use_xnnpack=use_xnnpack)
            if model.input_shape != (1, self.tree.n_features) or model.output_shape != (1, bundle.num_classes):
                raise BundleError(f"dsNN {part!r} ({model.path}) maps {model.input_shape} to {model.output_shape}; "
                                  f"expected (1, {self.tree.n_features}) to (1, {bundle.num_classes})")
            self.dsnns[part] = model

    def features(self, frame: np.ndarray) -> np.ndarray:
        """The selector's and the dsNNs' input for one frame: float32 ``(n_features,)``."""
        x = preprocess(frame[None], self.bundle.preprocessing, self._resolution).astype(np.float32, copy=False)
        if self.preprocessor is None:
            return x.reshape(-1)
        return self.preprocessor.invoke(np.ascontiguousarray(x)).reshape(-1)

    def classify(self, frame: np.ndarray) -> DsnnAnswer:
        start = time.perf_counter()
        features = self.features(frame)
        selected = time.perf_counter()
        where = route(self.tree, features)
        routed = time.perf_counter()
        scores = self.dsnns[where.part].invoke(features[None])[0]
        done = time.perf_counter()
        return DsnnAnswer(int(np.argmax(scores)), scores, where, 1e3 * (selected - start), 1e3 * (routed - selected),
                          1e3 * (done - routed))

    def replay(self, frames: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
        """Classify every frame; the summary ``mmnet run`` prints and writes for a multi-dsNN bundle."""
        answers = [self.classify(frame) for frame in frames]
        per_part = {part: sum(a.route.part == part for a in answers) for part in self.tree.parts}
        summary: dict[str, Any] = {
            "system": "multi_dsnn",
            "case": self.system.case,
            "frames": len(answers),
            "frames_lost": 0,
            "lost_by_cause": {},
            "routed": per_part,
            "mean_depth": float(np.mean([a.route.depth for a in answers])) if answers else 0.0,
            "mean_macs": _mean_macs(self.system.document, per_part, len(answers)),
            "ms": {stage: float(np.median([getattr(a, f"{stage}_ms") for a in answers])) if answers else 0.0
                   for stage in ("features", "select", "dsnn")},
        }
        if labels is not None and len(answers):
            correct = np.array([a.answer for a in answers]) == np.asarray(labels)
            summary["accuracy"] = float(correct.mean())
        summary["answers"] = [a.answer for a in answers]
        summary["routes"] = [a.route.to_json() for a in answers]
        return summary


def _mean_macs(doc: dict[str, Any], per_part: dict[str, int], frames: int) -> float:
    if not frames:
        return 0.0
    shared = doc["preprocessor"]["macs"] if doc["preprocessor"] else 0
    by_part = {d["part"]: d["macs"] for d in doc["dsnns"]}
    return shared + sum(by_part[p] * n for p, n in per_part.items()) / frames
