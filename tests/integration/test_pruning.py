"""Pruning with real Keras/tfmot: masks stay fixed through retraining, every method keeps SNIP's
budgets, channel pruning copies the right weights, and a pruned model exports to a working TFLite.

Tiny models (LeNet-5 at half width on 8x8 digits) and one or two epochs keep this under a minute.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mmnet.format.errors import ModelError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.export import convert_keras_model
from mmnet.pipeline.pruning import scores
from mmnet.pipeline.pruning.channels import kept_channels, narrow_model
from mmnet.pipeline.pruning.config import PruningConfig
from mmnet.pipeline.pruning.masked import kernels, prunable_layers, retrain_with_masks
from mmnet.pipeline.pruning.stage import prune, snip_layer_masks, train_dense
from mmnet.pipeline.zoo.registry import build_model
from mmnet.pipeline.zoo.spec import VariantSpec
from mmnet.runtime.interpreter import TFLiteClassifier

SPEC = VariantSpec("lenet5", 0.5, 8)


@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:300, ..., None] / 16.0 - 0.5) / 0.5
    return x.astype(np.float32), digits.target[:300].astype(np.int64)


def _initial(seed: int = 0):
    keras.utils.set_random_seed(seed)
    return build_model(SPEC, channels=1, num_classes=10)


def _config(**fields) -> PruningConfig:
    return PruningConfig(**{"epochs": 1, "batch_size": 32, "snip_batch": 64, **fields})


@functools.cache
def _dense():
    """The initial network (seed 0) and its trained copy, shared by the tests (neither is modified)."""
    initial = _initial()
    return initial, train_dense(initial, *_data(), _config())


def test_masked_weights_stay_zero_through_retraining_and_the_rest_train():
    x, y = _data()
    initial = _initial()
    rng = np.random.default_rng(0)
    masks = [rng.random(k.shape) < 0.3 for k in kernels(initial)]
    pruned = retrain_with_masks(initial, masks, x, y, epochs=2, batch_size=32, learning_rate=1e-2, seed=0)
    assert not any(isinstance(layer, keras.layers.Wrapper) for layer in pruned.layers)  # stripped
    for before, after, keep in zip(kernels(initial), kernels(pruned), masks):
        assert np.all(after[~keep] == 0.0)
        assert np.mean(after[keep] != before[keep]) > 0.5  # the kept weights were trained (dead units stay)
    assert np.any(kernels(initial)[0][~masks[0]] != 0)  # the input model is left as it was


def test_retrain_rejects_a_mask_per_layer_mismatch():
    with pytest.raises(ModelError, match="got 1 masks for the 5 prunable layers"):
        retrain_with_masks(_initial(), [np.ones((5, 5, 1, 3), bool)], *_data(), epochs=1, batch_size=32,
                           learning_rate=1e-3, seed=0)


def test_every_unstructured_method_keeps_snips_layer_budgets():
    x, y = _data()
    initial, dense = _dense()
    budgets = scores.kept_counts(snip_layer_masks(initial, x, y, _config(sparsity=0.8)))
    for method, metric in (("snip", "magnitude"), ("local_random", "magnitude"), ("double_shot", "weighted_movement")):
        result = prune(_config(method=method, metric=metric, sparsity=0.8), initial, x, y, dense=dense)
        assert [int(np.count_nonzero(k)) <= b for k, b in zip(kernels(result.model), budgets)] == [True] * len(budgets)
        assert [1.0 - b / k.size for b, k in zip(budgets, kernels(initial))] == pytest.approx(list(result.layer_sparsity))
        assert result.sparsity == pytest.approx(0.8, abs=1e-3)
        assert result.label == _config(method=method, metric=metric).label


def test_double_shot_keeps_the_most_important_trained_weights():
    x, y = _data()
    initial, dense = _dense()
    config = _config(method="double_shot", metric="magnitude", sparsity=0.7)
    budgets = scores.kept_counts(snip_layer_masks(initial, x, y, config))
    expected = scores.layer_masks([np.abs(k) for k in kernels(dense)], budgets)
    result = prune(config, initial, x, y, dense=dense)
    for kernel, keep in zip(kernels(result.model), expected):
        assert np.all(kernel[~keep] == 0.0)


def test_channel_pruning_equals_zeroing_the_removed_channels():
    x, _ = _data()
    initial, dense = _dense()
    kept = kept_channels("weighted_movement", 0.5, initial, dense)
    assert set(kept) == {layer.name for layer in prunable_layers(dense)[:-1]}  # not the classifier
    narrow = narrow_model(dense, kept)
    assert [narrow.get_layer(n).get_weights()[0].shape[-1] for n in kept] == [len(k) for k in kept.values()]
    # LeNet-5 has no batch norm: a removed channel is exactly a channel whose kernel and bias are zero.
    zeroed = keras.models.clone_model(dense)
    zeroed.set_weights(dense.get_weights())
    for name, channels in kept.items():
        kernel, bias = zeroed.get_layer(name).get_weights()
        drop = np.setdiff1d(np.arange(kernel.shape[-1]), channels)
        kernel[..., drop], bias[drop] = 0.0, 0.0
        zeroed.get_layer(name).set_weights([kernel, bias])
    np.testing.assert_allclose(narrow.predict(x[:50], verbose=0), zeroed.predict(x[:50], verbose=0), atol=1e-5)
    assert narrow.count_params() < 0.5 * dense.count_params()


def test_a_pruned_model_exports_to_tflite_with_the_same_answers(tmp_path):
    x, y = _data()
    result = prune(_config(method="snip", sparsity=0.9), _dense()[0], x, y)
    path = tmp_path / "pruned.tflite"
    path.write_bytes(convert_keras_model(result.model, "float32"))
    classifier = TFLiteClassifier(path, num_threads=1)
    tflite = np.concatenate([classifier.predict(x[i : i + 1]) for i in range(20)])
    np.testing.assert_allclose(tflite, result.model.predict(x[:20], verbose=0), atol=1e-4)
