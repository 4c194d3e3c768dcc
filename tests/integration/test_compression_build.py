"""The build's compression stage through the real Beam pipeline: a double-shot-pruned master and minion ship.

Digits at 8x8, a LeNet-5 master and two small minions (two epochs each); the master and one minion
are pruned (``compression.variants``) and compared with SNIP at the same sparsity, so the other
minion shows the stage passes models through untouched. The channel-pruning record is checked on its
own, without a build.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmnet.format.bundle import load_bundle
from mmnet.pipeline.build import run_build
from mmnet.pipeline.config import config_from_mapping
from mmnet.runtime.interpreter import load_interpreter

PRUNED = "lenet5-a0.50-r8"
MASTER = "lenet5-a1.00-r8"
DENSE = "vgg_small-a0.50-r8"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("compression")
    config = config_from_mapping({
        "name": "digits-pruned",
        "dataset": {"source": "builtin:digits"},
        "master": {"family": "lenet5", "alpha": 1.0, "resolution": 8},
        "minions": {"families": ["lenet5", "vgg_small"], "alphas": [0.5], "resolutions": [8]},
        "training": {"epochs": 2, "master_epochs": 2},
        "export": {"precisions": ["float32"], "parity_margin_points": 1.0},
        "compression": {"enabled": True, "method": "double_shot", "sparsity": 0.9, "roles": ["master", "minion"],
                        "variants": [PRUNED, MASTER], "epochs": 2, "baselines": ["snip"]},
        "runtime": {"latency_model": False},
        "beam": {"num_workers": 1},
    })
    result = run_build(config, root / "bundle", progress=False)
    return result, root / ".bundle.work"


def test_pruned_minion_joins_a_verified_bundle(built):
    result, _ = built
    assert result.failures == []
    assert result.counters.get("compress_completed") == 2
    bundle = load_bundle(result.bundle_dir)  # the manifest schema accepts the pruning record
    by_variant = {m.variant: m for m in bundle.models}
    assert by_variant[PRUNED].blessed and by_variant[PRUNED].shipped
    assert by_variant[MASTER].role == "master" and by_variant[MASTER].blessed
    records = {m["variant"]: m for m in bundle.manifest["models"]}
    assert "pruning" not in records[DENSE]
    for variant in (PRUNED, MASTER):
        runs = records[variant]["pruning"]["comparison"]["runs"]
        assert [(r["method"], r["seed_index"]) for r in runs] == [("double_shot", 0), ("snip", 0)]
        # the first double-shot run is the shipped model
        assert runs[0]["val_accuracy"] == records[variant]["metrics"]["keras_val_accuracy"]
    report = (result.bundle_dir / bundle.manifest["report"]["index"]["file"]).read_text(encoding="utf-8")
    pruning_section = report[report.index('<h2 id="pruning">'):]
    pruning_section = pruning_section[:pruning_section.index("<h2", 5)]
    assert f"{PRUNED}-float32" in pruning_section and f"{MASTER}-float32" in pruning_section
    assert "double-shot gain" in pruning_section and "+0.79 points" in pruning_section


def test_shipped_kernels_hold_the_recorded_sparsity(built):
    result, _ = built
    bundle = load_bundle(result.bundle_dir)
    record = next(m for m in bundle.manifest["models"] if m["variant"] == PRUNED)
    pruning = record["pruning"]
    assert pruning["method"] == "double_shot" and pruning["target_sparsity"] == 0.9
    assert abs(pruning["sparsity"] - 0.9) < 0.005
    # 90% zeros in float32 kernels: the gzipped file is a fraction of the raw one (dense kernels barely shrink)
    assert pruning["gzip_bytes"] < 0.5 * record["bytes"]
    zeros = sum(layer["zeros"] for layer in pruning["layers"])
    assert zeros / sum(layer["weights"] for layer in pruning["layers"]) == pytest.approx(pruning["sparsity"], abs=1e-6)

    # The deployed file: every recorded layer has a constant tensor of its size with at least its zeros.
    interpreter = load_interpreter(result.bundle_dir / record["file"], use_xnnpack=False)
    constants = []
    for detail in interpreter.get_tensor_details():
        try:
            constants.append(np.asarray(interpreter.get_tensor(detail["index"])))
        except ValueError:  # activations have no data before invoke
            continue
    for layer in pruning["layers"]:
        same_size = [c for c in constants if c.size == layer["weights"]]
        assert same_size, layer
        assert max(int(c.size - np.count_nonzero(c)) for c in same_size) >= layer["zeros"], layer


def _stage_record(work, stage: str, variant: str) -> dict:
    """The record of ``variant``'s entry in the build's stage cache (``<work>/stages/<stage>/<key>/entry.json``)."""
    records = [json.loads(p.read_text())["record"] for p in (work / "stages" / stage).glob("*/entry.json")]
    found = [r for r in records if r["variant"] == variant]
    assert len(found) == 1, records
    return found[0]


def test_the_gate_judged_the_pruned_artifact(built):
    result, work = built
    record = next(m for m in load_bundle(result.bundle_dir).manifest["models"] if m["variant"] == PRUNED)
    pruned = _stage_record(work, "compress", PRUNED)
    assert pruned["keras_path"].endswith("pruned.keras")
    # The gate's Keras reference is the pruned model's accuracy, not the dense one's.
    assert record["metrics"]["keras_val_accuracy"] == pruned["keras_val_accuracy"]
    assert record["pruning"]["dense_keras_val_accuracy"] == _stage_record(work, "train", PRUNED)["keras_val_accuracy"]
    assert record["reason"].startswith("TFLite val accuracy")
    assert f"Keras {100 * pruned['keras_val_accuracy']:.2f}%" in record["reason"]


def test_a_channel_pruned_minion_ships_smaller(tmp_path):
    """``method: channels`` through the build: the narrower minion is exported, gated and shipped."""
    config = config_from_mapping({
        "name": "digits-channels",
        "dataset": {"source": "builtin:digits"},
        "master": {"family": "lenet5", "alpha": 1.0, "resolution": 8},
        "minions": {"families": ["lenet5"], "alphas": [0.5], "resolutions": [8]},
        "training": {"epochs": 2, "master_epochs": 2},
        "export": {"precisions": ["float32"], "parity_margin_points": 1.0},
        "compression": {"enabled": True, "method": "channels", "channel_keep": 0.5, "epochs": 2},
        "runtime": {"latency_model": False},
        "beam": {"num_workers": 1},
    })
    result = run_build(config, tmp_path / "bundle", progress=False)
    assert result.failures == [] and result.counters.get("compress_completed") == 1
    bundle = load_bundle(result.bundle_dir)
    record = next(m for m in bundle.manifest["models"] if m["variant"] == PRUNED)
    pruning = record["pruning"]
    assert pruning["method"] == "channels" and pruning["channel_keep"] == 0.5
    assert record["params"] < pruning["dense_params"] and record["macs"] < pruning["dense_macs"]
    assert next(m for m in bundle.models if m.variant == PRUNED).shipped
    # The deployed file has the narrower kernels: its first layer keeps half of the dense one's channels.
    first = pruning["layers"][0]
    interpreter = load_interpreter(result.bundle_dir / record["file"], use_xnnpack=False)
    kernel_shapes = [tuple(d["shape"]) for d in interpreter.get_tensor_details() if len(d["shape"]) == 4]
    assert any(shape[0] == first["channels_kept"] for shape in kernel_shapes), kernel_shapes
    assert first["channels_kept"] < first["channels"]


def test_channel_pruning_record_counts_kept_channels():
    """The manifest record of ``method: channels``: channels kept per layer, weights removed overall."""
    from sklearn.datasets import load_digits

    from mmnet.pipeline._tf import keras
    from mmnet.pipeline.config import CompressionConfig
    from mmnet.pipeline.pruning.compress import pruning_record
    from mmnet.pipeline.pruning.config import PruningConfig
    from mmnet.pipeline.pruning.stage import prune
    from mmnet.pipeline.zoo.registry import build_model
    from mmnet.pipeline.zoo.spec import VariantSpec

    digits = load_digits()
    x = ((digits.images[:200, ..., None] / 16.0 - 0.5) / 0.5).astype(np.float32)
    y = digits.target[:200].astype(np.int64)
    keras.utils.set_random_seed(0)
    initial = build_model(VariantSpec("lenet5", 0.5, 8), channels=1, num_classes=10)
    dense = keras.models.clone_model(initial)
    dense.set_weights(initial.get_weights())
    narrow = prune(PruningConfig(method="channels", channel_keep=0.5, epochs=1, batch_size=32), initial, x, y,
                   dense=dense).model
    record = pruning_record(CompressionConfig(enabled=True, method="channels", channel_keep=0.5), dense, narrow)
    assert record["channel_keep"] == 0.5 and "target_sparsity" not in record
    *hidden, classifier = record["layers"]
    assert all(layer["channels_kept"] == max(1, round(0.5 * layer["channels"])) for layer in hidden)
    assert classifier["channels_kept"] == classifier["channels"] == 10
    before = sum(int(np.prod(dense.get_layer(layer["name"]).kernel.shape)) for layer in record["layers"])
    after = sum(int(np.prod(narrow.get_layer(layer["name"]).kernel.shape)) for layer in record["layers"])
    assert record["sparsity"] == pytest.approx(1 - after / before, abs=1e-6)
