"""The mmnet version, recorded in every bundle and harness result."""

__version__ = "0.1.0"
