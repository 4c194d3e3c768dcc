"""The multi-dsNN selector's golden cases the Java core reproduces (``DsnnSelectorParityTest``, run by
tests/integration/test_android_core.py) are what Python's ``mmnet.runtime.multi_dsnn.route`` gives now.

Regenerate them with ``.venv/bin/python -m android_harness.parity.dsnn_cases``.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from android_harness.parity import dsnn_cases
from mmnet.format.multi_dsnn import SelectorTree
from mmnet.runtime.multi_dsnn import route


def _doc() -> dict:
    return json.loads(dsnn_cases.CASES_FILE.read_text(encoding="utf-8"))


def test_committed_cases_are_what_the_runtime_routes_now() -> None:
    assert dsnn_cases.CASES_FILE.read_text(encoding="utf-8") == dsnn_cases.render(), (
        f"{dsnn_cases.CASES_FILE} is stale: regenerate it with `.venv/bin/python -m android_harness.parity.dsnn_cases` "
        "and make the Java core's DsnnSelectorParityTest pass again")
    assert dsnn_cases.main(["--check"]) == 0


def test_cases_cover_both_parts_three_ways_and_the_float64_comparison() -> None:
    cases = _doc()["cases"]
    assert [c["name"] for c in cases] == ["digits-2way", "wine-3way", "hand-3"]
    for case in cases:
        tree = SelectorTree.from_json(case["selector"], case["name"])
        parts = {i["expected"]["part"] for i in case["inputs"]}
        assert parts == set(tree.parts), case["name"]
        for i in case["inputs"]:  # decoded and routed again here
            x = np.frombuffer(base64.b64decode(i["features"]), dtype="<f4").astype(np.float32)
            r = route(tree, x)
            assert (r.leaf, r.part, r.depth) == (i["expected"]["leaf"], i["expected"]["part"], i["expected"]["depth"])
    assert sum(i["float32_comparison_differs"] for c in cases for i in c["inputs"]) >= 2


def test_check_reports_a_tampered_file(tmp_path) -> None:
    doc = _doc()
    doc["cases"][0]["inputs"][0]["expected"]["leaf"] += 1
    tampered = tmp_path / "cases.json"
    tampered.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    assert dsnn_cases.main(["--check", "--out", str(tampered)]) == 1
