"""The build's console: progress on the terminal, everything else in the build log.

A build prints from many places a user cannot act on: Beam's and absl's Python loggers, TensorFlow's
C++ logging (straight to file descriptor 2, before any Python code could filter it), and the Beam
worker processes, which inherit the main process's descriptors 1 and 2. :class:`ConsoleCapture`
points descriptors 1 and 2 at a file for the duration of a build, so all of that lands there,
including in every worker started meanwhile; it keeps a stream on the original stderr for the
progress lines.

Until the log's place (inside the work dir, known once the config is read) is given with
:meth:`ConsoleCapture.log_to`, the output goes to a temporary file; ``log_to`` moves it into the log.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, TextIO

__all__ = ["BUILD_LOG", "ConsoleCapture"]

# The build log's name inside the work dir.
BUILD_LOG = "build.log"

_CAPTURED_FDS = (1, 2)


def _flush_python_streams() -> None:
    """Writes buffered in sys.stdout/sys.stderr go where their descriptors point now, not later."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


class ConsoleCapture:
    """Context manager: descriptors 1 and 2 of this process (and of its children) write to a file.

    ``console`` is a line-buffered text stream on the original stderr, for the lines a user should
    see while the capture is on. ``log_path`` is None until :meth:`log_to` names the log.
    """

    def __init__(self) -> None:
        self.console: TextIO | None = None
        self.log_path: Path | None = None
        self._saved_fds: dict[int, int] = {}
        self._target: BinaryIO | None = None

    def __enter__(self) -> ConsoleCapture:
        _flush_python_streams()
        self._saved_fds = {fd: os.dup(fd) for fd in _CAPTURED_FDS}
        self.console = os.fdopen(os.dup(self._saved_fds[2]), "w", buffering=1, encoding="utf-8", errors="replace")
        self._point_at(tempfile.TemporaryFile())
        return self

    def log_to(self, path: Path) -> Path:
        """From here on the output goes to ``path`` (created or emptied), after what came so far."""
        if self._target is None:
            raise RuntimeError("ConsoleCapture.log_to called outside its `with` block")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: the worker processes share this file; each write lands at the end.
        log = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644), "ab", buffering=0)
        _flush_python_streams()
        self._target.seek(0)
        while chunk := self._target.read(1 << 16):
            log.write(chunk)
        self._point_at(log)
        self.log_path = path.resolve()
        return self.log_path

    def __exit__(self, *exc) -> None:
        _flush_python_streams()
        for fd, saved in self._saved_fds.items():
            os.dup2(saved, fd)
            os.close(saved)
        self._saved_fds = {}
        if self._target is not None:
            self._target.close()
            self._target = None
        if self.console is not None:
            self.console.close()
            self.console = None

    def _point_at(self, target: BinaryIO) -> None:
        for fd in _CAPTURED_FDS:
            os.dup2(target.fileno(), fd)
        if self._target is not None:
            self._target.close()
        self._target = target
