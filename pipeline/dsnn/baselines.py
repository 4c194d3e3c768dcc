"""§3.5.4's ensembles under the monolithic network's MAC budget, on the same features as the dsNNs.

- **Energy-conscious boosting**: SAMME (multi-class AdaBoost, Zhu et al.) over small Keras MLPs
  trained with sample weights; the number of learners is what the budget allows for the learner's
  size (capped); every prefix of the ensemble is a point (MACs: learners x learner MACs).
- **Energy-conscious mixture of experts**: a soft softmax gate over E small MLP experts, trained
  end to end; every expert runs on every input (MACs: gate + E x expert), sized to fit the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmnet.pipeline._tf import keras
from mmnet.pipeline.dsnn import networks
from mmnet.pipeline.dsnn.config import DsnnConfig
from mmnet.pipeline.zoo.costs import keras_model_costs

__all__ = ["BaselinePoint", "samme", "mixture_of_experts"]


@dataclass(frozen=True)
class BaselinePoint:
    method: str
    detail: str
    macs: int
    accuracy: dict[str, float]  # val, test


def _accuracy(answers: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(answers == labels))


def samme(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], num_classes: int, *, hidden: tuple[int, ...],
          budget_macs: int, config: DsnnConfig, max_learners: int = 8) -> list[BaselinePoint]:
    """SAMME with MLPs of ``hidden``; as many learners as fit in ``budget_macs`` (at most ``max_learners``)."""
    n_features = features["train"].shape[1]
    learner_macs = keras_model_costs(networks.mlp(n_features, num_classes, hidden)).macs
    learners = min(max_learners, budget_macs // learner_macs)
    x, y = features["train"], labels["train"]
    weights = np.full(len(y), 1.0 / len(y))
    votes = {s: np.zeros((len(labels[s]), num_classes)) for s in ("val", "test")}
    points = []
    for m in range(learners):
        trained = networks.train(networks.mlp(n_features, num_classes, hidden), x, y, config, hidden=hidden,
                                 sample_weight=weights * len(y), seed_offset=100 + m)
        wrong = np.argmax(networks.predict(trained.model, x), axis=1) != y
        error = float(np.clip(np.sum(weights * wrong) / np.sum(weights), 1e-10, None))
        if error >= 1.0 - 1.0 / num_classes:  # no better than chance: SAMME stops
            break
        alpha = math.log((1.0 - error) / error) + math.log(num_classes - 1)
        weights = weights * np.exp(alpha * wrong)
        weights /= weights.sum()
        for s in votes:
            votes[s][np.arange(len(labels[s])), np.argmax(networks.predict(trained.model, features[s]), axis=1)] += alpha
        points.append(BaselinePoint("boosting", f"SAMME {m + 1} x {list(hidden)}", (m + 1) * learner_macs,
                                    {s: _accuracy(np.argmax(v, axis=1), labels[s]) for s, v in votes.items()}))
    return points


def _moe_model(n_features: int, num_classes: int, experts: int, hidden: tuple[int, ...]):
    inputs = keras.Input((n_features,), name="features")
    gate = keras.layers.Dense(experts, activation="softmax", name="gate")(inputs)
    outputs = []
    for e in range(experts):
        h = inputs
        for i, width in enumerate(hidden):
            h = keras.layers.Dense(width, activation="relu", name=f"expert{e}_hidden{i + 1}")(h)
        outputs.append(keras.layers.Dense(num_classes, activation="softmax", name=f"expert{e}_out")(h))
    stacked = keras.layers.Concatenate(axis=1)([keras.layers.Reshape((1, num_classes))(o) for o in outputs])
    weighted = keras.layers.Dot(axes=(1, 1), name="mixture")([gate, stacked])  # (N, E) . (N, E, K) -> (N, K)
    return keras.Model(inputs, weighted, name="moe")


def mixture_of_experts(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], num_classes: int, *,
                       experts: int, hidden: tuple[int, ...], config: DsnnConfig) -> BaselinePoint:
    n_features = features["train"].shape[1]
    trained = networks.train(_moe_model(n_features, num_classes, experts, hidden), features["train"], labels["train"],
                             config, hidden=hidden, seed_offset=200 + experts)
    accuracy = {s: _accuracy(np.argmax(networks.predict(trained.model, features[s]), axis=1), labels[s])
                for s in ("val", "test")}
    return BaselinePoint("moe", f"soft MoE {experts} x {list(hidden)}", trained.macs, accuracy)
