"""The detector re-split benchmark reads the risk settings a bundle was configured with."""

from __future__ import annotations

import json
from pathlib import Path

from mmnet.benchmarks.detectors import recorded_risk
from mmnet.pipeline.config import DetectorConfig


def _certification(epsilon: float, delta: float) -> dict:
    return {"certification": {"epsilon": epsilon, "delta": delta}}


def test_recorded_risk_reads_each_modes_epsilon_and_skips_modes_without_a_detector(tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    systems = [
        {"system": "single:a", "modes": {"normal": None, "power_saving": None}},  # never reached a target
        {"system": "pair:a+b", "modes": {"normal": {"members": {"logistic": _certification(0.005, 0.05), "chosen": "logistic"}},
                                         "power_saving": {"members": {"logistic": _certification(0.02, 0.05)}}}},
    ]
    (tmp_path / "report" / "systems.json").write_text(json.dumps(systems))
    assert recorded_risk(tmp_path) == (0.05, {"normal": 0.005, "power_saving": 0.02})


def test_recorded_risk_falls_back_to_the_defaults_without_a_report(tmp_path: Path) -> None:
    defaults = DetectorConfig()
    assert recorded_risk(tmp_path) == (defaults.delta, {"normal": defaults.epsilon.normal,
                                                        "power_saving": defaults.epsilon.power_saving})
