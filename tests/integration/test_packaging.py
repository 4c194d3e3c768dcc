"""The wheel holds the mmnet namespace and its data files, and no tests, test doubles or dev tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    # A copy of the sources: setuptools' build/ folder would otherwise carry files deleted since the last build.
    source = tmp_path_factory.mktemp("source") / "mmnet"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "bundles", "*.egg-info",
                                                                  "__pycache__", ".*.work", "results"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list(out.glob("mmnet-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.namelist()


def test_wheel_has_one_namespace(wheel_files):
    tops = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"mmnet"}


def test_wheel_holds_every_layer_and_schema(wheel_files):
    for expected in ("mmnet/format/bundle.py", "mmnet/runtime/runtime.py", "mmnet/pipeline/build.py",
                     "mmnet/benchmarks/bench.py", "mmnet/harness/driver.py", "mmnet/cli/main.py",
                     "mmnet/format/schemas/manifest.schema.json", "mmnet/format/schemas/runtime_config.schema.json",
                     "mmnet/harness/schemas/app_result.schema.json",
                     "mmnet/benchmarks/schemas/bench_results.schema.json",
                     "mmnet/pipeline/sieve/schemas/sieve_search.schema.json"):
        assert expected in wheel_files
    assert any(name.startswith("mmnet/server/") and name.endswith(".py") for name in wheel_files)


def test_wheel_ships_no_test_doubles_or_dev_tools(wheel_files):
    shipped = [n for n in wheel_files if "fake_adb" in n or "parity" in n or "/testing/" in n or n.startswith("tests/")]
    assert not shipped
