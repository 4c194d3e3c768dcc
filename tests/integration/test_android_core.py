"""The Android harness's Java core: its JUnit suite (with the parity replay) built with Debian's JDK, JUnit 4,
Hamcrest and Gson (``make java-deps``); it fails, never skips, when they are missing. And the golden traces
regenerated from the demo bundle (``make demo``), when it is the bundle they were recorded from.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from android_harness.parity import generate as parity

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "android_harness" / "core"
RESOURCES = CORE / "src" / "test" / "resources" / "parity"
BUNDLE = ROOT / "bundles" / "digits"
JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar", "/usr/share/java/gson.jar")
REGENERATE = (".venv/bin/python -m android_harness.parity.generate --bundle bundles/digits --out "
              + str(RESOURCES.relative_to(ROOT)))


@pytest.mark.java
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
