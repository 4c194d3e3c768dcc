"""Error types shared by the whole project.

Bad input or configuration raises a ``ValueError`` subclass whose message names the file, field or
index, the value found and what was expected; bad state raises a ``RuntimeError`` subclass. The CLI
turns every ``MmnetError`` into one line and a non-zero exit code.
"""

from __future__ import annotations

__all__ = [
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
