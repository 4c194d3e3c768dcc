"""The TF-free layers (format, runtime, server) type-check with mypy.

mypy cannot follow the editable install's import hook, so the test lays the namespace out as the
wheel does (symlinks per pyproject.toml's package-dir) and checks the packages there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF_FREE = ("mmnet.format", "mmnet.runtime", "mmnet.server")

pytest.importorskip("mypy", reason="mypy is part of the dev extra")


def namespace_tree(into: Path) -> Path:
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    for name, folder in sorted(package_dir.items(), key=lambda item: item[0].count(".")):
        target = into.joinpath(*name.split("."))
        if name == "mmnet":
            target.mkdir(parents=True)
            for entry in (ROOT / folder).iterdir():
                (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(ROOT / folder, target_is_directory=True)
    return into


def test_tf_free_layers_type_check(tmp_path):
    tree = namespace_tree(tmp_path / "tree")
    packages = [arg for name in TF_FREE for arg in ("-p", name)]
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(tmp_path / "cache"), *packages],
                          cwd=tree, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "Success" in done.stdout
