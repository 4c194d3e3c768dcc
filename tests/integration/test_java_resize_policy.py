"""The resize policy's golden cases the Java core reproduces (``ConformParityTest``, run by
tests/integration/test_android_core.py) are what Python's ``conform_frame`` gives now.

Regenerate them with ``.venv/bin/python -m android_harness.parity.conform_cases``.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from android_harness.parity import conform_cases
from mmnet.format.preprocessing import RESIZE_POLICIES
from mmnet.runtime.preprocessing import conform_frame


def test_committed_cases_are_what_conform_frame_gives_now() -> None:
    committed = conform_cases.CASES_FILE.read_text(encoding="utf-8")
    assert committed == conform_cases.render(), (
        f"{conform_cases.CASES_FILE} is stale: regenerate it with `.venv/bin/python -m android_harness.parity.conform_cases` "
        "and make the Java core's ConformParityTest pass again")
    assert conform_cases.main(["--check"]) == 0


def test_cases_cover_both_policies_odd_sizes_up_and_down_and_long_weight_rows() -> None:
    doc = json.loads(conform_cases.CASES_FILE.read_text(encoding="utf-8"))
    shapes = {name: tuple(entry["shape"]) for name, entry in doc["inputs"].items()}
    assert {(37, 53, 3), (53, 37, 3), (10, 10, 1)} <= set(shapes.values())
    seen = {(c["input"], c["height"], c["width"], c["policy"]) for c in doc["cases"]}
    for name in shapes:
        for target in ((16, 16), (7, 9)):
            for policy in RESIZE_POLICIES:
                assert (name, *target, policy) in seen
    # Upscales (10 -> 16) and downscales with more than eight taps per output (numpy's pairwise sum).
    assert any(shapes[c["input"]][0] < c["height"] for c in doc["cases"])
    assert any(shapes[c["input"]][1] / c["width"] > 4 for c in doc["cases"])
    # The outputs really are conform_frame's: one case decoded and recomputed here.
    case = doc["cases"][0]
    entry = doc["inputs"][case["input"]]
    frame = np.frombuffer(base64.b64decode(entry["pixels"]), dtype=np.uint8).reshape(entry["shape"])
    expected = conform_frame(frame, case["height"], case["width"], case["policy"])
    assert base64.b64decode(case["output"]) == expected.tobytes()


def test_check_reports_a_tampered_file(tmp_path) -> None:
    tampered = tmp_path / "cases.json"
    doc = json.loads(conform_cases.CASES_FILE.read_text(encoding="utf-8"))
    out = bytearray(base64.b64decode(doc["cases"][3]["output"]))
    out[0] ^= 1
    doc["cases"][3]["output"] = base64.b64encode(bytes(out)).decode("ascii")
    tampered.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    assert conform_cases.main(["--check", "--out", str(tampered)]) == 1
