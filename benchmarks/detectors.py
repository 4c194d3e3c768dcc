"""Do the misspeculation detectors keep their targets on frames they were not fitted on? Random re-splits.

The bundle's recorded val and test frames are pooled and re-split at random (``--resplits`` times, the
val/test sizes kept). On each re-split, for the system the bundle runs in each tuned mode (default
profile), every rule is fitted on val exactly as the build fits it (temperatures included) and judged
on test:

- ``before``: the rule the build used before learned detectors — §6.4.2 per-class thresholds bagged
  over 20 bootstrap resamples, raised to the 5% confidence floor in normal mode (no odd credit);
- ``point``: the build's default — both detectors cross-fitted, thresholds on held-out scores, the
  one with the lower recovery rate kept (and ``point:<member>``, each member alone);
- ``guaranteed``: Learn-then-Test thresholds, extra errors per frame ≤ ε with probability ≥ 1 − δ,
  promised for a window of as many frames as the test split (``runtime.detector.window_frames``):
  the miss below is judged on exactly such a window, binomial noise included.

A re-split *misses* when the test accuracy falls more than ε below the master's test accuracy. For
each rule: the share of re-splits that miss (for ``guaranteed``, among those where it certified a
threshold: at most δ is the promise), the mean test recovery rate, the oracle recovery rate of its
answers (frames the speculative answer gets wrong and the master right) and their ratio, the
efficiency. Writes ``detectors.json``, ``detectors.md`` and ``detectors.png`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.detectors bundles/digits --out results/detectors
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.format.runtime_config import MASTER_ONLY
from mmnet.pipeline.bundle import bundle_probabilities
from mmnet.pipeline.calibration import calibrate_minion
from mmnet.pipeline.config import DetectorConfig
from mmnet.pipeline.detectors import DetectorSettings, choose_detector, member_views
from mmnet.pipeline.thresholds import (
    SystemOutcomes,
    bagged_per_class_thresholds,
    confidence_floor,
    required_correct,
)
from mmnet.runtime.detector import apply_temperature, detect

BEFORE_FLOOR = {"normal": 0.05, "power_saving": 0.0}
BEFORE_ROUNDS = 20


def _resplit_once(probabilities: dict, labels: np.ndarray, master: str, minions: tuple[str, ...], val_index: np.ndarray,
                  test_index: np.ndarray, tuning: str, target: float, settings: DetectorSettings, num_classes: int,
                  reference_is_master: bool) -> dict[str, dict]:
    """Every rule fitted on one re-split's val and judged on its test; per rule its test numbers."""
    index = {"val": val_index, "test": test_index}
    probs = {m: {s: probabilities[m][i] for s, i in index.items()} for m in (master, *minions)}
    master_answer = {s: probs[master][s].argmax(axis=1) for s in index}
    reference = master_answer if reference_is_master else {s: labels[i] for s, i in index.items()}
    master_correct = {s: master_answer[s] == reference[s] for s in index}
    needed = required_correct(int(master_correct["val"].sum()), target)
    calibrated = {}
    for m in minions:
        t = calibrate_minion(m, probs[m]["val"], reference["val"], probs[m]["test"], reference["test"]).temperature
        calibrated[m] = {s: apply_temperature(probs[m][s], t) for s in index}
    views = {s: member_views([calibrated[m][s] for m in minions], [probs[m][s] for m in minions]) for s in index}
    out: dict[str, dict] = {}

    def judge(name: str, answer: np.ndarray, accept: np.ndarray | None) -> None:
        good = answer == reference["test"]
        declined = accept is None  # no threshold reached (or certified) the target: the master answers every frame
        accept = np.zeros(good.size, bool) if accept is None else accept
        accuracy = float(np.mean(np.where(accept, good, master_correct["test"])))
        out[name] = {"certified": not declined, "recovery_rate": float(1.0 - accept.mean()), "accuracy": accuracy,
                     "oracle_recovery_rate": float(np.mean(~good & master_correct["test"]))}

    # before: the paper's answer (calibrated confidences), bagged per-class thresholds and the floor
    outcomes = {}
    for s in index:
        det = detect([calibrated[m][s] for m in minions], np.zeros(num_classes))
        outcomes[s] = SystemOutcomes(det, det.answer == reference[s], master_correct[s])
    fitting = outcomes["val"].without_odd_credit()
    point = bagged_per_class_thresholds(fitting, num_classes, target, rounds=BEFORE_ROUNDS)
    test_det = outcomes["test"].detector
    if point is None:
        judge("before", test_det.answer, None)
    else:
        thresholds = np.maximum(np.asarray(point.thresholds), confidence_floor(fitting, BEFORE_FLOOR[tuning]))
        judge("before", test_det.answer, test_det.agree & (test_det.confidence >= thresholds[test_det.answer]))

    for mode in ("point", "guaranteed"):
        choice = choose_detector(views["val"], reference["val"], master_correct["val"], needed, num_classes,
                                 dataclasses.replace(settings, threshold_mode=mode, window_frames=test_index.size))
        rules = {mode: choice.chosen}
        if mode == "point":
            rules.update({f"point:{kind}": kind for kind in choice.members})
        for name, kind in rules.items():
            fitted = None if kind is None else choice.members[kind].fitted
            view = views["test"][kind or "per_class_confidence"]
            judge(name, view[0], None if fitted is None else fitted.margins(view) >= 0.0)
    return out


def recorded_risk(bundle_dir: Path) -> tuple[float, dict[str, float]]:
    """δ and each tuned mode's ε the bundle was configured with (its report's systems.json), else the
    defaults of ``runtime.detector``."""
    defaults = DetectorConfig()
    delta, epsilon = defaults.delta, {"normal": defaults.epsilon.normal, "power_saving": defaults.epsilon.power_saving}
    path = Path(bundle_dir) / "report" / "systems.json"
    if path.is_file():
        for system in json.loads(path.read_text()):
            for tuning, tuned in (system.get("modes") or {}).items():
                for member in (tuned or {}).get("members", {}).values():  # None: no threshold reached the target
                    if isinstance(member, dict) and "certification" in member:
                        delta = member["certification"]["delta"]
                        epsilon[tuning] = member["certification"]["epsilon"]
    return delta, epsilon


def measure(bundle_dir: Path, *, resplits: int = 50, seed: int = 0, delta: float | None = None,
            epsilon: dict[str, float] | None = None) -> dict:
    started = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    config = bundle.runtime_config
    if config is None:
        raise SystemExit(f"{bundle_dir} has no runtime config; run `mmnet configure {bundle_dir}` first")
    doc = config.document
    recorded_delta, recorded_epsilon = recorded_risk(bundle_dir)
    delta = recorded_delta if delta is None else delta
    epsilon = {**recorded_epsilon, **(epsilon or {})}
    probabilities, splits = bundle_probabilities(bundle)
    pooled = {m: np.concatenate([p["val"], p["test"]]) for m, p in probabilities.items()}
    labels = np.concatenate([splits["val"][1], splits["test"][1]])
    n_val = splits["val"][1].size
    master = config.master_model
    profile = doc["default_profile"]
    rng = np.random.default_rng(seed)
    cases = {}
    for tuning, mode in (("normal", "normal"), ("power_saving", "power_saving")):
        system = doc["selection"][profile][mode]["system"]
        if system == MASTER_ONLY:  # judge the best-ranked runner-up instead, so the detector is still measured
            runners = doc["selection"][profile][mode]["runner_ups"]
            system = runners[0] if runners else None
        if system is not None:
            cases[tuning] = (system, tuple(doc["systems"][system]["minions"]))
    splits_drawn = [rng.permutation(labels.size) for _ in range(resplits)]
    results: dict[str, dict] = {}
    for tuning, (system, minions) in cases.items():
        settings = DetectorSettings(delta=delta, epsilon=epsilon[tuning], seed=seed)
        per_rule: dict[str, list[dict]] = {}
        for order in splits_drawn:
            for name, row in _resplit_once(pooled, labels, master, minions, order[:n_val], order[n_val:], tuning,
                                           doc["targets"][tuning], settings, bundle.num_classes,
                                           doc["reference"] == "master").items():
                per_rule.setdefault(name, []).append(row)
        master_test = [np.mean(pooled[master][o[n_val:]].argmax(1) == labels[o[n_val:]]) for o in splits_drawn]
        results[tuning] = {"system": system, "epsilon": epsilon[tuning],
                           "rules": {name: _summary(rows, master_test, epsilon[tuning]) for name, rows in per_rule.items()}}
    return {"bundle": str(bundle_dir), "resplits": resplits, "seed": seed, "delta": delta,
            "val_frames": int(n_val), "test_frames": int(labels.size - n_val), "profile": profile,
            "seconds": round(time.perf_counter() - started, 1), "tunings": results}


def _summary(rows: list[dict], master_test: list[float], epsilon: float) -> dict:
    missed = [r["accuracy"] < m - epsilon - 1e-12 for r, m in zip(rows, master_test)]
    certified = [r["certified"] for r in rows]
    missed_certified = [x for x, c in zip(missed, certified) if c]
    recovery = np.array([r["recovery_rate"] for r in rows])
    oracle = np.array([r["oracle_recovery_rate"] for r in rows])
    return {
        "resplits": len(rows),
        "certified": int(sum(certified)),
        "miss_rate": float(np.mean(missed)),
        "miss_rate_where_certified": float(np.mean(missed_certified)) if missed_certified else None,
        "mean_recovery_rate": float(recovery.mean()),
        "mean_oracle_recovery_rate": float(oracle.mean()),
        "efficiency": float(oracle.mean() / recovery.mean()) if recovery.mean() > 0 else None,
        "mean_accuracy_vs_master_points": float(100 * np.mean([r["accuracy"] - m for r, m in zip(rows, master_test)])),
    }


def to_markdown(result: dict) -> str:
    lines = [f"# Detectors on {result['bundle']}: {result['resplits']} random val/test re-splits",
             "",
             f"{result['val_frames']} val / {result['test_frames']} test frames per re-split; δ = {result['delta']:g}; "
             f"a re-split *misses* when test accuracy is more than ε below the master's; efficiency = mean oracle "
             f"recovery rate ÷ mean achieved recovery rate. {result['seconds']:g} s.", ""]
    for tuning, block in result["tunings"].items():
        lines += [f"## {tuning}: {block['system']} (ε = {100 * block['epsilon']:g}%)", "",
                  "| rule | certified | misses | misses where certified | mean P_r | oracle P_r | efficiency "
                  "| accuracy vs master |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, s in block["rules"].items():
            where = "-" if s["miss_rate_where_certified"] is None else f"{100 * s['miss_rate_where_certified']:.0f}%"
            efficiency = "-" if s["efficiency"] is None else f"{s['efficiency']:.2f}"
            lines.append(f"| {name} | {s['certified']}/{s['resplits']} | {100 * s['miss_rate']:.0f}% | {where} | "
                         f"{100 * s['mean_recovery_rate']:.1f}% | {100 * s['mean_oracle_recovery_rate']:.1f}% | {efficiency} | "
                         f"{s['mean_accuracy_vs_master_points']:+.2f} pts |")
        lines.append("")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tunings = list(result["tunings"])
    fig, axes = plt.subplots(1, len(tunings), figsize=(5.5 * len(tunings), 4), squeeze=False)
    for ax, tuning in zip(axes[0], tunings):
        block = result["tunings"][tuning]
        for name, s in block["rules"].items():
            ax.scatter(100 * s["mean_recovery_rate"], 100 * s["miss_rate"], s=50)
            ax.annotate(name, (100 * s["mean_recovery_rate"], 100 * s["miss_rate"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.axhline(100 * result["delta"], color="grey", ls=":", lw=1, label=f"δ = {result['delta']:g}")
        ax.set_xlabel("mean test recovery rate (%)")
        ax.set_ylabel(f"re-splits missing master − {100 * block['epsilon']:g} pts (%)")
        ax.set_title(f"{tuning}: {block['system']}", fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/detectors"))
    parser.add_argument("--resplits", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delta", type=float, default=None, help="default: the δ the bundle was configured with")
    parser.add_argument("--epsilon-normal", type=float, default=None,
                        help="normal mode's extra-error budget (default: the bundle's runtime.detector.epsilon.normal)")
    parser.add_argument("--epsilon-power-saving", type=float, default=None,
                        help="power-saving's (default: the bundle's runtime.detector.epsilon.power_saving)")
    args = parser.parse_args(argv)
    epsilon = {t: e for t, e in (("normal", args.epsilon_normal), ("power_saving", args.epsilon_power_saving)) if e is not None}
    result = measure(args.bundle, resplits=args.resplits, seed=args.seed, delta=args.delta, epsilon=epsilon)
    write_results(args.out, "detectors", result, to_markdown(result))
    plot(result, args.out / "detectors.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
