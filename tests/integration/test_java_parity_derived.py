"""The derived golden traces (``DERIVED`` in android_harness/parity/generate.py) are what ``--extend`` writes
from the committed recording: the Java core's ParityReplayTest replays them like every other trace.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from android_harness.parity import generate as parity

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "android_harness" / "core" / "src" / "test" / "resources" / "parity"


def _without_derived(tmp_path: Path) -> Path:
    copy = tmp_path / "parity"
    shutil.copytree(RESOURCES, copy)
    index = json.loads((copy / "index.json").read_text(encoding="utf-8"))
    derived = [name for name, _, _ in parity.DERIVED]
    for name in derived:
        (copy / "traces" / f"{name}.json").unlink()
    traces = [parity.load_trace(copy / "traces" / f"{n}.json") for n in index["traces"] if n not in derived]
    bundle, _, _ = parity._resource_bundle(copy)
    (copy / "index.json").write_text(json.dumps(parity._index(bundle, traces), indent=2) + "\n", encoding="utf-8")
    return copy


def test_extend_writes_the_committed_derived_traces_from_the_recording(tmp_path: Path) -> None:
    copy = _without_derived(tmp_path)
    assert parity.main(["--extend", "--out", str(copy)]) == 0
    for path in sorted(RESOURCES.rglob("*")):
        if path.is_file():
            relative = path.relative_to(RESOURCES)
            assert (copy / relative).read_bytes() == path.read_bytes(), f"{relative} differs from what --extend writes"
    assert parity.extend(copy) == []  # nothing left to add


def test_the_resolution_trace_costs_a_shared_resolution_once() -> None:
    name, base_name, _ = parity.DERIVED[0]
    trace = parity.load_trace(RESOURCES / "traces" / f"{name}.json")
    base = parity.load_trace(RESOURCES / "traces" / f"{base_name}.json")
    patched = {tuple(p["path"]): p["value"] for p in trace["config_patches"]}
    assert all("resolution" in entry for path, entry in patched.items() if path[0] == "latency")
    changed = [(a["expected_ms"], b["expected_ms"]) for a, b in zip(parity.rows(trace), parity.rows(base))
               if a["expected_ms"] != b["expected_ms"]]
    assert changed, "the resolutions change no expected latency"
    assert [r["path"] for r in parity.rows(trace)] == [r["path"] for r in parity.rows(base)]


def test_a_derived_condition_that_decides_otherwise_is_refused() -> None:
    name, base_name, _ = parity.DERIVED[0]
    trace = parity.load_trace(RESOURCES / "traces" / f"{name}.json")
    base = parity.load_trace(RESOURCES / "traces" / f"{base_name}.json")
    column = trace["columns"].index("path")
    trace["frames"][0][column] = "master_device" if trace["frames"][0][column] != "master_device" else "minions"
    with pytest.raises(parity.ParityError, match="must decide as its base"):
        parity._check_derived(trace, base)
