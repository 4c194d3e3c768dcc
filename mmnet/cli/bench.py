"""``mmnet bench BUNDLE --out DIR``: hybrid vs mobile-only vs cloud-only (:mod:`mmnet.benchmarks.bench`)."""

from __future__ import annotations

import argparse

__all__ = ["add_bench_parser"]


def _cmd_bench(args: argparse.Namespace) -> int:
    from mmnet.benchmarks.bench import run_bench

    run_bench(args.bundle, args.out, fanout=args.fanout, extras=args.extras, frames=args.frames,
              measured_frames=args.measured_frames, passes=args.passes, progress=not args.quiet)
    return 0


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Registers ``mmnet bench`` on the CLI's subcommands."""
    bench = sub.add_parser("bench", help="benchmark hybrid vs mobile-only vs cloud-only over 3G/LTE/WiFi, "
                                         "analytical and over a shaped link (results.json, results.md, plots)")
    bench.add_argument("bundle", help="bundle directory, e.g. bundles/digits")
    bench.add_argument("--out", required=True, help="directory for results.json, results.md and the plots")
    bench.add_argument("--fanout", action=argparse.BooleanOptionalAction, default=True,
                       help="also time the build pipeline's fan-out with 1 vs 2 Beam workers (~1.5 min; default on)")
    bench.add_argument("--extras", action=argparse.BooleanOptionalAction, default=True,
                       help="also time every model at each precision and the runtime's decision overhead (default on)")
    bench.add_argument("--frames", type=int, help="run only the first N test frames on both paths (default: all)")
    bench.add_argument("--measured-frames", type=int,
                       help="run only the first N test frames on the measured path (default: all, or --frames)")
    bench.add_argument("--passes", type=int,
                       help="at most N passes over the frames per run (default 7, as many as fit 10 s of each run's time)")
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.set_defaults(handler=_cmd_bench)
