"""Drive one harness run over adb: push, start, poll, pull, convert — and resume or convert offline.

A run's folder (``--out``) holds ``harness_result.json``, ``device_profile.json`` (when models were
measured) and ``raw/``: ``run.json`` (the host's record: serial, bundle, run id), ``request.json``,
the last ``status.json`` and the pulled ``result.json`` and ``traces/``. ``raw/`` is written as the
run goes, so a phone that disconnects mid-run leaves everything pulled so far, and
``mmnet harness resume DIR`` picks the run up again (the app's foreground service keeps running
without USB).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmnet.format.bundle import Bundle, load_bundle
from mmnet.format.checks import check_number
from mmnet.format.device_profile import write_device_profile
from mmnet.format.documents import read_json, write_json_atomic
from mmnet.format.errors import ConfigError
from mmnet.harness.adb import Adb, AdbTimeouts, DeviceEntry, choose_device, find_adb
from mmnet.harness.errors import AdbError, DeviceDisconnectedError, DeviceError, HarnessRunError, ResultError
from mmnet.harness.protocol import (
    APP_ACTIVITY,
    APP_PACKAGE,
    CANCEL_ACTION,
    DEVICE_ROOT,
    RunRequest,
    RunSettings,
    RunStatus,
    SystemSettings,
    bundle_id_for,
    check_app_result,
    new_run_id,
    parse_status,
)
from mmnet.harness.results import (
    RunContext,
    device_profile_from_result,
    format_harness_table,
    harness_result,
    write_harness_result,
)
from mmnet.harness.testset import write_testset

__all__ = [
    "HARNESS_RESULT_FILE",
    "DEVICE_PROFILE_FILE",
    "Connection",
    "WaitSettings",
    "HarnessOutputs",
    "connect",
    "describe_devices",
    "run_harness",
    "resume_harness",
    "convert_result",
]

log = logging.getLogger(__name__)

HARNESS_RESULT_FILE = "harness_result.json"
DEVICE_PROFILE_FILE = "device_profile.json"
RAW = "raw"
RUN_RECORD = "run.json"
RUN_RECORD_VERSION = 1

# Props shown by `mmnet harness devices` and kept in run.json.
_PROPS = {
    "manufacturer": "ro.product.manufacturer",
    "model": "ro.product.model",
    "release": "ro.build.version.release",
    "sdk": "ro.build.version.sdk",
    "soc": "ro.soc.model",
    "abi": "ro.product.cpu.abi",
}


@dataclass(frozen=True)
class Connection:
    """Which adb to use (``--adb``, else ``$ADB``, else PATH), which phone (``--serial``, else
    ``$ANDROID_SERIAL``, else the only one connected), and adb's timeouts."""

    adb: str | None = None
    serial: str | None = None
    timeouts: AdbTimeouts = field(default_factory=AdbTimeouts)


@dataclass(frozen=True)
class WaitSettings:
    """How the host waits for the app: status poll period, time for the app to acknowledge the
    start (status.json appears), time for the whole run; a progress bar on stderr or not."""

    poll_s: float = 2.0
    start_timeout_s: float = 120.0
    timeout_s: float = 3600.0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("poll_s", "start_timeout_s", "timeout_s"):
            check_number(name, getattr(self, name), positive=True)


@dataclass(frozen=True)
class HarnessOutputs:
    out_dir: Path
    result_path: Path
    profile_path: Path | None
    document: dict[str, Any]

    def table(self) -> str:
        lines = [format_harness_table(self.document), f"harness result: {self.result_path}"]
        lines.append(f"device profile: {self.profile_path}" if self.profile_path else
                     "device profile: none (the run measured no model)")
        return "\n".join(lines)


def connect(connection: Connection) -> tuple[Adb, DeviceEntry]:
    """adb bound to the chosen phone, and its ``adb devices -l`` entry."""
    adb = Adb(find_adb(connection.adb), timeouts=connection.timeouts)
    entry = choose_device(adb.devices(), connection.serial or os.environ.get("ANDROID_SERIAL") or None)
    return adb.with_serial(entry.serial), entry


def _app_installed(adb: Adb) -> bool:
    return "package:" in adb.shell("pm", "path", APP_PACKAGE, check=False).stdout


def describe_devices(connection: Connection) -> list[dict[str, Any]]:
    """Every phone adb lists: serial, state, and for ready ones their props and whether the app is installed."""
    adb = Adb(find_adb(connection.adb), timeouts=connection.timeouts)
    rows = []
    for entry in adb.devices():
        row: dict[str, Any] = {"serial": entry.serial, "state": entry.state, "model": entry.model,
                               "hint": None if entry.ready else entry.hint}
        if entry.ready:
            phone = adb.with_serial(entry.serial)
            props = phone.getprop()
            row.update({key: props.get(prop) or None for key, prop in _PROPS.items()})
            row["app_installed"] = _app_installed(phone)
        rows.append(row)
    return rows


def _manifest_sha256(bundle: Bundle) -> str:
    return hashlib.sha256((bundle.path / "manifest.json").read_bytes()).hexdigest()


def _bundle_files(bundle: Bundle) -> tuple[list[Path], list[Path]]:
    """What the app needs: top-level files (manifest, labels, runtime config) and shipped models."""
    top = [bundle.path / "manifest.json", bundle.path / bundle.manifest["labels_file"]]
    if bundle.manifest["runtime_config"] is not None:
        top.append(bundle.path / bundle.manifest["runtime_config"]["file"])
    models = [bundle.model_path(m.id) for m in bundle.models if m.shipped]
    return top, models


def _push_bundle(adb: Adb, bundle: Bundle, request: RunRequest) -> None:
    top, models = _bundle_files(bundle)
    remote = request.bundle_dir
    adb.shell("rm", "-rf", remote)
    adb.shell("mkdir", "-p", f"{remote}/models")
    adb.push(top, remote)
    adb.push(models, f"{remote}/models")


def _push_testset(adb: Adb, bundle: Bundle, request: RunRequest) -> None:
    frames, labels = bundle.load_split("test")
    if request.system.limit is not None:
        frames, labels = frames[: request.system.limit], labels[: request.system.limit]
    with tempfile.TemporaryDirectory(prefix="mmnet-testset-") as tmp:
        paths = write_testset(frames, labels, tmp)
        adb.shell("mkdir", "-p", request.testset_dir)
        adb.push(paths, request.testset_dir)


def _check_request_fits(bundle: Bundle, request: RunRequest) -> None:
    shipped = {m.id for m in bundle.models if m.shipped and m.blessed}
    unknown = [m for m in request.settings.models if m not in shipped]
    if unknown:
        raise ConfigError(f"models {unknown} are not blessed models bundle {bundle.name!r} ships; "
                          f"expected some of {sorted(shipped)}")
    if request.system is None:
        return
    config = bundle.runtime_config
    if config is None:
        raise ConfigError(f"bundle {bundle.path} has no runtime config, so it cannot run as a system; "
                          "run `mmnet configure` on it first")
    profiles = config.document["network_profiles"]
    if request.system.network not in profiles:
        raise ConfigError(f"network {request.system.network!r} is not a profile of bundle {bundle.name!r}; "
                          f"expected one of {sorted(profiles)}")


def _raw(out_dir: Path) -> Path:
    return out_dir / RAW


def _save_status(raw: Path, text: str) -> None:
    partial = raw / ".status.json.part"
    partial.write_text(text, encoding="utf-8")
    partial.replace(raw / "status.json")


def _kept(raw: Path) -> str:
    names = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file() and not p.name.startswith("."))
    return f"kept {', '.join(names) or 'nothing'} in {raw}"


def _interrupted(e: AdbError, out_dir: Path, run_id: str, what: str) -> AdbError:
    """``e`` retold: which run, what is kept locally, and how to resume."""
    return type(e)(f"{e} while {what} run {run_id}; {_kept(_raw(out_dir))}; the run may still be going on the phone: "
                   f"reconnect it and resume with `mmnet harness resume {out_dir}`")


def _cancel(adb: Adb, run_id: str) -> None:
    """Best effort, on Ctrl-C: ask the app to stop the run."""
    try:
        adb.shell("am", "broadcast", "-a", CANCEL_ACTION, "--es", "run_id", run_id)
        log.warning("asked the app to cancel run %s", run_id)
    except AdbError as e:
        log.warning("could not cancel run %s on the phone: %s", run_id, e)


def _wait(adb: Adb, request: RunRequest, out_dir: Path, wait: WaitSettings,
          sleep: Callable[[float], None], clock: Callable[[], float]) -> RunStatus:
    """Poll status.json until the run ends; the last status is kept in raw/status.json."""
    from tqdm import tqdm

    remote = f"{request.app_run_dir}/status.json"
    started = clock()
    status: RunStatus | None = None
    bar = tqdm(total=100, desc=f"{adb.serial} {request.kind}", unit="%", disable=not wait.progress, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}")
    try:
        while True:
            text = adb.read_file(remote)
            if text is not None:
                _save_status(_raw(out_dir), text)
                status = parse_status(text, run_id=request.run_id, source=f"{adb.serial}:{remote}")
                if status.progress is not None:
                    bar.update(max(0, round(100 * status.progress) - bar.n))
                bar.set_postfix_str(status.message or status.state, refresh=True)
                if status.final:
                    return status
            waited = clock() - started
            if status is None and waited > wait.start_timeout_s:
                raise HarnessRunError(
                    f"the app did not acknowledge run {request.run_id} within {wait.start_timeout_s:g} s: no {remote} on "
                    f"{adb.serial}; check it starts (adb -s {adb.serial} logcat -s MmnetHarness) and resume with "
                    f"`mmnet harness resume {out_dir}`")
            if waited > wait.timeout_s:
                last = status.describe() if status else "none"
                raise HarnessRunError(
                    f"run {request.run_id} did not finish within {wait.timeout_s:g} s (last status: {last}); it may "
                    f"still be running: `mmnet harness resume {out_dir} --timeout-s N` waits again and pulls it, or "
                    f"cancel it: adb -s {adb.serial} shell am broadcast -a {CANCEL_ACTION} --es run_id {request.run_id}")
            sleep(wait.poll_s)
    except KeyboardInterrupt:
        _cancel(adb, request.run_id)
        raise
    finally:
        bar.close()


def _pull(adb: Adb, request: RunRequest, out_dir: Path) -> dict[str, Any]:
    """Pull result.json and the traces it names into raw/; the checked result."""
    raw = _raw(out_dir)
    path = adb.pull(f"{request.app_run_dir}/result.json", raw / "result.json")
    doc = read_json(path, "app result", ResultError)
    check_app_result(doc, source=str(path), run_id=request.run_id)
    traces = [] if doc["system"] is None else [
        entry["trace"] for entry in (*doc["system"]["modes"].values(), doc["system"]["mobile_only"],
                                     doc["system"]["cloud_only"]) if entry is not None and entry["trace"] is not None]
    if traces:
        (raw / "traces").mkdir(exist_ok=True)
    for trace in traces:
        adb.pull(f"{request.app_run_dir}/{trace}", raw / trace)
    return doc


def _cleanup(adb: Adb, request: RunRequest) -> None:
    """Remove the run's folders on the phone (the pushed bundle stays for the next run)."""
    try:
        adb.shell("rm", "-rf", request.run_dir, request.app_run_dir)
    except AdbError as e:
        log.warning("could not remove run %s from the phone (%s): remove %s and %s by hand", request.run_id, e,
                    request.run_dir, request.app_run_dir)


def _finish(adb: Adb, bundle: Bundle, request: RunRequest, record: dict[str, Any], out_dir: Path, wait: WaitSettings,
            sleep: Callable[[float], None], clock: Callable[[], float]) -> HarnessOutputs:
    """From a started run to its written outputs: wait, pull, clean up, convert."""
    try:
        status = _wait(adb, request, out_dir, wait, sleep, clock)
        if status.state != "done":
            _cleanup(adb, request)
            raise HarnessRunError(f"the app reported run {request.run_id} {status.state}: {status.message or 'no message'} "
                                  f"(device {adb.serial}; {_kept(_raw(out_dir))})")
        app_result = _pull(adb, request, out_dir)
    except AdbError as e:
        raise _interrupted(e, out_dir, request.run_id, "waiting for or pulling") from e
    _cleanup(adb, request)
    return _convert(app_result, bundle, out_dir, request=request, serial=record["serial"],
                    host_power_source=record["host_power_source"], source=f"{RAW}/result.json")


def _convert(app_result: dict[str, Any], bundle: Bundle, out_dir: Path, *, request: RunRequest | None,
             serial: str | None, host_power_source: str | None, source: str, trace_root: Path | None = None) -> HarnessOutputs:
    sha = _manifest_sha256(bundle)
    context = RunContext(bundle_id=bundle_id_for(bundle.name, sha), manifest_sha256=sha, source=source,
                         trace_root=trace_root or _raw(out_dir), out_dir=out_dir, request=request, serial=serial,
                         host_power_source=host_power_source)
    doc = harness_result(app_result, bundle.manifest, context)
    result_path = write_harness_result(doc, out_dir / HARNESS_RESULT_FILE)
    profile_path = None
    if doc["results"]:
        profile_path = out_dir / DEVICE_PROFILE_FILE
        write_device_profile(device_profile_from_result(doc), profile_path)
    return HarnessOutputs(out_dir=out_dir, result_path=result_path, profile_path=profile_path, document=doc)


def _prepare_out_dir(out_dir: Path) -> None:
    raw = _raw(out_dir)
    if raw.exists() and any(raw.iterdir()):
        raise ConfigError(f"--out {out_dir} already holds a run ({raw}); choose a new folder, or resume it with "
                          f"`mmnet harness resume {out_dir}`")
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out_dir}: cannot create {raw}: {e.strerror or e}") from e


def run_harness(
    bundle_dir: str | Path,
    settings: RunSettings,
    *,
    connection: Connection,
    system: SystemSettings | None = None,
    out_dir: str | Path | None = None,
    apk: str | Path | None = None,
    wait: WaitSettings = WaitSettings(),
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HarnessOutputs:
    """One run on one phone: a per-model profile, or (``system`` given) a system run over the test set.

    Installs ``apk`` first when given (else the app must be installed). ``out_dir`` defaults to
    ``results/harness/<bundle name>-<run id>``.
    """
    bundle = load_bundle(bundle_dir)
    sha = _manifest_sha256(bundle)
    request = RunRequest(run_id=run_id or new_run_id(), kind="profile" if system is None else "system",
                         bundle_id=bundle_id_for(bundle.name, sha), settings=settings, system=system)
    _check_request_fits(bundle, request)
    apk_path = None
    if apk is not None:
        apk_path = Path(apk)
        if not apk_path.is_file():
            raise ConfigError(f"--apk {apk}: no such file; expected the harness APK (see BUILD.md)")
    out = Path(out_dir) if out_dir is not None else Path("results") / "harness" / f"{bundle.name}-{request.run_id}"
    adb, entry = connect(connection)
    if apk_path is not None:
        adb.install(apk_path)
    elif not _app_installed(adb):
        raise DeviceError(f"the harness app {APP_PACKAGE} is not installed on {entry.describe()}; pass --apk PATH "
                          "(build it as BUILD.md says)")
    _prepare_out_dir(out)
    raw = _raw(out)
    props, battery = adb.getprop(), adb.battery()
    record = {
        "record_version": RUN_RECORD_VERSION,
        "run_id": request.run_id,
        "kind": request.kind,
        "serial": entry.serial,
        "device": {key: props.get(prop) or None for key, prop in _PROPS.items()},
        "bundle": str(bundle.path.resolve()),
        "manifest_sha256": sha,
        "host_power_source": battery["power_source"],
        "host_battery_level": battery["level"],
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(record, raw / RUN_RECORD)
    write_json_atomic(request.to_json(), raw / "request.json")
    try:
        _push_bundle(adb, bundle, request)
        adb.shell("mkdir", "-p", request.run_dir)
        if request.system is not None:
            _push_testset(adb, bundle, request)
        adb.push([raw / "request.json"], request.run_dir)
        adb.shell("chmod", "-R", "a+rX", DEVICE_ROOT)
    except AdbError as e:
        shutil.rmtree(raw)  # nothing started: the folder must not look like a run to resume
        again = "reconnect it and run" if isinstance(e, DeviceDisconnectedError) else "run"
        raise type(e)(f"{e} while pushing run {request.run_id}; nothing was started on the phone: "
                      f"{again} the same command again") from e
    try:
        started = adb.shell("am", "start", "-S", "-W", "-n", APP_ACTIVITY, "--es", "run_id", request.run_id,
                            "--es", "request", f"{request.run_dir}/request.json")
    except AdbError as e:
        raise _interrupted(e, out, request.run_id, "starting") from e
    said = started.stdout + started.stderr
    errors = [line.strip() for line in said.splitlines() if "Error" in line or "Exception" in line]
    if errors:
        _cleanup(adb, request)
        shutil.rmtree(raw)
        raise HarnessRunError(f"the phone would not start {APP_ACTIVITY}: {errors[-1]} (is the installed app a harness "
                              "build? reinstall it with --apk)")
    return _finish(adb, bundle, request, record, out, wait, sleep, clock)


def _load_record(out_dir: Path) -> tuple[dict[str, Any], RunRequest]:
    raw = _raw(out_dir)
    record = read_json(raw / RUN_RECORD, "harness run record", ConfigError)
    if not isinstance(record, dict) or record.get("record_version") != RUN_RECORD_VERSION:
        raise ConfigError(f"{raw / RUN_RECORD}: record_version is "
                          f"{record.get('record_version') if isinstance(record, dict) else record!r}; "
                          f"expected {RUN_RECORD_VERSION}")
    request_path = raw / "request.json"
    request = RunRequest.from_json(read_json(request_path, "run request", ConfigError), source=str(request_path))
    for key in ("serial", "bundle", "manifest_sha256", "host_power_source"):
        if key not in record:
            raise ConfigError(f"{raw / RUN_RECORD}: has no {key!r}; expected a record written by `mmnet harness`")
    return record, request


def resume_harness(
    out_dir: str | Path,
    *,
    connection: Connection,
    wait: WaitSettings = WaitSettings(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HarnessOutputs:
    """Pick up the run recorded in ``out_dir``: wait for it on its phone, pull it, convert it."""
    out = Path(out_dir)
    record, request = _load_record(out)
    bundle = load_bundle(record["bundle"])
    if _manifest_sha256(bundle) != record["manifest_sha256"]:
        raise ConfigError(f"bundle {record['bundle']} changed since run {request.run_id} started (manifest sha256 "
                          f"differs); its results would not describe it")
    serial = connection.serial or record["serial"]
    if serial != record["serial"]:
        raise ConfigError(f"--serial {serial} is not the phone run {request.run_id} started on ({record['serial']})")
    adb, _ = connect(Connection(adb=connection.adb, serial=serial, timeouts=connection.timeouts))
    return _finish(adb, bundle, request, record, out, wait, sleep, clock)


def convert_result(result_json: str | Path, bundle_dir: str | Path, out_dir: str | Path) -> HarnessOutputs:
    """Offline: the harness result and device profile of an already pulled result.json.

    A ``request.json`` beside it (as ``raw/`` keeps it) adds the run's settings; traces are looked
    up in the ``traces/`` folder beside it.
    """
    result_path = Path(result_json)
    app_result = read_json(result_path, "app result", ResultError)
    bundle = load_bundle(bundle_dir)
    request = None
    request_path = result_path.parent / "request.json"
    if request_path.is_file():
        request = RunRequest.from_json(read_json(request_path, "run request", ConfigError), source=str(request_path))
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot create it: {e.strerror or e}") from e
    return _convert(app_result, bundle, out, request=request, serial=None, host_power_source=None,
                    source=str(result_path), trace_root=result_path.parent)
