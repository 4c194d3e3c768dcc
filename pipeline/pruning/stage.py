"""The pruning stage: one network pruned by one method (:class:`PruningConfig`), retrained, ready to export.

Double-shot pruning (dissertation lines 1711-1715): SNIP on the initialised network gives each
layer's budget ``k_l``; the dense network is trained; each layer keeps its ``k_l`` most important
connections by a metric of ``(w_init, w_final)``; the sparse network is retrained from the dense
weights with the masks fixed. No iterations. The baselines share the parts: SNIP keeps its own
global top-κ and trains from the initial weights, local random keeps ``k_l`` random connections per
layer and trains from the initial weights (lines 1699-1701), and ``channels`` removes whole output
channels of the trained dense network by summed importance and retrains the smaller network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mmnet.format.errors import DataError, ModelError
from mmnet.pipeline.pruning import scores
from mmnet.pipeline.pruning.channels import narrow_by_importance
from mmnet.pipeline.pruning.config import PruningConfig
from mmnet.pipeline.pruning.masked import (
    copy_model,
    kernels,
    retrain_with_masks,
    snip_gradients,
    train,
)

__all__ = ["PrunedModel", "snip_layer_masks", "train_dense", "prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrunedModel:
    """A retrained pruned network and what was removed."""

    model: object  # a plain tf_keras model (wrappers stripped)
    label: str
    sparsity: float  # fraction of prunable kernel weights that are zero (channels: removed)
    layer_sparsity: tuple[float, ...]  # per prunable layer of the original network


def _check_data(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"training data has {len(x)} inputs and {len(y)} labels; expected as many, at least 1")


def snip_layer_masks(initial, x: np.ndarray, y: np.ndarray, config: PruningConfig) -> list[np.ndarray]:
    """SNIP's masks of the initialised network from one minibatch of ``config.snip_batch`` training samples."""
    _check_data(x, y)
    rng = np.random.default_rng(config.seed)
    batch = np.sort(rng.choice(len(x), size=min(config.snip_batch, len(x)), replace=False))
    sensitivities = scores.connection_sensitivity(snip_gradients(initial, x[batch], y[batch]), kernels(initial))
    return scores.snip_masks(sensitivities, config.sparsity)


def train_dense(initial, x: np.ndarray, y: np.ndarray, config: PruningConfig):
    """A trained copy of ``initial`` (the first shot's dense training, same recipe as every retraining)."""
    _check_data(x, y)
    dense = copy_model(initial)
    train(dense, x, y, epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
          seed=config.seed)
    return dense


def _masked_result(model, masks, label: str) -> PrunedModel:
    layer_sparsity = tuple(1.0 - float(np.count_nonzero(m)) / m.size for m in masks)
    return PrunedModel(model, label, scores.sparsity_of(masks), layer_sparsity)


def prune(config: PruningConfig, initial, x: np.ndarray, y: np.ndarray, *, dense=None) -> PrunedModel:
    """``initial`` (untrained, not modified) pruned by ``config.method`` and retrained on ``(x, y)``.

    ``dense`` is the trained dense network grown from ``initial`` (:func:`train_dense`), needed by
    double_shot and channels; pass it to share one dense training between several prunings.
    """
    if not isinstance(config, PruningConfig):
        raise ModelError(f"config must be a PruningConfig, got {config!r}")
    _check_data(x, y)
    fit = {"epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
           "seed": config.seed}
    if config.method in ("double_shot", "channels") and dense is None:
        dense = train_dense(initial, x, y, config)

    if config.method == "channels":
        narrow = narrow_by_importance(config.metric, config.channel_keep, initial, dense)
        train(narrow, x, y, **fit)
        before = [k.size for k in kernels(dense)]
        after = [k.size for k in kernels(narrow)]
        layer_sparsity = tuple(1.0 - a / b for a, b in zip(after, before))
        return PrunedModel(narrow, config.label, 1.0 - sum(after) / sum(before), layer_sparsity)

    snip = snip_layer_masks(initial, x, y, config)
    if config.method == "snip":
        masks = snip
        start = initial
    elif config.method == "local_random":
        masks = scores.random_layer_masks([m.shape for m in snip], scores.kept_counts(snip), config.seed)
        start = initial
    else:  # double_shot
        importance = [scores.importance(config.metric, w_i, w_f) for w_i, w_f in zip(kernels(initial), kernels(dense))]
        masks = scores.layer_masks(importance, scores.kept_counts(snip))
        start = dense
    log.info("%s at sparsity %.3f: layer budgets %s", config.label, config.sparsity, scores.kept_counts(masks))
    return _masked_result(retrain_with_masks(start, masks, x, y, **fit), masks, config.label)
