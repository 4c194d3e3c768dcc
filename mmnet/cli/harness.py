"""``mmnet harness``: measure a bundle on a phone over adb and write a device profile.

    mmnet harness devices
    mmnet harness profile BUNDLE [--serial S] [--apk PATH] [--delegate D] [--threads N]
                                 [--runs N | --duration-s S] [--frame-interval-ms MS] [--out DIR]
    mmnet harness system BUNDLE [--modes normal,power_saving] [--network lte] [--master-url URL] ...
    mmnet harness resume DIR
    mmnet harness convert RESULT_JSON --bundle BUNDLE --out DIR

Thin: parses options into the driver's config objects and prints what the driver returns. Only the
standard library is imported until a subcommand runs.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_harness_parser"]

DELEGATES = ("xnnpack", "cpu", "gpu", "nnapi")  # the protocol's, with the default first


def _connection(args: argparse.Namespace):
    from mmnet.harness.adb import AdbTimeouts
    from mmnet.harness.driver import Connection

    return Connection(adb=args.adb, serial=getattr(args, "serial", None),
                      timeouts=AdbTimeouts(command_s=args.adb_timeout_s))


def _wait(args: argparse.Namespace):
    from mmnet.harness.driver import WaitSettings

    return WaitSettings(poll_s=args.poll_s, timeout_s=args.timeout_s, progress=not args.quiet)


def _settings(args: argparse.Namespace):
    from mmnet.harness.protocol import RunSettings

    runs = args.runs if args.duration_s is None else None
    return RunSettings(delegate=args.delegate, threads=args.threads, warmup_runs=args.warmup, runs=runs,
                       duration_s=args.duration_s, frame_interval_ms=args.frame_interval_ms, models=tuple(args.models))


def _cmd_devices(args: argparse.Namespace) -> int:
    from mmnet.harness.driver import describe_devices

    rows = describe_devices(_connection(args))
    if not rows:
        print("no device connected (adb devices -l lists none)")
        return 0
    for row in rows:
        if row["state"] != "device":
            print(f"{row['serial']}  {row['state']}: {row['hint']}")
            continue
        app = "app installed" if row["app_installed"] else "app not installed (pass --apk to `mmnet harness profile`)"
        print(f"{row['serial']}  {row['manufacturer'] or '?'} {row['model'] or '?'}, Android {row['release'] or '?'} "
              f"(SDK {row['sdk'] or '?'}), SoC {row['soc'] or '?'}, {row['abi'] or '?'}; {app}")
    return 0


def _run(args: argparse.Namespace, system: Any) -> int:
    from mmnet.harness.driver import run_harness

    outputs = run_harness(args.bundle, _settings(args), connection=_connection(args), system=system, out_dir=args.out,
                          apk=args.apk, wait=_wait(args))
    print(outputs.table())
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    return _run(args, None)


def _cmd_system(args: argparse.Namespace) -> int:
    from mmnet.harness.protocol import SystemSettings

    modes = tuple(m.strip().replace("-", "_") for m in args.modes.split(",") if m.strip())
    return _run(args, SystemSettings(modes=modes, network=args.network, master_url=args.master_url,
                                     frame_interval_ms=args.system_frame_interval_ms, limit=args.limit))


def _cmd_resume(args: argparse.Namespace) -> int:
    from mmnet.harness.driver import resume_harness

    print(resume_harness(args.run_dir, connection=_connection(args), wait=_wait(args)).table())
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from mmnet.harness.driver import convert_result

    print(convert_result(args.result_json, args.bundle, args.out).table())
    return 0


def _model_list(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _add_adb_options(parser: argparse.ArgumentParser, *, serial: bool = True) -> None:
    parser.add_argument("--adb", help="adb program (default: $ADB, else adb on PATH)")
    if serial:
        parser.add_argument("--serial", help="phone to use (default: $ANDROID_SERIAL, else the only one connected)")
    parser.add_argument("--adb-timeout-s", type=float, default=30.0, help="seconds before a quick adb command is abandoned")


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="seconds to wait for the app to finish the run")
    parser.add_argument("--poll-s", type=float, default=2.0, help="seconds between status polls")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle directory")
    _add_adb_options(parser)
    _add_wait_options(parser)
    parser.add_argument("--apk", help="install (or update) this harness APK first")
    parser.add_argument("--delegate", choices=DELEGATES, default="xnnpack", help="LiteRT delegate (default xnnpack)")
    parser.add_argument("--threads", type=int, default=4, help="interpreter threads (default 4)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs before the timed ones (default 20)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--runs", type=int, default=200, help="timed runs per model (default 200)")
    amount.add_argument("--duration-s", type=float, help="time each model for this long instead of a number of runs")
    parser.add_argument("--models", type=_model_list, default=[],
                        help="comma-separated model ids to measure (default: every blessed model)")
    parser.add_argument("--out", help="folder for harness_result.json, device_profile.json and raw/ "
                                      "(default: results/harness/<bundle>-<run id>)")


def add_harness_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``mmnet harness`` and its subcommands on the ``mmnet`` subparsers ``sub``."""
    harness = sub.add_parser("harness", help="measure a bundle on an Android phone over adb; write a device profile")
    commands = harness.add_subparsers(dest="harness_command", required=True, metavar="HARNESS_COMMAND")

    devices = commands.add_parser("devices", help="list the phones adb sees, their state and whether the app is installed")
    _add_adb_options(devices, serial=False)
    devices.set_defaults(handler=_cmd_devices)

    profile = commands.add_parser("profile", help="per-model latency and energy on the phone -> device profile")
    _add_run_options(profile)
    profile.add_argument("--frame-interval-ms", type=float,
                         help="start a run every MS ms, like a camera (default: back to back)")
    profile.set_defaults(handler=_cmd_profile)

    system = commands.add_parser("system", help="the bundle's runtime over its test set on the phone: hybrid vs "
                                                "mobile-only (vs cloud-only with --master-url)")
    _add_run_options(system)
    system.add_argument("--modes", default="normal", help="comma-separated user modes (default normal)")
    system.add_argument("--network", default="lte", help="network profile of the runtime config (default lte)")
    system.add_argument("--master-url", help="TF Serving REST master the phone can reach: adds a cloud-only run")
    system.add_argument("--frame-interval-ms", dest="system_frame_interval_ms", type=float, default=1000.0,
                        help="time between frames (default 1000: independent stills; 33: a 30 fps camera)")
    system.add_argument("--limit", type=int, help="only the first N test frames")
    system.set_defaults(handler=_cmd_system, frame_interval_ms=None)

    resume = commands.add_parser("resume", help="wait again for a run that was interrupted (disconnect, timeout), "
                                                "pull and convert it")
    resume.add_argument("run_dir", help="the run's --out folder (it holds raw/run.json)")
    _add_adb_options(resume)
    _add_wait_options(resume)
    resume.set_defaults(handler=_cmd_resume)

    convert = commands.add_parser("convert", help="offline: harness result + device profile from a pulled result.json")
    convert.add_argument("result_json", help="the app's result.json")
    convert.add_argument("--bundle", required=True, help="the bundle the run measured")
    convert.add_argument("--out", required=True, help="folder for harness_result.json and device_profile.json")
    convert.set_defaults(handler=_cmd_convert)
    return harness
