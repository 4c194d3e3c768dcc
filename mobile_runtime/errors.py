"""Error types shared by the whole project.

Bad input or configuration raises a ``ValueError`` subclass whose message names the file, field or
index, the value found and what was expected; bad state raises a ``RuntimeError`` subclass. The CLI
turns every ``MmnetError`` into one line and a non-zero exit code. ``check_number`` is the one
number check the runtime's modules share.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "check_number",
    "MmnetError",
    "ConfigError",
    "DataError",
    "BundleError",
    "ModelError",
    "DependencyError",
]


class MmnetError(Exception):
    """Base class of every error mmnet raises on purpose."""


class ConfigError(MmnetError, ValueError):
    """A configuration field holds a value that is not allowed."""


class DataError(MmnetError, ValueError):
    """A dataset (file, folder, record or array index) is not usable."""


class BundleError(MmnetError, ValueError):
    """A bundle on disk is malformed, fails its schema or its checksums."""


class ModelError(MmnetError, ValueError):
    """A model file cannot be loaded or does not have the expected signature."""


class DependencyError(MmnetError, RuntimeError):
    """An optional dependency needed for the requested operation is not installed."""


def check_number(where: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite real number >= 0 (> 0 when ``positive``), else ConfigError.

    Bools are not numbers here, though Python counts them as ints.
    """
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        raise ConfigError(f"{where} is {value!r}; expected a finite number {'> 0' if positive else '>= 0'}")
    return float(value)

