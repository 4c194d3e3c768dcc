"""Dynamic Duo pool and pair search (dissertation chapter 6): which (little, big) pair serves each target accuracy.

Evaluates a model pool on this host (:mod:`mmnet.pipeline.duo.pool`: every model's val/test outputs,
accuracy, MACs, latency at batch 1 and batched) and searches it (:mod:`mmnet.pipeline.duo.pairs`): per
target (each pool model's val accuracy × ``--fraction``), the exhaustive optimum and the §6.4.3
odd-corrects heuristic, with single and per-class thresholds, the learned probe on the chosen pair,
the probe's recovery rate and false positives/negatives beside the paper's, and how often the
heuristic finds the exhaustive optimum (paper: 15 of 21). Two pools:

    .venv/bin/python -m mmnet.benchmarks.duo_pool --coral ../shared/data --out results/duo_pool
    .venv/bin/python -m mmnet.benchmarks.duo_pool --bundle bundles/digits --out results/duo_pool_digits

Probe thresholds are certified by default (``--threshold-mode guaranteed``: extra errors vs the big
model ≤ ``--epsilon`` per frame with probability ≥ 1 − ``--delta``, i.e. equal accuracy; the big model
alone where the val split cannot certify any threshold); ``--threshold-mode point`` is the paper's rule.
``--resplits`` re-splits val + test at random to check the top target's accuracy on unseen frames.
``--pool DIR`` searches a pool saved before (its ``--out``) again without running a model.

``--coral ROOT`` reads ``configs/coral-imagenet.yaml`` (``--config`` for another) with ROOT as
``$MMNET_SHARED_DATA``; without ROOT, ``$MMNET_SHARED_DATA`` or ``../shared/data`` beside the
repository. When the data is absent it says so and exits 0 (nothing measured). Writes into ``--out``:
``duo_pool.json`` (the pool, every target's searches and a ``serving`` block: per target the chosen
pair's model files, preprocessing and probe, for a server to load), ``duo_pool.md``,
``duo_pool.png`` (accuracy vs expected latency: the pool and the chosen pairs), and the pool itself
(``pool.json`` + ``pool_outputs.npz``, :func:`mmnet.pipeline.duo.pool.load_pool`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from mmnet.benchmarks.results import write_results
from mmnet.format.errors import MmnetError
from mmnet.pipeline.detectors import DetectorSettings
from mmnet.pipeline.duo.pairs import (
    PAIR_SETTINGS,
    PER_CLASS_RULE,
    SINGLE,
    candidates_from_pool,
    resplit_check,
    search_targets,
    summarise,
    targets_from_baselines,
)
from mmnet.pipeline.duo.pool import Pool, TimingSettings, bundle_pool, config_pool, load_pool
from mmnet.pipeline.risk import frames_to_certify

REPO = Path(__file__).resolve().parents[1]
CORAL_CONFIG = REPO / "configs" / "coral-imagenet.yaml"
CORAL_NEEDED = ("coral-imagenet/mobilenet_v2_1.0_224_quant.tflite", "coral-imagenet/imagenet_labels.txt", "wnids.txt",
                "imagenet-sample-a")
RULES = (SINGLE, PER_CLASS_RULE)
# §6.5.5-6.5.6 and the chapter's conclusion, over the paper's 21 targets on a TITAN X
PAPER = {"recovery_rate": 0.095, "false_positive_rate": 0.008, "max_false_positive_rate": 0.021,
         "max_false_negative_rate": 0.088, "heuristic_found": "15 of 21", "normalised_latency": 0.62}


def default_data_root() -> Path:
    return Path(os.environ.get("MMNET_SHARED_DATA") or REPO.parent / "shared" / "data")


def missing_data(root: Path) -> list[str]:
    return [name for name in CORAL_NEEDED if not (root / name).exists()]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pair_json(result: Any) -> dict | None:
    return None if result is None else result.to_json()


def measure(pool: Pool, *, fraction: float, seed: int, settings: DetectorSettings = PAIR_SETTINGS, resplits: int = 20,
            progress=_say) -> dict[str, Any]:
    started = time.perf_counter()
    candidates, labels = candidates_from_pool(pool)
    targets = targets_from_baselines(candidates, labels, fraction)
    settings = dataclasses.replace(settings, seed=seed)
    rows = search_targets(candidates, labels, targets, RULES, settings, progress=progress)
    checks = {}
    if resplits:
        progress(f"re-splits: the most accurate model's target on {resplits} random val/test splits per rule")
        checks = {rule: resplit_check(candidates, labels, rule, settings, resplits, seed) for rule in RULES}
    searches = []
    for row in rows:
        out: dict[str, Any] = {"target": row["target"], "rules": {}}
        for rule, found in row["rules"].items():
            out["rules"][rule] = None if found is None else {
                "exhaustive": found["exhaustive"].to_json(), "heuristic": found["heuristic"].to_json(),
                "baseline": found["baseline"].to_json(), "top_littles": [list(t) for t in found["top_littles"]],
                "pairs_evaluated": found["pairs_evaluated"], "heuristic_evaluated": found["heuristic_evaluated"],
                "same_choice": found["same_choice"], "same_latency": found["same_latency"]}
        out["logistic"] = _pair_json(row.get("logistic"))
        searches.append(out)
    threshold = {"mode": settings.threshold_mode, "epsilon": settings.epsilon, "delta": settings.delta,
                 "val_frames": int(labels.val.size), "test_frames": int(labels.test.size),
                 "frames_to_certify": frames_to_certify(settings.epsilon, settings.delta)}
    return {"pool": pool.to_json(), "fraction": fraction, "seed": seed, "rules": list(RULES), "threshold": threshold,
            "searches": searches, "summary": {rule: summarise(rows, rule) for rule in RULES}, "resplits": checks,
            "paper": PAPER, "serving": serving_block(pool, rows, settings.threshold_mode),
            "search_seconds": round(time.perf_counter() - started, 1)}


def serving_block(pool: Pool, rows: list[dict], threshold_mode: str) -> dict[str, Any]:
    """Per target and rule, the exhaustive choice as a server loads it: model files, preprocessing, probe."""
    def model(model_id: str) -> dict[str, Any]:
        m = pool.model(model_id)
        return {"id": m.id, "path": m.path, "sha256": m.sha256, "resolution": m.resolution, "xnnpack": m.xnnpack}

    configurations = []
    for row in rows:
        for rule, found in row["rules"].items():
            if found is None:
                continue
            best = found["exhaustive"]
            configurations.append({
                "target": row["target"], "rule": rule, "system": "duo" if best.little else "single",
                "little": model(best.little) if best.little else None, "big": model(best.big),
                "probe": best.detector, "val_recovery_rate": best.val_recovery_rate,
                "test_recovery_rate": best.test_recovery_rate, "test_accuracy": best.test_accuracy,
                "expected_ms": {str(b): v for b, v in best.expected_ms.items()}})
    top = max(rows, key=lambda r: r["target"]["needed"])["target"]["baseline"] if rows else None
    return {"preprocessing": pool.preprocessing, "num_classes": pool.num_classes, "default_target": top,
            "default_rule": PER_CLASS_RULE, "threshold_mode": threshold_mode, "configurations": configurations}


# --- rendering -------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _pair(p: dict) -> str:
    return f"{p['big']} alone" if p["little"] is None else f"{p['little']} → {p['big']}"


def to_markdown(result: dict) -> str:
    pool = result["pool"]
    timing = pool["timing"]
    batches = timing["batches"]
    lines = [f"# Dynamic Duo pool: {pool['name']} ({pool['source']})", "",
             f"{pool['split']['val']} val / {pool['split']['test']} test frames ({pool['split']['method']}, seed "
             f"{pool['split']['seed']}); {pool['num_classes']} classes. Latency on this host: LiteRT "
             f"({timing['backend']}), {timing['threads']} thread, {timing['passes']} passes round robin over the models, "
             f"median per-frame invoke time of each pass, then the median and [lowest, highest] pass; preprocessing "
             f"(frame → input tensor) timed apart and added in the pair search. 1-min load average at the end: "
             f"{timing.get('load_average_1min')} on {timing.get('cpus')} CPUs.", "",
             "## The pool", "",
             "| model | MACs | val acc | test acc | preprocess ms | " + " | ".join(f"invoke ms @{b}" for b in batches) + " |",
             "|---|---|---|---|---|" + "---|" * len(batches)]
    notes = set()
    for m in pool["models"]:
        cells = []
        for entry in m["latency"]:
            if entry["supported"]:
                cells.append(f"{entry['per_frame_ms']:.3g} [{entry['min_pass_ms']:.3g}, {entry['max_pass_ms']:.3g}]")
            else:
                cells.append("unsupported")
                notes.add(entry["note"].split(": ", 1)[-1].rstrip("."))
        macs = "?" if m["macs"] is None else f"{m['macs'] / 1e6:.1f} M"
        lines.append(f"| {m['id']} | {macs} | {_pct(m['val_accuracy'])} | {_pct(m['test_accuracy'])} | "
                     f"{m['preprocess_ms']:.3g} | " + " | ".join(cells) + " |")
    lines.append("")
    sources = sorted({m["macs_source"] for m in pool["models"]})
    lines.append("MACs: " + "; ".join(sources) + ".")
    for note in sorted(notes):
        lines.append(f"Unsupported batch (LiteRT cannot resize the input): {note}.")
    lines.append("")
    th = result.get("threshold")
    if th:
        how = (f"Learn-then-Test (`guaranteed`): a pair's extra errors vs its big model ≤ ε = {100 * th['epsilon']:g}% per "
               f"frame with probability ≥ {1 - th['delta']:g}; with no extra error seen that needs "
               f"{th['frames_to_certify']} val frames" if th["mode"] == "guaranteed" else
               "the paper's point rule (`point`): the most lenient threshold whose out-of-fold val outputs keep the target")
        lines += [f"**Thresholds**: {how}. Splits: {th['val_frames']} val / {th['test_frames']} test frames (one test frame "
                  f"= {100 / th['test_frames']:.2f} points).", ""]
    for rule in result["rules"]:
        lines += [f"## Pair search, {rule} threshold{'s' if rule != SINGLE else ''}", "",
                  "Target = the baseline's val accuracy × " + f"{result['fraction']:g}; E[L] = L_little + P_r × L_big "
                  "per frame at batch 1 (ms, preprocessing included) with the cross-fitted val P_r; normalised to the "
                  "baseline (the smallest model meeting the target, alone).", "",
                  "| target | exhaustive choice | P_r val / test | E[L] @1 | E[L] @" + str(max(batches)) +
                  " | norm. | test acc (baseline) | heuristic choice | norm. | top-3 littles (odd corrects) | same |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for search in result["searches"]:
            found = search["rules"].get(rule)
            t = search["target"]
            if found is None:
                lines.append(f"| {t['baseline']} {_pct(t['accuracy'])} | no model meets it | | | | | | | | | |")
                continue
            e, h, b = found["exhaustive"], found["heuristic"], found["baseline"]
            base = b["expected_ms"]["1"]
            tops = ", ".join(f"{i} ({n})" for i, n in found["top_littles"]) or "none smaller"
            batched = _ms(e["expected_ms"].get(str(max(batches))))
            lines.append(
                f"| {t['baseline']} {_pct(t['accuracy'])} | {_pair(e)} | {_pct(e['val_recovery_rate'])} / "
                f"{_pct(e['test_recovery_rate'])} | {_ms(e['expected_ms']['1'])} | {batched} | "
                f"{e['expected_ms']['1'] / base:.2f} | {_pct(e['test_accuracy'])} ({_pct(b['test_accuracy'])}) | {_pair(h)} | "
                f"{h['expected_ms']['1'] / base:.2f} | {tops} | {'yes' if found['same_choice'] else 'no'} |")
        lines.append("")
    lines += ["## Probe errors on test (pairs the exhaustive search chose)", "",
              "FP: odd corrects (little right, big wrong) sent to the big model; FN: complex corrects (big right, little "
              "wrong) not sent. Rate = per test frame; share = of the odd / complex subset.", "",
              "| target | rule | pair | P_r test | FP rate (share) | FN rate (share) |", "|---|---|---|---|---|---|"]
    for search in result["searches"]:
        probes = [(rule, (search["rules"].get(rule) or {}).get("exhaustive")) for rule in result["rules"]]
        probes.append(("logistic", search.get("logistic")))
        for rule, p in probes:
            if p is None or p["little"] is None:
                continue
            er = p["errors"]
            lines.append(f"| {search['target']['baseline']} | {rule} | {_pair(p)} | {_pct(p['test_recovery_rate'])} | "
                         f"{_pct(er['false_positive_rate'])} ({_pct(er['false_positive_share'])}) | "
                         f"{_pct(er['false_negative_rate'])} ({_pct(er['false_negative_share'])}) |")
    lines += ["", "## Summary beside the paper", "",
              "| rule | heuristic = exhaustive | norm. E[L] exhaustive / heuristic | mean P_r test | mean FP rate "
              "(max) | max FN rate | test acc − baseline |", "|---|---|---|---|---|---|---|"]
    for rule, s in result["summary"].items():
        if not s.get("targets"):
            continue
        lines.append(f"| {rule} | {s['heuristic_found_optimum']} of {s['targets']} | "
                     f"{s['mean_normalised_latency_exhaustive']:.2f} / {s['mean_normalised_latency_heuristic']:.2f} | "
                     f"{_pct(s['mean_test_recovery_rate'])} | {_pct(s['mean_false_positive_rate'])} "
                     f"({_pct(s['max_false_positive_rate'])}) | {_pct(s['max_false_negative_rate'])} | "
                     f"{s['mean_test_accuracy_vs_target_points']:+.2f} pts |")
    paper = result["paper"]
    lines += [f"| paper (21 CNNs, multi-threshold) | {paper['heuristic_found']} | {paper['normalised_latency']} (heuristic) | "
              f"{_pct(paper['recovery_rate'])} | {_pct(paper['false_positive_rate'])} "
              f"({_pct(paper['max_false_positive_rate'])}) | "
              f"≤ {_pct(paper['max_false_negative_rate'])} | ≥ 0 |", "",
              ""]
    if result.get("resplits"):
        lines += ["## Equal accuracy on frames the threshold never saw: random re-splits", "",
                  "The most accurate model's target, searched exhaustively on random re-splits of the val + test frames "
                  "(same sizes); per split the choice's test accuracy minus that model's alone.", "",
                  "| rule | splits (val / test frames) | mean difference | within ±tolerance | not below −tolerance | "
                  "pairs chosen | mean test P_r of the pairs |", "|---|---|---|---|---|---|---|"]
        for rule, c in result["resplits"].items():
            lines.append(f"| {rule} ({c['threshold_mode']}) | {c['splits']} ({c['val_frames']} / {c['test_frames']}) | "
                         f"{c['mean_points']:+.2f} pts | {c['within_tolerance']} (±{c['tolerance_points']:g}) | "
                         f"{c['not_below_tolerance']} | {c['pairs_chosen']} | {_pct(c['mean_pair_test_recovery_rate'])} |")
        lines.append("")
    lines += [f"Search: {result['search_seconds']:g} s.", ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pool = result["pool"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    latency = {}
    for m in pool["models"]:
        ms = m["latency"][0]["per_frame_ms"] + m["preprocess_ms"]
        latency[m["id"]] = ms
        ax.scatter(ms, 100 * m["test_accuracy"], color="black", zorder=3)
        ax.annotate(m["id"], (ms, 100 * m["test_accuracy"]), fontsize=7, xytext=(4, -10), textcoords="offset points")
    styles = {SINGLE: ("tab:orange", "s"), PER_CLASS_RULE: ("tab:blue", "*")}
    seen = set()
    for search in result["searches"]:
        for rule, found in search["rules"].items():
            if found is None or found["exhaustive"]["little"] is None:
                continue
            e = found["exhaustive"]
            color, marker = styles.get(rule, ("grey", "o"))
            label = f"exhaustive, {rule}" if rule not in seen else None
            seen.add(rule)
            ax.scatter(e["expected_ms"]["1"], 100 * e["test_accuracy"], color=color, marker=marker, s=90, label=label,
                       zorder=4)
            if rule == PER_CLASS_RULE:  # one label per pair: the rules mostly choose the same one
                ax.annotate(f"{e['little']} → {e['big']}", (e["expected_ms"]["1"], 100 * e["test_accuracy"]), fontsize=6,
                            color=color, xytext=(-10, -14), textcoords="offset points", ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("expected latency per frame at batch 1 (ms, this host)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{pool['name']}: pool models (black) and chosen Dynamic Duo pairs", fontsize=9)
    if seen:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.duo_pool", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coral", type=Path, nargs="?", const=Path(""), metavar="ROOT",
                        help="the data root holding coral-imagenet/ and imagenet-sample-a/ (default: $MMNET_SHARED_DATA "
                             "or ../shared/data beside the repository)")
    source.add_argument("--bundle", type=Path, help="a bundle: its shipped models on its recorded val/test splits")
    source.add_argument("--pool", type=Path, help="a pool this benchmark saved (its --out): searched again, nothing run")
    parser.add_argument("--config", type=Path, default=CORAL_CONFIG, help="the build config naming the Coral pool "
                        "(default: configs/coral-imagenet.yaml)")
    parser.add_argument("--out", type=Path, default=Path("results/duo_pool"))
    parser.add_argument("--seed", type=int, default=0, help="the val/test split's seed (--coral) and the probes' folds")
    parser.add_argument("--fraction", type=float, default=1.0, help="target = this × each baseline's val accuracy")
    parser.add_argument("--passes", type=int, default=5, help="latency passes per model and batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="batch sizes timed (1 always)")
    parser.add_argument("--all-precisions", action="store_true",
                        help="--bundle: every shipped precision of a variant (default: the fastest one by the manifest)")
    parser.add_argument("--limit", type=int, default=None, help="--coral: the first N frames of each split only")
    parser.add_argument("--threshold-mode", choices=("guaranteed", "point"), default=PAIR_SETTINGS.threshold_mode,
                        help="how a probe's threshold is chosen: guaranteed (default: extra errors vs the big model <= "
                        "--epsilon w.p. >= 1 - --delta, i.e. equal accuracy) or point (the paper's rule on val)")
    parser.add_argument("--epsilon", type=float, default=PAIR_SETTINGS.epsilon,
                        help="extra errors per frame vs the big model the guarantee allows (default 0.003: ±0.3 points)")
    parser.add_argument("--delta", type=float, default=PAIR_SETTINGS.delta, help="the guarantee's failure probability")
    parser.add_argument("--resplits", type=int, default=20,
                        help="random val/test re-splits checking the top target's accuracy on unseen frames (0: none)")
    args = parser.parse_args(argv)
    try:
        timing = TimingSettings(batches=tuple(sorted(set(args.batches) | {1})), passes=args.passes)
        if not 0 < args.fraction <= 1:
            raise MmnetError(f"--fraction is {args.fraction}; expected a number in (0, 1]")
        if args.resplits < 0:
            raise MmnetError(f"--resplits is {args.resplits}; expected 0 (none) or a number of splits")
        frames_to_certify(args.epsilon, args.delta)  # a ConfigError names a bad epsilon or delta
        settings = dataclasses.replace(PAIR_SETTINGS, threshold_mode=args.threshold_mode, epsilon=args.epsilon,
                                       delta=args.delta)
        if args.pool is not None:
            pool = load_pool(args.pool)
        elif args.bundle is not None:
            pool = bundle_pool(args.bundle, timing=timing, progress=_say, one_per_variant=not args.all_precisions)
        else:
            root = args.coral if str(args.coral) else default_data_root()
            missing = missing_data(root)
            if missing:
                print(f"skipped: real models and photos not found in {root} (missing {', '.join(missing)}; pass --coral "
                      "ROOT or set $MMNET_SHARED_DATA)", file=sys.stderr)
                return 0
            if not args.config.is_file():
                raise MmnetError(f"--config {args.config} does not exist; expected a build config such as "
                                 "configs/coral-imagenet.yaml from the repository")
            pool = config_pool(args.config, data_root=root, seed=args.seed, limit=args.limit, timing=timing,
                               progress=_say)
        result = measure(pool, fraction=args.fraction, seed=args.seed, settings=settings, resplits=args.resplits)
        if args.pool is None or args.pool.resolve() != args.out.resolve():
            pool.save(args.out)
    except MmnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_results(args.out, "duo_pool", result, to_markdown(result))
    plot(result, args.out / "duo_pool.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
