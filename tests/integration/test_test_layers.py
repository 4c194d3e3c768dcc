"""The test layers keep apart: pytest refuses to run tests/unit in a process shared with another layer,
or after TensorFlow is imported, and says how to run them instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT_FILE = "tests/unit/test_unit_guard.py"
OTHER_FILE = "tests/integration/test_selector.py"


def _pytest(*args: str, before: str = "") -> subprocess.CompletedProcess:
    script = f"import sys, pytest\n{before}\nsys.exit(pytest.main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_a_run_mixing_the_unit_layer_with_another_is_refused():
    done = _pytest(UNIT_FILE, OTHER_FILE)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "this run mixes tests/unit with tests/integration; the unit layer runs in a pytest process of its own: " \
           "`make test` runs tests/unit in its own pytest process" in done.stderr


def test_collecting_every_layer_at_once_is_fine():
    done = _pytest("--collect-only", UNIT_FILE, OTHER_FILE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{UNIT_FILE}::test_the_blocker_comes_first_and_nothing_blocked_is_loaded" in done.stdout
    assert f"{OTHER_FILE}::test_selector_imports_without_tensorflow" in done.stdout


def test_a_unit_run_after_tensorflow_is_imported_is_refused():
    # A stand-in module under TensorFlow's name: the guard goes by what sys.modules holds.
    done = _pytest(UNIT_FILE, before="import types; sys.modules['tensorflow'] = types.ModuleType('tensorflow')")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "tensorflow is imported before the unit tests start, so their import blocker would be moot" in done.stderr


def test_the_unit_layer_alone_runs_guarded():
    done = _pytest(UNIT_FILE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
