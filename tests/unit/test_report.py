"""mmnet.pipeline.report: the report data and its schema, the offline HTML page, its PNG plots and the model card.

The fixture below is synthetic but shaped like a real digits build: two int8 minions, one float32
master, a 10-bin reliability diagram per minion, a threshold sweep and three network profiles. Its
numbers are made up; the tests check that they reach the page, not that they are good.
"""

from __future__ import annotations

import copy
import math
import re
import struct
import zlib
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from mmnet.format.documents import load_schema
from mmnet.format.errors import BundleError, ConfigError
from mmnet.pipeline.report.data import validate_report_data
from mmnet.pipeline.report.files import report_files
from mmnet.pipeline.report.model_card import render_model_card, write_model_card
from mmnet.pipeline.report.page import render_page, write_report
from mmnet.pipeline.report.plots import PLOT_FILES, plots_with_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MINION_A = "mobilenet_v2-a0.35-r16-int8"
MINION_B = "mnasnet-a0.50-r16-int8"
MASTER = "mobilenet_v2-a1.00-r32-float32"
PAIR = f"pair:{MINION_A}+{MINION_B}"
ORACLE_TEST = 0.0317  # -> "3.17%" on the page
ACHIEVED_TEST = {"recovery_rate": 0.1234, "accuracy": 0.9652}


def _reliability(rng: np.random.Generator, overconfidence: float) -> dict:
    edges = [round(i / 10, 1) for i in range(11)]
    counts = [0, 0, 0, 2, 5, 9, 14, 30, 61, 239]  # the low bins are empty, as for a good minion
    accuracy, confidence = [], []
    for i, n in enumerate(counts):
        if n == 0:
            accuracy.append(None)
            confidence.append(None)
            continue
        mid = (edges[i] + edges[i + 1]) / 2
        confidence.append(round(mid + float(rng.uniform(-0.03, 0.03)), 4))
        accuracy.append(round(min(1.0, max(0.0, mid - overconfidence)), 4))
    return {"bin_edges": edges, "accuracy": accuracy, "confidence": confidence, "count": counts}


def _model(model_id: str, role: str, family: str, alpha: float, resolution: int, precision: str,
           val: float, test: float, calibration: dict | None, latency: float | None) -> dict:
    return {"id": model_id, "role": role, "family": family, "alpha": alpha, "resolution": resolution,
            "precision": precision, "bytes": int(40_000 * alpha * resolution), "params": int(9_000 * alpha * 10),
            "macs": int(2e5 * alpha * resolution ** 2 / 16), "blessed": True, "reason": "passed parity gate",
            "metrics": {"val_accuracy": val, "test_accuracy": test, "parity_top1": 0.998},
            "latency_ms": latency, "calibration": calibration}


def _risk_curve(oracle: float, slope: float) -> dict:
    """A risk-coverage curve: extra errors per frame fall from the oracle rate to 0 as more frames are recovered."""
    recovery = [round(i / 10, 4) for i in range(10, -1, -1)]
    return {"recovery_rate": recovery, "extra_error_rate": [round(max(0.0, oracle - slope * r), 4) for r in recovery]}


def _detector_member(*, reached: bool, epsilon: float, val: tuple = (), test: tuple = (), fn: float = 0.0,
                     fp: float = 0.0, extra_errors: int = 0, bound: float = 0.0) -> dict:
    """One detector member of the detectors block (pipeline/configure.py _member_summary)."""
    needed = 998 if epsilon < 0.005 else 299
    member = {"reached": reached,
              "certification": {"epsilon": epsilon, "delta": 0.1, "certified_rate": epsilon, "level": 0.05,
                                "frames": 360, "frames_to_certify": needed, "can_certify": 360 >= needed},
              "curve_val": _risk_curve(ORACLE_TEST, 0.4)}
    if reached:
        member["certification"].update(extra_errors=extra_errors, extra_error_upper_bound=bound)
        member.update({"oracle_recovery_rate_test": ORACLE_TEST,
                       "val": {"recovery_rate": val[0], "accuracy": val[1]},
                       "test": {"recovery_rate": test[0], "accuracy": test[1]},
                       "false_negative_rate_test": fn, "false_positive_rate_test": fp,
                       "curve_test": _risk_curve(ORACLE_TEST, 0.3)})
    return member


def _detectors_block() -> dict:
    """The detectors block: the pair in normal mode ships the logistic regression, in power-saving mode the
    per-class rule (the logistic regression does not reach the target there)."""
    return {
        "settings": {"members": ["per_class_confidence", "logistic"], "threshold_mode": "point", "delta": 0.1,
                     "epsilon": {"normal": 0.003, "power_saving": 0.01}, "prior_frames": 10.0, "folds": 5,
                     "window_frames": 0},
        "sieve": {"false_negative_rate": {"3g": 0.007, "lte": 0.008, "wifi": 0.004}, "false_positive_rate_below": 0.005,
                  "source": "dissertation §4.5.5 (SIEVE, energy-optimised)"},
        "systems": [
            {"system": PAIR, "tuning": "normal", "chosen": "logistic", "oracle_recovery_rate_test": ORACLE_TEST,
             "achieved_recovery_rate_test": 0.0611, "accuracy_test": 0.9806, "efficiency": ORACLE_TEST / 0.0611,
             "members": {
                 "per_class_confidence": _detector_member(reached=True, epsilon=0.003, val=(0.0556, 0.9861),
                                                          test=(0.0722, 0.9806), fn=0.0083, fp=0.0444,
                                                          extra_errors=1, bound=0.0108),
                 "logistic": _detector_member(reached=True, epsilon=0.003, val=(0.0472, 0.9833), test=(0.0611, 0.9806),
                                              fn=0.0139, fp=0.0433, extra_errors=2, bound=0.0147)}},
            {"system": PAIR, "tuning": "power_saving", "chosen": "per_class_confidence",
             "oracle_recovery_rate_test": ORACLE_TEST, "achieved_recovery_rate_test": 0.0444, "accuracy_test": 0.9778,
             "efficiency": ORACLE_TEST / 0.0444,
             "members": {
                 "per_class_confidence": _detector_member(reached=True, epsilon=0.01, val=(0.0389, 0.9806),
                                                          test=(0.0444, 0.9778), fn=0.0083, fp=0.0211,
                                                          extra_errors=3, bound=0.0185),
                 "logistic": _detector_member(reached=False, epsilon=0.01)}},
        ],
    }


def make_report_data(*, reference: str = "labels", chosen: bool = True, latency_model: bool = True,
                     power_measured: bool = False, detectors: bool = True) -> dict:
    """A complete, realistic report-data dict (layout: pipeline/report/schemas/report_data.schema.json)."""
    rng = np.random.default_rng(7)
    labels = [str(i) for i in range(10)]
    cal_a = {"temperature": 1.42, "ece_before": 0.0612, "ece_after": 0.0184,
             "test_ece_before": 0.0655, "test_ece_after": 0.0211}
    cal_b = {"temperature": 1.17, "ece_before": 0.0433, "ece_after": 0.0157,
             "test_ece_before": 0.0471, "test_ece_after": 0.0199}
    models = [
        _model(MASTER, "master", "mobilenet_v2", 1.0, 32, "float32", 0.9861, 0.9833, None, 4.81),
        _model(MINION_A, "minion", "mobilenet_v2", 0.35, 16, "int8", 0.9389, 0.9361, cal_a, 0.42),
        _model(MINION_B, "minion", "mnasnet", 0.5, 16, "int8", 0.9444, 0.9389, cal_b, None),
    ]
    profiles = {
        "wifi": {"uplink_mbps": 20.0, "downlink_mbps": 60.0, "rtt_ms": 18.0, "source": "Ookla median 2023 (assumed)"},
        "lte": {"uplink_mbps": 8.0, "downlink_mbps": 30.0, "rtt_ms": 55.0, "source": "OpenSignal LTE report",
                "jitter_ms": 12.0},
        "3g": {"uplink_mbps": 0.4, "downlink_mbps": 1.5, "rtt_ms": 210.0, "source": "dissertation table 6.2"},
    }
    candidates = []
    selection = {}
    placement = {}
    for p_index, profile in enumerate(profiles):
        cloud = 30.0 + 60.0 * p_index
        placement[profile] = {"device_ms": 4.81, "cloud_ms": cloud, "choice": "device"}
        master_row = {"system": "master-only", "minions": [], "profile": profile, "mode": "normal",
                      "placement": "device", "expected_latency_ms": 4.81, "expected_energy_mj": 9.62,
                      "accuracy": 0.9861, "recovery_rate": 1.0, "meets_target": True, "chosen": False}
        candidates.append(master_row)
        candidates.append({**master_row, "placement": "cloud", "expected_latency_ms": cloud,
                           "expected_energy_mj": 3.1 + p_index})
        for mode, accuracy, rate in (("normal", 0.9861, 0.121), ("power_saving", 0.9763, 0.071)):
            for system, minions, latency in ((PAIR, [MINION_A, MINION_B], 1.43),
                                             (f"single:{MINION_A}", [MINION_A], 1.02)):
                lat = latency + rate * 4.81 + 0.01 * p_index
                candidates.append({"system": system, "minions": minions, "profile": profile, "mode": mode,
                                   "placement": "device", "expected_latency_ms": round(lat, 3),
                                   "expected_energy_mj": round(2 * lat, 3),
                                   "accuracy": accuracy - (0.004 if system != PAIR else 0.0),
                                   "recovery_rate": rate, "meets_target": system == PAIR,
                                   "chosen": system == PAIR and chosen})
        chosen_system = PAIR if chosen else "master-only"
        selection[profile] = {
            "normal": {"system": chosen_system, "placement": "device",
                       "expected": {"latency_ms": 2.01 if chosen else 4.81, "energy_mj": 4.02 if chosen else 9.62,
                                    "recovery_rate": 0.121 if chosen else 1.0, "accuracy": 0.9861},
                       "runner_ups": [f"single:{MINION_A}"], "why": "lowest expected latency meeting 100% of the master"},
            "power_saving": {"system": chosen_system, "placement": "device",
                             "expected": {"latency_ms": 1.77, "energy_mj": 3.54, "recovery_rate": 0.071,
                                          "accuracy": 0.9763},
                             "runner_ups": [], "why": "lowest expected energy meeting 99% of the master"},
            "private": {"system": chosen_system, "placement": "device",
                        "expected": {"latency_ms": 2.01, "energy_mj": 4.02, "recovery_rate": 0.121, "accuracy": 0.9861},
                        "runner_ups": [], "why": "cloud excluded: inputs never leave the phone"},
            "mission_critical": {"system": "master-only", "placement": "device",
                                 "expected": {"latency_ms": 4.81, "energy_mj": 9.62, "recovery_rate": 1.0,
                                              "accuracy": 0.9861},
                                 "runner_ups": [], "why": "every input goes to the master"},
        }
    sweep = np.linspace(0.0, 1.0, 41)
    curve = {split: {"recovery_rate": [round(float(r), 4) for r in sweep],
                     "accuracy": [round(float(0.9389 + (0.9861 - 0.9389) * (1 - (1 - r) ** 6) - shift), 4)
                                  for r in sweep]}
             for split, shift in (("val", 0.0), ("test", 0.0028))}
    chosen_block = {
        "system": PAIR, "minions": [MINION_A, MINION_B], "profile": "lte", "curve": curve,
        "operating_points": [
            {"mode": "normal", "kind": "per_class", "split": "val", "recovery_rate": 0.121, "accuracy": 0.9861,
             "threshold": None},
            {"mode": "normal", "kind": "single", "split": "val", "recovery_rate": 0.139, "accuracy": 0.9861,
             "threshold": 0.8713},
            {"mode": "power_saving", "kind": "per_class", "split": "val", "recovery_rate": 0.071,
             "accuracy": 0.9763, "threshold": None},
            {"mode": "normal", "kind": "per_class", "split": "test", **ACHIEVED_TEST, "threshold": None},
        ],
        "confidence": {"correct": [round(float(v), 4) for v in rng.beta(30, 1.2, 330)],
                       "correctable": [round(float(v), 4) for v in rng.beta(4, 2, 20)],
                       "uncorrectable": [] if reference == "master" else [0.41, 0.77, 0.93]},
        "oracle_recovery_rate_test": ORACLE_TEST,
        "achieved_test": dict(ACHIEVED_TEST),
        "per_class_vs_single": {
            "val": {"per_class": {"recovery_rate": 0.121, "accuracy": 0.9861},
                    "single": {"recovery_rate": 0.139, "accuracy": 0.9861}},
            "test": {"per_class": {"recovery_rate": 0.1234, "accuracy": 0.9652},
                     "single": {"recovery_rate": 0.1408, "accuracy": 0.9624}},
            "verdict": "per-class thresholds recover 1.80 points fewer inputs at equal val accuracy",
        },
    }
    return {
        "bundle": {"name": "digits-demo", "created_utc": "2025-05-04T10:11:12Z",
                   "dataset": {"source": "builtin:digits", "num_classes": 10, "frame_shape": [8, 8, 1],
                               "splits": {"train": 1077, "val": 360, "test": 360},
                               "fingerprint": "sha256:" + "ab12" * 16},
                   "labels": labels},
        "reference": reference,
        "targets": {"normal": 1.0, "power_saving": 0.99},
        "master": {"id": MASTER, "val_accuracy": 0.9861, "test_accuracy": 0.9833},
        "models": models,
        "calibration": {
            MINION_A: {"temperature": 1.42, "reliability_before": _reliability(rng, 0.06),
                       "reliability_after": _reliability(rng, 0.01)},
            MINION_B: {"temperature": 1.17, "reliability_before": _reliability(rng, 0.04),
                       "reliability_after": _reliability(rng, 0.005)},
        },
        "chosen": chosen_block if chosen else None,
        "outcomes": [
            {"system": PAIR, "split": "val", "total": 360, "correct": 334, "correctable": 19,
             "uncorrectable": 7, "odd_correct": 2},
            {"system": PAIR, "split": "test", "total": 360, "correct": 331, "correctable": 11,
             "uncorrectable": 18, "odd_correct": 1},
        ],
        "candidates": candidates,
        "selection": selection,
        "placement": placement,
        "network_profiles": profiles,
        "device_profile": {"name": "build-host", "kind": "host", "compute_power_w": 2.0,
                           "power_measured": power_measured, "source": "assumed 2 W (typical phone SoC)"},
        "latency_model": {
            "models": [{"model": MASTER, "measured_ms": 4.81, "predicted_ms": 5.02, "error_pct": 4.4},
                       {"model": MINION_A, "measured_ms": 0.42, "predicted_ms": 0.39, "error_pct": -7.1},
                       {"model": MINION_B, "measured_ms": 0.51, "predicted_ms": 0.55, "error_pct": 7.8}],
            "mape_pct": 6.43, "median_ape_pct": 7.1, "layer_samples": 412, "seconds": 3.2,
        } if latency_model else None,
        "test_check": {"normal": {"accuracy": 0.9652, "recovery_rate": 0.1234},
                       "power_saving": {"accuracy": 0.9611, "recovery_rate": 0.0744},
                       "master_test_accuracy": 0.9833},
        "notes": ["digits is tiny: 360 test inputs", "one note with <b>markup</b> & an ampersand"],
        **({"detectors": _detectors_block()} if detectors else {}),
    }


def _text(index: Path) -> str:
    """The page's visible text, whitespace-collapsed and unescaped (tags removed)."""
    import html as html_module

    raw = index.read_text(encoding="utf-8")
    raw = re.sub(r"<style>.*?</style>", " ", raw, flags=re.S)
    raw = re.sub(r"</?(b|code|em|span|a)\b[^>]*>", "", raw)  # inline tags: no word break
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert zlib.crc32(data[12:29]) == crc, f"{path.name}: IHDR checksum mismatch"
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND" or b"IEND" in data[-12:], f"{path.name} is truncated"
    return width, height


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> Path:
    return write_report(make_report_data(), tmp_path_factory.mktemp("labeled") / "report")


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory) -> Path:
    return write_report(make_report_data(reference="master"), tmp_path_factory.mktemp("unlabeled") / "report")


# ------------------------------------------------------------------------------------ files


def test_every_referenced_file_exists_and_all_plots_are_linked(labeled):
    assert labeled.name == "index.html"
    files = report_files(labeled)
    assert files, "the report references no files"
    for name in files:
        assert (labeled.parent / name).is_file(), f"index.html references missing {name}"
    pngs = sorted(f for f in files if f.endswith(".png"))
    assert pngs == sorted(["accuracy_vs_recovery.png", "confidence_histograms.png", "reliability_diagrams.png",
                           "pareto_latency_accuracy.png", "latency_model.png", "detector_risk_coverage.png"])
    # nothing unreferenced is left beside the page either
    assert sorted(p.name for p in labeled.parent.glob("*.png")) == pngs


def test_plots_are_valid_pngs_of_real_size(labeled):
    pngs = [name for name in report_files(labeled) if name.endswith(".png")]
    assert pngs
    for name in pngs:
        path = labeled.parent / name
        width, height = _png_size(path)
        assert width >= 300 and height >= 250, f"{name} is {width}x{height}"
        assert path.stat().st_size > 8_000, f"{name} is only {path.stat().st_size} bytes"


def test_report_is_self_contained_offline(labeled):
    raw = labeled.read_text(encoding="utf-8")
    assert "<script" not in raw.lower()
    assert "<link" not in raw.lower()
    assert "@import" not in raw and "url(" not in raw
    assert not re.search(r'(src|href)="(https?:)?//', raw), "external resource referenced"
    assert raw.startswith("<!DOCTYPE html>") and raw.rstrip().endswith("</html>")


def test_same_data_gives_the_same_files(tmp_path):
    data = make_report_data(latency_model=False)
    first = write_report(data, tmp_path / "a")
    second = write_report(copy.deepcopy(data), tmp_path / "b")
    assert first.read_text() == second.read_text()
    assert report_files(first) == report_files(second)
    for name in report_files(first):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name


# ------------------------------------------------------------------------------------ content


def test_key_numbers_reach_the_page(labeled):
    text = _text(labeled)
    assert "3.17%" in text  # oracle recovery rate on test
    assert "oracle recovery rate (minion wrong, master right) 3.17%; achieved P_r 12.34% at accuracy 96.52%" in text
    assert "the system's accuracy is 96.52% vs the master's 98.33% (-1.81 points)" in text
    # per-class vs single on both splits, with numbers, and the integrator's verdict
    assert ("val: per-class P_r 12.10% at accuracy 98.61%; single threshold P_r 13.90% at accuracy 98.61% "
            "→ per-class sends 1.80 points fewer inputs to the master.") in text
    assert "test: per-class P_r 12.34% at accuracy 96.52%; single threshold P_r 14.08% at accuracy 96.24%" in text
    assert "(the accuracy values differ by 0.28 points, so this is not at equal accuracy)" in text
    assert "per-class thresholds recover 1.80 points fewer inputs at equal val accuracy" in text
    # normal-mode choice per profile vs the master alone (device placement: 4.81 ms / 9.62 mJ)
    for profile in ("wifi", "lte", "3g"):
        assert f"{profile}: {PAIR}, master on the device; expected 2.01 ms and 4.02 mJ per input vs 4.81 ms " \
               "and 9.62 mJ for the master alone (device: 2.4x less latency, 2.4x less energy)" in text
    assert "MAPE 6.4%" in text
    assert "6.12%" in text and "1.84%" in text  # val ECE before / after of minion A
    assert "every input goes to the master" in text  # a selection "why"
    assert "dissertation table 6.2" in text  # a network profile source
    assert "assumed, not measured" in text
    assert "331 (91.9%)" in text  # outcome counts with shares
    assert "no minion system beats the master alone" not in text
    assert "agreement with the master" not in text


def test_strings_from_the_data_are_escaped(tmp_path):
    data = make_report_data()
    data["bundle"]["name"] = "<script>alert('x')</script>"
    data["notes"] = ['a & b <img src="evil.png">']
    data["selection"]["lte"]["normal"]["why"] = "<b>bold</b>"
    index = write_report(data, tmp_path / "r")
    raw = index.read_text()
    assert "<script>" not in raw and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in raw
    assert "a &amp; b &lt;img src=&quot;evil.png&quot;&gt;" in raw
    assert "&lt;b&gt;bold&lt;/b&gt;" in raw
    assert "evil.png" not in report_files(index)


def test_unlabeled_mode_says_agreement_with_the_master(unlabeled, labeled):
    text = _text(unlabeled)
    assert "Unlabeled calibration mode" in text
    assert "agreement with the master" in text
    assert "the system's agreement with the master is 96.52% vs the master's 98.33%" in text
    assert "at agreement 96.52%" in text
    assert "Unlabeled calibration mode" not in _text(labeled)
    for name in report_files(unlabeled):
        assert (unlabeled.parent / name).is_file()


def test_master_only_everywhere_is_stated_plainly(tmp_path):
    out = tmp_path / "report"
    write_report(make_report_data(), out)  # a previous run left the chosen-system plots here
    index = write_report(make_report_data(chosen=False, latency_model=False), out)
    text = _text(index)
    assert "Master-only was chosen for every network profile: no minion system beats the master alone here." in text
    for profile in ("wifi", "lte", "3g"):
        assert f"{profile}: master only (device) — no minion system beats the master alone here." in text
    files = report_files(index)
    assert "accuracy_vs_recovery.png" not in files and "confidence_histograms.png" not in files
    assert "latency_model.png" not in files
    assert not (out / "accuracy_vs_recovery.png").exists(), "a stale plot was left beside the page"
    assert not (out / "latency_model.png").exists()
    assert "No latency regression in this bundle" in text
    for name in files:
        assert (out / name).is_file()
    _png_size(out / "pareto_latency_accuracy.png")


def test_detectors_section_shows_the_numbers(labeled):
    text = _text(labeled)
    raw = labeled.read_text(encoding="utf-8")
    assert '<a href="#detectors">detectors</a>' in raw
    assert raw.index('id="chosen"') < raw.index('id="detectors"') < raw.index('id="selection"')
    assert ("fits every detector member (per-class confidence (the paper's rule), logistic regression) on val, "
            "cross-fitted over 5 folds") in text
    assert "by the point rule" in text
    assert "Risk: δ = 0.1, ε (extra errors per frame) normal 0.30%; power-saving 1.00%, as a long-run rate." in text
    assert "prior of 10 frames" in text
    # per row: system, mode, shipped member, achieved and oracle test P_r, efficiency, test accuracy
    assert f"{PAIR} normal logistic regression 6.11% 3.17% 0.52 98.06%" in text
    assert f"{PAIR} power-saving per-class confidence 4.44% 3.17% 0.71 97.78%" in text
    # members: cross-fitted val, test, FN/FP on test, the 90% bound and whether val can certify epsilon
    assert f"{PAIR}, normal member reached val P_r" in text
    assert ("per-class confidence yes 5.56% 98.61% 7.22% 98.06% 0.83% 4.44% 1.08% (1 in 360) "
            "needs 998 frames (has 360)") in text
    assert ("logistic regression (shipped) yes 4.72% 98.33% 6.11% 98.06% 1.39% 4.33% 1.47% (2 in 360) "
            "needs 998 frames (has 360)") in text
    assert "extra errors/frame, 90% upper bound (val)" in text
    assert "per-class confidence (shipped) yes 3.89% 98.06% 4.44% 97.78% 0.83% 2.11% 1.85% (3 in 360) yes" in text
    assert "logistic regression no - - - - - - - yes" in text
    # SIEVE §4.5.5 beside ours (the shipped members: FN 1.39% and 0.83%, FP 4.33% and 2.11%)
    assert "FN 0.70% / 0.80% / 0.40% (3G / LTE / Wi-Fi), FP < 0.50%" in text
    assert "ours (shipped detectors, test, per frame, over 2 system-mode rows): FN 0.83–1.39%, FP 2.11–4.33%" in text
    assert "Source: dissertation §4.5.5 (SIEVE, energy-optimised)." in text
    assert '<img src="detector_risk_coverage.png" alt="detector risk-coverage curves">' in raw
    width, height = _png_size(labeled.parent / "detector_risk_coverage.png")
    assert width >= 600 and height >= 300


def test_detectors_section_escapes_and_reads_without_a_detectors_block(tmp_path):
    data = make_report_data()
    data["detectors"]["sieve"]["source"] = "<i>SIEVE</i> & co"
    data["detectors"]["systems"][0]["system"] = "<b>pair</b>"
    raw = write_report(data, tmp_path / "r").read_text()
    assert "&lt;i&gt;SIEVE&lt;/i&gt; &amp; co" in raw and "&lt;b&gt;pair&lt;/b&gt;" in raw
    assert "<i>SIEVE" not in raw and "<b>pair</b>" not in raw
    out = tmp_path / "r"  # the detectors plot from the run above is stale once the block is absent
    index = write_report(make_report_data(detectors=False), out)
    raw = index.read_text()
    assert 'id="detectors"' not in raw and "#detectors" not in raw
    assert "detector_risk_coverage.png" not in report_files(index)
    assert not (out / "detector_risk_coverage.png").exists()
    data = make_report_data()
    data["detectors"]["systems"] = []
    assert "detector_risk_coverage" not in plots_with_data(data)
    text = render_page(validate_report_data(data), {key: PLOT_FILES[key] for key in plots_with_data(data)})
    assert 'id="detectors"' in text and "over 0 system-mode rows" not in text


# ------------------------------------------------------------------------------------ model card


def test_model_card_has_its_sections_and_numbers(tmp_path):
    card = write_model_card(make_report_data(), tmp_path / "card" / "model_card.md")
    text = card.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == ["Intended use", "Data", "Metrics", "Misspeculation detector", "Calibration", "Limitations"]
    assert f"| `{PAIR}` | normal | logistic | 6.11% | 3.17% | 0.52 |" in text
    assert f"| `{PAIR}` | power-saving | per-class-confidence | 4.44% | 3.17% | 0.71 |" in text
    assert text.startswith("# Model card: digits-demo")
    assert "test accuracy 98.33%" in text  # master
    assert "test accuracy 96.52% vs the master's 98.33%" in text  # chosen system
    assert "oracle 3.17%" in text
    assert "Small dataset" in text and "360 test" in text
    assert "measured on the build host" in text
    assert "Power is assumed, not measured" in text
    assert "Unlabeled mode" not in text
    assert "sha256:" in text


def test_model_card_unlabeled_and_measured_power(tmp_path):
    data = make_report_data(reference="master", chosen=False, power_measured=True)
    data["device_profile"].update(kind="android", name="Pixel 7")
    data["notes"] = ["pipes | and <tags>"]
    text = write_model_card(data, tmp_path / "model_card.md").read_text()
    assert "Unlabeled mode" in text and "agreement with the master" in text
    assert "no minion system beats the master alone here" in text
    assert "Power is assumed" not in text and "was measured" in text
    assert "measured on the build host" not in text and "Pixel 7" in text
    assert "pipes \\| and \\<tags\\>" in text


# ------------------------------------------------------------------------------------ report data


_DELETE = object()  # a table entry's value that removes the field instead


def _changed(path: tuple, value) -> dict:
    """The fixture with the field at ``path`` set to ``value`` (or removed: :data:`_DELETE`)."""
    data = make_report_data()
    *parents, last = path
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


# (path, value, what the message says). Each entry fails when its schema rule is loosened.
_BAD_FIELDS = [
    (("chosen", "oracle_recovery_rate_test"), _DELETE, r"\$\.chosen: 'oracle_recovery_rate_test' is a required property"),
    (("models", 1, "bytes"), "big", r"\$\.models\[1\]\.bytes: 'big' is not of type 'number'"),
    (("reference",), "gold", r"\$\.reference: 'gold' is not one of \['labels', 'master'\]"),
    (("master", "test_accuracy"), 1.5, r"\$\.master\.test_accuracy: 1\.5 is greater than the maximum of 1"),
    (("bundle", "dataset", "splits", "test"), -1, r"\$\.bundle\.dataset\.splits\.test: -1 is less than the minimum of 0"),
    (("bundle", "dataset", "num_classes"), 10.5, r"num_classes: 10\.5 is not of type 'integer'"),
    (("bundle", "labels"), ["0", 1], r"\$\.bundle\.labels\[1\]: 1 is not of type 'string'"),
    (("targets", "normal"), 0, r"\$\.targets\.normal: 0 is less than or equal to the minimum of 0"),
    (("models", 0, "alpha"), "wide", r"\$\.models\[0\]\.alpha: 'wide' is not of type 'number', 'null'"),
    (("models", 0, "role"), "teacher", r"\$\.models\[0\]\.role: 'teacher' is not one of \['master', 'minion'\]"),
    (("models", 1, "metrics", "val_accuracy"), 93.9, r"metrics\.val_accuracy: 93\.9 is greater than the maximum of 1"),
    (("models", 1, "calibration", "temperature"), 0.0, r"calibration\.temperature: 0\.0 is less than or equal to the min"),
    (("calibration", MINION_A, "reliability_after", "accuracy", 3), "x", r"reliability_after\.accuracy\[3\]: 'x' is not of"),
    (("chosen", "operating_points", 0, "kind"), "both", r"operating_points\[0\]\.kind: 'both' is not one of"),
    (("chosen", "operating_points", 0, "threshold"), _DELETE, r"'threshold' is a required property"),
    (("chosen", "confidence", "correct", 0), 1.2, r"\$\.chosen\.confidence\.correct\[0\]: 1\.2 is greater than the max"),
    (("chosen", "per_class_vs_single", "test", "single"), _DELETE, r"test: 'single' is a required property"),
    (("chosen", "achieved_test"), None, r"\$\.chosen\.achieved_test: None is not of type 'object'"),
    (("outcomes", 0, "correct"), 3.5, r"\$\.outcomes\[0\]\.correct: 3\.5 is not of type 'integer'"),
    (("outcomes", 1, "split"), "train", r"\$\.outcomes\[1\]\.split: 'train' is not one of \['val', 'test'\]"),
    (("candidates", 0, "placement"), "edge", r"\$\.candidates\[0\]\.placement: 'edge' is not one of \['device', 'cloud'\]"),
    (("candidates", 2, "meets_target"), "yes", r"meets_target: 'yes' is not of type 'boolean'"),
    (("selection", "lte", "normal", "expected", "latency_ms"), -1, r"\$\.selection\.lte\.normal\.expected\.latency_ms: -1 "),
    (("selection", "wifi", "private", "runner_ups"), [3], r"\$\.selection\.wifi\.private\.runner_ups\[0\]: 3 is not of type"),
    (("placement", "3g", "choice"), _DELETE, r"\$\.placement\['3g'\]: 'choice' is a required property"),
    (("network_profiles", "lte", "uplink_mbps"), 0, r"uplink_mbps: 0 is less than or equal to the minimum of 0"),
    (("device_profile", "power_measured"), "no", r"\$\.device_profile\.power_measured: 'no' is not of type 'boolean'"),
    (("latency_model", "layer_samples"), 4.5, r"\$\.latency_model\.layer_samples: 4\.5 is not of type 'integer'"),
    (("latency_model", "mape_pct"), None, r"\$\.latency_model\.mape_pct: None is not of type 'number'"),
    (("test_check", "normal"), {"accuracy": 0.9}, r"\$\.test_check\.normal: 'recovery_rate' is a required property"),
    (("test_check", "master_test_accuracy"), "high", r"master_test_accuracy: 'high' is not of type 'number'"),
    (("notes",), ["fine", 3], r"\$\.notes\[1\]: 3 is not of type 'string'"),
    (("detectors", "settings", "threshold_mode"), "strict",
     r"\$\.detectors\.settings\.threshold_mode: 'strict' is not one of \['point', 'guaranteed'\]"),
    (("detectors", "settings", "folds"), 1, r"\$\.detectors\.settings\.folds: 1 is less than the minimum of 2"),
    (("detectors", "settings", "epsilon", "normal"), 0, r"\$\.detectors\.settings\.epsilon\.normal: 0 is less than or equal"),
    (("detectors", "sieve", "false_negative_rate", "lte"), _DELETE,
     r"\$\.detectors\.sieve\.false_negative_rate: 'lte' is a required property"),
    (("detectors", "systems", 0, "members", "logistic", "false_negative_rate_test"), 1.5,
     r"\$\.detectors\.systems\[0\]\.members\.logistic\.false_negative_rate_test: 1\.5 is greater than the maximum of 1"),
    (("detectors", "systems", 0, "members", "per_class_confidence", "val"), _DELETE,
     r"\$\.detectors\.systems\[0\]\.members\.per_class_confidence: 'val' is a required property"),
    (("detectors", "systems", 0, "members", "logistic", "certification", "extra_error_upper_bound"), _DELETE,
     r"\$\.detectors\.systems\[0\]\.members\.logistic\.certification: 'extra_error_upper_bound' is a required"),
    (("detectors", "systems", 1, "members", "logistic", "curve_val", "extra_error_rate", 2), -0.1,
     r"\$\.detectors\.systems\[1\]\.members\.logistic\.curve_val\.extra_error_rate\[2\]: -0\.1 is less than"),
    (("detectors", "systems", 1, "efficiency"), "high", r"\$\.detectors\.systems\[1\]\.efficiency: 'high' is not of type"),
    (("detectors", "systems", 1, "members"), {}, r"\$\.detectors\.systems\[1\]\.members: \{\} should be non-empty"),
    # outside the schema: numbers are finite, paired lists equally long, everything is JSON
    (("models", 0, "metrics", "val_accuracy"), math.nan, r"\$\.models\[0\]\.metrics\.val_accuracy is nan; expected a finite"),
    (("placement", "wifi", "cloud_ms"), math.inf, r"\$\.placement\.wifi\.cloud_ms is inf; expected a finite number"),
    (("chosen", "curve", "val", "accuracy", 0), -math.inf, r"\$\.chosen\.curve\.val\.accuracy\[0\] is -inf"),
    (("calibration", MINION_B, "reliability_before", "count"), [1] * 9,
     rf"length of \$\.calibration\['{re.escape(MINION_B)}'\]\.reliability_before\.count is 9; expected 10 \(one entry"),
    (("chosen", "curve", "test", "accuracy"), [0.5] * 40, r"length of \$\.chosen\.curve\.test\.accuracy is 40; expected 41"),
    (("detectors", "systems", 0, "members", "logistic", "curve_test", "extra_error_rate"), [0.0] * 10,
     r"length of \$\.detectors\.systems\[0\]\.members\.logistic\.curve_test\.extra_error_rate is 10; expected 11 "
     r"\(one per recovery_rate\)"),
    (("detectors", "systems", 1, "members", "logistic", "curve_val", "recovery_rate"), [1.0] * 12,
     r"length of \$\.detectors\.systems\[1\]\.members\.logistic\.curve_val\.extra_error_rate is 11; expected 12"),
    (("detectors", "systems", 0, "efficiency"), math.nan, r"\$\.detectors\.systems\[0\]\.efficiency is nan"),
    (("bundle", "name"), {"digits"}, r"\$\.bundle\.name is \{'digits'\}; expected a JSON value"),
    (("targets",), {1: 0.5}, r"\$\.targets: key is 1; expected a string"),
]


@pytest.mark.parametrize("path, value, message", _BAD_FIELDS, ids=[".".join(map(str, p)) for p, _, _ in _BAD_FIELDS])
def test_bad_report_data_names_the_field(path, value, message):
    data = _changed(path, value)
    with pytest.raises(BundleError, match=r"^report data: .*" + message):
        validate_report_data(data)


def test_nothing_is_written_for_bad_data(tmp_path):
    data = _changed(("chosen", "oracle_recovery_rate_test"), _DELETE)
    with pytest.raises(ValueError, match=r"'oracle_recovery_rate_test' is a required property"):
        write_report(data, tmp_path / "r")
    with pytest.raises(ValueError, match=r"'oracle_recovery_rate_test' is a required property"):
        write_model_card(data, tmp_path / "card" / "model_card.md")
    assert not (tmp_path / "r").exists() and not (tmp_path / "card").exists()


def _field_paths(node, path=()):
    """The path of every field of ``node``; of a list, only the fields of its first item."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _field_paths(value, (*path, key))
    elif isinstance(node, list) and node:
        yield from _field_paths(node[0], (*path, 0))


@pytest.mark.parametrize("reference, chosen", [("labels", True), ("master", False)])
def test_a_missing_field_fails_validation_or_is_optional(reference, chosen):
    """Every field the page and the card read is required by the schema: without it the data is
    refused up front, or the page and the card render without it (never a KeyError mid-render)."""
    full = make_report_data(reference=reference, chosen=chosen)
    full["candidates"] = full["candidates"][:4]  # the walk reads a list's first item: short lists keep it quick
    if chosen:
        curve = full["chosen"]["curve"]
        for split in curve:
            curve[split] = {key: values[:3] for key, values in curve[split].items()}
        full["chosen"]["confidence"] = {group: values[:2] for group, values in full["chosen"]["confidence"].items()}
    refused, optional = [], []
    for path in _field_paths(full):
        data = copy.deepcopy(full)
        *parents, last = path
        node = data
        for key in parents:
            node = node[key]
        del node[last]
        try:
            document = validate_report_data(data)
        except BundleError:
            refused.append(path)
            continue
        render_page(document, {key: PLOT_FILES[key] for key in plots_with_data(document)})
        render_model_card(document)
        optional.append(path)
    assert len(refused) > 100
    assert {("latency_model",), ("notes",), ("models", 0, "latency_ms"), ("models", 0, "calibration"),
            ("test_check", "master_test_accuracy"), ("selection", "wifi"), ("detectors",),
            ("detectors", "systems", 0, "members", "per_class_confidence")} <= set(optional)
    assert {("detectors", "systems", 0, "members", "logistic", "curve_test"),
            ("detectors", "systems", 0, "efficiency"), ("detectors", "settings", "folds")} <= set(refused)
    assert (("chosen", "oracle_recovery_rate_test") in refused) is chosen  # without a chosen system there is no field


def test_the_schema_is_draft_2020_12_and_lives_beside_the_report():
    schema = load_schema("report_data", package="mmnet.pipeline.report")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with pytest.raises(ConfigError, match=r"schema name is 'manifest'; expected one of \['report_data'\]"):
        load_schema("manifest", package="mmnet.pipeline.report")


def test_tuples_and_numpy_numbers_read_as_their_json_values():
    plain = make_report_data()
    data = make_report_data()
    data["bundle"]["dataset"]["frame_shape"] = (np.int64(8), np.int64(8), np.int64(1))
    data["bundle"]["dataset"]["splits"]["test"] = np.int32(360)
    data["master"]["test_accuracy"] = np.float32(0.9833)
    data["chosen"]["minions"] = tuple(data["chosen"]["minions"])
    document = validate_report_data(data)
    assert document["bundle"]["dataset"]["frame_shape"] == [8, 8, 1]
    assert type(document["bundle"]["dataset"]["splits"]["test"]) is int
    assert type(document["master"]["test_accuracy"]) is float
    plots = dict(PLOT_FILES)
    assert render_page(document, plots) == render_page(validate_report_data(plain), plots)


def test_optional_fields_absent_or_null(tmp_path):
    data = make_report_data()
    del data["latency_model"]
    del data["notes"]
    data["models"][0]["alpha"] = None
    data["test_check"]["power_saving"] = None
    data["chosen"]["per_class_vs_single"]["test"]["single"] = None  # no single threshold reaches the target
    index = write_report(data, tmp_path / "report")
    text = _text(index)
    assert "test: per-class P_r 12.34% at accuracy 96.52%; no single threshold reaches the target." in text
    assert "No latency regression in this bundle" in text
    assert "latency_model.png" not in report_files(index)
    card = write_model_card(data, tmp_path / "model_card.md").read_text()
    assert "per-class vs single threshold on test: no single threshold reaches the target;" in card


def test_plots_are_drawn_only_for_present_data():
    data = make_report_data()
    assert plots_with_data(data) == list(PLOT_FILES)
    data = make_report_data(chosen=False, latency_model=False, detectors=False)
    data["calibration"] = {}
    assert plots_with_data(data) == ["pareto"]
    data["candidates"] = []
    data["latency_model"] = {**make_report_data()["latency_model"], "models": []}
    assert plots_with_data(data) == []


# ------------------------------------------------------------------------------------ references


def test_report_files_keeps_only_local_files(tmp_path):
    index = tmp_path / "index.html"
    index.write_text(
        '<a href="#top">x</a><a href="https://example.org/a.png">x</a><a href="mailto:a@b.c">x</a>'
        '<img src="data:image/png;base64,AAAA"><a href="//cdn.example/x.js">x</a>'
        '<img src="plots/a%20b.png?v=1"><a href="model_card.md#limits">x</a><img src="plots/a%20b.png">',
        encoding="utf-8")
    assert report_files(index) == ["plots/a b.png", "model_card.md"]


def test_pruning_table_only_when_a_model_was_pruned():
    data = make_report_data()
    plots = {key: PLOT_FILES[key] for key in plots_with_data(data)}
    assert 'id="pruning"' not in render_page(validate_report_data(data), plots)
    minion = next(m for m in data["models"] if m["role"] == "minion")
    minion["metrics"]["keras_val_accuracy"] = 0.9512
    minion["pruning"] = {"method": "double_shot", "metric": "weighted_movement", "sparsity": 0.9001,
                         "target_sparsity": 0.9, "retrain_epochs": 5, "dense_keras_val_accuracy": 0.9634,
                         "dense_params": 12345, "layers": [{"name": "conv", "weights": 10, "zeros": 9, "sparsity": 0.9}]}
    text = render_page(validate_report_data(data), plots)
    section = text[text.index('<h2 id="pruning">'):]
    section = section[:section.index("<h2", 5)]
    assert minion["id"] in section and "double_shot (weighted_movement)" in section
    assert "90.01% of weights (target 90.00%)" in section
    assert "96.34%" in section and "95.12%" in section  # dense and pruned Keras val accuracy
    assert '<a href="#pruning">' in text
    assert "double-shot gain" not in section  # no comparison was run


def test_pruning_comparison_pairs_double_shot_with_each_baseline_by_seed():
    data = make_report_data()
    plots = {key: PLOT_FILES[key] for key in plots_with_data(data)}
    minion = next(m for m in data["models"] if m["role"] == "minion")
    runs = [("double_shot", 0, 0.90), ("double_shot", 1, 0.92), ("snip", 0, 0.88), ("snip", 1, 0.86),
            ("local_random", 0, 0.80)]
    minion["pruning"] = {"method": "double_shot", "metric": "weighted_movement", "sparsity": 0.9,
                         "target_sparsity": 0.9, "retrain_epochs": 5, "dense_keras_test_accuracy": 0.95,
                         "layers": [{"name": "conv", "weights": 10, "zeros": 9, "sparsity": 0.9}],
                         "comparison": {"seeds": 2, "baseline_epochs": 15, "runs": [
                             {"method": m, "seed_index": i, "val_accuracy": a, "test_accuracy": a} for m, i, a in runs]}}
    text = render_page(validate_report_data(data), plots)
    section = text[text.index('<h2 id="pruning">'):]
    section = section[:section.index("<h2", 5)]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        if len(cells) == 7:  # the comparison table's rows
            rows[cells[1]] = cells
    # snip: gains (0.90-0.88)/0.95 and (0.92-0.86)/0.95 -> +4.21 ± 2.98 points; mean test 87.00 ± 1.41
    assert rows["snip"][2:] == ["2", "15", "87.00 ± 1.41%", "+4.21 ± 2.98 points", "+0.79 points"]
    # local_random ran one seed: paired with double-shot's seed 0 only
    assert rows["local_random"][2:] == ["1", "15", "80.00%", "+10.53 points", "-"]
    assert rows["double_shot"][2:] == ["2", "5", "91.00 ± 1.41%", "-", "-"]
    assert rows["snip"][0] == minion["id"].rsplit("-", 1)[0]
