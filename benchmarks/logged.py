"""A benchmark's main with its details in a log file and a one-line error on the console."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from mmnet.format.errors import MmnetError

__all__ = ["run_logged"]


def run_logged(name: str, out: Path, work: Callable[[], object]) -> int:
    """Runs ``work`` with logging to ``out/<name>.log``; returns 0, or 2 after printing one line that
    names the error and the log (the traceback goes to the log)."""
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"{name}.log"
    logging.basicConfig(level=logging.INFO, handlers=[logging.FileHandler(log_path, mode="w", encoding="utf-8")],
                        force=True)
    try:
        work()
    except (MmnetError, ValueError, OSError) as e:
        logging.getLogger(f"mmnet.benchmarks.{name}").error("failed:\n%s", traceback.format_exc())
        print(f"{name}: error: {e} (details: {log_path})", file=sys.stderr)
        return 2
    return 0
