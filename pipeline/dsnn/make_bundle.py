"""Design a multi-dsNN on a frame data set and write it as a bundle.

    .venv/bin/python -m mmnet.pipeline.dsnn.make_bundle --data digits --out bundles/digits-dsnn

Runs §3.4's design (``--budget`` dsNN trainings per part and threshold, ``--epochs``), picks the
cheapest system reaching ``--target`` of the monolithic val accuracy (else the most accurate one,
said so on the console) and writes the bundle (:func:`mmnet.pipeline.dsnn.bundle.write_bundle`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from mmnet.format.errors import DataError, MmnetError

__all__ = ["main"]

log = logging.getLogger("mmnet.pipeline.dsnn.make_bundle")


def build(data_name: str, out: Path, *, budget: int, epochs: int, target: float, seed: int,
          tail_shares: tuple[float, ...] | None = None, three_way: bool = True) -> tuple[Path, str]:
    from mmnet.pipeline.dsnn import data as datasets
    from mmnet.pipeline.dsnn.bundle import write_bundle
    from mmnet.pipeline.dsnn.config import DEFAULT_TAIL_SHARES, DsnnConfig
    from mmnet.pipeline.dsnn.design import design

    config = DsnnConfig(tail_shares=tail_shares or DEFAULT_TAIL_SHARES, three_way=DsnnConfig.three_way if three_way else (),
                        search_budget=budget, epochs=epochs, seed=seed)
    data = datasets.load(data_name, seed=seed)
    result = design(data, config)
    if not result.points():
        raise DataError(f"no threshold of the queue gave a usable partition of {data_name} (skipped: "
                         f"{dict(result.skipped)}); try more tail shares or a smaller tree_min_samples_leaf")
    point = result.pick(target)
    note = f"cheapest system at >= {100 * target:g}% of the monolithic val accuracy"
    if point is None:
        point = max(result.points(), key=lambda p: (p.accuracy, -p.mean_macs))
        note = f"no system reached {100 * target:g}% of the monolithic val accuracy; the most accurate one"
    path = write_bundle(result, data, point, out, name=f"{data_name}-multi-dsnn")
    return path, (f"{note}: {point.ways}-way, tail {point.threshold}, hidden {[list(h) for h in point.hidden]}, "
                  f"val accuracy {100 * point.accuracy:.2f}% (monolithic {100 * result.monolithic.accuracy['val']:.2f}%), "
                  f"{100 * point.mean_macs / result.monolithic.macs:.1f}% of its MACs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", choices=("digits", "mnist5k"))
    parser.add_argument("--out", required=True, help="bundle directory to write")
    parser.add_argument("--budget", type=int, default=4, help="dsNN trainings per part and threshold")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--target", type=float, default=1.0, help="share of the monolithic val accuracy to keep")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    log_path = out.parent / f"{out.name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, handlers=[logging.FileHandler(log_path, mode="w", encoding="utf-8")],
                        force=True)
    try:
        path, note = build(args.data, out, budget=args.budget, epochs=args.epochs, target=args.target, seed=args.seed)
    except (MmnetError, ValueError, OSError) as e:
        log.error("failed:\n%s", traceback.format_exc())
        print(f"make_bundle: error: {e} (details: {log_path})", file=sys.stderr)
        return 2
    print(f"wrote {path}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
