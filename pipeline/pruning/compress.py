"""The build's compression stage: a trained model pruned and retrained before export.

The pruned Keras model replaces the dense one in the :class:`~mmnet.pipeline.train.TrainedModel`
record (``keras_path``, parameters, MACs and the Keras accuracies), so export converts the pruned
network and the evaluation's parity gate compares the deployed TFLite artifact with the pruned Keras
model it came from. The record's ``compression`` says what was removed, measured on the retrained
kernels (not the target), and the dense model's accuracies for comparison; the manifest carries it
as the model's ``pruning``.

Retraining uses the hard labels (sparse cross-entropy): a distilled minion is retrained without
its teacher, which the record states (``distilled_dense``). With ``baselines``, the record's
``comparison`` holds the Keras val/test accuracy of every method and seed pruned at the same
sparsity from the same initial and dense weights (the first double-shot run is the shipped model);
the baselines train as many epochs as double-shot's dense training and retraining together.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from mmnet.format.errors import ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import CompressionConfig
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.train import TrainedModel, load_keras_model, model_inputs, variant_seed

__all__ = ["INITIAL_MODEL", "PRUNED_MODEL", "compress_trained", "pruning_record"]

log = logging.getLogger(__name__)

INITIAL_MODEL = "initial.keras"
PRUNED_MODEL = "pruned.keras"


def pruning_record(config: CompressionConfig, dense, pruned) -> dict:
    """What pruning removed, measured on the kernels of ``pruned`` against ``dense`` (Keras models)."""
    from mmnet.pipeline.pruning.masked import kernels, prunable_layers

    dense_layers = prunable_layers(dense)
    layers = []
    total = zeros = 0
    if config.method == "channels":
        removed = 0
        for layer, kernel in zip(dense_layers, kernels(pruned)):
            before = dense.get_layer(layer.name).kernel.shape
            layers.append({"name": layer.name, "channels_kept": int(kernel.shape[-1]), "channels": int(before[-1])})
            total += int(np.prod(before))
            removed += int(np.prod(before)) - kernel.size
        sparsity = removed / total
    else:
        for layer, kernel in zip(dense_layers, kernels(pruned)):
            layer_zeros = int(kernel.size - np.count_nonzero(kernel))
            layers.append({"name": layer.name, "weights": int(kernel.size), "zeros": layer_zeros,
                           "sparsity": round(layer_zeros / kernel.size, 6)})
            total += kernel.size
            zeros += layer_zeros
        sparsity = zeros / total
    record = {"method": config.method, "metric": config.metric, "retrain_epochs": config.epochs,
              "sparsity": round(sparsity, 6), "layers": layers}
    if config.method == "channels":
        record["channel_keep"] = config.channel_keep
    else:
        record["target_sparsity"] = config.sparsity
    return record


def compress_trained(
    trained: TrainedModel,
    *,
    splits: Splits,
    preprocessing: PreprocessingSpec,
    config: CompressionConfig,
    seed: int,
    out_dir: Path,
) -> TrainedModel:
    """Prunes the trained model (its ``initial.keras`` beside it) and returns the record of the pruned one."""
    from mmnet.pipeline.pruning.config import PruningConfig
    from mmnet.pipeline.pruning.masked import accuracy
    from mmnet.pipeline.pruning.stage import prune
    from mmnet.pipeline.zoo.costs import keras_model_costs

    initial_path = Path(trained.keras_path).parent / INITIAL_MODEL
    if not initial_path.is_file():
        raise ModelError(f"{trained.variant}: no initial weights at {initial_path}; compression needs the model "
                         "saved before training (train_variant(keep_initial=True))")
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)

    def arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
        split = getattr(splits, name)
        x = (model_inputs(split.frames, preprocessing, trained.resolution) - mean) / std
        return x.astype(np.float32), split.labels.astype(np.int64)

    x, y = arrays("train")
    val_split, test_split = arrays("val"), arrays("test")
    dense = load_keras_model(trained.keras_path)
    initial = load_keras_model(str(initial_path))

    def pruned_by(method: str, seed_index: int, epochs: int):
        name = trained.variant + "-prune" + (f"-{seed_index}" if seed_index else "")
        settings = PruningConfig(method=method, sparsity=config.sparsity, metric=config.metric,
                                 channel_keep=config.channel_keep, epochs=epochs, batch_size=config.batch_size,
                                 learning_rate=config.learning_rate, seed=variant_seed(seed, name))
        return prune(settings, initial, x, y, dense=dense).model

    pruned = pruned_by(config.method, 0, config.epochs)
    val = accuracy(pruned, *val_split)
    test = accuracy(pruned, *test_split)

    record = pruning_record(config, dense, pruned)
    record.update({"dense_keras_val_accuracy": trained.keras_val_accuracy,
                   "dense_keras_test_accuracy": trained.keras_test_accuracy,
                   "dense_params": trained.params, "dense_macs": trained.macs, "distilled_dense": trained.distilled})
    if config.baselines:
        # The baselines train from the initial weights for as many epochs as double-shot's dense
        # training and retraining together: the same training budget.
        baseline_epochs = trained.epochs_run + config.epochs
        runs = [{"method": config.method, "seed_index": 0, "val_accuracy": val, "test_accuracy": test}]
        for seed_index in range(config.seeds):
            for method in ((config.method,) if seed_index else ()) + config.baselines:
                model = pruned_by(method, seed_index, config.epochs if method == config.method else baseline_epochs)
                runs.append({"method": method, "seed_index": seed_index, "val_accuracy": accuracy(model, *val_split),
                             "test_accuracy": accuracy(model, *test_split)})
                log.info("%s compared with %s (seed %d/%d): test %.2f%%", trained.variant, method, seed_index + 1,
                         config.seeds, 100 * runs[-1]["test_accuracy"])
        record["comparison"] = {"seeds": config.seeds, "baseline_epochs": baseline_epochs, "runs": runs}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PRUNED_MODEL
    pruned.save(str(path))
    costs = keras_model_costs(pruned)
    log.info("pruned %s (%s): sparsity %.3f, val %.2f%% (dense %.2f%%)", trained.variant, config.method,
             record["sparsity"], 100 * val, 100 * (trained.keras_val_accuracy or 0.0))
    compressed = dataclasses.replace(trained, keras_path=str(path), params=costs.params, macs=costs.macs,
                                     keras_val_accuracy=val, keras_test_accuracy=test, compression=record)
    compressed.write(out_dir)
    return compressed
