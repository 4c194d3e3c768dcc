"""The Android harness's Java core: its JUnit suite (with the parity replay) and the golden traces.

The Java part builds and runs with Debian's JDK, JUnit 4, Hamcrest and Gson (``make java-deps``); it
fails, never skips, when they are missing. The traces the Java core replays were written by the
Python runtime on the real digits bundle; here they are re-run by the current Python runtime, so a
change of the Python decision logic cannot leave them silently stale.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from android_harness.parity import generate as parity
from mmnet.format.vocabulary import PATHS, ReasonCode

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "android_harness" / "core"
RESOURCES = CORE / "src" / "test" / "resources" / "parity"
BUNDLE = ROOT / "bundles" / "digits"
JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar", "/usr/share/java/gson.jar")
REGENERATE = ".venv/bin/python -m android_harness.parity.generate --bundle bundles/digits --out " + str(RESOURCES.relative_to(ROOT))
# Calibrated confidences go through pow/log/exp, whose last bits may differ between Python versions
# (3.12's sum() is compensated) and from Java's StrictMath; everything else must match exactly.
_CONFIDENCE_TOLERANCE = 1e-12


def test_java_core_builds_and_its_junit_suite_passes(tmp_path: Path) -> None:
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [jar for jar in JARS if not Path(jar).is_file()]
    if missing:
        pytest.fail(f"the Android harness core needs {missing}: run `make java-deps` "
                    "(Debian packages default-jdk-headless junit4 libhamcrest-java libgoogle-gson-java)")
    proc = subprocess.run(["bash", str(CORE / "build.sh"), str(tmp_path / "build")], capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"android_harness/core/build.sh failed:\n{output[-6000:]}"
    classes = re.search(r"^running \d+ test classes: (.*)$", proc.stdout, re.M)
    assert classes, output[-2000:]
    # The replay of the golden traces, and the sentences rendered from the shared templates as Python renders them.
    assert {"org.mmnet.core.parity.ParityReplayTest", "org.mmnet.core.select.ReasonTest"} <= set(classes.group(1).split())
    passed = re.search(r"^OK \((\d+) tests\)$", proc.stdout, re.M)
    traces = json.loads((RESOURCES / "index.json").read_text(encoding="utf-8"))["traces"]
    assert passed and int(passed.group(1)) > len(traces), output[-2000:]


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=_CONFIDENCE_TOLERANCE, abs_tol=1e-15)


def first_difference(committed: dict[str, Any], fresh: dict[str, Any]) -> str | None:
    """Where two traces differ (None if they agree): exact, except calibrated confidences."""
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
            if column == "detector" and a and b and a[:1] + a[2:] == b[:1] + b[2:] and (a[1] == b[1] or _close(a[1], b[1])):
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
    codes = {code.value for code in ReasonCode}
    assert codes <= covered, f"no trace shows {sorted(codes - covered)}"
    assert set(PATHS) <= covered
    for kind in ("timeout", "http_5xx", "http_4xx", "unreachable", "malformed"):
        assert f"cloud_{kind}" in covered


def test_golden_traces_are_the_bundles_interpreter_outputs(tmp_path: Path) -> None:
    if not (BUNDLE / "manifest.json").is_file():
        pytest.skip("bundles/digits is not built (`make demo`); test_committed_traces_match_the_python_runtime still "
                    "checks the committed traces against the Python runtime")
    if (BUNDLE / "manifest.json").read_bytes() != (RESOURCES / "manifest.json").read_bytes():
        # A rebuilt bundle has other models; the traces stay valid for their own recording.
        pytest.skip(f"bundles/digits is not the bundle the golden traces were recorded from; refresh them with `{REGENERATE}`")
    out = tmp_path / "parity"
    parity.generate(BUNDLE, out)
    committed = sorted(p.relative_to(RESOURCES) for p in RESOURCES.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert committed == fresh
    differing = [str(p) for p in committed if (RESOURCES / p).read_bytes() != (out / p).read_bytes()]
    assert not differing, (f"{differing} differ from what bundles/digits and the Python runtime give now; regenerate with "
                           f"`{REGENERATE}` and make the Java core pass ParityReplayTest again")
