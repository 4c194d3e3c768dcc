"""§3.4's flow for one data set: monolithic network, error file, threshold queue, selector trees,
dsNNs trained on the tree's partition and searched by §3.5.7's heuristic, the Pareto front.

Everything is chosen on val; test is measured for the chosen points only as a report. A threshold
whose tree leaves a part fewer than ``min_part_samples`` training inputs is skipped, logged and
counted (``DesignResult.skipped``) rather than trained on a handful of inputs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmnet.format.multi_dsnn import SelectorTree
from mmnet.pipeline.dsnn import networks
from mmnet.pipeline.dsnn.config import DsnnConfig
from mmnet.pipeline.dsnn.data import DesignData
from mmnet.pipeline.dsnn.partition import (
    ThresholdSet,
    error_file,
    export_selector,
    fit_selector,
    ideal_parts,
    route_batch,
    threshold_queue,
)
from mmnet.pipeline.dsnn.systems import Candidate, SystemPoint, enumerate_systems, evaluate_system, pareto_front, pick
from mmnet.pipeline.dsnn.topology import Trial, accuracy_search, energy_search

__all__ = ["FC_BASELINES", "Monolithic", "ThresholdDesign", "DesignResult", "design", "train_monolithic"]

logger = logging.getLogger(__name__)

# The monolithic FC baselines' hidden layers (the CNN case's head is LeNet-5's 120 -> 84).
FC_BASELINES = {"digits": (128, 64), "wine": (64, 32), "breast_cancer": (64, 32)}
CNN_HEAD = (120, 84)


@dataclass(frozen=True)
class Monolithic:
    model: Any
    hidden: tuple[int, ...]
    macs: int  # the whole network
    head_macs: int  # the part a multi-dsNN replaces (the whole network in the FC case)
    params: int
    accuracy: dict[str, float]
    features: dict[str, np.ndarray]  # the selector's and dsNNs' input per split
    preprocessor: Any | None  # the CNN case's convolutional part


@dataclass
class ThresholdDesign:
    thresholds: ThresholdSet
    selector: SelectorTree
    routes: dict[str, np.ndarray]
    heuristic: str
    trials: dict[str, list[Trial]]
    points: list[SystemPoint]  # on val
    ideal_agreement: float  # share of train inputs the tree puts in their ideal part


@dataclass
class DesignResult:
    data: str
    case: str
    config: DsnnConfig
    monolithic: Monolithic
    designs: list[ThresholdDesign]
    models: dict[tuple[str, str, tuple[int, ...]], Any]  # (threshold, part, hidden) -> Keras dsNN
    labels: dict[str, np.ndarray]  # per split
    skipped: Counter = field(default_factory=Counter)
    trainings: int = 0
    seconds: float = 0.0

    def points(self, ways: int | None = None) -> list[SystemPoint]:
        return [p for d in self.designs for p in d.points if ways is None or p.ways == ways]

    def design_of(self, point: SystemPoint) -> ThresholdDesign:
        return next(d for d in self.designs if d.thresholds.name == point.threshold)

    def on_test(self, point: SystemPoint) -> SystemPoint:
        d = self.design_of(point)
        return evaluate_system(point.candidates, d.routes["test"], self.labels["test"], "test",
                               shared_macs=self.monolithic.macs - self.monolithic.head_macs, threshold=point.threshold)

    def front(self, ways: int | None = None) -> list[SystemPoint]:
        return pareto_front(self.points(ways))

    def pick(self, normalised: float, ways: int | None = None) -> SystemPoint | None:
        return pick(self.points(ways), normalised * self.monolithic.accuracy["val"])


def train_monolithic(data: DesignData, config: DsnnConfig) -> Monolithic:
    if data.case == "fc":
        hidden = FC_BASELINES[data.name]
        n = data.inputs["train"].shape[1]
        trained = networks.train(networks.mlp(n, data.num_classes, hidden, name="monolithic"), data.inputs["train"],
                                 data.labels["train"], config, hidden=hidden, seed_offset=1000)
        model, preprocessor = trained.model, None
        features = dict(data.inputs)
        head_macs = trained.macs
    else:
        height, _, channels = data.inputs["train"].shape[1:]
        trained = networks.train(networks.lenet5(height, channels, data.num_classes), data.inputs["train"],
                                 data.labels["train"], config, hidden=CNN_HEAD, seed_offset=1000,
                                 epochs=max(1, config.epochs // 4))
        model = trained.model
        preprocessor = networks.preprocessor_of(model)
        features = {s: networks.predict(preprocessor, x) for s, x in data.inputs.items()}
        head_macs = sum(c.macs for c in networks.keras_model_costs(model).layers if c.kind == "dense")
    accuracy = {s: float(np.mean(np.argmax(networks.predict(model, x), axis=1) == data.labels[s]))
                for s, x in data.inputs.items()}
    return Monolithic(model, trained.hidden, trained.macs, int(head_macs), trained.params, accuracy, features,
                      preprocessor)


def design(data: DesignData, config: DsnnConfig, *, monolithic: Monolithic | None = None,
           thresholds: list[ThresholdSet] | None = None) -> DesignResult:
    """The whole §3.4 flow; ``thresholds`` restricts the queue (tests)."""
    started = time.perf_counter()
    mono = monolithic or train_monolithic(data, config)
    train_probabilities = networks.predict(mono.model, data.inputs["train"])
    errors = error_file(train_probabilities)
    queue = thresholds if thresholds is not None else threshold_queue(errors, config)
    result = DesignResult(data.name, data.case, config, mono, [], {}, dict(data.labels))
    features = {s: np.asarray(f, dtype=np.float32) for s, f in mono.features.items()}
    mono_val = np.argmax(networks.predict(mono.model, data.inputs["val"]), axis=1) == data.labels["val"]
    for entry in queue:
        outcome = _design_threshold(entry, data, config, mono, errors, features, mono_val, result)
        if isinstance(outcome, str):
            result.skipped[outcome] += 1
        else:
            result.designs.append(outcome)
    result.seconds = time.perf_counter() - started
    return result


def _design_threshold(entry: ThresholdSet, data: DesignData, config: DsnnConfig, mono: Monolithic, errors: np.ndarray,
                      features: dict[str, np.ndarray], mono_val: np.ndarray,
                      result: DesignResult) -> ThresholdDesign | str:
    """One entry of the queue: its tree, its dsNNs and its systems; or why it was skipped."""
    n_features = features["train"].shape[1]
    shared = mono.macs - mono.head_macs
    parts_ideal = ideal_parts(errors, entry)
    tree = fit_selector(features["train"], parts_ideal, config)
    try:
        selector = export_selector(tree, n_features, entry.parts)
    except ValueError as e:  # a tree predicting one part only: nothing to specialise
        logger.info("threshold %s skipped: %s", entry.name, e)
        return "single_part_tree"
    routes = {s: route_batch(selector, f) for s, f in features.items()}
    if not np.array_equal(routes["train"], tree.predict(features["train"])):
        raise AssertionError("the exported selector routes otherwise than the fitted tree")
    counts = np.bincount(routes["train"], minlength=len(entry.parts))
    if counts.min() < config.min_part_samples:
        logger.info("threshold %s skipped: the tree routes %s training inputs to %s; expected >= %d each",
                    entry.name, counts.tolist(), list(entry.parts), config.min_part_samples)
        return "part_too_small"
    cache: dict[tuple[int, tuple[int, ...]], Candidate] = {}

    def candidate(part: int, hidden: tuple[int, ...]) -> Candidate:
        """The dsNN of ``hidden`` trained on the training inputs the tree routes to ``part``."""
        if (part, hidden) not in cache:
            mask = routes["train"] == part
            trained = networks.train(networks.mlp(n_features, data.num_classes, hidden), features["train"][mask],
                                     data.labels["train"][mask], config, hidden=hidden, seed_offset=len(hidden))
            result.trainings += 1
            result.models[(entry.name, entry.parts[part], hidden)] = trained.model
            predictions = {s: np.argmax(networks.predict(trained.model, features[s]), axis=1) for s in ("val", "test")}
            cache[(part, hidden)] = Candidate(entry.parts[part], hidden, trained.macs, trained.params, predictions)
        return cache[(part, hidden)]

    def part_accuracy(part: int, hidden: tuple[int, ...]) -> float:
        """Accuracy on the val inputs the tree routes to ``part`` (§3.4.3: each dsNN on its own data)."""
        mask = routes["val"] == part
        if not mask.any():
            return 0.0
        return float(np.mean(candidate(part, hidden).predictions["val"][mask] == data.labels["val"][mask]))

    # §3.5.7: dsNNs of half the baseline's widths decide between the two searches.
    half = tuple(max(1, w // 2) for w in mono.hidden)
    halves = tuple(candidate(k, half) for k in range(len(entry.parts)))
    half_point = evaluate_system(halves, routes["val"], data.labels["val"], "val", shared_macs=shared,
                                 threshold=entry.name)
    heuristic = "energy" if half_point.accuracy >= mono.accuracy["val"] else "accuracy"
    trials = {}
    for k, part in enumerate(entry.parts):
        mask = routes["val"] == k
        target = float(mono_val[mask].mean()) if mask.any() else 1.0
        if heuristic == "energy":
            trials[part] = energy_search(lambda h, k=k: part_accuracy(k, h), max_neurons=config.max_neurons,
                                         max_hidden_layers=config.max_hidden_layers,
                                         first_neurons=config.first_neurons, budget=config.search_budget)
        else:
            trials[part] = accuracy_search(lambda h, k=k: part_accuracy(k, h), mono.hidden, target=target,
                                           shrink=config.shrink, budget=config.search_budget)
    per_part = [[c for (p, _), c in cache.items() if p == k] for k in range(len(entry.parts))]
    points = enumerate_systems(per_part, routes["val"], data.labels["val"], "val", shared_macs=shared,
                               threshold=entry.name)
    logger.info("threshold %s: %s search, %d candidates, %d systems, tree depth %d", entry.name, heuristic,
                len(cache), len(points), selector.depth)
    return ThresholdDesign(entry, selector, routes, heuristic, trials, points,
                           ideal_agreement=float(np.mean(routes["train"] == parts_ideal)))
