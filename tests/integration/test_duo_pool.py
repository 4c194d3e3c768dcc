"""Dynamic Duo pool evaluation (mmnet.pipeline.duo.pool) on the real Coral models and a few real photos.

Reads ``../shared/data`` beside the repository (or ``$MMNET_SHARED_DATA``) and skips when it is absent.
The photos load through configs/coral-imagenet.yaml (all 500 are decoded; 12 per split are run), so
the test takes about 10-15 s on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmnet.pipeline.duo.pairs import PER_CLASS_RULE, candidates_from_pool, exhaustive_search, heuristic_search
from mmnet.pipeline.duo.pool import TimingSettings, config_pool, load_pool
from mmnet.pipeline.zoo.costs import tflite_model_costs
from tests.support.shared_data import CORAL_CONFIG, shared_data

DATA = shared_data()
FRAMES = 12


@pytest.fixture(scope="module")
def pool():
    timing = TimingSettings(batches=(1, 8), passes=2, runs=5, min_runs=3, warmup=1, pass_seconds=0.1, preprocess_frames=3)
    return config_pool(CORAL_CONFIG, data_root=DATA, seed=3, limit=FRAMES, timing=timing)


def test_every_coral_model_is_evaluated_with_its_macs(pool):
    assert len(pool.models) == 4 and pool.num_classes == 1001
    for m in pool.models:
        assert m.macs == tflite_model_costs(m.path).macs > 0
        assert "operator list" in m.macs_source
    by_macs = [m.resolution for m in sorted(pool.models, key=lambda m: m.macs)]
    assert by_macs == [128, 160, 192, 224]  # V1 0.25/128 < 0.5/160 < 0.75/192 < V2 1.0/224


def test_labels_come_from_the_photo_names_through_the_seeded_split(pool):
    photos = sorted(p for p in (DATA / "imagenet-sample-a").iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    wnids = (DATA / "wnids.txt").read_text().split()
    split = pool.split
    assert split["seed"] == 3 and split["method"].startswith("random")
    assert not set(split["val_indices"]) & set(split["test_indices"])
    for name, labels in (("val", pool.val_labels), ("test", pool.test_labels)):
        expected = [wnids.index(photos[i].name.split("_")[0]) + 1 for i in split[f"{name}_indices"]]  # output 0: background
        assert labels.tolist() == expected


def test_outputs_are_probabilities_and_accuracy_is_theirs(pool):
    for m in pool.models:
        for probabilities, labels, accuracy in ((m.val_probabilities, pool.val_labels, m.val_accuracy),
                                                (m.test_probabilities, pool.test_labels, m.test_accuracy)):
            assert probabilities.shape == (FRAMES, 1001)
            # a uint8 softmax (steps of 1/256): 1001 rounded entries sum to 0.89-1.0 on these photos
            assert probabilities.min() >= 0 and probabilities.max() <= 1
            assert np.all(np.abs(probabilities.sum(axis=1) - 1.0) < 0.15)
            assert accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))
    master = pool.model("mobilenet_v2_1.0_224_quant")
    assert master.val_accuracy >= 0.5  # ~84-91% on these photos; 12 frames leave room for bad luck, not for garbage


def test_latency_has_passes_and_a_spread_and_coral_cannot_batch(pool):
    for m in pool.models:
        one = m.latency[1]
        assert one.supported and len(one.pass_ms) == 2 and one.runs >= 3
        low, high = one.spread_ms
        assert 0 < low <= one.per_frame_ms <= high
        assert m.latency_ms(1) == pytest.approx(one.per_frame_ms + m.preprocess_ms)
        # Coral's graphs end in a RESHAPE to [1, 1001]: LiteRT refuses a batch of 8
        eight = m.latency[8]
        assert not eight.supported and "resize the input to batch 8" in eight.note and m.latency_ms(8) is None
    fast, slow = pool.model("v1-0.25-128"), pool.model("mobilenet_v2_1.0_224_quant")
    assert fast.invoke_ms(1) < slow.invoke_ms(1)  # 13.6 M vs 300.8 M MACs


def test_the_pool_round_trips_and_feeds_the_pair_search(pool, tmp_path: Path):
    pool.save(tmp_path)
    again = load_pool(tmp_path)
    assert [m.id for m in again.models] == [m.id for m in pool.models]
    for a, b in zip(again.models, pool.models):
        np.testing.assert_array_equal(a.val_probabilities, b.val_probabilities.astype(np.float32))
        assert a.latency[1].pass_ms == b.latency[1].pass_ms and a.macs == b.macs
    candidates, labels = candidates_from_pool(again)
    needed = int(np.sum(pool.model("mobilenet_v2_1.0_224_quant").val_probabilities.argmax(1) == pool.val_labels))
    exhaustive = exhaustive_search(candidates, labels, needed, PER_CLASS_RULE)
    heuristic = heuristic_search(candidates, labels, needed, PER_CLASS_RULE)
    assert exhaustive.best.expected_ms[1] <= heuristic.best.expected_ms[1]
    assert exhaustive.best.val_accuracy * FRAMES >= needed - 1e-9
