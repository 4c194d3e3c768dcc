"""A thin, timed adb wrapper: find adb, list and choose devices, shell, push, pull, install.

Every call has a timeout. Output that says the phone is gone ("device 'X' not found", "no
devices/emulators found", "device offline", ...) raises :class:`DeviceDisconnectedError`; any other
failure raises :class:`AdbError` naming the command, its exit code and adb's last words.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmnet.format.checks import check_number
from mmnet.format.errors import ConfigError
from mmnet.harness.errors import AdbError, DeviceDisconnectedError, DeviceError

__all__ = [
    "AdbTimeouts",
    "DeviceEntry",
    "Adb",
    "find_adb",
    "parse_devices",
    "choose_device",
    "parse_getprop",
    "parse_battery",
]

log = logging.getLogger(__name__)

_GONE = re.compile(
    r"device '[^']*' not found|no devices/emulators found|device offline|device unauthorized|"
    r"device still authorizing|error: closed|protocol fault",
    re.IGNORECASE,
)
_NO_FILE = re.compile(r"No such file or directory")
_PROP = re.compile(r"^\[(?P<key>[^\]]+)\]: \[(?P<value>.*)\]$")

# What to do about a phone adb lists in a state other than "device".
_STATE_HINTS = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt (then run `mmnet harness devices`)",
    "offline": "reconnect the cable or run `adb reconnect`; if it stays offline, toggle USB debugging",
    "authorizing": "wait for the phone to finish authorizing this computer",
    "connecting": "wait for adb to finish connecting",
    "no permissions": "this user may not open the USB device: add a udev rule for the phone (see BUILD.md) or join plugdev",
    "recovery": "the phone is in recovery mode: reboot it normally",
    "bootloader": "the phone is in the bootloader: reboot it normally",
    "sideload": "the phone is in sideload mode: reboot it normally",
}


@dataclass(frozen=True)
class AdbTimeouts:
    """Seconds before an adb call is abandoned: quick commands, file transfers, APK installs."""

    command_s: float = 30.0
    transfer_s: float = 600.0
    install_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("command_s", "transfer_s", "install_s"):
            check_number(f"adb timeout {name}", getattr(self, name), positive=True)


def find_adb(override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The adb program: ``override`` (``--adb``), else ``$ADB``, else ``adb`` on PATH."""
    environ = os.environ if environ is None else environ
    for where, candidate in (("--adb", override), ("$ADB", environ.get("ADB") or None)):
        if candidate is None:
            continue
        path = Path(candidate)
        if not path.is_file():
            raise ConfigError(f"{where} is {candidate!r}: no such file; expected the path of the adb program")
        if not os.access(path, os.X_OK):
            raise ConfigError(f"{where} is {candidate!r}: not executable; expected the path of the adb program")
        return str(path)
    found = shutil.which("adb", path=environ.get("PATH"))
    if found is None:
        raise AdbError("adb was not found on PATH; install Android platform-tools (Debian: apt-get install adb), "
                       "or pass --adb PATH or set $ADB")
    return found


@dataclass(frozen=True)
class DeviceEntry:
    """One line of ``adb devices -l``: serial, state and the key:value details (model, product, ...)."""

    serial: str
    state: str
    details: tuple[tuple[str, str], ...] = ()

    @property
    def ready(self) -> bool:
        return self.state == "device"

    def detail(self, key: str) -> str | None:
        return dict(self.details).get(key)

    @property
    def model(self) -> str | None:
        model = self.detail("model")
        return None if model is None else model.replace("_", " ")

    def describe(self) -> str:
        model = f" ({self.model})" if self.model else ""
        return f"{self.serial}{model} [{self.state}]"

    @property
    def hint(self) -> str:
        return _STATE_HINTS.get(self.state, f"adb reports state {self.state!r}; expected 'device'")


def parse_devices(text: str) -> list[DeviceEntry]:
    """Devices from ``adb devices -l`` output (header and ``* daemon ...`` lines skipped)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("*") or line.startswith("List of devices"):
            continue
        serial, _, rest = line.replace("\t", " ").partition(" ")
        rest = rest.strip()
        if rest.startswith("no permissions"):
            state = "no permissions"
            rest = rest.split(";", 1)[1] if ";" in rest else ""
            tokens = [t for t in rest.split() if ":" in t and not t.startswith("[")]
        else:
            state, *tokens = rest.split() or ["unknown"]
        details = tuple(tuple(t.split(":", 1)) for t in tokens if ":" in t)
        entries.append(DeviceEntry(serial=serial, state=state, details=details))
    return entries


def choose_device(entries: Sequence[DeviceEntry], serial: str | None = None) -> DeviceEntry:
    """The phone to use: ``serial`` if given, else the only ready one; DeviceError saying what to do."""
    if serial is not None:
        for entry in entries:
            if entry.serial == serial:
                if not entry.ready:
                    raise DeviceError(f"device {serial} is {entry.state}: {entry.hint}")
                return entry
        listed = ", ".join(e.describe() for e in entries) or "none"
        raise DeviceError(f"no device with serial {serial!r} is connected (adb lists: {listed})")
    ready = [e for e in entries if e.ready]
    if len(ready) == 1:
        return ready[0]
    if len(ready) > 1:
        raise DeviceError(f"{len(ready)} devices are connected: {', '.join(e.describe() for e in ready)}; "
                          "choose one with --serial SERIAL")
    if entries:
        problems = "; ".join(f"{e.describe()}: {e.hint}" for e in entries)
        raise DeviceError(f"no usable device: {problems}")
    raise DeviceError("no device is connected: plug in a phone with USB debugging on (Settings > Developer options) "
                      "and check `adb devices -l`")


def parse_getprop(text: str) -> dict[str, str]:
    """``adb shell getprop`` output (``[key]: [value]`` lines) as a dict."""
    props = {}
    for line in text.splitlines():
        match = _PROP.match(line.strip())
        if match:
            props[match["key"]] = match["value"]
    return props


def parse_battery(text: str) -> dict[str, object]:
    """``dumpsys battery``: the power source ('ac', 'usb', 'wireless', 'dock' or 'battery'), level 0..1."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            values[key.strip().lower()] = value.strip()
    source = "battery"
    for name in ("ac", "usb", "wireless", "dock"):
        if values.get(f"{name} powered") == "true":
            source = name
            break
    level = None
    try:
        level = int(values["level"]) / int(values.get("scale", "100"))
    except (KeyError, ValueError, ZeroDivisionError):
        log.warning("dumpsys battery gave no usable level/scale: %r", text[:200])
    return {"power_source": source, "level": level}


class Adb:
    """adb bound to one program and, once chosen, one device serial."""

    def __init__(self, program: str, *, serial: str | None = None, timeouts: AdbTimeouts = AdbTimeouts()) -> None:
        self.program = program
        self.serial = serial
        self.timeouts = timeouts

    def with_serial(self, serial: str) -> Adb:
        return Adb(self.program, serial=serial, timeouts=self.timeouts)

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [self.program, *(("-s", self.serial) if self.serial else ()), *args]

    def run(self, args: Sequence[str], *, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``adb [-s SERIAL] ARGS``; raises on a vanished device, a timeout, or (``check``) a non-zero exit."""
        argv = self._argv(args)
        shown = shlex.join(["adb", *argv[1:]])
        timeout = self.timeouts.command_s if timeout is None else timeout
        log.debug("%s", shown)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  errors="replace")
        except subprocess.TimeoutExpired as e:
            raise AdbError(f"`{shown}` did not finish within {timeout:g} s"
                           + (f" (is device {self.serial} still connected?)" if self.serial else "")) from e
        except OSError as e:
            raise AdbError(f"cannot run adb ({self.program}): {e.strerror or e}") from e
        said = (done.stderr + "\n" + done.stdout).strip()
        gone = _GONE.search(said)
        if gone and (done.returncode != 0 or said.startswith(("error:", "adb: "))):
            who = f"device {self.serial}" if self.serial else "the device"
            raise DeviceDisconnectedError(f"{who} is gone: `{shown}` said {gone.group(0)!r}")
        if check and done.returncode != 0:
            last = said.splitlines()[-1] if said else "no output"
            raise AdbError(f"`{shown}` failed with exit code {done.returncode}: {last}")
        return done

    def devices(self) -> list[DeviceEntry]:
        return parse_devices(Adb(self.program, timeouts=self.timeouts).run(["devices", "-l"]).stdout)

    def shell(self, *command: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """``adb shell`` with ``command`` quoted for the phone's sh (one argument, so adb cannot re-split it)."""
        return self.run(["shell", shlex.join(command)], timeout=timeout, check=check)

    def getprop(self) -> dict[str, str]:
        return parse_getprop(self.shell("getprop").stdout)

    def battery(self) -> dict[str, object]:
        return parse_battery(self.shell("dumpsys", "battery").stdout)

    def read_file(self, remote: str) -> str | None:
        """The text of ``remote`` on the phone; None when it does not exist (yet)."""
        done = self.shell("cat", remote, check=False)
        said = done.stderr + done.stdout
        if _NO_FILE.search(said) and (done.returncode != 0 or done.stdout.startswith("cat:")):
            return None
        if done.returncode != 0:
            last = said.strip().splitlines()[-1] if said.strip() else "no output"
            raise AdbError(f"cannot read {remote} on device {self.serial}: exit code {done.returncode}: {last}")
        return done.stdout

    def push(self, sources: Sequence[Path], remote_dir: str) -> None:
        """Copy ``sources`` (files) into the existing directory ``remote_dir`` on the phone."""
        if sources:
            self.run(["push", *(str(s) for s in sources), remote_dir.rstrip("/") + "/"], timeout=self.timeouts.transfer_s)

    def pull(self, remote: str, local: Path) -> Path:
        """Copy the file ``remote`` to ``local`` (written beside it first, then renamed: never half a file)."""
        local = Path(local)
        partial = local.with_name(f".{local.name}.part")
        partial.unlink(missing_ok=True)
        try:
            self.run(["pull", remote, str(partial)], timeout=self.timeouts.transfer_s)
            if not partial.is_file():
                raise AdbError(f"`adb pull {remote}` reported success but wrote no file {partial}")
            partial.replace(local)
        finally:
            partial.unlink(missing_ok=True)
        return local

    def install(self, apk: Path) -> None:
        """Install (or replace, keeping data) ``apk`` with its runtime permissions granted."""
        done = self.run(["install", "-r", "-g", str(apk)], timeout=self.timeouts.install_s, check=False)
        said = (done.stdout + "\n" + done.stderr).strip()
        if done.returncode != 0 or "Success" not in done.stdout:
            failure = re.search(r"Failure \[[^\]]*\]", said)
            detail = failure.group(0) if failure else (said.splitlines()[-1] if said else "no output")
            raise AdbError(f"installing {apk} on device {self.serial} failed: {detail}")
