"""The Android harness's Java modules built and tested with Maven (android_harness/pom.xml), offline, from what
``make setup`` fetched: the core's JUnit suite with the parity replay, and the app's code under Robolectric. It fails,
never skips, when mvn or the fetched dependencies are missing. And the golden traces regenerated from the bundles they
were recorded from (``bundles/digits`` of ``make demo``, ``bundles/digits-sieve``), when those are built.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from android_harness.parity import generate as parity

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "android_harness"
CORE = HARNESS / "core"
APP = HARNESS / "app" / "harness"
RESOURCES = CORE / "src" / "test" / "resources"
# Each directory of golden traces and the bundle it was recorded from.
TRACES = {"parity": ROOT / "bundles" / "digits", "parity-sieve": ROOT / "bundles" / "digits-sieve"}


def _regenerate(name: str) -> str:
    return (f".venv/bin/python -m android_harness.parity.generate --bundle {TRACES[name].relative_to(ROOT)} --out "
            f"{(RESOURCES / name).relative_to(ROOT)}")


MAVEN = ["mvn", "-o", "-B", "-q", "-Dstyle.color=never", "-f", str(HARNESS / "pom.xml"), "clean", "test"]


def _reports(module: Path) -> dict[str, tuple[int, int]]:
    """Test class -> (tests, failures + errors) from the module's Surefire reports."""
    out: dict[str, tuple[int, int]] = {}
    for report in sorted((module / "target" / "surefire-reports").glob("TEST-*.xml")):
        suite = ET.parse(report).getroot()
        out[suite.get("name", report.stem)] = (int(suite.get("tests", 0)),
                                               int(suite.get("failures", 0)) + int(suite.get("errors", 0)))
    return out


@pytest.mark.java
def test_java_modules_build_and_their_tests_pass() -> None:
    if shutil.which("mvn") is None or shutil.which("java") is None:
        pytest.fail("the Android harness's Java build needs mvn and a JDK 17: run `make setup` "
                    "(Debian packages maven default-jdk-headless)")
    try:
        proc = subprocess.run(MAVEN, capture_output=True, text=True, timeout=900, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        tail = "".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else (p or "")
                       for p in (e.stdout, e.stderr))[-6000:]
        pytest.fail(f"`{' '.join(MAVEN)}` ran over {e.timeout:.0f} s:\n{tail}", pytrace=False)
    output = proc.stdout + proc.stderr
    status = proc.returncode
    assert status == 0, (f"`{' '.join(MAVEN)}` failed (offline: run `make setup` if a dependency is missing; "
                         f"details in android_harness/*/target/surefire-reports):\n{output[-6000:]}")
    core, app = _reports(CORE), _reports(APP)
    failed = {name: bad for name, (_, bad) in {**core, **app}.items() if bad}
    assert not failed, failed
    # The replay of the golden traces, and the sentences rendered from the shared templates as Python renders them.
    assert {"org.mmnet.core.parity.ParityReplayTest", "org.mmnet.core.select.ReasonTest",
            "org.mmnet.core.select.DsnnSelectorParityTest", "org.mmnet.core.packing.PackedModelTest",
            "org.mmnet.core.packing.PackedBundleTest"} <= set(core), sorted(core)
    traces = [t for name in TRACES for t in json.loads((RESOURCES / name / "index.json").read_text(encoding="utf-8"))["traces"]]
    assert core["org.mmnet.core.parity.ParityReplayTest"][0] >= len(traces)
    # The app's measurement code under Robolectric: the whole profile run and the failure paths.
    assert {"org.mmnet.harness.ProfileRunRobolectricTest", "org.mmnet.harness.HarnessServiceTest",
            "org.mmnet.harness.AndroidSourcesTest"} <= set(app), sorted(app)
    assert sum(n for n, _ in core.values()) >= 190 and sum(n for n, _ in app.values()) >= 10


@pytest.mark.parametrize("name", list(TRACES))
def test_golden_traces_are_the_bundles_interpreter_outputs(tmp_path: Path, name: str) -> None:
    bundle, resources = TRACES[name], RESOURCES / name
    if not (bundle / "manifest.json").is_file():
        pytest.skip(f"{bundle.relative_to(ROOT)} is not built (BUILD.md); test_committed_traces_match_the_python_runtime "
                    "still checks the committed traces against the Python runtime")
    if (bundle / "manifest.json").read_bytes() != (resources / "manifest.json").read_bytes():
        # A rebuilt bundle has other models; the traces stay valid for their own recording.
        pytest.skip(f"{bundle.relative_to(ROOT)} is not the bundle the golden traces were recorded from; refresh them with "
                    f"`{_regenerate(name)}`")
    out = tmp_path / name
    parity.generate(bundle, out)
    committed = sorted(p.relative_to(resources) for p in resources.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert committed == fresh
    differing = [str(p) for p in committed if (resources / p).read_bytes() != (out / p).read_bytes()]
    assert not differing, (f"{differing} differ from what {bundle.relative_to(ROOT)} and the Python runtime give now; "
                           f"regenerate with `{_regenerate(name)}` and make the Java core pass ParityReplayTest again")
