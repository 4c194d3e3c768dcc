"""How well do misspeculation thresholds fitted on val hold on test? Every threshold rule, every pair.

For each candidate minion pair of a bundle, thresholds are fitted on val to the normal target
(100% of the master's val accuracy) with each rule — the plain §6.4.2 per-class heuristic, the same
bagged over bootstrap resamples, and a single threshold — and applied to test. Reported per rule:
the share of pairs whose test accuracy stays within ``--tolerance-points`` of the master's, and the
mean val / test recovery rates. Writes ``thresholds.json`` and ``thresholds.md`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.thresholds bundles/digits --out results/thresholds
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.pipeline.bundle import bundle_probabilities
from mmnet.pipeline.calibration import calibrate_minion
from mmnet.pipeline.thresholds import (
    SystemOutcomes,
    bagged_per_class_thresholds,
    confidence_floor,
    operating_point,
    per_class_thresholds,
    required_correct,
    single_threshold,
)
from mmnet.runtime.detector import apply_temperature, detect


def _rules(num_classes: int, target: float, rounds: int, floor_share: float):
    def plain(outcomes):
        return per_class_thresholds(outcomes, num_classes, required_correct(int(outcomes.master_correct.sum()), target))

    def bagged(outcomes):
        return bagged_per_class_thresholds(outcomes, num_classes, target, rounds=rounds)

    def single(outcomes):
        return single_threshold(outcomes, num_classes, required_correct(int(outcomes.master_correct.sum()), target))

    def bagged_no_credit(outcomes):
        return bagged(outcomes.without_odd_credit())

    def floored(outcomes):  # what `mmnet build` does in normal mode: no odd credit, thresholds at least the floor
        fitted = bagged_no_credit(outcomes)
        if fitted is None:
            return None
        floor = confidence_floor(outcomes.without_odd_credit(), floor_share)
        return operating_point(outcomes, np.maximum(np.asarray(fitted.thresholds), floor))

    return {"per_class": plain, f"per_class_bagged_{rounds}": bagged,
            f"per_class_bagged_{rounds}_no_odd_credit": bagged_no_credit,
            f"per_class_bagged_{rounds}_no_odd_credit_floor_{100 * floor_share:g}pct": floored, "single": single}


def measure(bundle_dir: Path, *, target: float = 1.0, rounds: int = 20, tolerance_points: float = 0.3,
            floor_share: float = 0.05) -> dict:
    bundle = load_bundle(bundle_dir)
    if bundle.runtime_config is None:
        raise SystemExit(f"{bundle_dir} has no runtime config; run `mmnet configure {bundle_dir}` first")
    probabilities, splits = bundle_probabilities(bundle)
    labels = {name: splits[name][1] for name in ("val", "test")}
    master = bundle.runtime_config.master_model
    master_correct = {s: probabilities[master][s].argmax(axis=1) == labels[s] for s in labels}
    minions = sorted(bundle.blessed("minion"), key=lambda m: (-m.val_accuracy, m.id))
    calibrated = {}
    for m in minions:
        t = calibrate_minion(m.id, probabilities[m.id]["val"], labels["val"],
                             probabilities[m.id]["test"], labels["test"]).temperature
        calibrated[m.id] = {s: apply_temperature(probabilities[m.id][s], t) for s in labels}
    rules = _rules(bundle.num_classes, target, rounds, floor_share)
    results = {name: [] for name in rules}
    floor = master_correct["test"].mean() - tolerance_points / 100.0
    pairs = [(a.id, b.id) for a, b in itertools.combinations(minions, 2) if a.variant != b.variant]
    for pair in pairs:
        outcomes = {}
        for split in labels:
            out = detect([calibrated[m][split] for m in pair], np.zeros(bundle.num_classes))
            outcomes[split] = SystemOutcomes(out, out.answer == labels[split], master_correct[split])
        for name, rule in rules.items():
            fitted = rule(outcomes["val"])
            if fitted is None:
                continue
            test = operating_point(outcomes["test"], np.asarray(fitted.thresholds))
            results[name].append({"pair": list(pair), "val_recovery_rate": fitted.recovery_rate,
                                  "test_recovery_rate": test.recovery_rate, "test_accuracy": test.accuracy,
                                  "holds": bool(test.accuracy >= floor - 1e-12)})
    summary = {}
    for name, rows in results.items():
        summary[name] = {
            "pairs_fitted": len(rows),
            "pairs_holding_on_test": sum(r["holds"] for r in rows),
            "share_holding": sum(r["holds"] for r in rows) / max(len(rows), 1),
            "mean_val_recovery_rate": float(np.mean([r["val_recovery_rate"] for r in rows])) if rows else None,
            "mean_test_recovery_rate": float(np.mean([r["test_recovery_rate"] for r in rows])) if rows else None,
        }
    return {"bundle": str(bundle_dir), "target": target, "tolerance_points": tolerance_points, "pairs": len(pairs),
            "master_test_accuracy": float(master_correct["test"].mean()), "summary": summary, "results": results}


def to_markdown(result: dict) -> str:
    lines = [
        f"# Threshold rules on {result['bundle']}",
        "",
        f"{result['pairs']} pairs; thresholds fitted on val to {100 * result['target']:.0f}% of the master's val accuracy; "
        f"a pair *holds* when its test accuracy is within {result['tolerance_points']} points of the master's "
        f"({100 * result['master_test_accuracy']:.2f}%).",
        "",
        "| rule | pairs fitted | hold on test | mean val P_r | mean test P_r |",
        "|---|---|---|---|---|",
    ]
    for name, s in result["summary"].items():
        if not s["pairs_fitted"]:
            lines.append(f"| {name} | 0 | - | - | - |")
            continue
        lines.append(f"| {name} | {s['pairs_fitted']} | {s['pairs_holding_on_test']} ({100 * s['share_holding']:.0f}%) | "
                     f"{100 * s['mean_val_recovery_rate']:.1f}% | {100 * s['mean_test_recovery_rate']:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/thresholds"))
    parser.add_argument("--rounds", type=int, default=20, help="bootstrap rounds of the bagged rule")
    parser.add_argument("--tolerance-points", type=float, default=0.3)
    parser.add_argument("--floor-share", type=float, default=0.05,
                        help="threshold floor of the floored rule (runtime.threshold_floor)")
    args = parser.parse_args(argv)
    result = measure(args.bundle, rounds=args.rounds, tolerance_points=args.tolerance_points, floor_share=args.floor_share)
    write_results(args.out, "thresholds", result, to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
