"""The packed-model golden cases the Java core reproduces (``PackedModelTest``, run by
tests/integration/test_android_core.py) are what Python's custom-float codec and ``unpack_model`` give now.

Regenerate them with ``.venv/bin/python -m android_harness.parity.packed_cases``.
"""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import pytest

from android_harness.parity import packed_cases
from mmnet.format.custom_float import encode
from mmnet.format.errors import BundleError
from mmnet.format.packed_model import unpack_model


def _doc() -> dict:
    return json.loads(packed_cases.CASES_FILE.read_text(encoding="utf-8"))


def _uint32s(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


def test_committed_cases_are_what_python_gives_now() -> None:
    committed = packed_cases.CASES_FILE.read_text(encoding="utf-8")
    assert committed == packed_cases.render(), (
        f"{packed_cases.CASES_FILE} is stale: regenerate it with `.venv/bin/python -m android_harness.parity.packed_cases` "
        "and make the Java core's PackedModelTest pass again")
    assert packed_cases.main(["--check"]) == 0


def test_format_cases_cover_zeros_subnormals_extremes_and_round_trip() -> None:
    formats = _doc()["formats"]
    assert [f["format"] for f in formats] == [fmt.name for fmt in packed_cases.FORMATS]
    widths = {f["width"] for f in formats}
    assert min(widths) == 3 and max(widths) == 32
    for entry, fmt in zip(formats, packed_cases.FORMATS):
        codes, bits = _uint32s(entry["codes"]), _uint32s(entry["bits"])
        assert codes.size == bits.size == entry["count"]
        values = bits.view(np.float32)
        assert np.array_equal(encode(values, fmt), codes.astype(encode(values, fmt).dtype)), fmt.name
        assert float(np.abs(values).max()) == fmt.max_value, fmt.name  # the largest code is always a case
        if fmt.signed:
            assert 0x80000000 in bits.tolist(), fmt.name  # -0.0
    subnormal = [f for f, fmt in zip(formats, packed_cases.FORMATS) if fmt.subnormals]
    assert any(((_uint32s(f["bits"]) & 0x7F800000) == 0).sum() > 2 for f in subnormal)  # float32 subnormals


def test_cases_unpack_to_their_sha256_and_corrupt_ones_do_not() -> None:
    doc = _doc()
    for case in doc["cases"]:
        tflite = unpack_model(base64.b64decode(case["container"]), case["packing"])
        assert hashlib.sha256(tflite).hexdigest() == case["tflite_sha256"] == case["packing"]["tflite_sha256"]
    assert sum(len(c["packing"]["tensors"]) for c in doc["cases"]) >= 20
    for case in doc["corrupt"]:
        with pytest.raises(BundleError, match=case["words"].replace("(", r"\(").replace(")", r"\)")):
            unpack_model(base64.b64decode(case["container"]), case["packing"])


def test_check_reports_a_tampered_file(tmp_path) -> None:
    tampered = tmp_path / "cases.json"
    doc = _doc()
    bits = _uint32s(doc["formats"][4]["bits"]).copy()
    bits[0] ^= 1
    doc["formats"][4]["bits"] = base64.b64encode(bits.tobytes()).decode("ascii")
    tampered.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    assert packed_cases.main(["--check", "--out", str(tampered)]) == 1
