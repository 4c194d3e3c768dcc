"""The decisions of pruning as pure numpy functions: SNIP sensitivities, layer budgets, importance, masks.

No TensorFlow here: :mod:`mmnet.pipeline.pruning.masked` computes gradients and trains; these
functions turn arrays into scores, per-layer budgets and masks, and are unit-tested on hand-made
arrays. Line numbers refer to the dissertation text ``/work/shared/papers/001_90353767d2a30357.txt``.

SNIP connection sensitivity (lines 1663-1669, eq. 7.2; Lee et al. 2019, eq. 6): a mask ``c`` over
the weights, ``L(c ⊙ w)``; at ``c = 1`` the derivative is ``∂L/∂c_j = g_j · w_j`` with
``g = ∂L/∂w`` on one minibatch, and the sensitivity is normalised over all ``m`` connections::

    s_j = |g_j · w_j| / Σ_k |g_k · w_k|

The top ``κ = round((1 - sparsity) · m)`` connections over the whole network are kept (line 1669).

Layer budgets (lines 1697-1699, 1713): the kept count of layer ``l`` is the number of its
connections in that global top-``κ``; the local random baseline and double-shot pruning keep exactly
that many per layer (``k_l``), so all three methods have the same per-layer and global sparsity.

Importance metrics of double-shot pruning (lines 1719-1734; Figure 7.6, whose equations did not
survive the text extraction). ``w_i`` is a weight at initialisation, ``w_f`` after training the dense
network; per layer the ``k_l`` connections with the highest score are kept (line 1713):

- ``magnitude``                    ``|w_f|``                          (line 1719: "formulated as |w_f|")
- ``movement``                     ``|w_f - w_i|``                    (Zhou et al. 2019 [194])
- ``magnitude_increase``           ``|w_f| - |w_i|``                  (Zhou et al. 2019 [194])
- ``weighted_movement``            ``|w_f| · |w_f - w_i|``
- ``weighted_magnitude_increase``  ``|w_f| · (|w_f| - |w_i|)``

The first three are the cited paper's definitions (line 1721). The last two are "hybrid metrics to
combine both distance from 0 and moving away from 0" (line 1734) inspired by movement pruning
(Sanh et al. 2020 [195], whose score accumulates ``-w · ∂L/∂w``, i.e. a weight times its movement):
here a movement score weighted by the final distance from 0, ``|w_f|``. That is our reading of the
missing figure, stated as such; with it, movement keeps weights that change sign more readily than
magnitude_increase does (line 1734), as the text says.

Ties (equal scores) are broken by position: the earlier flat index is kept, so masks are
deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmnet.format.checks import check_number, fail
from mmnet.format.errors import ConfigError

__all__ = [
    "IMPORTANCE_METRICS",
    "importance",
    "connection_sensitivity",
    "snip_masks",
    "kept_counts",
    "top_k_mask",
    "random_mask",
    "layer_masks",
    "random_layer_masks",
    "channel_scores",
    "sparsity_of",
]

IMPORTANCE_METRICS = (
    "magnitude",
    "movement",
    "magnitude_increase",
    "weighted_movement",
    "weighted_magnitude_increase",
)


def _pair(w_init: np.ndarray, w_final: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w_init = np.asarray(w_init, dtype=np.float64)
    w_final = np.asarray(w_final, dtype=np.float64)
    if w_init.shape != w_final.shape:
        raise ConfigError(f"initial weights have shape {w_init.shape}, final ones {w_final.shape}; expected equal shapes")
    return w_init, w_final


def importance(metric: str, w_init: np.ndarray, w_final: np.ndarray) -> np.ndarray:
    """The score of every connection of one layer under ``metric`` (higher is kept); see the module doc."""
    w_init, w_final = _pair(w_init, w_final)
    final = np.abs(w_final)
    if metric == "magnitude":
        return final
    if metric == "movement":
        return np.abs(w_final - w_init)
    if metric == "magnitude_increase":
        return final - np.abs(w_init)
    if metric == "weighted_movement":
        return final * np.abs(w_final - w_init)
    if metric == "weighted_magnitude_increase":
        return final * (final - np.abs(w_init))
    raise fail("pruning.metric", metric, f"one of {list(IMPORTANCE_METRICS)!r}")


def connection_sensitivity(gradients: Sequence[np.ndarray], weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """SNIP's normalised sensitivities ``|g ⊙ w| / Σ|g ⊙ w|`` per layer (they sum to 1 over all layers)."""
    if len(gradients) != len(weights) or not weights:
        raise ConfigError(f"got {len(gradients)} gradient and {len(weights)} weight arrays; expected as many, at least 1")
    raw = []
    for g, w in zip(gradients, weights):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            raise ConfigError(f"a gradient has shape {g.shape} and its weights {w.shape}; expected equal shapes")
        raw.append(np.abs(g * w))
    total = sum(float(r.sum()) for r in raw)
    if not np.isfinite(total) or total <= 0:
        raise ConfigError(f"the SNIP sensitivities sum to {total}; expected a positive finite sum (zero gradients?)")
    return [r / total for r in raw]


def _kept_total(sparsity: float, connections: int) -> int:
    check_number("pruning.sparsity", sparsity, low=0.0, high=1.0, high_open=True)
    return int(round((1.0 - sparsity) * connections))


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the ``k`` highest scores; among equal scores the lower index wins."""
    order = np.argsort(-scores.ravel(), kind="stable")
    return order[:k]


def snip_masks(sensitivities: Sequence[np.ndarray], sparsity: float) -> list[np.ndarray]:
    """SNIP: keep the global top-κ sensitivities, κ = round((1 - sparsity) · m); one bool mask per layer."""
    flat = np.concatenate([np.asarray(s, np.float64).ravel() for s in sensitivities])
    keep = np.zeros(flat.size, dtype=bool)
    keep[_top(flat, _kept_total(sparsity, flat.size))] = True
    masks, start = [], 0
    for s in sensitivities:
        size = np.asarray(s).size
        masks.append(keep[start : start + size].reshape(np.shape(s)))
        start += size
    return masks


def kept_counts(masks: Sequence[np.ndarray]) -> list[int]:
    """Connections kept per layer (the layer budgets ``k_l`` of the module doc)."""
    return [int(np.count_nonzero(m)) for m in masks]


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """A bool mask of ``scores``' shape keeping exactly its ``k`` highest scores."""
    scores = np.asarray(scores, np.float64)
    if not 0 <= k <= scores.size:
        raise ConfigError(f"cannot keep {k} of {scores.size} connections; expected 0 <= k <= {scores.size}")
    mask = np.zeros(scores.size, dtype=bool)
    mask[_top(scores, k)] = True
    return mask.reshape(scores.shape)


def random_mask(shape: tuple[int, ...], k: int, rng: np.random.Generator) -> np.ndarray:
    """A bool mask of ``shape`` keeping ``k`` connections chosen uniformly at random."""
    size = int(np.prod(shape))
    if not 0 <= k <= size:
        raise ConfigError(f"cannot keep {k} of {size} connections; expected 0 <= k <= {size}")
    mask = np.zeros(size, dtype=bool)
    mask[rng.choice(size, size=k, replace=False)] = True
    return mask.reshape(shape)


def layer_masks(scores: Sequence[np.ndarray], counts: Sequence[int]) -> list[np.ndarray]:
    """Per layer, the ``counts[l]`` connections with the highest ``scores[l]`` (double-shot's second shot)."""
    if len(scores) != len(counts):
        raise ConfigError(f"got {len(scores)} score arrays and {len(counts)} layer budgets; expected as many")
    return [top_k_mask(s, k) for s, k in zip(scores, counts)]


def random_layer_masks(shapes: Sequence[tuple[int, ...]], counts: Sequence[int], seed: int) -> list[np.ndarray]:
    """Local random pruning: per layer, ``counts[l]`` connections chosen at random (seeded)."""
    if len(shapes) != len(counts):
        raise ConfigError(f"got {len(shapes)} layer shapes and {len(counts)} layer budgets; expected as many")
    rng = np.random.default_rng(seed)
    return [random_mask(tuple(shape), k, rng) for shape, k in zip(shapes, counts)]


def channel_scores(scores: np.ndarray) -> np.ndarray:
    """One score per output channel (last axis of a Conv2D or Dense kernel): the sum of its connections'."""
    scores = np.asarray(scores, np.float64)
    return scores.reshape(-1, scores.shape[-1]).sum(axis=0)


def sparsity_of(masks: Sequence[np.ndarray]) -> float:
    """The fraction of connections the masks prune."""
    total = sum(np.asarray(m).size for m in masks)
    return 1.0 - sum(kept_counts(masks)) / total if total else 0.0
