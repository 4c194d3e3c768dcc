"""The ``mmnet`` command: thin entry points over the library's functions.

Every error mmnet raises on purpose (:class:`mmnet.format.errors.MmnetError`) becomes one line on
stderr and exit code 2; anything else is a bug and says so in one line plus where the traceback
went (``--debug`` prints it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from mmnet.cli.harness import add_harness_parser  # both light at import: their heavy parts load when they run
from mmnet.cli.bench import add_bench_parser
from mmnet.format.errors import DependencyError, MmnetError

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_INTERNAL = 70


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        from mmnet.pipeline.build import run_build
        from mmnet.pipeline.config import load_config
        from mmnet.pipeline.summary import format_build_summary
    except ImportError as e:
        raise DependencyError(f"`mmnet build` needs the pipeline extra: pip install 'mmnet[pipeline]' ({e})") from e

    config = load_config(args.config)
    if args.device_profile:
        config = dataclasses.replace(config, runtime=_with_device_profile(config.runtime, args.device_profile))
    out = Path(args.out) if args.out else Path("bundles") / config.name
    result = run_build(config, out, work_dir=args.work_dir, extra_beam_args=args.beam_args, progress=not args.quiet)
    print(format_build_summary(result))
    return 0


def _with_device_profile(settings, path: str):
    from mmnet.format.errors import ConfigError

    if not Path(path).is_file():
        raise ConfigError(f"--device-profile: no such file: {path}")
    return dataclasses.replace(settings, device_profile=str(Path(path).resolve()))


def _cmd_configure(args: argparse.Namespace) -> int:
    try:
        from mmnet.pipeline.bundle import reconfigure_bundle
        from mmnet.pipeline.config import RuntimeSettings, load_config
    except ImportError as e:
        raise DependencyError(f"`mmnet configure` needs the pipeline extra: pip install 'mmnet[pipeline]' ({e})") from e
    from mmnet.format.bundle import load_bundle
    from mmnet.format.describe import format_runtime_config

    settings = load_config(args.config).runtime if args.config else RuntimeSettings()
    if args.device_profile:
        settings = _with_device_profile(settings, args.device_profile)
    settings.check_paths()
    path = reconfigure_bundle(args.bundle, settings)
    bundle = load_bundle(path)
    print(f"Reconfigured {path}:")
    print("\n".join(format_runtime_config(bundle.runtime_config.document)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from mmnet.format.errors import ConfigError
    from mmnet.runtime.replay import format_summary, load_frames, replay, write_summary
    from mmnet.runtime.runtime import Runtime

    with Runtime(args.bundle, mode=args.mode.replace("-", "_"), network=args.network, master_url=args.master_url,
                 master_token=args.token or os.environ.get("MMNET_TOKEN"), placement=args.placement,
                 device_master=not args.no_device_master, num_threads=args.threads, audit_rate=args.audit_rate,
                 remote_timeout_s=args.timeout) as runtime:
        frames, labels = load_frames(args.input, args.split, runtime)
        if args.limit:
            frames, labels = frames[: args.limit], None if labels is None else labels[: args.limit]
        try:
            trace = open(args.trace, "w", encoding="utf-8") if args.trace else None
        except OSError as e:
            raise ConfigError(f"--trace: cannot write {args.trace}: {e.strerror}") from e
        try:
            summary = replay(runtime, frames, labels, frame_interval_ms=args.frame_interval_ms, trace=trace,
                             progress=not args.quiet)
        finally:
            if trace is not None:
                trace.close()
    print(format_summary(summary))
    if args.summary_json:
        write_summary(summary, Path(args.summary_json))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from mmnet.server.serving import serve
    except ImportError as e:
        raise DependencyError(f"`mmnet serve` needs the serve extra: pip install 'mmnet[serve]' ({e})") from e
    serve(args.bundle, host=args.host, port=args.port, token=args.token, threads=args.threads,
          max_body_bytes=args.max_body_bytes)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from mmnet.format.bundle import load_bundle
    from mmnet.format.describe import format_bundle_summary

    bundle = load_bundle(args.bundle, verify_checksums=True)
    if args.json:
        print(json.dumps(bundle.manifest, indent=2))
    else:
        print(format_bundle_summary(bundle))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmnet", description="Build and run minion/master model bundles.")
    parser.add_argument("--debug", action="store_true", help="print full tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="run the build pipeline: dataset -> validated TFLite bundle")
    build.add_argument("--config", required=True, help="build config (YAML or JSON), e.g. configs/digits.yaml")
    build.add_argument("--out", help="bundle directory to write (default: bundles/<config name>)")
    build.add_argument("--work-dir", type=Path, help="stage artifacts (default: <out parent>/.<out name>.work)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument("--device-profile", help="device profile JSON (e.g. measured on a phone); overrides runtime.device_profile")
    build.add_argument("beam_args", nargs=argparse.REMAINDER,
                       help="after `--`: Beam pipeline flags passed through, e.g. -- --runner=DirectRunner")
    build.set_defaults(handler=_cmd_build)

    configure = sub.add_parser("configure", help="re-run calibration, thresholds and pairing on an existing bundle")
    configure.add_argument("bundle", help="bundle directory (rewritten atomically)")
    configure.add_argument("--config", help="build config whose `runtime` section to use (default: the defaults)")
    configure.add_argument("--device-profile", help="device profile JSON to pair and place for (default: the build host's timings)")
    configure.set_defaults(handler=_cmd_configure)

    run = sub.add_parser("run", help="run a bundle over frames: minions, detector, master on device or cloud")
    run.add_argument("bundle", help="bundle directory")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="a dataset spec, e.g. builtin:digits, folder:DIR, npz:FILE (needs the pipeline extra)")
    source.add_argument("--split", choices=("val", "test"), help="replay the bundle's own recorded split")
    run.add_argument("--mode", default="normal", choices=("normal", "power-saving", "private", "mission-critical",
                                                          "power_saving", "mission_critical"))
    run.add_argument("--network", help="network profile of the runtime config (default: its default profile)")
    run.add_argument("--master-url", help="base URL of a TF Serving REST master, e.g. http://127.0.0.1:8501")
    run.add_argument("--token", help="bearer token for the master (default: $MMNET_TOKEN)")
    run.add_argument("--placement", default="auto", choices=("auto", "device", "cloud"), help="force where the master runs")
    run.add_argument("--no-device-master", action="store_true", help="this device holds no master: cloud or unverified")
    run.add_argument("--audit-rate", type=float, default=0.0, help="share of confident minion answers also checked by the master")
    run.add_argument("--frame-interval-ms", type=float, default=1000.0,
                     help="time between frames (default 1000: independent stills; 33: a 30 fps camera)")
    run.add_argument("--threads", type=int, default=1, help="interpreter threads per model")
    run.add_argument("--timeout", type=float, default=2.0, help="seconds before a cloud request times out")
    run.add_argument("--limit", type=int, help="only the first N frames")
    run.add_argument("--trace", help="write a per-frame trace (JSON Lines) to this file")
    run.add_argument("--summary-json", help="write the summary as JSON to this file")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    serve = sub.add_parser("serve", help="serve the bundle's master behind the TF Serving REST API (uvicorn)")
    serve.add_argument("bundle", help="bundle directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; put TLS in front otherwise)")
    serve.add_argument("--port", type=int, default=8501, help="port (TF Serving's REST default: 8501)")
    serve.add_argument("--token", help="require this bearer token (default: $MMNET_SERVE_TOKEN; none: no auth)")
    serve.add_argument("--threads", type=int, help="interpreters serving in parallel (default: min(4, cores))")
    serve.add_argument("--max-body-bytes", type=int, default=8 << 20, help="largest request body accepted")
    serve.set_defaults(handler=_cmd_serve)

    inspect = sub.add_parser("inspect", help="verify a bundle (schema, checksums) and summarise it")
    inspect.add_argument("bundle", help="bundle directory")
    inspect.add_argument("--json", action="store_true", help="print the manifest as JSON")
    inspect.set_defaults(handler=_cmd_inspect)
    add_harness_parser(sub)
    add_bench_parser(sub)
    return parser


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Beam and absl are chatty at INFO/WARNING about things a user cannot act on.
    for noisy in ("apache_beam", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "beam_args", None) and args.beam_args[0] == "--":
        args.beam_args = args.beam_args[1:]
    _configure_logging(args.debug)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except MmnetError as e:
        if args.debug:
            traceback.print_exc()
        print(f"mmnet {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mmnet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line, traceback on request
        if args.debug:
            traceback.print_exc()
        print(f"mmnet {args.command}: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
