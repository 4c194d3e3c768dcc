"""The golden traces the Android harness's Java core replays.

They were written by the Python runtime on the real digits bundle (``parity``: M&MNet minion pairs) and
digits-sieve bundle (``parity-sieve``: one SIEVE model speculating); here they are re-run by the current
Python runtime, so a change of the Python decision logic cannot leave them silently stale. The Java
build and its JUnit suite are tested in tests/integration/test_android_core.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from android_harness.parity import generate as parity
from mmnet.format.packed_model import unpack_model
from mmnet.format.vocabulary import PATHS, ReasonCode

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "android_harness" / "core"
RESOURCES = CORE / "src" / "test" / "resources" / "parity"
SIEVE_RESOURCES = CORE / "src" / "test" / "resources" / "parity-sieve"
# Each directory of golden traces and the bundle it was generated from (BUILD.md says how each bundle is built).
BUNDLES = {RESOURCES: "bundles/digits", SIEVE_RESOURCES: "bundles/digits-sieve"}


def regenerate(resources: Path) -> str:
    return (f".venv/bin/python -m android_harness.parity.generate --bundle {BUNDLES[resources]} "
            f"--out {resources.relative_to(ROOT)}")


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


@pytest.mark.parametrize("resources", list(BUNDLES), ids=lambda p: p.name)
def test_committed_traces_match_the_python_runtime(resources: Path) -> None:
    index = json.loads((resources / "index.json").read_text(encoding="utf-8"))
    replayed = parity.replay_resources(resources)
    assert list(replayed) == index["traces"]
    stale = {}
    for name, (committed, fresh) in replayed.items():
        difference = first_difference(committed, fresh)
        if difference is not None:
            stale[name] = difference
    assert not stale, (f"the Python runtime no longer makes the decisions of the committed golden traces: {stale}. "
                       f"Regenerate them with `{regenerate(resources)}` (needs the built bundle), then make the Java "
                       "core pass ParityReplayTest again")


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


def _sieve_rows() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    index = json.loads((SIEVE_RESOURCES / "index.json").read_text(encoding="utf-8"))
    out = []
    for name in index["traces"]:
        trace = parity.load_trace(SIEVE_RESOURCES / "traces" / f"{name}.json")
        out += [(name, trace, row) for row in parity.rows(trace)]
    return out


def test_sieve_traces_are_one_sieve_model_speculating_in_every_mode_and_profile() -> None:
    manifest = json.loads((SIEVE_RESOURCES / "manifest.json").read_text(encoding="utf-8"))
    config = json.loads((SIEVE_RESOURCES / "runtime_config.json").read_text(encoding="utf-8"))
    records = {m["id"]: m for m in manifest["models"]}
    assert config["systems"] and all(len(s["minions"]) == 1 and records[s["minions"][0]].get("sieve")
                                     for s in config["systems"].values())
    speculated: dict[str, set[str]] = {}
    for _, trace, row in _sieve_rows():
        if row["error"] is None and (row["path"] in ("minions", "minions_unchecked") or row["recovered"]):
            speculated.setdefault(trace["systems"][row["system"]], set()).add(
                f"{trace['options']['mode']}/{trace['options']['network'] or config['default_profile']}")
    assert set(speculated) == set(config["systems"]), "every SIEVE system of the bundle speculates in some trace"
    seen = set().union(*speculated.values())
    assert {"normal/3g", "normal/lte", "normal/wifi", "power_saving/lte", "power_saving/wifi"} <= seen
    covered = set(json.loads((SIEVE_RESOURCES / "index.json").read_text(encoding="utf-8"))["covered"])
    # recovery by the master on the device and in the cloud, the history rules, the re-costing, every cloud fault
    assert {"master_device", "master_cloud", "minions", "minions_unchecked", "history_agreed", "history_corrected",
            "configured_system", "runner_up", "minions_not_worth_it", "no_minion_system"} <= covered
    assert {f"cloud_{kind}" for kind in ("timeout", "http_5xx", "http_4xx", "unreachable", "malformed")} <= covered
    detectors = {("logistic" if isinstance(row["detector"], dict) else "per_class") for _, _, row in _sieve_rows()
                 if row["detector"] is not None}
    assert detectors == {"logistic", "per_class"}


def test_the_committed_sieve_model_unpacks_in_python_to_the_flatbuffer_the_manifest_records() -> None:
    manifest = json.loads((SIEVE_RESOURCES / "manifest.json").read_text(encoding="utf-8"))
    files = sorted((SIEVE_RESOURCES / "models").iterdir())
    assert [p.suffix for p in files] == [".packed"]
    record = next(m for m in manifest["models"] if m["file"] and Path(m["file"]).name == files[0].name)
    container = files[0].read_bytes()
    assert hashlib.sha256(container).hexdigest() == record["sha256"]
    tflite = unpack_model(container, record["packing"], where=str(files[0]))
    assert hashlib.sha256(tflite).hexdigest() == record["packing"]["tflite_sha256"] and tflite[4:8] == b"TFL3"


@pytest.mark.parametrize("resources", list(BUNDLES), ids=lambda p: p.name)
def test_the_generators_conditions_are_the_committed_ones(resources: Path) -> None:
    """The conditions the generator would run on each bundle's config (frame orders aside, which need the
    bundle's models) are the committed traces': names, options and config patches; a one-minion config's
    without the two-minion condition and the derived ones, with its own, at most 40 frames each."""
    config = json.loads((resources / "runtime_config.json").read_text(encoding="utf-8"))
    index = json.loads((resources / "index.json").read_text(encoding="utf-8"))
    pools = {"plain": tuple(range(360)), "history_normal": tuple(range(120)), "history_power_saving": tuple(range(120))}
    conditions = parity._conditions(config, pools)
    derived = [name for name, _, _ in parity._derived_for(config)]
    assert [c.name for c in conditions] + derived == index["traces"]
    for cond in conditions:
        trace = parity.load_trace(resources / "traces" / f"{cond.name}.json")
        assert trace["options"] == cond.options_json(), cond.name
        assert trace["config_patches"] == json.loads(json.dumps(
            [{"path": list(path), "value": value} for path, value in cond.patches])), cond.name
    one_minion = resources == SIEVE_RESOURCES
    assert parity._one_minion(config) is one_minion
    assert (derived == []) is one_minion
    names = {c.name for c in conditions}
    assert ("relaxed-lte-power_saving-device" in names) is not one_minion
    assert ({"candidates-3g-normal-client", "candidates-lte-normal-client", "candidates-wifi-normal-client"} <= names) \
        is one_minion
    if one_minion:
        base = parity._base_patches(config)
        assert base and all(c.patches[:len(base)] == base and len(c.frames) <= 40 for c in conditions)
