"""multi-dsNN (dissertation ch. 3) against its monolithic network, boosting and a mixture of experts.

    .venv/bin/python -m mmnet.benchmarks.multi_dsnn --out results/multi_dsnn
    .venv/bin/python -m mmnet.benchmarks.multi_dsnn --datasets digits,wine --budget 4 --out results/multi_dsnn

Per data set (FC case: digits, wine, breast_cancer; CNN case: mnist5k with LeNet-5's convolutional
part as the shared preprocessor): the monolithic network, §3.4's design (threshold queue of nine
2-way entries plus the 3-way ones, a tree per entry, dsNNs on the tree's partition found by
§3.5.7's heuristic within ``--budget`` trainings per part), the Pareto front of val accuracy vs
mean MACs, and the cheapest systems at 100% and 99% of the monolithic val accuracy. For each: test
accuracy, mean MACs (whole network and the replaced head), the selector's misclassification rate
on test (§3.5.5), and measured latency: the monolithic TFLite model and the system (features,
tree walk, one dsNN; all TFLite on LiteRT, 1 thread, XNNPACK) timed side by side in one process,
interleaved, ``--passes`` passes over the test inputs; the ratio's median and range over passes.
Baselines under the monolithic MAC budget: SAMME boosting of small MLPs and a soft mixture of
experts. Writes ``multi_dsnn.json``, ``pareto.png``, ``multi_dsnn.md`` (printed) and the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.benchmarks.logged import run_logged

__all__ = ["main", "PAPER"]

log = logging.getLogger("mmnet.benchmarks.multi_dsnn")

# §3.5.2-3.5.5: mobile CPU energy at 100% of baseline accuracy 47% of the monolithic network
# (abstract: -53%), at 99% 17%; runtime 53% / 26%; selector misclassification at most ~10%, mean 1.6%.
PAPER = {"energy_100": 0.47, "energy_99": 0.17, "runtime_100": 0.53, "runtime_99": 0.26,
         "misclassification_max": 0.10, "misclassification_mean": 0.016}


def _point_json(result, point) -> dict[str, Any] | None:
    if point is None:
        return None
    test = result.on_test(point)
    mono = result.monolithic
    head = point.mean_macs - (mono.macs - mono.head_macs)
    return {
        "threshold": point.threshold, "ways": point.ways, "hidden": [list(h) for h in point.hidden],
        "val_accuracy": point.accuracy, "test_accuracy": test.accuracy,
        "val_normalized": point.accuracy / mono.accuracy["val"],
        "test_normalized": test.accuracy / mono.accuracy["test"],
        "mean_macs": point.mean_macs, "macs_normalized": point.mean_macs / mono.macs,
        "head_macs_normalized": head / mono.head_macs,
        "shares_test": list(test.shares), "misclassification_test": test.misclassification,
        "misclassification_val": point.misclassification,
        "tree_depth": result.design_of(point).selector.depth, "tree_leaves": result.design_of(point).selector.leaf_count,
    }


def _latency(result, data, point, passes: int, inputs: int) -> dict[str, Any]:
    """Monolithic TFLite vs the system (features, route, one dsNN) on the same test inputs, interleaved."""
    from mmnet.pipeline.dsnn.networks import export_tflite
    from mmnet.runtime.multi_dsnn import VectorModel, route

    design = result.design_of(point)
    with tempfile.TemporaryDirectory() as tmp:
        mono = VectorModel(export_tflite(result.monolithic.model, Path(tmp) / "mono.tflite"))
        pre = None
        if result.monolithic.preprocessor is not None:
            pre = VectorModel(export_tflite(result.monolithic.preprocessor, Path(tmp) / "pre.tflite"))
        dsnns = [VectorModel(export_tflite(result.models[(point.threshold, c.part, c.hidden)], Path(tmp) / f"{c.part}.tflite"))
                 for c in point.candidates]
        x = data.inputs["test"][:inputs]
        tree = design.selector

        def monolithic_pass() -> float:
            start = time.perf_counter()
            for row in x:
                mono.invoke(row[None])
            return (time.perf_counter() - start) / len(x)

        def system_pass() -> float:
            start = time.perf_counter()
            for row in x:
                features = pre.invoke(row[None]).reshape(-1) if pre is not None else row
                where = route(tree, features)
                dsnns[where.part_index].invoke(features[None])
            return (time.perf_counter() - start) / len(x)

        # The networks alone (features and routes computed beforehand): what the tree walk in Python costs
        # on top shows as the difference to system_pass.
        features = [pre.invoke(row[None]).reshape(-1) if pre is not None else row for row in x]
        parts = [route(tree, f).part_index for f in features]

        def networks_pass() -> float:
            start = time.perf_counter()
            for row, f, k in zip(x, features, parts):
                if pre is not None:
                    pre.invoke(row[None])
                dsnns[k].invoke(f[None])
            return (time.perf_counter() - start) / len(x)

        passes_by_kind = {monolithic_pass: [], system_pass: [], networks_pass: []}
        for f in passes_by_kind:  # warm-up
            f()
        for i in range(passes):
            order = list(passes_by_kind)
            order = order[i % 3:] + order[:i % 3]  # rotate: none always runs first
            for f in order:
                passes_by_kind[f].append(1e3 * f())
    mono_ms, system_ms, networks_ms = (np.array(v) for v in passes_by_kind.values())
    ratios, network_ratios = system_ms / mono_ms, networks_ms / mono_ms
    return {"passes": passes, "inputs": len(x), "monolithic_ms": float(np.median(mono_ms)),
            "system_ms": float(np.median(system_ms)), "networks_ms": float(np.median(networks_ms)),
            "ratio_median": float(np.median(ratios)), "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max()),
            "networks_ratio_median": float(np.median(network_ratios)),
            "networks_ratio_min": float(network_ratios.min()), "networks_ratio_max": float(network_ratios.max())}


def _baselines(result, data, config) -> list[dict[str, Any]]:
    from mmnet.pipeline.dsnn.baselines import mixture_of_experts, samme

    mono = result.monolithic
    features = {s: np.asarray(f, np.float32) for s, f in mono.features.items()}
    width = mono.hidden[0]
    points = []
    for hidden in ((max(2, width // 4),), (max(2, width // 8),)):
        points += samme(features, data.labels, data.num_classes, hidden=hidden, budget_macs=mono.head_macs,
                        config=config)
    for experts in (2, 4):
        hidden = (max(2, width // (2 * experts)),)
        point = mixture_of_experts(features, data.labels, data.num_classes, experts=experts, hidden=hidden,
                                   config=config)
        if point.macs <= mono.head_macs:
            points.append(point)
        else:
            log.info("%s: MoE %d x %s needs %d MACs, over the budget %d: left out", data.name, experts, hidden,
                     point.macs, mono.head_macs)
    shared = mono.macs - mono.head_macs
    return [{"method": p.method, "detail": p.detail, "macs": p.macs + shared,
             "macs_normalized": (p.macs + shared) / mono.macs,
             "val_normalized": p.accuracy["val"] / mono.accuracy["val"],
             "test_normalized": p.accuracy["test"] / mono.accuracy["test"], **{f"{s}_accuracy": a for s, a in p.accuracy.items()}}
            for p in points]


def run_dataset(name: str, args) -> dict[str, Any]:
    from mmnet.pipeline.dsnn import data as datasets
    from mmnet.pipeline.dsnn.config import DsnnConfig
    from mmnet.pipeline.dsnn.design import design

    config = DsnnConfig(search_budget=args.budget, epochs=args.epochs, seed=args.seed)
    data = datasets.load(name, seed=args.seed)
    started = time.perf_counter()
    result = design(data, config)
    mono = result.monolithic
    picks = {}
    for label, floor, ways in (("100", 1.0, None), ("99", 0.99, None), ("100_2way", 1.0, 2), ("100_3way", 1.0, 3)):
        picks[label] = _point_json(result, result.pick(floor, ways))
    best = result.pick(1.0) or max(result.points(), key=lambda p: (p.accuracy, -p.mean_macs))
    latency = {"100": _latency(result, data, best, args.passes, args.inputs)}
    if result.pick(0.99) is not None and result.pick(0.99) is not best:
        latency["99"] = _latency(result, data, result.pick(0.99), args.passes, args.inputs)
    baselines = _baselines(result, data, config)
    return {
        "dataset": name, "case": data.case, "classes": data.num_classes,
        "features": int(mono.features["train"].shape[1]),
        "splits": {s: int(len(v)) for s, v in data.labels.items()},
        "monolithic": {"hidden": list(mono.hidden), "macs": mono.macs, "head_macs": mono.head_macs,
                       "params": mono.params, "accuracy": mono.accuracy},
        "config": config.to_json(),
        "thresholds": [{"name": d.thresholds.name, "error_thresholds": list(d.thresholds.errors),
                        "heuristic": d.heuristic, "tree_depth": d.selector.depth, "tree_leaves": d.selector.leaf_count,
                        "ideal_agreement_train": d.ideal_agreement,
                        "trials": {p: [[list(t.hidden), t.accuracy, t.move] for t in ts] for p, ts in d.trials.items()}}
                       for d in result.designs],
        "skipped": dict(result.skipped), "trainings": result.trainings,
        "points": [{"threshold": p.threshold, "ways": p.ways, "hidden": [list(h) for h in p.hidden],
                    "val_accuracy": p.accuracy, "mean_macs": p.mean_macs} for p in result.points()],
        "front": [{"threshold": p.threshold, "ways": p.ways, "val_accuracy": p.accuracy, "mean_macs": p.mean_macs}
                  for p in result.front()],
        "picks": picks, "latency": latency,
        "best_when_no_100": None if result.pick(1.0) else _point_json(result, best),
        "baselines": baselines, "seconds": time.perf_counter() - started,
    }


def _plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        mono = r["monolithic"]
        for ways, marker in ((2, "o"), (3, "s")):
            pts = [p for p in r["points"] if p["ways"] == ways]
            ax.scatter([p["mean_macs"] / mono["macs"] for p in pts],
                       [p["val_accuracy"] / mono["accuracy"]["val"] for p in pts], s=8, marker=marker, alpha=0.35,
                       label=f"multi-dsNN {ways}-way")
        front = r["front"]
        ax.plot([p["mean_macs"] / mono["macs"] for p in front], [p["val_accuracy"] / mono["accuracy"]["val"] for p in front],
                "k-", lw=1, label="multi-dsNN Pareto")
        for method, marker in (("boosting", "^"), ("moe", "D")):
            pts = [b for b in r["baselines"] if b["method"] == method]
            ax.scatter([b["macs_normalized"] for b in pts], [b["val_normalized"] for b in pts], marker=marker,
                       label="EC boosting (SAMME)" if method == "boosting" else "EC MoE")
        ax.scatter([1.0], [1.0], marker="*", s=120, c="red", label="monolithic")
        ax.axhline(0.99, ls="--", c="gray", lw=0.8)
        ax.set_title(f"{r['dataset']} ({r['case'].upper()})")
        ax.set_xlabel("mean MACs / monolithic")
        ax.set_ylabel("val accuracy / monolithic")
        ax.set_ylim(max(0.5, ax.get_ylim()[0]), None)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def summary(results: list[dict[str, Any]]) -> str:
    lines = ["# multi-dsNN vs monolithic (val picks, test measured)", "",
             "| data | case | mono test acc | target | picked | test acc (norm.) | MACs (norm.) | head MACs | "
             "latency ratio: system (median, range) | networks only | selector misclass. | paper energy / runtime |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for label in ("100", "99"):
            p = r["picks"][label]
            lat = r["latency"].get(label) if p is not None else None
            if label == "99" and lat is None and p is not None:
                lat = r["latency"]["100"]  # the same point
            paper = f"{_pct(PAPER['energy_' + label])} / {_pct(PAPER['runtime_' + label])}"
            if p is None:
                lines.append(f"| {r['dataset']} | {r['case']} | {_pct(r['monolithic']['accuracy']['test'])} | {label}% | "
                             f"none on val | - | - | - | - | - | - | {paper} |")
                continue
            lines.append(
                f"| {r['dataset']} | {r['case']} | {_pct(r['monolithic']['accuracy']['test'])} | {label}% | "
                f"{p['ways']}-way {p['threshold']} {p['hidden']} | {_pct(p['test_accuracy'])} ({_pct(p['test_normalized'])}) | "
                f"{_pct(p['macs_normalized'])} | {_pct(p['head_macs_normalized'])} | "
                + (f"{lat['ratio_median']:.2f} ({lat['ratio_min']:.2f}-{lat['ratio_max']:.2f}) | "
                   f"{lat['networks_ratio_median']:.2f} ({lat['networks_ratio_min']:.2f}-{lat['networks_ratio_max']:.2f})"
                   if lat else "- | -")
                + f" | {_pct(p['misclassification_test'])} | {paper} |")
    lines += ["", f"Paper: selector misclassification <= {_pct(PAPER['misclassification_max'])}, mean "
              f"{_pct(PAPER['misclassification_mean'])}.", "",
              "## 2-way vs 3-way (cheapest system at 100% of the monolithic val accuracy)", "",
              "| data | 2-way MACs (norm.) | 3-way MACs (norm.) | entries skipped (reason: count) | dsNN trainings |",
              "|---|---|---|---|---|"]
    for r in results:
        two, three = r["picks"]["100_2way"], r["picks"]["100_3way"]
        lines.append(f"| {r['dataset']} | {_pct(two and two['macs_normalized'])} | {_pct(three and three['macs_normalized'])} | "
                     f"{', '.join(f'{k}: {v}' for k, v in r['skipped'].items()) or '-'} | {r['trainings']} |")
    lines += ["",
              "## Baselines under the monolithic MAC budget (val / test accuracy normalised)", "",
              "| data | method | MACs (norm.) | val | test |", "|---|---|---|---|---|"]
    for r in results:
        for b in r["baselines"]:
            lines.append(f"| {r['dataset']} | {b['detail']} | {_pct(b['macs_normalized'])} | {_pct(b['val_normalized'])} | "
                         f"{_pct(b['test_normalized'])} |")
    return "\n".join(lines) + "\n"


def run(args, out: Path) -> None:
    names = [n for n in args.datasets.split(",") if n]
    results = []
    for name in names:
        log.info("data set %s", name)
        results.append(run_dataset(name, args))
        (out / "multi_dsnn.json").write_text(json.dumps({"paper": PAPER, "results": results}, indent=1), encoding="utf-8")
    _plot(results, out / "pareto.png")
    text = summary(results)
    (out / "multi_dsnn.md").write_text(text, encoding="utf-8")
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,wine,breast_cancer,mnist5k")
    parser.add_argument("--out", default="results/multi_dsnn")
    parser.add_argument("--budget", type=int, default=6, help="dsNN trainings per part and threshold")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--passes", type=int, default=30, help="latency passes (interleaved)")
    parser.add_argument("--inputs", type=int, default=200, help="test inputs per latency pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", metavar="JSON", help="print the tables of an earlier run's multi_dsnn.json and stop")
    args = parser.parse_args(argv)
    if args.render:
        print(summary(json.loads(Path(args.render).read_text(encoding="utf-8"))["results"]))
        return 0
    out = Path(args.out)
    return run_logged("multi_dsnn", out, lambda: run(args, out))


if __name__ == "__main__":
    sys.exit(main())
