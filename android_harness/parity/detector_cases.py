"""Golden cases of the learned detector: Python's features, scores and verdicts, for the Java core to reproduce.

``python -m android_harness.parity.detector_cases`` (re)writes
``android_harness/core/src/test/resources/detector/cases.json``: about fifty frames of one- and
two-minion systems with 10 and 1001 classes, pseudo-random from a fixed seed: float32 scores
(softmax-like, raw logits whose negative scores are clipped at 0, ties for the top, one-hot
outputs, forced agreements and disagreements, a disagreement of equal confidences, all-zero and
all-negative outputs whose features are undefined, subnormal and huge scores) and 8-bit outputs
(Python reads the codes through ``score_table``, Java the dequantized scores), each with a logistic
detector (weights, bias and threshold from the same seed; a few cases set the threshold to the
computed score, or just above it, to pin ``score >= threshold``; the accepted and the agreeing pair
frames come again with a detector that requires agreement).

Every case holds the minions' float32 scores exactly as the Java core receives them (little-endian
float32, base64; for an 8-bit case the dequantized codes, the codes and their quantization are in
``quantized``), the detector object a bundle ships, and what :mod:`mmnet.runtime.learned_detector`
computes: the features, the score and the shown confidence as ``float.hex`` strings (exact) and as
JSON numbers (readable), and the verdict (answer, agree, accept, reason). The learned detector uses
no power function, so the Java core's ``LogisticParityTest`` demands every feature, the score and
the confidence bit for bit, and the same verdict, on every case.

``--check`` writes nothing and exits 1 when the committed file differs from what Python gives now
(tests/integration/test_java_detector_cases.py runs the same comparison).
"""

from __future__ import annotations

import base64
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from android_harness.parity.golden import golden_main
from mmnet.runtime.learned_detector import (
    LOGISTIC,
    LogisticDetector,
    feature_names,
    frame_features,
    logistic_frame,
    minion_summary,
    score_table,
)

__all__ = ["CASES_FILE", "cases", "document", "render", "main"]

CASES_FILE = Path(__file__).resolve().parents[1] / "core" / "src" / "test" / "resources" / "detector" / "cases.json"
_SEED = 20261204
_CLASSES = (10, 1001)


def _hex(value: float | None) -> str | None:
    return None if value is None else float(value).hex()


def _softmax(rng: np.random.Generator, classes: int, spread: float = 2.5) -> np.ndarray:
    logits = rng.normal(0.0, spread, classes)
    e = np.exp(logits - logits.max())
    return (e / e.sum()).astype(np.float32)


def _detector(rng: np.random.Generator, minions: int) -> dict[str, Any]:
    names = feature_names(minions)
    return {"kind": LOGISTIC, "features": list(names),
            "weights": [round(float(w), 6) for w in rng.normal(0.0, 3.0, len(names))],
            "bias": round(float(rng.normal(0.0, 1.0)), 6),
            "threshold": round(float(rng.normal(0.0, 1.5)), 6)}


def _frames(rng: np.random.Generator) -> list[tuple[str, list[np.ndarray]]]:
    """(name, float32 outputs) of every float case before its detector."""
    out: list[tuple[str, list[np.ndarray]]] = []
    for classes in _CLASSES:
        for minions in (1, 2):
            tag = f"{minions}x{classes}"
            for i in range(3):
                out.append((f"random-{tag}-{i}", [_softmax(rng, classes) for _ in range(minions)]))
            # raw logits: about half the scores are negative and clipped at 0
            out.append((f"logits-{tag}", [rng.normal(0.0, 2.0, classes).astype(np.float32) for _ in range(minions)]))
            tied = [_softmax(rng, classes) for _ in range(minions)]
            for o in tied:  # a later class ties the top: the first maximum wins
                top = int(o.argmax())
                o[(top + 3) % classes] = o[top]
            out.append((f"tie-{tag}", tied))
            hot = np.zeros(classes, dtype=np.float32)
            hot[classes // 3] = 1.0
            out.append((f"one-hot-{tag}", [hot.copy() for _ in range(minions)]))
            # all scores zero, or all negative (clipped to zero): S = 0, the features are undefined
            out.append((f"all-zero-{tag}", [np.zeros(classes, dtype=np.float32) for _ in range(minions)]))
            out.append((f"all-negative-{tag}",
                        [-np.abs(rng.normal(0.0, 1.0, classes)).astype(np.float32) - np.float32(1e-3)
                         for _ in range(minions)]))
            if minions == 2:
                a, b = _softmax(rng, classes), _softmax(rng, classes)
                b[int(a.argmax())] = b.max() * np.float32(1.5)  # the same top class
                out.append((f"agree-{tag}", [a, b]))
                a, b = _softmax(rng, classes), _softmax(rng, classes)
                top = int(a.argmax())
                b[top] = np.float32(0.0)  # minion 1 cannot name minion 0's class
                out.append((f"disagree-{tag}", [a, b]))
                other = np.zeros(classes, dtype=np.float32)
                other[classes // 3 + 1] = 2.0
                # both q_top are 1.0: the first of equals (minion 0) answers
                out.append((f"one-hot-disagree-{tag}", [hot * np.float32(3.0), other]))
                # minion 0 has no usable scores (q_top 0.0): minion 1 answers, the frame is recovered
                out.append((f"one-unusable-{tag}", [np.zeros(classes, dtype=np.float32), _softmax(rng, classes)]))
    out.append(("subnormal-1x10", [(_softmax(rng, 10) * np.float32(1e-38)).astype(np.float32)]))
    out.append(("huge-1x10", [(_softmax(rng, 10) * np.float32(3e38)).astype(np.float32)]))
    out.append(("mixed-signs-zeros-2x10", [np.array([-0.0, 0.0, -1.0, 0.25, 0.5, -3e38, 0.25, 0.0, 1e-45, 0.0],
                                                    dtype=np.float32),
                                           np.array([0.5, -0.5] * 5, dtype=np.float32)]))
    return out


def _quantized(rng: np.random.Generator) -> list[tuple[str, list[np.ndarray], dict[str, Any]]]:
    """(name, raw 8-bit codes, quantization) of every 8-bit case: uint8 and int8, 10 and 1001 classes."""
    out = []
    for name, dtype, classes, minions, scale, zero in (("uint8-1x10", np.uint8, 10, 1, 1.0 / 256, 0),
                                                       ("uint8-2x10", np.uint8, 10, 2, 0.00390625, 12),
                                                       ("int8-1x1001", np.int8, 1001, 1, 0.0123, -3),
                                                       ("int8-2x1001", np.int8, 1001, 2, 1.0 / 255, -128)):
        info = np.iinfo(dtype)
        codes = [rng.integers(info.min, int(info.max) + 1, classes).astype(dtype) for _ in range(minions)]
        out.append((name, codes, {"dtype": np.dtype(dtype).name, "scale": scale, "zero_point": zero}))
    return out


def _dequantize(codes: np.ndarray, q: dict[str, Any]) -> np.ndarray:
    """As TFLiteClassifier.dequantize_output (and the Java core's Preprocessor.dequantize): float32 (q - zero) * scale."""
    return ((np.asarray(codes).astype(np.float32) - q["zero_point"]) * np.float32(q["scale"])).astype(np.float32)


def _expected(outputs: list[np.ndarray], detector: LogisticDetector,
              tables: list[list[float] | None] | None = None) -> dict[str, Any]:
    if tables is None:
        tables = [None] * len(outputs)
    summaries = [minion_summary(o, t) for o, t in zip(outputs, tables)]
    features = frame_features(summaries)
    verdict, score = logistic_frame(outputs, detector, tables)
    return {
        "features": None if features is None else [_hex(x) for x in features],
        "features_json": features,
        "score": _hex(score),
        "score_json": score,
        "answer": verdict.answer,
        "confidence": _hex(verdict.confidence),
        "confidence_json": verdict.confidence,
        "agree": verdict.agree,
        "accept": verdict.accept,
        "reason": verdict.reason,
    }


def cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(_SEED)
    out = []
    for name, outputs in _frames(rng):
        outputs = [np.asarray(o, dtype=np.float32) for o in outputs]  # as the models output them
        spec = _detector(rng, len(outputs))
        detector = LogisticDetector.from_json(spec, len(outputs), name)
        out.append(_case(name, outputs, spec, _expected(outputs, detector)))
    for name, codes, q in _quantized(rng):
        table = score_table(_dequantize(np.arange(256, dtype=np.uint8).view(codes[0].dtype), q).tolist())
        spec = _detector(rng, len(codes))
        expected = _expected(codes, LogisticDetector.from_json(spec, len(codes), name), [table] * len(codes))
        quantized = dict(q, codes=[base64.b64encode(c.tobytes()).decode("ascii") for c in codes])
        out.append(_case(name, [_dequantize(c, q) for c in codes], spec, expected, quantized))
    # Requiring agreement: the accepted and the agreeing pair frames again, an accepted disagreement
    # now recovered ("disagree") whatever its score, an agreement judged by its score as before.
    for case in [c for c in out if len(c["outputs"]) == 2 and c["quantized"] is None
                 and (c["expected"]["accept"] or c["expected"]["agree"])]:
        outputs = [np.frombuffer(base64.b64decode(o), dtype="<f4") for o in case["outputs"]]
        gated = dict(case["detector"], requires_agreement=True)
        expected = _expected(outputs, LogisticDetector.from_json(gated, 2, case["name"]))
        out.append(_case(f"agreement-required-{case['name']}", outputs, gated, expected))
        if expected["agree"] and expected["score_json"] is not None:  # and accepted at a threshold it reaches
            gated = dict(gated, threshold=expected["score_json"])
            out.append(_case(f"agreement-required-accepted-{case['name']}", outputs, gated,
                             _expected(outputs, LogisticDetector.from_json(gated, 2, case["name"]))))
    # Pin ">=": the threshold equal to the computed score accepts, the next double above it does not.
    for minions in (1, 2):
        outputs = [_softmax(rng, 10) for _ in range(minions)]
        spec = _detector(rng, minions)
        _, score = logistic_frame(outputs, LogisticDetector.from_json(spec, minions, "pin"))
        assert score is not None
        for label, threshold in (("at", score), ("above", math.nextafter(score, math.inf))):
            pinned = dict(spec, threshold=threshold)
            out.append(_case(f"threshold-{label}-score-{minions}x10", outputs, pinned,
                             _expected(outputs, LogisticDetector.from_json(pinned, minions, "pin"))))
    return out


def _case(name: str, outputs: list[np.ndarray], spec: dict[str, Any], expected: dict[str, Any],
          quantized: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "classes": int(outputs[0].size),
        "outputs": [base64.b64encode(np.ascontiguousarray(o, dtype="<f4").tobytes()).decode("ascii") for o in outputs],
        "quantized": quantized,
        "detector": spec,
        "expected": expected,
    }


def document() -> dict[str, Any]:
    """The cases file's content."""
    return {
        "generator": "python -m android_harness.parity.detector_cases",
        "outputs": "float32 little-endian, base64, one string per minion",
        "cases": cases(),
    }


def render() -> str:
    return json.dumps(document(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    return golden_main("android_harness.parity.detector_cases", CASES_FILE, render, "mmnet.runtime.learned_detector", argv)


if __name__ == "__main__":
    sys.exit(main())
