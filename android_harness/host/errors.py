"""Errors of the host driver, all :class:`mmnet.format.errors.MmnetError` (one line from the CLI).

Bad state (adb, the phone, the app) raises a ``RuntimeError`` subclass; a document that does not
follow the protocol or a schema raises a ``ValueError`` subclass. Bad options raise
:class:`mmnet.format.errors.ConfigError`.
"""

from __future__ import annotations

from mmnet.format.errors import MmnetError

__all__ = ["AdbError", "DeviceDisconnectedError", "DeviceError", "HarnessRunError", "ResultError"]


class AdbError(MmnetError, RuntimeError):
    """adb is missing, failed, or did not answer in time."""


class DeviceDisconnectedError(AdbError):
    """The phone went away (unplugged, rebooted, adb server restarted) while adb talked to it."""


class DeviceError(MmnetError, RuntimeError):
    """No usable phone: none connected, several without a serial, unauthorized, offline, app missing."""


class HarnessRunError(MmnetError, RuntimeError):
    """The app reported a failed or cancelled run, or did not finish in time."""


class ResultError(MmnetError, ValueError):
    """A status/result document from the app, or a harness result, breaks the protocol or its schema."""
