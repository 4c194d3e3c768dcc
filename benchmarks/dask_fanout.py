"""Beam fan-out on the Dask runner: training and export throughput with 1 and with 2 worker processes.

Each pass builds :data:`~mmnet.benchmarks.bench_extras.FANOUT_CONFIG` (5 variants, 2 precisions) on a
fresh ``distributed.LocalCluster`` on 127.0.0.1 with 1 worker process, then with 2, each into an empty
stage cache (nothing is reused); the order alternates between passes so a drifting machine load
falls on both. Throughput is the build's own train and export tasks (from its events) per second of
the window from the first training start to the last export end. Writes ``dask_fanout.json`` and
``dask_fanout.md`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.dask_fanout --out results/dask_fanout --passes 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from mmnet.benchmarks.bench_extras import FANOUT_CONFIG
from mmnet.benchmarks.results import write_results
from mmnet.pipeline.build import run_build
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.progress import read_events

DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"


def fanout_window(events: list[dict]) -> dict:
    """Train and export tasks computed (not cached) and the seconds from the first to the last of them."""
    tasks = [e for e in events if e["stage"] in ("train", "export")]
    starts = [e["time"] for e in tasks if e["state"] == "start"]
    done = [e for e in tasks if e["state"] == "done" and not e.get("cached")]
    window = max(e["time"] for e in done) - min(starts)
    return {"tasks": len(done), "window_s": round(window, 2), "tasks_per_s": len(done) / window}


def build_on_cluster(workers: int, root: Path) -> dict:
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        result = run_build(config_from_mapping(FANOUT_CONFIG), root / "bundle", progress=False,
                           extra_beam_args=[DASK_RUNNER, f"--dask_client_address={address}"])
    return {"workers": workers, "wall_s": result.duration_s, "failures": len(result.failures),
            **fanout_window(read_events(root / ".bundle.work" / "events"))}


def markdown(result: dict) -> str:
    lines = ["# Beam fan-out on the Dask runner", "",
             "| pass | workers | train+export tasks | window (s) | tasks/s | build wall (s) |", "|---|---|---|---|---|---|"]
    for row in result["builds"]:
        lines.append(f"| {row['pass']} | {row['workers']} | {row['tasks']} | {row['window_s']:.1f} | "
                     f"{row['tasks_per_s']:.3f} | {row['wall_s']:.0f} |")
    lines += ["", f"2 workers / 1 worker throughput, per pass: {', '.join(f'{r:.2f}' for r in result['ratios'])}; "
              f"median {result['median_ratio']:.2f} (ceiling: {result['cores']} cores)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args(argv)
    import os

    builds = []
    with tempfile.TemporaryDirectory(prefix="mmnet-dask-fanout-") as tmp:
        for index in range(args.passes):
            order = (1, 2) if index % 2 == 0 else (2, 1)
            for workers in order:
                row = build_on_cluster(workers, Path(tmp) / f"pass{index}-w{workers}")
                builds.append({"pass": index, **row})
                print(f"pass {index}: {workers} worker(s): {row['tasks']} tasks in {row['window_s']:.1f} s "
                      f"({row['tasks_per_s']:.3f}/s)", file=sys.stderr, flush=True)
    ratios = []
    for index in range(args.passes):
        by_workers = {b["workers"]: b for b in builds if b["pass"] == index}
        ratios.append(by_workers[2]["tasks_per_s"] / by_workers[1]["tasks_per_s"])
    result = {"config": FANOUT_CONFIG, "builds": builds, "ratios": ratios, "median_ratio": statistics.median(ratios),
              "cores": os.cpu_count()}
    write_results(args.out, "dask_fanout", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
