"""The golden traces the Android harness's Java core replays.

They were written by the Python runtime on the real digits bundle; here they are re-run by the current
Python runtime, so a change of the Python decision logic cannot leave them silently stale. The Java
build and its JUnit suite are tested in tests/integration/test_android_core.py.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from android_harness.parity import generate as parity
from mmnet.format.vocabulary import PATHS, ReasonCode

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "android_harness" / "core"
RESOURCES = CORE / "src" / "test" / "resources" / "parity"
REGENERATE = (".venv/bin/python -m android_harness.parity.generate --bundle bundles/digits --out "
              + str(RESOURCES.relative_to(ROOT)))
# Calibrated confidences go through pow/log/exp, whose last bits may differ between Python versions
# (3.12's sum() is compensated) and from Java's StrictMath; everything else must match exactly.
_CONFIDENCE_TOLERANCE = 1e-12


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=_CONFIDENCE_TOLERANCE, abs_tol=1e-15)


def first_difference(committed: dict[str, Any], fresh: dict[str, Any]) -> str | None:
    """Where two traces differ (None if they agree): exact, except the paper's rule's calibrated confidences."""
    for key in committed.keys() | fresh.keys():
        if key != "frames" and committed.get(key) != fresh.get(key):
            return f"{key}: committed {committed.get(key)!r}, Python now {fresh.get(key)!r}"
    if len(committed["frames"]) != len(fresh["frames"]):
        return f"{len(committed['frames'])} frames committed, {len(fresh['frames'])} now"
    for position, (old, new) in enumerate(zip(parity.rows(committed), parity.rows(fresh))):
        for column in committed["columns"]:
            a, b = old[column], new[column]
            if column == "confidence" and _close(a, b):
                continue
            # the paper's rule: [agree, confidence, ...], its calibrated confidence close; the learned detector's
            # dict (no power function in it) must match exactly
            if column == "detector" and isinstance(a, list) and isinstance(b, list) and a[:1] + a[2:] == b[:1] + b[2:] \
                    and (a[1] == b[1] or _close(a[1], b[1])):
                continue
            if a != b:
                return f"frame position {position} (test frame {old['frame']}): {column} committed {a!r}, Python now {b!r}"
    return None


def test_committed_traces_match_the_python_runtime() -> None:
    index = json.loads((RESOURCES / "index.json").read_text(encoding="utf-8"))
    replayed = parity.replay_resources(RESOURCES)
    assert list(replayed) == index["traces"]
    stale = {}
    for name, (committed, fresh) in replayed.items():
        difference = first_difference(committed, fresh)
        if difference is not None:
            stale[name] = difference
    assert not stale, (f"the Python runtime no longer makes the decisions of the committed golden traces: {stale}. "
                       f"Regenerate them with `{REGENERATE}` (needs `make demo`), then make the Java core pass "
                       "ParityReplayTest again")


def test_a_changed_decision_in_a_trace_is_caught() -> None:
    name = "lte-normal-history"
    committed, fresh = parity.replay_resources(RESOURCES, [name])[name]
    assert first_difference(committed, fresh) is None
    tampered = copy.deepcopy(committed)
    row = tampered["frames"][7]
    row[tampered["columns"].index("path")] = "master_device"
    assert "frame position 7" in first_difference(tampered, fresh)


def test_traces_cover_every_reason_code_path_and_cloud_fault() -> None:
    covered = set(json.loads((RESOURCES / "index.json").read_text(encoding="utf-8"))["covered"])
    # A live-link probe needs a bandwidth observation, which neither runtime makes: an RTT that keeps
    # the master off the cloud is server load. The selector tests (Python and Java) cover it.
    codes = {code.value for code in ReasonCode} - {ReasonCode.PROBE_LIVE_LINK.value}
    assert codes <= covered, f"no trace shows {sorted(codes - covered)}"
    assert ReasonCode.PROBE_LIVE_LINK.value not in covered
    assert set(PATHS) <= covered
    for kind in ("timeout", "http_5xx", "http_4xx", "unreachable", "malformed"):
        assert f"cloud_{kind}" in covered
