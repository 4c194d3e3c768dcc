"""Real pretrained models and real photos, no training: configs/coral-imagenet.yaml end to end.

Reads the four Coral ImageNet classifiers and the 500 ImageNet photos from ``../shared/data/``
beside the repository (or ``$MMNET_SHARED_DATA``) and skips when they are absent. Each build takes
one to two minutes on 2 cores.
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.support.served import mmnet_serve
from tests.support.shared_data import CORAL_CONFIG, build, mmnet, shared_data

pytestmark = pytest.mark.slow

DATA = shared_data()
# Thresholds fitted on 250 val photos, judged on 250 test photos: two frames (0.8 points) of slack.
HELD_OUT_SLACK = 2 / 250 + 1e-9


def _run_test_split(bundle: Path, summary: Path, *args: str) -> dict:
    done = mmnet("run", str(bundle), "--split", "test", "--quiet", "--summary-json", str(summary), *args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recovery rate " in done.stdout and "(oracle " in done.stdout  # side by side on the console
    return json.loads(summary.read_text(encoding="utf-8"))


def _pair_systems(bundle: Path) -> dict:
    config = json.loads((bundle / "runtime_config.json").read_text(encoding="utf-8"))
    return {name: system["modes"]["normal"]["test"] for name, system in config["systems"].items()}


@pytest.fixture(scope="module")
def labeled(coral_bundle):
    return coral_bundle.parent


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory):
    """The same models on the same photos without their labels: the master's answers are the reference."""
    root = tmp_path_factory.mktemp("coral-unlabeled")
    document = yaml.safe_load(CORAL_CONFIG.read_text(encoding="utf-8"))
    document["name"] = "coral-unlabeled"
    for key in ("photo_labels", "label_offset"):
        del document["dataset"][key]
    document["runtime"] = {"reference": "master"}
    config = root / "coral-unlabeled.yaml"  # its data paths come from $MMNET_SHARED_DATA (see mmnet)
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    build(config, root / "bundle")
    return root


def test_builds_without_training_and_records_how(labeled):
    manifest = json.loads((labeled / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dataset"]["splits"] == {"train": 0, "val": 250, "test": 250}
    assert len(manifest["labels"]) == 1001 and manifest["labels"][0] == "background"
    assert manifest["labels"][1] == "tench, Tinca tinca"
    assert len(set(manifest["labels"])) == 1001  # the labels file's two "crane" lines are told apart
    assert {m["source"] for m in manifest["models"]} == {"imported"}
    assert {m["precision"] for m in manifest["models"]} == {"int8"}
    assert sorted(m["resolution"] for m in manifest["models"]) == [128, 160, 192, 224]
    # One photo per class cannot be stratified: the seeded random split is used, and recorded.
    assert manifest["build"]["data"] == {"split_method": "random", "labels_from": "dataset"}
    assert manifest["build"]["config"]["dataset"]["resize_policy"] == "center_crop"
    assert manifest["preprocessing"]["resize_policy"] == "center_crop"  # what the runtime and server apply


def test_inspect_verifies_it(labeled):
    done = mmnet("inspect", str(labeled / "bundle"))
    assert done.returncode == 0, done.stderr
    assert "verified: schema OK" in done.stdout


def test_run_on_the_test_split_keeps_the_masters_accuracy(labeled):
    summary = _run_test_split(labeled / "bundle", labeled / "run.json")
    pairs = _pair_systems(labeled / "bundle")
    print(f"\nmmnet run --split test: accuracy {100 * summary['accuracy']:.1f}% vs master "
          f"{100 * summary['master_accuracy']:.1f}%, recovery rate {100 * summary['recovery_rate']:.1f}%, "
          f"paths {summary['path_counts']}")
    for name, test in pairs.items():
        print(f"  {name} (normal, test): accuracy {100 * test['accuracy']:.1f}%, recovery rate "
              f"{100 * test['recovery_rate']:.1f}%")
    assert summary["frames"] == 250 and summary["frames_lost"] == 0
    assert summary["accuracy"] >= summary["master_accuracy"] - 0.005
    # The minion pairs too, had the selector chosen them. Their thresholds hold the master's accuracy on
    # the 250 val photos; on 250 other photos they may lose a frame or two (0.4 points each).
    assert pairs and all(test["accuracy"] >= summary["master_accuracy"] - HELD_OUT_SLACK for test in pairs.values())


def test_run_with_the_master_in_the_cloud_speculates_and_keeps_the_masters_accuracy(labeled):
    """The paper's setting: no master on the phone, the master behind `mmnet serve`; the minions answer first."""
    bundle = labeled / "bundle"
    env = {**os.environ, "MMNET_SHARED_DATA": str(DATA)}
    with mmnet_serve(bundle, env=env) as url:
        summary = _run_test_split(bundle, labeled / "cloud.json", "--no-device-master", "--master-url", url,
                                  "--network", "lte")
    print(f"\nmaster in the cloud (LTE): accuracy {100 * summary['accuracy']:.1f}% vs master "
          f"{100 * summary['master_accuracy']:.1f}%, recovery rate {100 * summary['recovery_rate']:.1f}% "
          f"(oracle {100 * summary['oracle_recovery_rate']:.1f}%), paths {summary['path_counts']}")
    assert summary["frames_lost"] == 0 and summary["fallbacks_total"] == 0
    assert summary["path_counts"].get("minions", 0) > 0  # the speculative path ran
    assert summary["accuracy"] >= summary["master_accuracy"] - HELD_OUT_SLACK
    assert summary["oracle_recovery_rate"] > 0 and summary["recovery_rate"] > 0


def test_unlabeled_photos_agree_with_the_master(unlabeled):
    bundle = unlabeled / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["build"]["data"]["labels_from"] == "master"
    summary = _run_test_split(bundle, unlabeled / "run.json")
    pairs = _pair_systems(bundle)
    print(f"\nunlabeled: agreement with the master {100 * summary['accuracy']:.1f}% on {summary['frames']} "
          f"held-out frames; pairs (normal, test): "
          + ", ".join(f"{name} {100 * test['accuracy']:.1f}%" for name, test in pairs.items()))
    assert summary["accuracy"] >= 0.99
    assert pairs and all(test["accuracy"] >= 0.99 for test in pairs.values())
