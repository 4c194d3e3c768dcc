"""A fake ``adb`` program: emulated phones in a folder, and an emulated harness app.

Run as ``python tests/support/fake_adb.py ARGS`` (``write_adb_wrapper`` makes an
executable ``adb`` that does so). ``$FAKE_ADB_STATE`` names the state folder: ``scenario.json``
(written by the test with :func:`write_scenario`) says which phones exist and how they behave;
the fake keeps ``state.json`` (connections, installs, runs, every call) and each phone's files under
``fs/<serial>/``.

It understands what the host driver uses: ``devices -l``, ``-s SERIAL``, ``install``, ``push``,
``pull``, and ``shell`` with ``getprop``, ``dumpsys battery``, ``pm path``, ``mkdir -p``,
``rm -rf``, ``chmod -R``, ``cat``, ``am start`` and ``am broadcast``, with adb's own messages for
missing, unauthorized and offline devices. ``am start`` launches the emulated app; each read of the
run's status.json advances it one step, so runs are deterministic and need no background process.
On its last step the app writes a protocol-conformant result.json with synthetic, plausible
latencies and energies per model (from the scenario's numbers and a seed) and, for system runs,
per-mode traces. It restates the protocol's names and paths rather than importing the host's, so a
host that drifts from PROTOCOL.md fails against it.

Scenario (every key optional but ``devices``)::

    {"devices": [{
        "serial": "FAKE0001", "state": "device" | "unauthorized" | "offline",
        "props": {"ro.product.model": "Pixel 7", ...},      # over the defaults below
        "installed": true, "power_source": "battery" | "usb" | "ac",
        "disconnect_after_polls": null | N,                 # vanish on the N-th status read
        "disconnect_at_call": null | N,                     # vanish on the N-th adb call to it
        "install_failure": null | "INSTALL_FAILED_...",     # `adb install` fails so
        "no_activity": false,                               # installed, but no HarnessActivity
        "app": {"behaviour": "normal" | "failed" | "slow" | "silent", "steps": 3,
                "message": "why it failed", "seed": 0, "charging": false, "thermal_after": 0,
                "latency_ms": {"<model id>" | "master" | "minion": ms},
                "preprocessing_ms": 0.05,
                "energy": null | {"source": "power_monitor" | "fuel_gauge", "idle_mw": 400,
                                  "active_mw": {"<model id>" | "master" | "minion": mW} | mW}}}]}
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

__all__ = ["STATE_ENV", "write_scenario", "write_adb_wrapper", "reconnect", "read_state", "device_file", "main"]

STATE_ENV = "FAKE_ADB_STATE"
PACKAGE = "org.mmnet.harness"
ACTIVITY = f"{PACKAGE}/.HarnessActivity"
APP_RUNS = f"/sdcard/Android/data/{PACKAGE}/files/runs"
REQUEST_KEYS = {"protocol_version", "run_id", "kind", "bundle_dir", "models", "delegate", "threads", "warmup_runs",
                "runs", "duration_s", "frame_interval_ms", "energy", "thermal", "system"}
DEFAULT_PROPS = {
    "ro.product.manufacturer": "Google",
    "ro.product.model": "Pixel 7",
    "ro.product.device": "panther",
    "ro.build.version.sdk": "34",
    "ro.build.version.release": "14",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "Tensor G2",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
}
FAKE_START = datetime.datetime(2026, 11, 24, 7, 15, 0)


class _Exit(Exception):
    def __init__(self, code: int, stderr: str = "") -> None:
        super().__init__(stderr)
        self.code, self.stderr = code, stderr


# --- helpers for tests ------------------------------------------------------------------------

def write_scenario(state_dir: str | Path, scenario: dict[str, Any]) -> Path:
    """Start a fresh fake world in ``state_dir`` described by ``scenario``."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "state.json").unlink(missing_ok=True)
    shutil.rmtree(state_dir / "fs", ignore_errors=True)
    path = state_dir / "scenario.json"
    path.write_text(json.dumps(scenario, indent=1), encoding="utf-8")
    return path


def write_adb_wrapper(bin_dir: str | Path, python: str = sys.executable) -> Path:
    """An executable ``bin_dir/adb`` that runs this fake with ``python``."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "adb"
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} {shlex.quote(str(Path(__file__).resolve()))} "$@"\n',
                    encoding="utf-8")
    path.chmod(0o755)
    return path


def read_state(state_dir: str | Path) -> dict[str, Any]:
    return _load_state(Path(state_dir))


def reconnect(state_dir: str | Path, serial: str) -> None:
    """Plug ``serial`` back in; runs it had going finish while it was away (a foreground service)."""
    state_dir = Path(state_dir)
    state = _load_state(state_dir)
    device = state["devices"][serial]
    device["connected"] = True
    for run in device["runs"].values():
        run["finish_next"] = True
    _save_state(state_dir, state)


def device_file(state_dir: str | Path, serial: str, remote: str) -> Path:
    """Where the phone's file ``remote`` lives on this machine."""
    return Path(state_dir) / "fs" / serial / remote.lstrip("/")


# --- state --------------------------------------------------------------------------------------

def _scenario(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "scenario.json"
    if not path.is_file():
        raise _Exit(1, f"fake adb: no scenario at {path}; write one with write_scenario()\n")
    return json.loads(path.read_text(encoding="utf-8"))


def _load_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "state.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    devices = {}
    for spec in _scenario(state_dir)["devices"]:
        devices[spec["serial"]] = {"connected": True, "installed": spec.get("installed", True), "readable": [],
                                   "runs": {}}
    return {"devices": devices, "calls": []}


def _save_state(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / ".state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    tmp.replace(state_dir / "state.json")


class _World:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.scenario = _scenario(state_dir)
        self.state = _load_state(state_dir)
        self.specs = {spec["serial"]: spec for spec in self.scenario["devices"]}

    def save(self) -> None:
        _save_state(self.dir, self.state)

    def connected(self) -> list[str]:
        return [s for s in self.specs if self.state["devices"][s]["connected"]]

    def path(self, serial: str, remote: str) -> Path:
        return device_file(self.dir, serial, remote)


# --- commands -----------------------------------------------------------------------------------

def _devices(world: _World, out: list[str]) -> None:
    out.append("List of devices attached")
    for i, serial in enumerate(world.connected(), 1):
        spec = world.specs[serial]
        props = {**DEFAULT_PROPS, **spec.get("props", {})}
        state = spec.get("state", "device")
        details = "usb:1-1"
        if state == "device":
            model = props["ro.product.model"].replace(" ", "_")
            device = props["ro.product.device"]
            details += f" product:{device} model:{model} device:{device}"
        out.append(f"{serial:<22} {state} {details} transport_id:{i}")


def _target(world: _World, serial: str | None) -> str:
    connected = world.connected()
    if serial is None:
        if not connected:
            raise _Exit(1, "adb: no devices/emulators found\n")
        if len(connected) > 1:
            raise _Exit(1, "adb: more than one device/emulator\n")
        serial = connected[0]
    if serial not in connected:
        raise _Exit(1, f"adb: device '{serial}' not found\n")
    state = world.specs[serial].get("state", "device")
    if state == "unauthorized":
        raise _Exit(1, "adb: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                       "Try 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.\n")
    if state == "offline":
        raise _Exit(1, "adb: device offline\n")
    return serial


def _push(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    args = [a for a in args if a != "--sync"]
    if len(args) < 2:
        raise _Exit(1, "adb: usage: push [--sync] LOCAL... REMOTE\n")
    *sources, remote = args
    dest = world.path(serial, remote)
    if len(sources) > 1 or remote.endswith("/"):
        if not dest.is_dir():
            raise _Exit(1, f"adb: error: target '{remote}' is not a directory\n")
    for source in sources:
        local = Path(source)
        if not local.exists():
            raise _Exit(1, f"adb: error: cannot stat '{source}': No such file or directory\n")
        target = dest / local.name if dest.is_dir() else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(local, target)
    out.append(f"{len(sources)} file(s) pushed. 0 skipped.")


def _pull(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    if len(args) != 2:
        raise _Exit(1, "adb: usage: pull REMOTE LOCAL\n")
    remote, local = args
    source = world.path(serial, remote)
    if not source.is_file():
        raise _Exit(1, f"adb: error: failed to stat remote object '{remote}': No such file or directory\n")
    target = Path(local)
    if target.is_dir():
        target = target / source.name
    shutil.copyfile(source, target)
    out.append(f"{remote}: 1 file pulled. 0 skipped.")


def _install(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    apks = [a for a in args if not a.startswith("-")]
    if len(apks) != 1 or not Path(apks[0]).is_file():
        raise _Exit(1, f"adb: error: cannot stat '{apks[0] if apks else ''}': No such file or directory\n")
    if world.specs[serial].get("install_failure"):
        raise _Exit(1, f"adb: failed to install {apks[0]}: Failure [{world.specs[serial]['install_failure']}]\n")
    world.state["devices"][serial]["installed"] = True
    out += ["Performing Streamed Install", "Success"]


def _shell(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    words = shlex.split(" ".join(args))
    if not words:
        raise _Exit(1, "fake adb: interactive shells are not emulated\n")
    command, rest = words[0], words[1:]
    spec, device = world.specs[serial], world.state["devices"][serial]
    if command == "getprop":
        props = {**DEFAULT_PROPS, **spec.get("props", {})}
        if rest:
            out.append(props.get(rest[0], ""))
        else:
            out += [f"[{k}]: [{v}]" for k, v in sorted(props.items())]
    elif command == "dumpsys" and rest == ["battery"]:
        source = spec.get("power_source", "battery")
        out += ["Current Battery Service state:"]
        out += [f"  {name.upper() if name == 'ac' else name.capitalize()} powered: {str(source == name).lower()}"
                for name in ("ac", "usb", "wireless", "dock")]
        out += ["  status: 3", "  health: 2", "  present: true", "  level: 81", "  scale: 100", "  temperature: 315"]
    elif command == "pm" and rest[:1] == ["path"]:
        if device["installed"] and rest[1:] == [PACKAGE]:
            out.append(f"package:/data/app/~~fake==/{PACKAGE}-fake==/base.apk")
        else:
            raise _Exit(1)
    elif command == "mkdir":
        for path in (p for p in rest if not p.startswith("-")):
            world.path(serial, path).mkdir(parents=True, exist_ok=True)
    elif command == "rm":
        for path in (p for p in rest if not p.startswith("-")):
            target = world.path(serial, path)
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    elif command == "chmod":
        paths = [p for p in rest if not p.startswith("-")][1:]
        device["readable"] += [p for p in paths if p not in device["readable"]]
    elif command == "cat" and len(rest) == 1:
        _advance_for(world, serial, rest[0])
        target = world.path(serial, rest[0])
        if not target.is_file():
            raise _Exit(1, f"cat: {rest[0]}: No such file or directory\n")
        out.append(target.read_text(encoding="utf-8").rstrip("\n"))
    elif command == "am" and rest[:1] == ["start"]:
        _am_start(world, serial, rest[1:], out)
    elif command == "am" and rest[:1] == ["broadcast"]:
        _am_broadcast(world, serial, rest[1:], out)
    else:
        raise _Exit(127, f"/system/bin/sh: {command}: inaccessible or not found\n")


def _extras(args: list[str]) -> dict[str, str]:
    extras = {}
    for i, arg in enumerate(args):
        if arg == "--es" and i + 2 < len(args):
            extras[args[i + 1]] = args[i + 2]
    return extras


# --- the emulated app ---------------------------------------------------------------------------

def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    tmp.replace(path)


def _utc(seconds: float) -> str:
    """A fixed fake clock: FAKE_START + ``seconds``, as protocol UTC text."""
    return (FAKE_START + datetime.timedelta(seconds=seconds)).isoformat() + "Z"


def _status(world: _World, serial: str, run_id: str, state: str, progress: float, message: str | None) -> None:
    _write_json(world.path(serial, f"{APP_RUNS}/{run_id}/status.json"),
                {"protocol_version": 1, "run_id": run_id, "state": state, "progress": progress, "message": message,
                 "updated_utc": _utc(0)})


def _check_request(world: _World, serial: str, request: Any, run_id: str) -> str | None:
    """Why the request breaks the protocol, or None."""
    if not isinstance(request, dict) or set(request) != REQUEST_KEYS:
        got = sorted(request) if isinstance(request, dict) else request
        return f"request keys are {got}; expected {sorted(REQUEST_KEYS)}"
    if request["protocol_version"] != 1 or request["run_id"] != run_id:
        return f"protocol_version {request['protocol_version']!r} / run_id {request['run_id']!r} do not match"
    if request["kind"] not in ("profile", "system") or (request["kind"] == "system") != (request["system"] is not None):
        return f"kind {request['kind']!r} and system {request['system']!r} do not agree"
    if request["delegate"] not in ("cpu", "xnnpack", "gpu", "nnapi"):
        return f"delegate {request['delegate']!r} is unknown"
    if (request["runs"] is None) == (request["duration_s"] is None):
        return "exactly one of runs and duration_s must be set"
    manifest = world.path(serial, f"{request['bundle_dir']}/manifest.json")
    if not manifest.is_file():
        return f"cannot read bundle: {request['bundle_dir']}/manifest.json does not exist"
    if not _readable(world, serial, request["bundle_dir"]):
        return f"cannot read bundle: {request['bundle_dir']}: Permission denied (not chmod a+rX)"
    if request["system"] is not None:
        testset = request["system"]["testset_dir"]
        if not world.path(serial, f"{testset}/testset.json").is_file():
            return f"no test set at {testset}"
    return None


def _readable(world: _World, serial: str, remote: str) -> bool:
    return any(remote == p or remote.startswith(p.rstrip("/") + "/") for p in world.state["devices"][serial]["readable"])


def _am_start(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    component = args[args.index("-n") + 1] if "-n" in args else None
    out.append(f"Starting: Intent {{ cmp={component} (has extras) }}")
    if component != ACTIVITY or not world.state["devices"][serial]["installed"] or world.specs[serial].get("no_activity"):
        out += ["Error type 3", f"Error: Activity class {{{PACKAGE}/{PACKAGE}.HarnessActivity}} does not exist."]
        return
    extras = _extras(args)
    run_id, request_path = extras.get("run_id"), extras.get("request")
    behaviour = world.specs[serial].get("app", {}).get("behaviour", "normal")
    if behaviour != "silent":
        try:
            request = json.loads(world.path(serial, request_path).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as e:
            request, problem = None, f"cannot read request {request_path}: {e}"
        else:
            problem = _check_request(world, serial, request, run_id)
        world.state["devices"][serial]["runs"][run_id] = {"polls": 0, "request": request, "problem": problem,
                                                          "finish_next": False, "cancelled": False}
        _status(world, serial, run_id, "queued", 0.0, "waiting for the thermal gate")
    out += ["Status: ok", "LaunchState: COLD", f"Activity: {ACTIVITY}", "TotalTime: 180", "WaitTime: 190", "Complete"]


def _am_broadcast(world: _World, serial: str, args: list[str], out: list[str]) -> None:
    action = args[args.index("-a") + 1] if "-a" in args else None
    out.append(f"Broadcasting: Intent {{ act={action} flg=0x400000 (has extras) }}")
    run = world.state["devices"][serial]["runs"].get(_extras(args).get("run_id"))
    if action == f"{PACKAGE}.CANCEL" and run is not None:
        run["cancelled"] = True
    out.append("Broadcast completed: result=0")


def _advance_for(world: _World, serial: str, remote: str) -> None:
    """A read of a run's status.json lets the emulated app take one step."""
    prefix = f"{APP_RUNS}/"
    if not (remote.startswith(prefix) and remote.endswith("/status.json")):
        return
    run_id = remote[len(prefix):-len("/status.json")]
    run = world.state["devices"][serial]["runs"].get(run_id)
    if run is None:
        return
    spec = world.specs[serial]
    app = spec.get("app", {})
    behaviour = app.get("behaviour", "normal")
    steps = int(app.get("steps", 3))
    run["polls"] += 1
    disconnect = spec.get("disconnect_after_polls")
    if disconnect is not None and run["polls"] == disconnect and not run["finish_next"]:
        world.state["devices"][serial]["connected"] = False
        raise _Exit(1, f"adb: device '{serial}' not found\n")
    if run["cancelled"]:
        _status(world, serial, run_id, "cancelled", min(1.0, run["polls"] / steps), "cancelled by the host")
    elif run["problem"] is not None:
        _status(world, serial, run_id, "failed", 0.0, run["problem"])
    elif behaviour == "failed":
        _status(world, serial, run_id, "failed", 0.1, app.get("message", "delegate gpu unavailable: no OpenCL driver"))
    elif behaviour == "slow":
        _status(world, serial, run_id, "running", min(0.5, 0.01 * run["polls"]), "model 1/2: thermal cool-down")
    elif run["polls"] >= steps or run["finish_next"]:
        _write_result(world, serial, run_id, run["request"])
        _status(world, serial, run_id, "done", 1.0, "done")
    else:
        _status(world, serial, run_id, "running", run["polls"] / steps, f"step {run['polls']}/{steps}")


def _pick(table: Any, model: dict[str, Any], default: float) -> float:
    if isinstance(table, (int, float)):
        return float(table)
    table = table or {}
    return float(table.get(model["id"], table.get(model["role"], default)))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_result(world: _World, serial: str, run_id: str, request: dict[str, Any]) -> None:
    spec = world.specs[serial]
    app = spec.get("app", {})
    props = {**DEFAULT_PROPS, **spec.get("props", {})}
    bundle_dir = request["bundle_dir"]
    manifest = json.loads(world.path(serial, f"{bundle_dir}/manifest.json").read_text(encoding="utf-8"))
    wanted = request["models"] or [m["id"] for m in manifest["models"] if m["blessed"] and m["file"]]
    by_id = {m["id"]: m for m in manifest["models"]}
    energy_spec = app.get("energy", {"source": "power_monitor", "idle_mw": 400.0, "active_mw": 1600.0})
    seed = app.get("seed", 0)
    models = []
    for k, model_id in enumerate(wanted):
        model = by_id[model_id]
        rng = random.Random(f"{seed}:{model_id}")
        base = _pick(app.get("latency_ms"), model, 0.05 + model["macs"] / 1e6)
        runs = request["runs"] or max(1, min(5000, int(request["duration_s"] * 1000.0 / base)))
        latencies = [round(base * rng.lognormvariate(0.0, 0.04) * (1.5 if rng.random() < 0.01 else 1.0), 4)
                     for _ in range(runs)]
        prep = float(app.get("preprocessing_ms", 0.05))
        preprocessing = [round(prep * rng.lognormvariate(0.0, 0.05), 4) for _ in range(runs)]
        mean = sum(latencies) / len(latencies)
        if energy_spec is None:
            energy = {"source": None, "mj_per_inference": None, "idle_baseline_mw": None, "active_mw": None,
                      "samples": 0, "sample_hz": None, "note": "no PowerMonitor on this API level; fuel gauge unreadable"}
        else:
            idle = float(energy_spec.get("idle_mw", 400.0))
            active = _pick(energy_spec.get("active_mw"), model, 1600.0)
            hz = request["energy"]["sample_hz"]
            energy = {"source": energy_spec.get("source", "power_monitor"),
                      "mj_per_inference": round((active - idle) / 1000.0 * mean, 6), "idle_baseline_mw": idle,
                      "active_mw": active, "samples": max(1, int(hz * runs * mean / 1000.0)), "sample_hz": hz,
                      "note": "idle baseline subtracted"}
        model_file = world.path(serial, f"{bundle_dir}/{model['file']}")
        models.append({
            "model_id": model_id, "sha256": _sha256(model_file), "delegate": request["delegate"],
            "threads": request["threads"], "latencies_ms": latencies, "preprocessing_ms": preprocessing,
            "energy": energy,
            "thermal": {"status_before": 0, "status_after": int(app.get("thermal_after", 0)), "cooldown_waited_s": 0.0},
            "started_utc": _utc(2 * k), "ended_utc": _utc(2 * k + 1),
        })
    charging = bool(app.get("charging", False))
    result = {
        "protocol_version": 1, "run_id": run_id, "kind": request["kind"],
        "device": {"manufacturer": props["ro.product.manufacturer"], "model": props["ro.product.model"],
                   "device": props["ro.product.device"], "sdk_int": int(props["ro.build.version.sdk"]),
                   "release": props["ro.build.version.release"], "soc_manufacturer": props["ro.soc.manufacturer"],
                   "soc_model": props["ro.soc.model"], "abis": props["ro.product.cpu.abilist"].split(","),
                   "cpu_cores": 8, "fingerprint": props["ro.build.fingerprint"]},
        "app": {"version_name": "0.1.0", "version_code": 1, "litert_version": "1.4.0"},
        "environment": {"charging": charging, "battery_level": 0.81, "battery_temp_c": 31.5,
                        "warnings": ["charging: current readings include the charge current"] if charging else []},
        "models": models,
        "system": None if request["system"] is None else _system_result(world, serial, run_id, request, seed),
    }
    _write_json(world.path(serial, f"{APP_RUNS}/{run_id}/result.json"), result)


def _system_result(world: _World, serial: str, run_id: str, request: dict[str, Any], seed: int) -> dict[str, Any]:
    from mmnet.harness.testset import read_testset  # numpy: only system runs need it

    system = request["system"]
    _, labels, header = read_testset(world.path(serial, system["testset_dir"]))
    count = header["count"]
    rng = random.Random(f"{seed}:system")
    traces = world.path(serial, f"{APP_RUNS}/{run_id}/traces")
    traces.mkdir(parents=True, exist_ok=True)

    def run(name: str, base_ms: float, recovery: float | None, paths: dict[str, str]) -> dict[str, Any]:
        latencies, counts, lines = [], {}, []
        for i in range(count):
            path = paths["recovered"] if recovery is not None and rng.random() < recovery else paths["default"]
            ms = round(base_ms * (3.0 if path == paths.get("recovered") and recovery is not None else 1.0)
                       * rng.lognormvariate(0.0, 0.05), 4)
            latencies.append(ms)
            counts[path] = counts.get(path, 0) + 1
            lines.append(json.dumps({"frame": i, "label": int(labels[i]), "path": path, "latency_ms": ms}))
        (traces / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return {"frames": count, "accuracy": round(0.9 + 0.05 * rng.random(), 4),
                "recovery_rate": None if recovery is None else round(counts.get(paths["recovered"], 0) / max(count, 1), 4),
                "latency_ms": latencies, "path_counts": counts, "trace": f"traces/{name}.jsonl"}

    modes = {mode: run(mode, 2.0, 0.1, {"default": "minions", "recovered": "master_device"}) for mode in system["modes"]}
    cloud = None
    if system["master_url"] is not None:
        cloud = run("cloud_only", 80.0, None, {"default": "master_cloud"})
    return {"modes": modes, "mobile_only": run("mobile_only", 8.0, None, {"default": "master_device"}),
            "cloud_only": cloud}


# --- entry point --------------------------------------------------------------------------------

def _dispatch(world: _World, argv: list[str], out: list[str]) -> None:
    serial = os.environ.get("ANDROID_SERIAL") or None
    while argv and argv[0].startswith("-"):
        if argv[0] == "-s" and len(argv) > 1:
            serial, argv = argv[1], argv[2:]
        else:
            raise _Exit(1, f"fake adb: option {argv[0]} is not emulated\n")
    if not argv:
        raise _Exit(1, "adb: no command\n")
    command, args = argv[0], argv[1:]
    if command == "devices":
        _devices(world, out)
    elif command == "version":
        out.append("Android Debug Bridge version 1.0.41 (fake)")
    elif command in ("shell", "push", "pull", "install"):
        target = _target(world, serial)
        device = world.state["devices"][target]
        device["calls"] = device.get("calls", 0) + 1
        if device["calls"] == world.specs[target].get("disconnect_at_call"):
            device["connected"] = False
            raise _Exit(1, f"adb: device '{target}' not found\n")
        {"shell": _shell, "push": _push, "pull": _pull, "install": _install}[command](world, target, args, out)
    else:
        raise _Exit(1, f"fake adb: command {command!r} is not emulated\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    state_dir = os.environ.get(STATE_ENV)
    if not state_dir:
        sys.stderr.write(f"fake adb: ${STATE_ENV} is not set\n")
        return 1
    out: list[str] = []
    code, err = 0, ""
    try:
        world = _World(Path(state_dir))
    except _Exit as e:
        sys.stderr.write(e.stderr)
        return e.code
    world.state["calls"].append(argv)
    try:
        _dispatch(world, argv, out)
    except _Exit as e:
        code, err = e.code, e.stderr
    world.save()
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main())
