"""The runtime's own cost per frame, and the master server under concurrent load, in one run.

Overhead is everything ``Runtime.classify`` spends outside interpreter calls (set the input,
invoke, read the output) and preprocessing (resize, normalise, quantise the input): the selector,
the detector (with its calibration of the minions' outputs) and the bookkeeping. It is measured per frame over the bundle's test
split (device master, normal mode) and printed in µs and as a ratio to one invoke of the system's
cheapest minion, measured in the same run (target: ≤ 20 µs, i.e. ≤ 2% of a 1 ms minion). Twice,
passes alternating: with the bundle's detectors as built, with every system's detector the paper's
rule, and with every one a learned (logistic) one, so the costs are measured side by side on the
same host. Then the
master server runs on loopback and ``--clients`` threads load it for ``--seconds``. Writes
``runtime_overhead.json`` and ``.md`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.runtime_overhead bundles/digits --out results/runtime
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import timeit
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import Bundle, load_bundle
from mmnet.format.runtime_config import RuntimeConfig, check_runtime_config
from mmnet.runtime.detector import calibrated_top1, calibration_table, combine_minions, detect_frame
from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency
from mmnet.runtime.learned_detector import LOGISTIC, PER_CLASS, LogisticDetector, feature_names, logistic_frame, score_table
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.runtime import Runtime
from mmnet.runtime.selector import decide

TARGET_US = 20.0


def _parts_us(runtime: Runtime, system_name: str, number: int = 20000) -> dict[str, float]:
    """Microbenchmarks of the pure pieces the overhead is made of, on the outputs of a real frame."""
    bundle = runtime.bundle
    system = runtime.minion_system(system_name)
    frame = bundle.load_split("test")[0][0]
    outputs = []
    for model in system.minions:
        record = bundle.model(model)
        classifier = TFLiteClassifier(bundle.model_path(model), use_xnnpack=record.metrics.get("xnnpack", True))
        x = preprocess(frame[None], bundle.preprocessing, record.resolution)
        outputs.append(classifier.invoke_one(classifier.quantize_one(x))[0])
    top1 = [calibrated_top1(o, t, table) for o, t, table in zip(outputs, system.temperatures, system.tables)]
    # The detector at ImageNet size, for bundles with many classes: float scores, and int8 codes of a
    # softmax output (scale 1/256, zero point -128) calibrated by table.
    rng = np.random.default_rng(0)
    scores_1000 = [rng.dirichlet(np.ones(1000)).astype(np.float32) for _ in system.minions]
    codes_1000 = [rng.integers(-128, 128, 1000).astype(np.int8) for _ in system.minions]
    int8_scores = ((np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float32) + 128) / 256).tolist()
    tables_1000 = [calibration_table(int8_scores, t) for t in system.temperatures]
    thresholds_1000 = [0.5] * 1000

    def best(statement, runs: int = number) -> float:
        return 1e6 * min(timeit.repeat(statement, number=runs, repeat=3)) / runs

    learned = LogisticDetector(feature_names(len(outputs)), tuple(0.1 for _ in feature_names(len(outputs))), 0.0, 0.0)
    score_tables = [score_table(int8_scores)] * len(outputs)
    return {
        "learned_detector": best(lambda: logistic_frame(outputs, learned, system.score_tables)),
        "learned_detector_1000_classes": best(lambda: logistic_frame(scores_1000, learned), runs=number // 10),
        "learned_detector_1000_codes": best(lambda: logistic_frame(codes_1000, learned, score_tables), runs=number // 10),
        "selector_decide": best(lambda: decide(runtime.tables, runtime.state, mode=runtime.mode, now_s=1e6,
                                               cache=runtime.costing_cache)),
        "detector": best(lambda: detect_frame(outputs, system.temperatures, system.thresholds,
                                              system.disagreement_threshold, system.tables)),
        "detector_rule_only": best(lambda: combine_minions(top1, system.thresholds, system.disagreement_threshold)),
        "detector_1000_classes": best(lambda: detect_frame(scores_1000, system.temperatures, thresholds_1000, None),
                                      runs=number // 10),
        "detector_1000_codes": best(lambda: detect_frame(codes_1000, system.temperatures, thresholds_1000, None,
                                                         tables_1000), runs=number // 10),
    }


def with_detectors(bundle: Bundle, kind: str) -> Bundle:
    """The bundle with every system's detector of ``kind``: the paper's rule (its per-class thresholds as
    built), or a logistic one (weights that accept what they score), so both are timed on the very
    systems the bundle runs."""
    assert bundle.runtime_config is not None
    doc = copy.deepcopy(bundle.runtime_config.document)
    for system in doc["systems"].values():
        names = list(feature_names(len(system["minions"])))
        for tuned in system["modes"].values():
            tuned["detector"] = {"kind": PER_CLASS} if kind == PER_CLASS else {
                "kind": LOGISTIC, "features": names, "weights": [0.1] * len(names), "bias": 0.0, "threshold": 0.0}
    check_runtime_config(doc, f"{kind} variant", num_classes=bundle.num_classes,
                         shipped_models=[m.id for m in bundle.models if m.shipped])
    return dataclasses.replace(bundle, runtime_config=RuntimeConfig(doc))


def measure_overhead(bundle_dir: Path, *, repeats: int = 7) -> dict:
    """Overhead per frame over ``repeats`` passes of the test split, for the detectors as built and for
    learned ones, passes alternating. A p50 is the median of the passes' medians: a slow spell of the
    host (seen here: whole seconds at twice the time) spoils one pass, not the figure; every pass's
    median is recorded beside it."""
    bundle = load_bundle(bundle_dir)
    frames, _ = bundle.load_split("test")
    variants = {"built": bundle, "paper": with_detectors(bundle, PER_CLASS), "learned": with_detectors(bundle, LOGISTIC)}
    runtimes = {name: Runtime(b, mode="normal") for name, b in variants.items()}
    runs = {name: {"overhead": [], "total": [], "paths": {}, "pass_p50": [], "pass_invoke": []} for name in variants}
    try:
        for runtime in runtimes.values():
            for i, frame in enumerate(frames[:50]):  # warm-up
                runtime.classify(frame, timestamp_s=float(i))
        for r in range(repeats):
            for name, runtime in runtimes.items():
                run = runs[name]
                this_pass, invokes = [], []
                for i, frame in enumerate(frames):
                    result = runtime.classify(frame, timestamp_s=1000.0 * (r + 1) + i)
                    this_pass.append(result.timings_ms["overhead"] * 1000.0)
                    run["total"].append(result.timings_ms["total"] * 1000.0)
                    run["paths"][result.path] = run["paths"].get(result.path, 0) + 1
                    if result.path == "minions":  # the host's speed in this pass: a slow spell slows invokes too
                        invokes.append(result.timings_ms["minions"] * 1000.0)
                run["overhead"] += this_pass
                run["pass_p50"].append(float(np.median(this_pass)))
                run["pass_invoke"].append(float(np.median(invokes)) if invokes else None)
        runtime = runtimes["built"]
        system = runtime.config.selection(runtime.profile, "normal")["system"]
        parts = _parts_us(runtime, system) if system != "master-only" else {}
        minions = (runtime.config.document["systems"][system]["minions"] if system != "master-only"
                   else [runtime.config.master_model])
    finally:
        for runtime in runtimes.values():
            runtime.close()
    cheapest = min(minions, key=lambda m: bundle.model(m).macs)
    record = bundle.model(cheapest)
    classifier = TFLiteClassifier(bundle.model_path(cheapest), num_threads=1, use_xnnpack=record.metrics.get("xnnpack", True))
    invoke = measure_latency(classifier, preprocess(frames[:1], bundle.preprocessing, record.resolution), warmup=20, runs=500)
    invoke_us = invoke.median_ms * 1000.0

    def summary(run: dict) -> dict:
        overhead_us = np.asarray(run["overhead"])
        p50 = float(np.median(run["pass_p50"]))
        return {"frames": len(run["overhead"]), "paths": run["paths"],
                "overhead_us": {"p50": p50, "mean": float(overhead_us.mean()), "p95": float(np.percentile(overhead_us, 95)),
                                "pass_p50": run["pass_p50"]},
                "pass_minions_us": run["pass_invoke"],  # per pass: median time of a frame's minion invokes
                "frame_total_us": {"p50": float(np.percentile(run["total"], 50))},
                "overhead_to_invoke_ratio": p50 / invoke_us, "meets_target": p50 <= TARGET_US}

    paired = np.asarray(runs["learned"]["pass_p50"]) - np.asarray(runs["paper"]["pass_p50"])
    return {
        "bundle": str(bundle_dir), "system": system, **summary(runs["built"]),
        "paper": summary(runs["paper"]), "learned": summary(runs["learned"]),
        # learned minus paper, pass by pass (alternating passes see the same spells of the host)
        "learned_minus_paper_us": {"median": float(np.median(paired)), "min": float(paired.min()), "max": float(paired.max())},
        "parts_us": parts,
        "minion_invoke": {"model": cheapest, "median_us": invoke_us},
        "target_us": TARGET_US,
    }


def to_markdown(result: dict) -> str:
    o, s = result["overhead"], result.get("server")
    lines = [
        f"# Runtime overhead and master server: {o['bundle']}",
        "",
        f"Runtime ({o['frames']} frames, system {o['system']}, paths {o['paths']}):",
        f"- overhead per frame: p50 {o['overhead_us']['p50']:.1f} µs, mean {o['overhead_us']['mean']:.1f} µs, "
        f"p95 {o['overhead_us']['p95']:.1f} µs (target ≤ {o['target_us']:.0f} µs: "
        f"{'met' if o['meets_target'] else 'NOT met'})",
        "- p50 is the median of the passes' medians: " + ", ".join(f"{v:.1f}" for v in o["overhead_us"]["pass_p50"]) + " µs",
        "- the minions' invokes per frame in the same passes (the host's speed): "
        + ", ".join("-" if v is None else f"{v:.1f}" for v in o.get("pass_minions_us", [])) + " µs",
        f"- one invoke of {o['minion_invoke']['model']}: {o['minion_invoke']['median_us']:.1f} µs; "
        f"overhead / invoke = {o['overhead_to_invoke_ratio']:.2f}",
        *(f"- with the {label} on every system (passes alternating with the above): p50 "
          f"{o[key]['overhead_us']['p50']:.1f} µs (passes " + ", ".join(f"{v:.1f}" for v in o[key]["overhead_us"]["pass_p50"])
          + f"; target ≤ {o['target_us']:.0f} µs: {'met' if o[key]['meets_target'] else 'NOT met'})"
          for key, label in (("paper", "paper's rule"), ("learned", "learned detector"))),
        f"- learned − paper per pass: median {o['learned_minus_paper_us']['median']:+.1f} µs, range "
        f"{o['learned_minus_paper_us']['min']:+.1f} … {o['learned_minus_paper_us']['max']:+.1f} µs",
        "- parts: " + ", ".join(f"{k} {v:.1f} µs" for k, v in o["parts_us"].items()),
        f"- whole frame p50: {o['frame_total_us']['p50']:.1f} µs",
    ]
    if s is not None:
        lat = s["latency_ms"]
        lines += ["", f"Master server on loopback ({s['clients']} clients × {s['seconds']:g} s, {s['encoding']}):",
                  f"- throughput {s['throughput_rps']:.1f} requests/s; latency p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms; "
                  f"{s['requests']} ok, {sum(s['failures'].values())} failed"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/runtime"))
    parser.add_argument("--repeats", type=int, default=7, help="passes over the test split")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-server", action="store_true", help="skip the server load test")
    args = parser.parse_args(argv)
    result = {"overhead": measure_overhead(args.bundle, repeats=args.repeats)}
    if not args.no_server:
        from mmnet.benchmarks.serving import measure

        result["server"] = measure(args.bundle, clients=args.clients, seconds=args.seconds)
    write_results(args.out, "runtime_overhead", result, to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
