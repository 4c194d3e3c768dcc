"""Every third-party package the shipped code imports is declared in pyproject.toml and pinned."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

from tests.unit.test_layers import MODULES, ROOT

# Imported only where they exist, each behind an ImportError that names the extra to install.
OPTIONAL_BACKENDS = {
    "tflite_runtime",  # an alternative LiteRT interpreter (mmnet.runtime.interpreter)
    "tensorflow_lite_support",  # the TFLite metadata writer, installed by `make setup` with --no-deps
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_name(r) for r in project["dependencies"]}
    for requirements in project["optional-dependencies"].values():
        names |= {_name(r) for r in requirements if not r.startswith("mmnet[")}
    return names


def imported_top_levels() -> dict[str, str]:
    found = {}
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("mmnet", "android_harness", "__future__"):
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_package_is_declared():
    distributions = metadata.packages_distributions()
    wanted = declared()
    undeclared = []
    for top, where in sorted(imported_top_levels().items()):
        if top in OPTIONAL_BACKENDS:
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
        if not owners & wanted:
            undeclared.append(f"{top} (imported at {where}; installed by {sorted(owners) or 'nothing'})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)


def test_every_declared_package_is_pinned():
    pins = {_name(line) for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")}
    assert not declared() - pins, f"declared but not pinned in constraints.txt: {sorted(declared() - pins)}"


def test_the_check_sees_an_import():
    assert {"numpy", "jsonschema", "yaml"} <= set(imported_top_levels())
