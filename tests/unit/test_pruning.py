"""Pruning's decisions on hand-made arrays: SNIP sensitivity, layer budgets, the five metrics, masks, config.

The TensorFlow side (fixed-mask retraining, channel pruning) is tested in tests/integration/test_pruning.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.pruning import scores
from mmnet.pipeline.pruning.config import PruningConfig

W_INIT = np.array([0.5, -0.2, 0.1, -0.4])
W_FINAL = np.array([0.6, 0.3, -0.05, -0.1])


@pytest.mark.parametrize(
    "metric, expected",
    [
        # |w_f|
        ("magnitude", [0.6, 0.3, 0.05, 0.1]),
        # |w_f - w_i|: 0.1, 0.5 (sign change), 0.15, 0.3
        ("movement", [0.1, 0.5, 0.15, 0.3]),
        # |w_f| - |w_i|: 0.1, 0.1, -0.05, -0.3
        ("magnitude_increase", [0.1, 0.1, -0.05, -0.3]),
        # |w_f| * |w_f - w_i|: 0.06, 0.15, 0.0075, 0.03
        ("weighted_movement", [0.06, 0.15, 0.0075, 0.03]),
        # |w_f| * (|w_f| - |w_i|): 0.06, 0.03, -0.0025, -0.03
        ("weighted_magnitude_increase", [0.06, 0.03, -0.0025, -0.03]),
    ],
)
def test_importance_metrics_by_hand(metric, expected):
    np.testing.assert_allclose(scores.importance(metric, W_INIT, W_FINAL), expected, atol=1e-12)


def test_metrics_rank_the_sign_change_differently():
    # Weight 1 flips sign (-0.2 -> 0.3): movement keeps it first, magnitude_increase ties it with weight 0.
    keep_one = {m: int(np.argmax(scores.importance(m, W_INIT, W_FINAL))) for m in scores.IMPORTANCE_METRICS}
    assert keep_one == {"magnitude": 0, "movement": 1, "magnitude_increase": 0, "weighted_movement": 1,
                        "weighted_magnitude_increase": 0}


def test_importance_rejects_unknown_metric_and_shape_mismatch():
    with pytest.raises(ConfigError, match=r"pruning.metric is 'snr'; expected one of \['magnitude'"):
        scores.importance("snr", W_INIT, W_FINAL)
    with pytest.raises(ConfigError, match=r"initial weights have shape \(4,\), final ones \(3,\)"):
        scores.importance("magnitude", W_INIT, W_FINAL[:3])


def test_connection_sensitivity_is_normalised_abs_g_times_w():
    grads = [np.array([[1.0, -2.0]]), np.array([0.5, 0.0, -4.0])]
    weights = [np.array([[0.5, 0.5]]), np.array([2.0, 3.0, 0.25])]
    # |g w| = [0.5, 1.0] and [1.0, 0.0, 1.0]; total 3.5
    s = scores.connection_sensitivity(grads, weights)
    np.testing.assert_allclose(s[0], [[0.5 / 3.5, 1.0 / 3.5]])
    np.testing.assert_allclose(s[1], [1.0 / 3.5, 0.0, 1.0 / 3.5])
    assert sum(float(x.sum()) for x in s) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="expected a positive finite sum"):
        scores.connection_sensitivity([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ConfigError, match=r"a gradient has shape \(2,\) and its weights \(3,\)"):
        scores.connection_sensitivity([np.zeros(2)], [np.ones(3)])


def test_snip_keeps_the_global_top_k_and_gives_layer_budgets():
    s = [np.array([0.30, 0.05]), np.array([[0.20, 0.10], [0.15, 0.20]])]
    # 6 connections, sparsity 0.5 -> keep 3: 0.30 (layer 0), then 0.20 and 0.20 (layer 1; ties by position)
    masks = scores.snip_masks(s, 0.5)
    np.testing.assert_array_equal(masks[0], [True, False])
    np.testing.assert_array_equal(masks[1], [[True, False], [False, True]])
    assert scores.kept_counts(masks) == [1, 2]
    assert scores.sparsity_of(masks) == pytest.approx(0.5)
    # keep round(0.1 * 6) = 1 connection
    assert scores.kept_counts(scores.snip_masks(s, 0.9)) == [1, 0]
    with pytest.raises(ConfigError, match=r"pruning.sparsity is 1.0; expected a finite number in \[0, 1\)"):
        scores.snip_masks(s, 1.0)


def test_layer_masks_keep_each_layers_budget_by_score():
    importance = [np.array([0.1, 0.9, 0.5]), np.array([[3.0, 1.0], [2.0, 2.0]])]
    masks = scores.layer_masks(importance, [2, 1])
    np.testing.assert_array_equal(masks[0], [False, True, True])
    np.testing.assert_array_equal(masks[1], [[True, False], [False, False]])
    # ties: the earlier position wins
    np.testing.assert_array_equal(scores.top_k_mask(np.array([1.0, 1.0, 1.0]), 2), [True, True, False])
    with pytest.raises(ConfigError, match="cannot keep 4 of 3 connections"):
        scores.top_k_mask(np.zeros(3), 4)
    with pytest.raises(ConfigError, match="got 2 score arrays and 1 layer budgets"):
        scores.layer_masks(importance, [1])


def test_random_layer_masks_keep_the_budgets_and_follow_the_seed():
    shapes, counts = [(4, 5), (10,)], [3, 7]
    first = scores.random_layer_masks(shapes, counts, seed=1)
    assert scores.kept_counts(first) == counts
    assert [m.shape for m in first] == shapes
    again, other = scores.random_layer_masks(shapes, counts, seed=1), scores.random_layer_masks(shapes, counts, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_channel_scores_sum_each_output_channel():
    kernel_scores = np.arange(12, dtype=float).reshape(2, 2, 3)  # 3 output channels
    # channel c sums entries c, c+3, c+6, c+9
    np.testing.assert_allclose(scores.channel_scores(kernel_scores), [18.0, 22.0, 26.0])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("method", "lottery", r"pruning.method is 'lottery'; expected one of \['snip', 'local_random'"),
        ("sparsity", 1.0, r"pruning.sparsity is 1.0; expected a finite number in \[0, 1\)"),
        ("sparsity", -0.1, r"pruning.sparsity is -0.1"),
        ("metric", "gradient", r"pruning.metric is 'gradient'; expected one of \['magnitude'"),
        ("channel_keep", 0.0, r"pruning.channel_keep is 0.0; expected a finite number in \(0, 1\]"),
        ("snip_batch", 0, r"pruning.snip_batch is 0; expected an int in \[1, 65536\]"),
        ("epochs", 2.5, r"pruning.epochs is 2.5"),
        ("learning_rate", 0, r"pruning.learning_rate is 0"),
        ("seed", -1, r"pruning.seed is -1"),
    ],
)
def test_config_rejects_bad_fields(field, value, message):
    with pytest.raises(ConfigError, match=message):
        PruningConfig(**{field: value})


def test_config_defaults_and_labels():
    config = PruningConfig()
    assert (config.method, config.metric, config.sparsity) == ("double_shot", "weighted_movement", 0.9)
    assert config.label == "double_shot:weighted_movement"
    assert PruningConfig(method="snip").label == "snip"
    assert PruningConfig(method="channels", metric="magnitude").label == "channels:magnitude"
    with pytest.raises(AttributeError):
        config.sparsity = 0.5  # type: ignore[misc]
