"""The learned detector's golden cases the Java core reproduces (``LogisticParityTest``, run by
tests/integration/test_android_core.py) are what Python's ``mmnet.runtime.learned_detector`` gives now.

Regenerate them with ``.venv/bin/python -m android_harness.parity.detector_cases``.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from android_harness.parity import detector_cases
from mmnet.runtime.learned_detector import LogisticDetector, logistic_frame, score_table


def _doc() -> dict:
    return json.loads(detector_cases.CASES_FILE.read_text(encoding="utf-8"))


def test_committed_cases_are_what_the_learned_detector_gives_now() -> None:
    committed = detector_cases.CASES_FILE.read_text(encoding="utf-8")
    assert committed == detector_cases.render(), (
        f"{detector_cases.CASES_FILE} is stale: regenerate it with `.venv/bin/python -m android_harness.parity.detector_cases` "
        "and make the Java core's LogisticParityTest pass again")
    assert detector_cases.main(["--check"]) == 0


def test_cases_cover_systems_sizes_ties_undefined_features_and_the_threshold_edge() -> None:
    cases = _doc()["cases"]
    assert len(cases) >= 40
    assert all(set(c) == {"name", "classes", "outputs", "quantized", "detector", "expected"} for c in cases)
    names = {c["name"] for c in cases}
    for tag in ("1x10", "2x10", "1x1001", "2x1001"):
        assert {f"tie-{tag}", f"one-hot-{tag}", f"all-zero-{tag}", f"all-negative-{tag}", f"logits-{tag}"} <= names
    kinds = {(len(c["outputs"]), c["classes"]) for c in cases}
    assert kinds >= {(1, 10), (2, 10), (1, 1001), (2, 1001)}
    expected = [c["expected"] for c in cases]
    assert sum(e["score"] is None for e in expected) >= 4  # all-zero and all-negative scores: undefined, recovered
    assert all(not e["accept"] and e["reason"] == "low_score" for e in expected if e["score"] is None)
    assert 5 <= sum(e["accept"] for e in expected) <= len(expected) - 5
    assert any(e["agree"] for e in expected if len(e["features"] or []) == 9)
    assert any(not e["agree"] for e in expected if len(e["features"] or []) == 9)
    # clipped negative scores in usable frames, and 8-bit outputs of both types
    assert sum(c["expected"]["score"] is not None and any((_floats(o) < 0).any() for o in c["outputs"])
               for c in cases) >= 4
    assert {c["quantized"]["dtype"] for c in cases if c["quantized"]} == {"uint8", "int8"}
    gated = [c for c in cases if c["detector"].get("requires_agreement")]
    assert {(c["expected"]["agree"], c["expected"]["accept"], c["expected"]["reason"]) for c in gated} == {
        (False, False, "disagree"), (True, False, "low_score"), (True, True, "accepted")}
    # a disagreement the same weights accept is recovered once agreement is required
    ungated = {c["name"]: c for c in cases if not c["detector"].get("requires_agreement")}
    assert any(ungated[c["name"].removeprefix("agreement-required-")]["expected"]["accept"]
               for c in gated if c["expected"]["reason"] == "disagree")
    pinned = {c["name"]: c for c in cases if c["name"].startswith("threshold-")}
    assert len(pinned) == 4
    for c in pinned.values():
        score = float.fromhex(c["expected"]["score"])
        at = c["name"].startswith("threshold-at-")
        assert (c["detector"]["threshold"] == score) is at
        assert c["expected"]["accept"] is at
    # The hex strings and the JSON numbers are the same doubles.
    for e in expected:
        if e["features"] is not None:
            assert [float.fromhex(x) for x in e["features"]] == e["features_json"]
            assert float.fromhex(e["score"]) == e["score_json"]
        assert float.fromhex(e["confidence"]) == e["confidence_json"]


def _floats(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4")


def test_a_case_decoded_and_recomputed_here_matches() -> None:
    for case in _doc()["cases"][::7]:
        outputs = [_floats(o) for o in case["outputs"]]
        assert all(o.size == case["classes"] for o in outputs)
        detector = LogisticDetector.from_json(case["detector"], len(outputs), case["name"])
        verdict, score = logistic_frame(outputs, detector)
        assert (None if score is None else score.hex()) == case["expected"]["score"]
        assert verdict.confidence.hex() == case["expected"]["confidence"]
        assert verdict.answer == case["expected"]["answer"]
        assert verdict.reason == case["expected"]["reason"]


def _dequantize(raw: np.ndarray, q: dict) -> np.ndarray:
    return ((raw.astype(np.float32) - q["zero_point"]) * np.float32(q["scale"])).astype(np.float32)


def test_the_dequantized_scores_give_what_the_codes_give() -> None:
    """Python reads 8-bit codes through score_table; the Java core reads the dequantized float32 scores:
    the same doubles, so the same verdict and score."""
    for case in (c for c in _doc()["cases"] if c["quantized"]):
        q = case["quantized"]
        dtype = np.dtype(q["dtype"])
        codes = [np.frombuffer(base64.b64decode(c), dtype=dtype) for c in q["codes"]]
        table = score_table(_dequantize(np.arange(256, dtype=np.uint8).view(dtype), q).tolist())
        outputs = [_floats(o) for o in case["outputs"]]
        assert all(np.array_equal(_dequantize(c, q), o) for c, o in zip(codes, outputs))
        detector = LogisticDetector.from_json(case["detector"], len(codes), case["name"])
        from_codes = logistic_frame(codes, detector, [table] * len(codes))
        from_scores = logistic_frame(outputs, detector)
        assert from_codes == from_scores
        assert from_codes[1] is not None and from_codes[1].hex() == case["expected"]["score"]


def test_check_reports_a_tampered_file(tmp_path) -> None:
    tampered = tmp_path / "cases.json"
    doc = _doc()
    doc["cases"][0]["expected"]["accept"] = not doc["cases"][0]["expected"]["accept"]
    tampered.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    assert detector_cases.main(["--check", "--out", str(tampered)]) == 1
    assert detector_cases.main(["--check", "--out", str(tmp_path / "missing.json")]) == 1
