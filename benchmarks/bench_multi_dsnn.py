"""``mmnet bench`` on a multi-dsNN bundle: the system beside the monolithic network it replaces.

Every test frame runs through both on LiteRT, one frame at a time as a phone would: the monolithic
network (preprocessing and one invoke) and the multi-dsNN (features, the selector's tree walk, one
dsNN). The passes alternate between the two so both see the same host; per pass the median per-frame
latency of each and their ratio, reported as the median over passes with the range. Accuracy and
MACs come from the same frames, and the selector's misclassification rate from the design (the test
frames routed to another part than the monolithic network's error assigns them). The paper's
numbers stand beside ours (chapter 3: ≈ 47–53% of the monolithic energy at equal accuracy, selector
misclassification ≤ 10%, mean 1.6%).

Writes ``results.json`` (``benchmarks/schemas/multi_dsnn_bench.schema.json``) and ``results.md``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.documents import validate_document
from mmnet.format.errors import ConfigError, MmnetError

__all__ = ["PASSES", "SCHEMA_VERSION", "run_multi_dsnn_bench", "to_markdown"]

SCHEMA_VERSION = "1.0"
PASSES = 7
PAPER = {"energy_share_at_equal_accuracy": [0.47, 0.53], "selector_misclassification_max": 0.10,
         "selector_misclassification_mean": 0.016}


class MultiDsnnResultsError(MmnetError, ValueError):
    """A multi-dsNN bench results document does not follow its JSON Schema."""


def _monolithic_pass(classifier, frames: np.ndarray, spec, resolution: int) -> tuple[list[int], list[float]]:
    from mmnet.runtime.preprocessing import preprocess

    answers, times = [], []
    for frame in frames:
        start = time.perf_counter()
        scores = classifier.predict(preprocess(frame[None], spec, resolution))[0]
        times.append(time.perf_counter() - start)
        answers.append(int(np.argmax(scores)))
    return answers, times


def _system_pass(runner, frames: np.ndarray) -> tuple[list[int], list[float], list[str]]:
    answers, times, parts = [], [], []
    for frame in frames:
        start = time.perf_counter()
        answer = runner.classify(frame)
        times.append(time.perf_counter() - start)
        answers.append(answer.answer)
        parts.append(answer.route.part)
    return answers, times, parts


def run_multi_dsnn_bench(bundle, out: str | Path, *, frames: int | None = None, passes: int | None = None,
                         progress: bool = True) -> dict[str, Any]:
    """Measures ``bundle`` (a loaded bundle with a multi-dsNN system) and writes ``out``."""
    from tqdm import tqdm

    from mmnet.benchmarks.bench import git_info, machine_info
    from mmnet.runtime.interpreter import TFLiteClassifier
    from mmnet.runtime.multi_dsnn import MultiDsnnRunner

    started = time.monotonic()
    out = Path(out)
    system = bundle.multi_dsnn
    monolithic = bundle.model(system.document["monolithic"])
    test_frames, test_labels = bundle.load_split("test")
    count = len(test_frames) if frames is None else min(frames, len(test_frames))
    if count == 0:
        raise ConfigError(f"bundle {bundle.path} has no test frames to measure")
    test_frames, test_labels = test_frames[:count], np.asarray(test_labels[:count])
    passes = PASSES if passes is None else passes

    runner = MultiDsnnRunner(bundle, num_threads=1)
    classifier = TFLiteClassifier(bundle.model_path(monolithic.id), num_threads=1)
    spec = bundle.preprocessing
    _monolithic_pass(classifier, test_frames[:10], spec, monolithic.resolution)  # warm-up: first invokes allocate
    _system_pass(runner, test_frames[:10])
    mono_ms, system_ms, ratios = [], [], []
    with tqdm(total=passes, desc="mmnet bench (multi-dsNN)", unit="pass", disable=not progress) as bar:
        for _ in range(passes):
            mono_answers, mono_times = _monolithic_pass(classifier, test_frames, spec, monolithic.resolution)
            answers, times, parts = _system_pass(runner, test_frames)
            mono_ms.append(1e3 * float(np.median(mono_times)))
            system_ms.append(1e3 * float(np.median(times)))
            ratios.append(system_ms[-1] / mono_ms[-1])
            bar.update(1)

    routed = {part: parts.count(part) for part in system.selector.parts}
    by_part = {d["part"]: d["macs"] for d in system.document["dsnns"]}
    shared = system.document["preprocessor"]["macs"] if system.document["preprocessor"] else 0
    mean_macs = shared + sum(by_part[p] * n for p, n in routed.items()) / count
    design = system.document["design"]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "kind": "multi_dsnn",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "git": git_info(),
        "bundle": {"path": str(bundle.path), "name": bundle.manifest["name"], "case": system.case,
                   "threshold": design["threshold"], "monolithic": monolithic.id},
        "frames": count,
        "passes": passes,
        "method": ("test frames one at a time on LiteRT (1 thread, XNNPACK), monolithic and multi-dsNN passes "
                   "alternating; per pass the median per-frame latency of each; the ratio's median and range "
                   "over passes"),
        "monolithic": {"accuracy": float(np.mean(np.asarray(mono_answers) == test_labels)), "macs": monolithic.macs,
                       "median_ms_per_pass": mono_ms},
        "multi_dsnn": {"accuracy": float(np.mean(np.asarray(answers) == test_labels)), "mean_macs": mean_macs,
                       "routed": routed, "median_ms_per_pass": system_ms,
                       "selector_misclassification_test": system.document["metrics"].get("misclassification_test")},
        "macs_ratio": mean_macs / monolithic.macs,
        "latency_ratio": {"median": float(np.median(ratios)), "min": float(min(ratios)), "max": float(max(ratios))},
        "paper": PAPER,
        "wall_time_s": time.monotonic() - started,
    }
    validate_document(doc, "multi_dsnn_bench", source="results", package="mmnet.benchmarks",
                      error=MultiDsnnResultsError)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out / "results.md").write_text(to_markdown(doc), encoding="utf-8")
    return doc


def to_markdown(doc: dict[str, Any]) -> str:
    mono, system, ratio = doc["monolithic"], doc["multi_dsnn"], doc["latency_ratio"]
    misclassified = system["selector_misclassification_test"]
    paper = doc["paper"]
    low, high = paper["energy_share_at_equal_accuracy"]
    lines = [
        f"# mmnet bench: multi-dsNN ({doc['bundle']['case'].upper()} case) vs monolithic — {doc['bundle']['name']}",
        "",
        f"{doc['frames']} test frames, {doc['passes']} passes; {doc['method']}.",
        "",
        "| system | test accuracy | MACs per frame | median latency per frame (ms, per pass) |",
        "|---|---|---|---|",
        f"| monolithic {doc['bundle']['monolithic']} | {100 * mono['accuracy']:.2f}% | {mono['macs']:,} | "
        + ", ".join(f"{v:.3f}" for v in mono["median_ms_per_pass"]) + " |",
        f"| multi-dsNN ({', '.join(f'{p} {n}' for p, n in system['routed'].items())}) | {100 * system['accuracy']:.2f}% | "
        f"{system['mean_macs']:,.0f} | " + ", ".join(f"{v:.3f}" for v in system["median_ms_per_pass"]) + " |",
        "",
        f"- MACs: **{100 * doc['macs_ratio']:.1f}%** of the monolithic network's (paper: energy ≈ {100 * low:.0f}–"
        f"{100 * high:.0f}% of the monolithic at equal accuracy).",
        f"- Latency: multi-dsNN / monolithic **{ratio['median']:.2f}×** [{ratio['min']:.2f}–{ratio['max']:.2f}] over "
        "the passes. Networks of a few thousand MACs run in microseconds, where each invoke's fixed cost and the "
        "tree walk in Python weigh more than the MACs saved.",
        "- Selector misclassification on test: "
        + ("n/a" if misclassified is None else f"**{100 * misclassified:.1f}%**")
        + f" (paper: ≤ {100 * paper['selector_misclassification_max']:.0f}%, mean "
        f"{100 * paper['selector_misclassification_mean']:.1f}%).",
        "",
    ]
    return "\n".join(lines)
