"""The ``mmnet`` command, on top of every other layer."""

from mmnet.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
