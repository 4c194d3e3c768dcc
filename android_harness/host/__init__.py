"""Host driver for the Android harness (``mmnet harness``): adb, runs, results, device profiles.

The names below are loaded on first use, so ``import mmnet.harness`` stays cheap (the fake
adb program in ``testing/`` starts once per adb call).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Adb": "mmnet.harness.adb",
    "AdbTimeouts": "mmnet.harness.adb",
    "find_adb": "mmnet.harness.adb",
    "parse_devices": "mmnet.harness.adb",
    "choose_device": "mmnet.harness.adb",
    "AdbError": "mmnet.harness.errors",
    "DeviceDisconnectedError": "mmnet.harness.errors",
    "DeviceError": "mmnet.harness.errors",
    "HarnessRunError": "mmnet.harness.errors",
    "ResultError": "mmnet.harness.errors",
    "RunSettings": "mmnet.harness.protocol",
    "SystemSettings": "mmnet.harness.protocol",
    "RunRequest": "mmnet.harness.protocol",
    "Connection": "mmnet.harness.driver",
    "WaitSettings": "mmnet.harness.driver",
    "HarnessOutputs": "mmnet.harness.driver",
    "run_harness": "mmnet.harness.driver",
    "resume_harness": "mmnet.harness.driver",
    "convert_result": "mmnet.harness.driver",
    "describe_devices": "mmnet.harness.driver",
    "harness_result": "mmnet.harness.results",
    "device_profile_from_result": "mmnet.harness.results",
    "latency_stats": "mmnet.harness.results",
    "write_testset": "mmnet.harness.testset",
    "read_testset": "mmnet.harness.testset",
    "add_harness_parser": "mmnet.cli.harness",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mmnet.harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
