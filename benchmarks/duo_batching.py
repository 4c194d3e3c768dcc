"""A little batch as one invoke or as N: the Dynamic Duo server's little-model path, measured side by side.

    .venv/bin/python -m mmnet.benchmarks.duo_batching --pool results/duo_pool_digits --out results/duo_batching_digits
    .venv/bin/python -m mmnet.benchmarks.duo_batching --pool results/duo_pool --out results/duo_batching

For every model of a pool (the output folder of ``mmnet.benchmarks.duo_pool``) and batch size N:
N frames through :class:`~mmnet.server.duo_app.BatchedInvoker` (the interpreter's input resized to
N once, one ``invoke()``) against the same N frames through ``TFLiteClassifier.predict`` (N
one-frame invokes), both including the input quantisation and output dequantisation the server pays.
``--rounds`` rounds; in each, every (model, N) runs both ways back to back, each the median of
``--runs`` calls, so a slow spell of the shared host touches both alike. Reported: the per-frame
time of each path (median over rounds) and the ratio looped / batched per round, median [lowest,
highest]: above 1, one invoke wins. A graph that fixes its batch (Coral's end in a RESHAPE to
``[1, 1001]``) cannot be resized: reported as unsupported with the interpreter's reason (the server
then runs one invoke per frame).

Writes ``duo_batching.json`` and ``duo_batching.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.errors import ConfigError, MmnetError
from mmnet.pipeline.duo.pool import load_pool
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.server.duo_app import BatchedInvoker

BATCHES = (2, 4, 8, 16)


def _median_call_s(function: Any, argument: np.ndarray, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(pool_dir: Path, batches: tuple[int, ...], rounds: int, runs: int) -> list[dict[str, Any]]:
    pool = load_pool(pool_dir)
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    contenders = []
    for model in pool.models:
        classifier = TFLiteClassifier(model.path, num_threads=1, use_xnnpack=model.xnnpack)
        invoker, why = BatchedInvoker.for_classifier(classifier)
        row: dict[str, Any] = {"model": model.id, "batching": why, "batches": {}}
        rows.append(row)
        if invoker is None:
            print(f"{model.id}: one invoke per frame ({why})", file=sys.stderr, flush=True)
            continue
        for b in batches:
            inputs = rng.normal(0.0, 1.0, (b, *classifier.input_shape)).astype(np.float32)
            invoker.predict(inputs)  # the interpreter for b is loaded and allocated once, outside the timing
            row["batches"][str(b)] = {"looped_ms": [], "batched_ms": [], "ratio": []}
            contenders.append((row["batches"][str(b)], classifier, invoker, inputs))
    for r in range(rounds):
        for cell, classifier, invoker, inputs in contenders:
            looped = _median_call_s(classifier.predict, inputs, runs)
            batched = _median_call_s(invoker.predict, inputs, runs)
            b = inputs.shape[0]
            cell["looped_ms"].append(1000 * looped / b)
            cell["batched_ms"].append(1000 * batched / b)
            cell["ratio"].append(looped / batched)
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    for row in rows:
        for cell in row["batches"].values():
            cell["summary"] = {"looped_ms_per_frame": float(np.median(cell["looped_ms"])),
                               "batched_ms_per_frame": float(np.median(cell["batched_ms"])),
                               "ratio": float(np.median(cell["ratio"])), "ratio_low": float(min(cell["ratio"])),
                               "ratio_high": float(max(cell["ratio"]))}
    return rows


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"# A little batch as one invoke or as N: {result['pool']}", "",
             f"{result['rounds']} rounds × {result['runs']} calls per path, 1 thread, per-frame ms (median over rounds); "
             "ratio = looped / batched per round, median [lowest, highest]: above 1, one invoke wins.", "",
             "| model | N | N invokes ms/frame | 1 invoke ms/frame | ratio |", "|---|---|---|---|---|"]
    for row in result["models"]:
        if not row["batches"]:
            lines.append(f"| {row['model']} | — | | | unsupported: {row['batching']} |")
        for b, cell in row["batches"].items():
            s = cell["summary"]
            lines.append(f"| {row['model']} | {b} | {s['looped_ms_per_frame']:.3f} | {s['batched_ms_per_frame']:.3f} | "
                         f"{s['ratio']:.2f}× [{s['ratio_low']:.2f}, {s['ratio_high']:.2f}] |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.duo_batching", description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=Path, required=True, help="an output folder of mmnet.benchmarks.duo_pool")
    parser.add_argument("--out", type=Path, default=Path("results/duo_batching"))
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        if any(b < 2 for b in args.batches) or args.rounds < 1 or args.runs < 1:
            raise ConfigError(f"--batches {args.batches}, --rounds {args.rounds}, --runs {args.runs}: expected batches "
                             "of 2 or more and at least one round and run")
        rows = measure(args.pool, tuple(args.batches), args.rounds, args.runs)
    except (MmnetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {"pool": str(args.pool), "rounds": args.rounds, "runs": args.runs, "models": rows}
    write_results(args.out, "duo_batching", result, to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
