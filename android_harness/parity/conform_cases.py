"""Golden cases of the resize policy: Python's ``conform_frame`` outputs, for the Java core to reproduce byte for byte.

``python -m android_harness.parity.conform_cases`` (re)writes
``android_harness/core/src/test/resources/conform/cases.json``: a few frames of odd sizes (pseudo-random
pixels from a fixed seed, and a smooth gradient), each conformed with both policies to 16x16 and 7x9 (and
a downscale wide enough for weight rows of more than eight taps) by
:func:`mmnet.runtime.preprocessing.conform_frame`. Every case holds the input and the output pixels
(uint8 H x W x C, row-major, base64). The Java core's ``ConformParityTest`` requires
``Preprocessor.conform`` to give the same bytes; ``--check`` writes nothing and exits 1 when the
committed file differs from what the Python function gives now (tests/integration/test_java_resize_policy.py
runs the same comparison).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from android_harness.parity.golden import golden_main
from mmnet.format.preprocessing import RESIZE_POLICIES
from mmnet.runtime.preprocessing import conform_frame

__all__ = ["CASES_FILE", "frames", "document", "render", "main"]

CASES_FILE = Path(__file__).resolve().parents[1] / "core" / "src" / "test" / "resources" / "conform" / "cases.json"
_SEED = 20261203
_TARGETS = ((16, 16), (7, 9))


def frames() -> dict[str, np.ndarray]:
    """The input frames by name: noise (every rounding case) at odd sizes, and a smooth gradient."""
    rng = np.random.default_rng(_SEED)
    y, x = np.mgrid[0:61, 0:97]
    gradient = np.stack([(y * 4) % 256, (x * 255) // 96, (x + y) % 256], axis=-1).astype(np.uint8)
    return {
        "noise-37x53x3": rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8),
        "noise-53x37x3": rng.integers(0, 256, size=(53, 37, 3), dtype=np.uint8),
        "noise-10x10x1": rng.integers(0, 256, size=(10, 10, 1), dtype=np.uint8),
        "gradient-61x97x3": gradient,
    }


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def document() -> dict[str, Any]:
    """The cases file's content."""
    inputs = frames()
    cases = []
    for name, frame in inputs.items():
        targets = list(_TARGETS) + ([(5, 6)] if name.startswith("gradient") else [])
        for height, width in targets:
            for policy in RESIZE_POLICIES:
                out = conform_frame(frame, height, width, policy)
                cases.append({"input": name, "height": height, "width": width, "policy": policy,
                              "output": _b64(out)})
    return {
        "generator": "python -m android_harness.parity.conform_cases",
        "inputs": {name: {"shape": list(frame.shape), "pixels": _b64(frame)} for name, frame in inputs.items()},
        "cases": cases,
    }


def render() -> str:
    return json.dumps(document(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    return golden_main("android_harness.parity.conform_cases", CASES_FILE, render, "conform_frame", argv)


if __name__ == "__main__":
    sys.exit(main())
