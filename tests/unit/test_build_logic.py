"""Pure decision logic of the build: the parity gate, the fan-out order, distillation targets."""

import numpy as np
import pytest

from mmnet.pipeline.build import TrainTask, balanced_order, _relative_cost
from mmnet.pipeline.bundle import agreement
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.evaluate import parity_gate
from mmnet.pipeline.train import soft_labels, variant_seed
from mmnet.pipeline.zoo.spec import VariantSpec


def test_parity_gate_rejects_a_drop_beyond_the_margin():
    decision = parity_gate(0.950, 0.975, 1.0)  # 2.5 points below
    assert not decision.blessed
    assert "rejected" in decision.reason and "2.50 points below" in decision.reason


def test_parity_gate_blesses_within_and_at_the_margin():
    assert parity_gate(0.970, 0.975, 1.0).blessed  # 0.5 points
    assert parity_gate(0.965, 0.975, 1.0).blessed  # exactly 1.0 point
    assert parity_gate(0.99, 0.975, 1.0).blessed  # TFLite better than Keras


def test_parity_gate_without_reference_or_margin_still_records_numbers():
    no_margin = parity_gate(0.5, 0.9, None)
    assert no_margin.blessed and "no parity gate configured" in no_margin.reason and "50.00%" in no_margin.reason
    imported = parity_gate(0.8, None, 1.0)
    assert imported.blessed and "imported" in imported.reason


def _config():
    return config_from_mapping({"name": "t", "dataset": {"source": "builtin:digits"}})


def _deal(order, workers):
    return [order[w::workers] for w in range(workers)]


def test_balanced_order_deals_similar_costs_to_each_worker():
    config = _config()
    tasks = [TrainTask(VariantSpec("resnet", 1.0, 16), "master")] + [
        TrainTask(VariantSpec(f, a, r), "minion") for f in ("mobilenet_v1", "mobilenet_v2") for a in (0.25, 0.5) for r in (8, 12)
    ]
    order = balanced_order(tasks, 2, config)
    assert sorted(t.name for t in order) == sorted(t.name for t in tasks)
    loads = [sum(_relative_cost(t, config) for t in group) for group in _deal(order, 2)]
    naive = [sum(_relative_cost(t, config) for t in group) for group in _deal(tasks, 2)]
    costs = [_relative_cost(t, config) for t in tasks]
    # No deal can beat the larger of the heaviest task and an even split; greedy stays within one task of it.
    lower_bound = max(max(costs), sum(costs) / 2)
    assert max(loads) <= lower_bound + sorted(costs)[-2]
    assert max(loads) < max(naive)


def test_balanced_order_with_one_worker_keeps_order():
    config = _config()
    tasks = [TrainTask(VariantSpec("mobilenet_v1", 0.5, 8), "minion"), TrainTask(VariantSpec("resnet", 1.0, 16), "master")]
    assert balanced_order(tasks, 1, config) == tasks


def test_soft_labels_soften_and_stay_distributions():
    p = np.array([[0.9, 0.09, 0.01]], dtype=np.float32)
    soft = soft_labels(p, 4.0)
    assert soft.sum() == pytest.approx(1.0, abs=1e-6)
    assert soft[0, 0] < 0.9 and soft[0, 2] > 0.01  # flatter than the teacher
    np.testing.assert_allclose(soft_labels(p, 1.0), p / p.sum(), atol=1e-6)


def test_variant_seed_is_stable_and_distinct():
    assert variant_seed(0, "a") == variant_seed(0, "a")
    assert variant_seed(0, "a") != variant_seed(0, "b")
    assert variant_seed(0, "a") != variant_seed(1, "a")


def test_agreement_counts_matching_top1():
    a = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    b = np.array([[0.7, 0.3], [0.9, 0.1], [0.5, 0.5]])
    assert agreement(a, b) == pytest.approx(2 / 3)
