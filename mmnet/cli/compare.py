"""``mmnet compare BASELINE CANDIDATE``: the regression gate (:mod:`mmnet.format.compare`), and the options
``mmnet build --compare`` shares with it.

Exit codes: 0 when no metric regressed beyond its tolerance, :data:`EXIT_REGRESSION` (3) when one did,
2 for a bad bundle or option (one line naming what was wrong and the log file).
"""

from __future__ import annotations

import argparse
import logging
import traceback
from pathlib import Path
from typing import Any

from mmnet.format.errors import MmnetError

__all__ = ["EXIT_REGRESSION", "add_compare_parser", "add_tolerance_options", "gate_summary", "tolerances_from"]

EXIT_REGRESSION = 3  # the gate found a regression (distinct from 1: frames lost, 2: bad input, 70: a bug)

logger = logging.getLogger(__name__)


def add_tolerance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tolerances", metavar="YAML", help="tolerances file: a mapping of accuracy, recovery_rate "
                        "(absolute fractions), latency, energy, size (relative) to numbers; unnamed kinds keep defaults")
    parser.add_argument("--tolerance", action="append", default=[], metavar="KIND=VALUE",
                        help="one tolerance, over the file's (repeatable), e.g. --tolerance latency=0.2")


def tolerances_from(args: argparse.Namespace) -> Any:
    from mmnet.format.compare import load_tolerances

    return load_tolerances(args.tolerances, args.tolerance)


def gate_summary(comparison: dict[str, Any], report: Path) -> str:
    """One line for the console: the verdict, the regressed metrics (a few) and where the report is."""
    counts = comparison["counts"]
    tally = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items() if n)
    line = f"regression gate: {comparison['verdict'].upper()} ({tally}); report {report}"
    regressions = comparison["regressions"]
    if regressions:
        shown = ", ".join(regressions[:5]) + (f" and {len(regressions) - 5} more" if len(regressions) > 5 else "")
        line += f"\n  regressed: {shown}"
    return line


def _cmd_compare(args: argparse.Namespace) -> int:
    from mmnet.format.compare import COMPARE_MARKDOWN, compare_snapshots, read_snapshot, write_comparison

    out = Path(args.out) if args.out else Path(f"compare-{Path(args.candidate).resolve().name}")
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "compare.log"
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    logger.addHandler(handler)  # the log file only: the console gets the one error line
    logger.propagate, logger.level = False, logging.INFO
    try:
        tolerances = tolerances_from(args)
        baseline = read_snapshot(args.baseline, "baseline")
        candidate = read_snapshot(args.candidate, "candidate")
        comparison = compare_snapshots(baseline, candidate, tolerances)
        write_comparison(comparison, out)
        logger.info("compared %s with %s: %s; regressed: %s", args.candidate, args.baseline, comparison["verdict"],
                    ", ".join(comparison["regressions"]) or "none")
    except MmnetError as e:
        logger.error("mmnet compare %s %s failed:\n%s", args.baseline, args.candidate, traceback.format_exc())
        raise type(e)(f"{e} (details: {log_path})") from e
    finally:
        logger.removeHandler(handler)
        handler.close()
    print(gate_summary(comparison, out / COMPARE_MARKDOWN))
    return EXIT_REGRESSION if comparison["verdict"] == "regression" else 0


def add_compare_parser(sub: Any) -> None:
    """Registers ``mmnet compare`` on the CLI's subcommands."""
    compare = sub.add_parser("compare", help="gate a bundle against a previous one: accuracy, recovery rate, "
                             f"latency, energy and size beyond tolerances exit {EXIT_REGRESSION}")
    compare.add_argument("baseline", help="the previous (last good) bundle directory")
    compare.add_argument("candidate", help="the new bundle directory")
    compare.add_argument("--out", help="directory for compare.json, compare.md and compare.log "
                         "(default: ./compare-<candidate name>)")
    add_tolerance_options(compare)
    compare.set_defaults(handler=_cmd_compare)
