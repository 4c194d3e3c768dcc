"""Host driver for the Android harness (``mmnet harness``): adb, runs, results, device profiles.

The names below are loaded on first use, so ``import android_harness.host`` stays cheap (the fake
adb program in ``testing/`` starts once per adb call).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Adb": "android_harness.host.adb",
    "AdbTimeouts": "android_harness.host.adb",
    "find_adb": "android_harness.host.adb",
    "parse_devices": "android_harness.host.adb",
    "choose_device": "android_harness.host.adb",
    "AdbError": "android_harness.host.errors",
    "DeviceDisconnectedError": "android_harness.host.errors",
    "DeviceError": "android_harness.host.errors",
    "HarnessRunError": "android_harness.host.errors",
    "ResultError": "android_harness.host.errors",
    "RunSettings": "android_harness.host.protocol",
    "SystemSettings": "android_harness.host.protocol",
    "RunRequest": "android_harness.host.protocol",
    "Connection": "android_harness.host.driver",
    "WaitSettings": "android_harness.host.driver",
    "HarnessOutputs": "android_harness.host.driver",
    "run_harness": "android_harness.host.driver",
    "resume_harness": "android_harness.host.driver",
    "convert_result": "android_harness.host.driver",
    "describe_devices": "android_harness.host.driver",
    "harness_result": "android_harness.host.results",
    "device_profile_from_result": "android_harness.host.results",
    "latency_stats": "android_harness.host.results",
    "write_testset": "android_harness.host.testset",
    "read_testset": "android_harness.host.testset",
    "add_harness_parser": "android_harness.host.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'android_harness.host' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
