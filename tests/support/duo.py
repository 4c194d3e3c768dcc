"""A Dynamic Duo serving block over the tiny fixture models, as ``mmnet.benchmarks.duo_pool`` writes one.

Little: ``tiny-r12-int8``; big: ``tiny-r12-float32`` (the same network: what matters here is the
machinery, and the outputs differ enough for a threshold to split the frames). Expected answers
always come from running the models locally (:func:`offline_answers`), never from constants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import sha256_file
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.support import tflite_fixtures as tfx

PREPROCESSING = {"frame_shape": list(tfx.FRAME_SHAPE), "frame_dtype": "uint8", "mean": list(tfx.MEAN),
                 "std": list(tfx.STD), "resize_method": "bilinear"}


def _model(model_id: str) -> dict[str, Any]:
    path = tfx.FIXTURES / f"{model_id}.tflite"
    return {"id": model_id, "path": str(path), "sha256": sha256_file(path), "resolution": tfx.RESOLUTION,
            "xnnpack": True}


def serving_block(threshold: float = 0.6) -> dict[str, Any]:
    """The serving block: the pair with a per-class probe, every class at ``threshold``, and with a
    single-threshold probe at 1.0 (nothing accepted)."""
    pair = {"target": {"baseline": tfx.FLOAT_ID}, "rule": "per_class", "system": "duo", "little": _model(tfx.INT8_ID),
            "big": _model(tfx.FLOAT_ID),
            "probe": {"kind": "per_class_confidence", "rule": "per_class", "temperature": 1.0,
                      "thresholds": [threshold] * tfx.NUM_CLASSES}}
    strict = {**pair, "rule": "single", "probe": {"kind": "per_class_confidence", "rule": "single", "temperature": 1.0,
                                                  "thresholds": [1.0] * tfx.NUM_CLASSES, "threshold": 1.0}}
    return {"preprocessing": PREPROCESSING, "num_classes": tfx.NUM_CLASSES, "default_target": tfx.FLOAT_ID,
            "default_rule": "per_class", "configurations": [pair, strict]}


def write_duo(directory: Path, threshold: float = 0.6) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "duo_pool.json"
    path.write_text(json.dumps({"serving": serving_block(threshold)}), encoding="utf-8")
    return path


def offline_answers(frames: np.ndarray, threshold: float) -> tuple[np.ndarray, list[str]]:
    """What the pair answers offline: per frame the final probabilities and the model that gave them."""
    spec = PreprocessingSpec.from_json(PREPROCESSING)
    little = TFLiteClassifier(tfx.FIXTURES / f"{tfx.INT8_ID}.tflite").predict(preprocess(frames, spec, tfx.RESOLUTION))
    big = TFLiteClassifier(tfx.FIXTURES / f"{tfx.FLOAT_ID}.tflite").predict(preprocess(frames, spec, tfx.RESOLUTION))
    accepted = little.astype(np.float64).max(axis=1) >= threshold
    return np.where(accepted[:, None], little, big), ["little" if a else "big" for a in accepted]
