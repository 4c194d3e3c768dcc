"""The ``mmnet`` command: thin entry points over the library's functions.

Every error mmnet raises on purpose (:class:`mmnet.format.errors.MmnetError`) becomes one line on
stderr and exit code 2; anything else is a bug and says so in one line plus where the traceback
went (``--debug`` prints it). ``mmnet run`` exits 1 when it lost a frame (no path could answer it),
after its summary. ``mmnet compare`` and ``mmnet build --compare`` exit 3 when the regression gate
finds a regression (:data:`mmnet.cli.compare.EXIT_REGRESSION`). ``mmnet build`` keeps its libraries'
output and any traceback in the build log, whose path its error line names.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from mmnet.cli.bench import add_bench_parser
from mmnet.cli.compare import EXIT_REGRESSION, add_compare_parser, add_tolerance_options, gate_summary, tolerances_from
from mmnet.cli.harness import add_harness_parser  # both light at import: their heavy parts load when they run
from mmnet.cli.signing import add_signing_parsers, add_trusted_key_option, verified_bundle
from mmnet.format.errors import ConfigError, DependencyError, MmnetError
from mmnet.server.duo import add_duo_options  # light: numpy and the format layer, no server packages

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_FRAMES_LOST = 1  # `mmnet run` answered, but not every frame


def _cmd_build(args: argparse.Namespace) -> int:
    """Progress and the summary on the console; library and worker output in the build log.

    With ``--debug`` nothing is captured: every log line and traceback reaches the console.
    """
    if args.debug:
        summary, comparison = _build(args, console=sys.stderr, log_to=None)
        print(summary)
        return _gate_exit(comparison)
    from mmnet.pipeline.buildlog import ConsoleCapture

    root = logging.getLogger()
    console_level = root.level
    with ConsoleCapture() as capture:
        root.setLevel(min(console_level, logging.INFO))  # the log also keeps the pipeline's INFO notes
        try:
            summary, comparison = _build(args, console=capture.console, log_to=capture.log_to)
        except Exception as e:
            if capture.log_path is None:  # failed before the work dir was known: a bad config or command line
                raise
            print("mmnet build failed:", file=sys.stderr)  # stderr is the build log here
            traceback.print_exc()
            raise _LoggedFailure(e, capture.log_path) from e
        finally:
            root.setLevel(console_level)
    print(summary)
    print(f"Build log: {capture.log_path}")
    return _gate_exit(comparison)


def _gate_exit(comparison: tuple[dict, Path] | None) -> int:
    if comparison is None:
        return 0
    print(gate_summary(*comparison))
    return EXIT_REGRESSION if comparison[0]["verdict"] == "regression" else 0


def _build(args: argparse.Namespace, *, console: TextIO,
           log_to: Callable[[Path], Path] | None) -> tuple[str, tuple[dict, Path] | None]:
    """Runs `mmnet build`; ``log_to`` is told where the build log goes once the work dir is known.
    Returns the summary and, with ``--compare``, the regression gate's report and where it was written."""
    try:
        from mmnet.pipeline.build import check_inputs_exist, run_build, work_dir_for
        from mmnet.pipeline.buildlog import BUILD_LOG
        from mmnet.pipeline.config import load_config
        from mmnet.pipeline.summary import format_build_summary
    except ImportError as e:
        raise DependencyError(f"`mmnet build` needs the pipeline extra: pip install 'mmnet[pipeline]' ({e})") from e

    config = load_config(args.config)
    if args.device_profile:
        config = dataclasses.replace(config, runtime=_with_device_profile(config.runtime, args.device_profile))
    check_inputs_exist(config)  # a missing path is a config error: one line, no build log yet
    tolerances = tolerances_from(args) if args.compare else None  # a bad tolerance fails before any work
    out = Path(args.out) if args.out else Path("bundles") / config.name
    work_dir = work_dir_for(out, args.work_dir)
    if log_to is None:  # --debug: no build log, so none of an earlier build's either
        (work_dir / BUILD_LOG).unlink(missing_ok=True)
    else:
        log_to(work_dir / BUILD_LOG)
        print(f"mmnet build --config {args.config} --out {out}: started {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
              file=sys.stderr)  # stderr is the build log here
    force = [stage for value in args.force for stage in value.split(",") if stage]
    result = run_build(config, out, work_dir=work_dir, cache_root=args.cache_root, force=force,
                       extra_beam_args=args.beam_args, progress=not args.quiet,
                       console=console, signing_key=args.key, compare_to=args.compare, tolerances=tolerances)
    if result.comparison is None:
        return format_build_summary(result), None
    return format_build_summary(result), (result.comparison, result.comparison_dir / "compare.md")


def _with_device_profile(settings, path: str):
    if not Path(path).is_file():
        raise ConfigError(f"--device-profile: no such file: {path}")
    return dataclasses.replace(settings, device_profile=str(Path(path).resolve()))


def _cmd_configure(args: argparse.Namespace) -> int:
    # No TensorFlow, Keras or Beam on this path: the configure extra is enough.
    needs = "`mmnet configure` needs the configure extra: pip install 'mmnet[configure]'"
    try:
        from mmnet.pipeline.bundle import reconfigure_bundle
        from mmnet.pipeline.config import RuntimeSettings, load_config
    except ImportError as e:
        raise DependencyError(f"{needs} ({e})") from e
    from mmnet.format.bundle import load_bundle
    from mmnet.format.describe import format_runtime_config

    settings = load_config(args.config).runtime if args.config else RuntimeSettings()
    if args.device_profile:
        settings = _with_device_profile(settings, args.device_profile)
    settings.check_paths()
    try:
        path = reconfigure_bundle(args.bundle, settings, signing_key=args.key)
    except ImportError as e:  # the report's plots import matplotlib only when they are drawn
        raise DependencyError(f"{needs} ({e})") from e
    bundle = load_bundle(path)
    print(f"Reconfigured {path}:")
    print("\n".join(format_runtime_config(bundle.runtime_config.document)))
    return 0


def _dataset_frames(spec: str, preprocessing):
    """Frames and labels of any dataset source the pipeline reads (``--input``), conformed to the
    bundle's frame shape and resize policy as the build conformed them."""
    try:
        from mmnet.pipeline.datasets.config import DatasetConfig
        from mmnet.pipeline.datasets.loaders import load_dataset
    except ImportError as e:
        raise DependencyError(f"--input {spec!r} reads datasets with the pipeline's loaders: pip install "
                              f"'mmnet[pipeline]' ({e}); without it, replay the bundle's own --split val|test") from e
    height, width, channels = preprocessing.frame_shape
    try:
        dataset = load_dataset(DatasetConfig(source=spec, image_size=height if height == width else None,
                                             channels=channels, resize_policy=preprocessing.resize_policy))
    except ConfigError as e:  # the spec is the --input argument, not a config file's dataset section
        raise ConfigError(f"--input: {e}") from e
    return dataset.frames, dataset.labels


def _cmd_run(args: argparse.Namespace) -> int:
    from mmnet.format.checks import check_int, fail
    from mmnet.runtime.remote import TOKEN_ENV
    from mmnet.runtime.replay import format_summary, load_frames, replay, write_summary
    from mmnet.runtime.runtime import Runtime

    if args.limit is not None:
        check_int("--limit", args.limit, low=1)
    bundle = verified_bundle(args)
    if args.multi_dsnn or (bundle.runtime_config is None and bundle.multi_dsnn is not None):
        return _run_multi_dsnn(args, bundle)
    with Runtime(bundle, mode=args.mode.replace("-", "_"), network=args.network, master_url=args.master_url,
                 master_token=_token_from_file(args.token_file) or os.environ.get(TOKEN_ENV), placement=args.placement,
                 device_master=not args.no_device_master, num_threads=args.threads, audit_rate=args.audit_rate,
                 remote_timeout_s=args.timeout) as runtime:
        if args.split is not None:
            frames, labels = load_frames(runtime, split=args.split)
        else:
            given, given_labels = _dataset_frames(args.input, runtime.bundle.preprocessing)
            frames, labels = load_frames(runtime, frames=given, labels=given_labels)
        if args.limit:
            frames, labels = frames[: args.limit], None if labels is None else labels[: args.limit]
        try:
            trace = open(args.trace, "w", encoding="utf-8") if args.trace else None
        except OSError as e:
            raise fail("--trace", args.trace, f"a file this process can write ({e.strerror})") from e
        try:
            summary = replay(runtime, frames, labels, frame_interval_ms=args.frame_interval_ms, trace=trace,
                             progress=not args.quiet)
        finally:
            if trace is not None:
                trace.close()
    print(format_summary(summary))
    if args.summary_json:
        write_summary(summary, Path(args.summary_json))
    if summary["frames_lost"]:  # a lost frame is a failed run, never an exit 0
        causes = ", ".join(f"{cause} {n}" for cause, n in sorted(summary["lost_by_cause"].items()))
        where = f"the trace {args.trace} holds" if args.trace else "rerun with --trace FILE for"
        print(f"mmnet run: {summary['frames_lost']} of {summary['frames']} frames lost ({causes}); "
              f"{where} each lost frame's error", file=sys.stderr)
        return EXIT_FRAMES_LOST
    return 0


def _run_multi_dsnn(args: argparse.Namespace, bundle) -> int:
    """`mmnet run` on the bundle's multi-dsNN: the selector routes each frame to one dsNN."""
    from mmnet.format.checks import fail
    from mmnet.runtime.multi_dsnn import MultiDsnnRunner

    if bundle.multi_dsnn is None:
        raise ConfigError(f"--multi-dsnn: bundle {bundle.path} has no multi-dsNN system ($.multi_dsnn); expected a "
                          "bundle written by `python -m mmnet.pipeline.dsnn.make_bundle`")
    runner = MultiDsnnRunner(bundle, num_threads=args.threads)
    if args.split is not None:
        frames, labels = bundle.load_split(args.split)
    else:
        frames, labels = _dataset_frames(args.input, bundle.preprocessing)
    if args.limit:
        frames, labels = frames[: args.limit], None if labels is None else labels[: args.limit]
    summary = runner.replay(frames, labels)
    if args.trace:
        try:
            with open(args.trace, "w", encoding="utf-8") as trace:
                for i, (answer, route) in enumerate(zip(summary["answers"], summary["routes"])):
                    trace.write(json.dumps({"frame": i, "answer": answer, "route": route}) + "\n")
        except OSError as e:
            raise fail("--trace", args.trace, f"a file this process can write ({e.strerror})") from e
    accuracy = summary.get("accuracy")
    mono = bundle.model(bundle.multi_dsnn.document["monolithic"])
    print(f"{summary['frames']} frames through the multi-dsNN ({summary['case'].upper()} case): routed "
          + ", ".join(f"{part} {n}" for part, n in summary["routed"].items())
          + f"; mean tree depth {summary['mean_depth']:.1f}")
    print(f"  accuracy {'-' if accuracy is None else f'{100 * accuracy:.2f}%'}; mean MACs {summary['mean_macs']:.0f} "
          f"({100 * summary['mean_macs'] / mono.macs:.1f}% of the monolithic {mono.id}, {mono.macs} MACs)")
    print(f"  median ms: features {summary['ms']['features']:.3f}, selector {summary['ms']['select']:.3f}, "
          f"dsNN {summary['ms']['dsnn']:.3f}")
    if args.summary_json:
        write = {k: v for k, v in summary.items() if k not in ("answers", "routes")}
        try:
            Path(args.summary_json).write_text(json.dumps(write, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise fail("--summary-json", args.summary_json, f"a file this process can write ({e.strerror})") from e
    return 0


def _token_from_file(path: str | None) -> str | None:
    """The bearer token held in ``path`` (its content, stripped); None without a path. A file, not
    an argument: a command line is visible to every user of the machine in the process list."""
    if path is None:
        return None
    from mmnet.format.checks import fail

    try:
        token = Path(path).read_text(encoding="utf-8").strip()
        readable_by_all = Path(path).stat().st_mode & 0o004
    except (OSError, UnicodeDecodeError) as e:
        raise fail("--token-file", path, f"a readable UTF-8 file holding the bearer token ({e})") from e
    if not token or any(c.isspace() for c in token):
        raise fail("--token-file", path, "a file holding the bearer token: one word, no spaces; "
                   + ("it is empty" if not token else "it holds spaces or several lines"))
    if readable_by_all:
        logging.getLogger(__name__).warning("token file %s is readable by every user; chmod 600 it", path)
    return token


class _TokenOnCommandLine(argparse.Action):
    """``--token``: refused (without echoing it), where argparse would take it for ``--token-file``."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmnet.runtime.remote import TOKEN_ENV

        parser.error("--token: a token on the command line is visible to every user in the process list; "
                     f"put it in a file (--token-file FILE) or in ${TOKEN_ENV}")


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from mmnet.server.duo import duo_config_from
        from mmnet.server.launch import serve, serve_duo
    except ImportError as e:
        raise DependencyError(f"`mmnet serve` needs the serve extra: pip install 'mmnet[serve]' ({e})") from e
    if (args.bundle is None) == (args.duo is None):
        raise ConfigError("mmnet serve: expected a bundle directory or --duo DUO_POOL_JSON, exactly one")
    # Without --token-file serve() reads $MMNET_TOKEN, the variable `mmnet run` reads too.
    limits = {k: getattr(args, k) for k in _SERVE_LIMITS if getattr(args, k) is not None}  # None: the server's default
    if args.duo is not None:
        limits.pop("max_active_predicts", None)  # the Duo server bounds its queues instead
        serve_duo(args.duo, target=args.target, rule=args.rule, big_alone=args.big_alone,
                  duo_config=duo_config_from(args), host=args.host,
                  port=args.port, token=_token_from_file(args.token_file), max_body_bytes=args.max_body_bytes, **limits)
        return 0
    serve(verified_bundle(args), host=args.host, port=args.port, token=_token_from_file(args.token_file), threads=args.threads,
          max_body_bytes=args.max_body_bytes, **limits)
    return 0


_SERVE_LIMITS = ("header_timeout_s", "keep_alive_s", "body_timeout_s", "max_connections", "max_active_predicts")


def _cmd_inspect(args: argparse.Namespace) -> int:
    from mmnet.format.describe import format_bundle_summary

    bundle = verified_bundle(args)
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
    build.add_argument("--work-dir", type=Path, help="progress events, the build log and (by default) the stage cache "
                       "(default: <out parent>/.<out name>.work)")
    build.add_argument("--cache-root", help="stage outputs, reused by key across builds: a path or fsspec URL every "
                       "worker can reach (default: <work dir>/stages)")
    build.add_argument("--force", action="append", default=[], metavar="STAGE",
                       help="re-run STAGE and every stage after it instead of reusing cached outputs (repeatable; "
                       "prepare, train, teacher, import, compress, export, evaluate, host_latency, latency_model)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument("--key", help="Ed25519 private key (PEM, `mmnet keygen`) to sign the bundle with")
    build.add_argument("--device-profile",
                       help="device profile JSON (e.g. measured on a phone); overrides runtime.device_profile")
    build.add_argument("--compare", metavar="PREVIOUS_BUNDLE", help="gate the new bundle against a previous one "
                       f"(may be --out itself); the report goes into its report/ folder; exit {EXIT_REGRESSION} on a "
                       "regression (the bundle is still published)")
    add_tolerance_options(build)
    build.add_argument("beam_args", nargs=argparse.REMAINDER,
                       help="after `--`: Beam pipeline flags passed through, e.g. -- --runner=DirectRunner")
    build.set_defaults(handler=_cmd_build)

    configure = sub.add_parser("configure", help="re-run calibration, thresholds and pairing on an existing bundle")
    configure.add_argument("bundle", help="bundle directory (rewritten atomically)")
    configure.add_argument("--config", help="build config whose `runtime` section to use (default: the defaults)")
    configure.add_argument("--device-profile",
                           help="device profile JSON to pair and place for (default: the build host's timings)")
    configure.add_argument("--key", help="Ed25519 private key (PEM, `mmnet keygen`) to sign the republished bundle "
                           "with (without it the bundle is published unsigned: the old signature no longer holds)")
    configure.set_defaults(handler=_cmd_configure)

    run = sub.add_parser("run", help="run a bundle over frames: minions, detector, master on device or cloud")
    run.add_argument("bundle", help="bundle directory")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="a dataset spec, e.g. builtin:digits, folder:DIR, npz:FILE "
                        "(builtin:, tfrecord: and tfds: sources need the pipeline extra)")
    source.add_argument("--split", choices=("val", "test"), help="replay the bundle's own recorded split")
    run.add_argument("--mode", default="normal", choices=("normal", "power-saving", "private", "mission-critical",
                                                          "power_saving", "mission_critical"))
    run.add_argument("--network", help="network profile of the runtime config (default: its default profile)")
    run.add_argument("--master-url", help="base URL of a TF Serving REST master, e.g. http://127.0.0.1:8501")
    run.add_argument("--token-file", help="file holding the master's bearer token (default: $MMNET_TOKEN, "
                     "as for `mmnet serve`)")
    run.add_argument("--token", action=_TokenOnCommandLine, help=argparse.SUPPRESS)
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
    run.add_argument("--multi-dsnn", action="store_true", help="run the bundle's multi-dsNN system (the default for a "
                     "bundle holding one and no runtime config)")
    add_trusted_key_option(run)
    run.set_defaults(handler=_cmd_run)

    serve = sub.add_parser("serve", help="serve the bundle's master (or a Dynamic Duo pair: --duo) behind the TF "
                           "Serving REST API (uvicorn)")
    serve.add_argument("bundle", nargs="?", help="bundle directory (or --duo)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; put TLS in front otherwise)")
    serve.add_argument("--port", type=int, default=8501, help="port (TF Serving's REST default: 8501)")
    serve.add_argument("--token-file", help="file holding the bearer token to require (default: $MMNET_TOKEN, "
                       "as for `mmnet run`; neither: no auth)")
    serve.add_argument("--token", action=_TokenOnCommandLine, help=argparse.SUPPRESS)
    serve.add_argument("--threads", type=int, help="interpreters serving in parallel (default: min(4, cores))")
    serve.add_argument("--max-body-bytes", type=int, default=8 << 20, help="largest request body accepted")
    serve.add_argument("--header-timeout-s", type=float, help="seconds a connection has to send a complete request "
                       "head, after connecting or after its previous response (default 5)")
    serve.add_argument("--keep-alive-s", type=float, help="seconds an idle kept-alive connection stays open (default 5)")
    serve.add_argument("--body-timeout-s", type=float, help="seconds a request body has to arrive (default 10)")
    serve.add_argument("--max-connections", type=int, help="open connections at most; beyond it the one waiting "
                       "longest for a request head is closed (default 2048)")
    serve.add_argument("--max-active-predicts", type=int, help="predicts in progress at most; more get 503 (default 128)")
    add_trusted_key_option(serve)
    add_duo_options(serve)
    serve.set_defaults(handler=_cmd_serve)

    inspect = sub.add_parser("inspect", help="verify a bundle (schema, checksums) and summarise it")
    inspect.add_argument("bundle", help="bundle directory")
    inspect.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_trusted_key_option(inspect)
    inspect.set_defaults(handler=_cmd_inspect)
    add_harness_parser(sub)
    add_signing_parsers(sub)
    add_bench_parser(sub)
    add_compare_parser(sub)
    return parser


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Beam and absl are chatty at INFO/WARNING about things a user cannot act on.
    for noisy in ("apache_beam", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


class _LoggedFailure(Exception):
    """A command's error whose traceback and surrounding output went to a log file."""

    def __init__(self, error: Exception, log_path: Path):
        super().__init__(str(error))
        self.error = error
        self.log_path = log_path


def _error_line(command: str, error: BaseException, log_path: Path | None) -> tuple[str, int]:
    """The one stderr line for a command's error, and the exit code."""
    if isinstance(error, KeyboardInterrupt):
        return f"mmnet {command}: interrupted", 130
    if isinstance(error, MmnetError):
        text, code, hint = f"error: {error}", EXIT_USAGE, ""
    else:  # a bug
        text, code, hint = (f"internal error: {type(error).__name__}: {error}", EXIT_INTERNAL,
                            " (rerun with --debug for the traceback)")
    if log_path is not None:
        hint = f" (details: {log_path})"
    return f"mmnet {command}: {text}{hint}", code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "beam_args", None) and args.beam_args[0] == "--":
        args.beam_args = args.beam_args[1:]
    _configure_logging(args.debug)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (Exception, KeyboardInterrupt) as e:
        error, log_path = (e.error, e.log_path) if isinstance(e, _LoggedFailure) else (e, None)
        if args.debug and not isinstance(error, KeyboardInterrupt):
            traceback.print_exc()
        line, code = _error_line(args.command, error, log_path)
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
