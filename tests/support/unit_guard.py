"""What keeps ``tests/unit`` a unit layer: no processes, no sockets, no TensorFlow, Keras or Beam.

``tests/unit/conftest.py`` installs :class:`HeavyImportBlocker` for the whole unit run and wraps
every unit test in :func:`no_processes_or_sockets`. The blocker only sees imports that have not
happened yet, so the unit layer runs in its own pytest process (``make test-unit``, the first step
of ``make test``) and :func:`already_imported` refuses to start it if a blocked module is loaded.
"""

from __future__ import annotations

import _posixsubprocess
import contextlib
import importlib.abc
import os
import socket
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import pytest

BLOCKED_MODULES = frozenset({
    "tensorflow", "tf_keras", "keras", "apache_beam", "tensorflow_model_optimization", "tensorflow_datasets",
})
MOVE_HINT = "move this test to tests/integration"


class UnitLayerViolation(RuntimeError):
    """A unit test started a process or opened a socket."""


class BlockedImportError(ModuleNotFoundError):
    """A unit test imported TensorFlow, Keras or Beam.

    A ModuleNotFoundError, so code that falls back when an optional package is missing sees the
    runtime-only install; a unit test that skips on it fails instead (see ``tests/unit/conftest.py``).
    """


def blocked_top_level(name: str) -> str | None:
    """The blocked package ``name`` belongs to, or None."""
    top = name.partition(".")[0]
    return top if top in BLOCKED_MODULES else None


def already_imported(modules: Sequence[str]) -> list[str]:
    """The blocked packages among ``modules`` (names as in ``sys.modules``), sorted."""
    return sorted({top for name in modules if (top := blocked_top_level(name)) is not None})


class HeavyImportBlocker(importlib.abc.MetaPathFinder):
    """A meta path finder that refuses the blocked packages and remembers each refusal."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        top = blocked_top_level(fullname)
        if top is None:
            return None
        self.refused.append(fullname)
        raise BlockedImportError(f"unit tests import no {top} (imported {fullname!r}); {MOVE_HINT}", name=fullname)


def fail_skip_on_blocked_import(blocker: HeavyImportBlocker | None, report: Any) -> None:
    """Turn a skip that followed a refused import into a failure, and forget the refusals.

    ``pytest.importorskip("tensorflow")`` would otherwise hide a misplaced unit test as a skip.
    ``report`` is a pytest TestReport or CollectReport.
    """
    if blocker is None or not blocker.refused:
        return
    refused = ", ".join(sorted(set(blocker.refused)))
    blocker.refused.clear()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{report.nodeid} skipped because it imports {refused}; {MOVE_HINT}"


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise UnitLayerViolation(f"unit tests {what}; {MOVE_HINT}")

    return refuse


@contextlib.contextmanager
def no_processes_or_sockets() -> Iterator[None]:
    """Make starting a process and connecting or binding a socket raise UnitLayerViolation."""
    starts_process = _refuse("start no processes")
    opens_socket = _refuse("open no sockets (loopback included)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", starts_process)
        # fork_exec is what subprocess and multiprocessing's spawn and forkserver start methods run.
        patch.setattr(_posixsubprocess, "fork_exec", starts_process)
        for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
            patch.setattr(os, name, starts_process)
        for name in ("connect", "connect_ex", "bind"):
            patch.setattr(socket.socket, name, opens_socket)
        yield
