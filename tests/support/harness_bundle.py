"""The harness tests' bundle: the tiny real TFLite fixture (tests/support/tflite_fixtures.py) with a
second minion and 120-frame val/test splits labelled from the master's answers (15% flipped),
configured with the build host's numbers; small enough to build and re-pair in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from mmnet.format.bundle import sha256_file, write_manifest
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.bundle import reconfigure_bundle
from mmnet.pipeline.config import RuntimeSettings
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.support import tflite_fixtures as tfx

MASTER = tfx.FLOAT_ID
MINIONS = (tfx.INT8_ID, "tinyb-r12-float32")
SPLIT_SIZE = 120


def build_harness_bundle(path: Path) -> Path:
    """The tiny fixture bundle with a second minion (another variant) and labelled 120-frame splits."""
    tfx.write_fixture_bundle(path)
    manifest = json.loads((path / "manifest.json").read_text())
    master = next(m for m in manifest["models"] if m["role"] == "master")
    second = json.loads(json.dumps(master))
    second.update(id=MINIONS[1], variant="tinyb-r12", role="minion", file=f"models/{MINIONS[1]}.tflite", macs=4500)
    shutil.copyfile(path / master["file"], path / second["file"])
    manifest["models"].append(second)
    spec = PreprocessingSpec.from_json(manifest["preprocessing"])
    classifiers = {m["id"]: TFLiteClassifier(path / m["file"]) for m in manifest["models"]}
    rng = np.random.default_rng(7)
    for split in ("val", "test"):
        # Brightness and contrast vary per frame so the models' answers do.
        base, spread = rng.uniform(40, 215, (SPLIT_SIZE, 1, 1, 1)), rng.uniform(5, 90, (SPLIT_SIZE, 1, 1, 1))
        frames = np.clip(base + spread * rng.normal(0, 1, (SPLIT_SIZE, *tfx.FRAME_SHAPE)), 0, 255).astype(np.uint8)
        inputs = preprocess(frames, spec, tfx.RESOLUTION)
        answers = classifiers[MASTER].predict(inputs).argmax(1)
        labels = np.where(rng.random(SPLIT_SIZE) < 0.15, (answers + 1) % tfx.NUM_CLASSES, answers).astype(np.int64)
        npz = path / "data" / f"{split}.npz"
        np.savez(npz, frames=frames, labels=labels)
        manifest["data"][split].update(sha256=sha256_file(npz), bytes=npz.stat().st_size, count=SPLIT_SIZE)
        manifest["dataset"]["splits"][split] = SPLIT_SIZE
        for model in manifest["models"]:
            correct = classifiers[model["id"]].predict(inputs).argmax(1) == labels
            model["metrics"][f"{split}_accuracy"] = float(correct.mean())
    manifest["build"]["counts"] = {"artifacts": 3, "blessed": 3, "rejected": 0, "failures": 1}
    write_manifest(manifest, path / "manifest.json")
    return reconfigure_bundle(path, RuntimeSettings())
