"""The house's layers point only down (BUILD.md, "Layers"), read from every module's imports.

Every ``import`` and ``from ... import`` in the shipped code, at module level or inside a function,
is resolved to an mmnet module and checked against the layer order below. The TF-free layers must
not name TensorFlow, Keras, Beam or scikit-learn anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Folder -> import name: the package-dir mapping of pyproject.toml.
FOLDERS = {
    "mmnet": "mmnet",
    "mobile_runtime": "mmnet.runtime",
    "pipeline": "mmnet.pipeline",
    "benchmarks": "mmnet.benchmarks",
    "android_harness/host": "mmnet.harness",
    "android_harness/parity": "android_harness.parity",  # a dev tool beside the harness host, not shipped
}

# Lowest first. A module may import its own layer's package and any lower layer; peers on one rank
# (benchmarks, the harness host) do not import each other.
LAYERS = [
    ("format", ("mmnet.format",), 0),
    ("runtime", ("mmnet.runtime",), 1),
    ("server", ("mmnet.server",), 2),
    ("pipeline", ("mmnet.pipeline",), 3),
    ("benchmarks", ("mmnet.benchmarks",), 4),
    ("harness", ("mmnet.harness", "android_harness.parity"), 4),
    ("commands", ("mmnet.cli", "mmnet.__main__"), 5),
]
TF_FREE = {"format", "runtime", "server"}
HEAVY = ("tensorflow", "tf_keras", "keras", "apache_beam", "sklearn", "tensorflow_model_optimization", "scipy")


def layer_of(module: str) -> tuple[str, int]:
    if module == "mmnet":  # the root package: the version, nothing else
        return "format", 0
    for name, prefixes, rank in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name, rank
    raise AssertionError(f"{module} is in no layer; add its package to LAYERS and to BUILD.md's layer picture")


def shipped_modules() -> dict[str, Path]:
    modules = {}
    for folder, package in FOLDERS.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if folder == "mmnet" and parts[:1] in (["runtime"], ["pipeline"], ["benchmarks"], ["harness"]):
                raise AssertionError(f"{path}: mmnet/{parts[0]} would shadow the folder mapped to mmnet.{parts[0]}")
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from mmnet import runtime` imports the subpackage mmnet.runtime
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if target.startswith("mmnet") and alias.name != "*"]
    return found


MODULES = shipped_modules()


def test_every_folder_of_the_mapping_holds_modules():
    for package in set(FOLDERS.values()):
        assert any(m == package or m.startswith(package + ".") for m in MODULES), package
    assert len(MODULES) > 60


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    path = MODULES[module]
    layer, rank = layer_of(module)
    wrong = []
    for line, target in sorted(set(imports_of(path, module))):
        if target.split(".")[0] in HEAVY and layer in TF_FREE:
            wrong.append(f"{path.relative_to(ROOT)}:{line}: the TF-free {layer} layer imports {target}")
        if not (target == "mmnet" or target.startswith(("mmnet.", "android_harness."))):
            continue
        while target not in MODULES and "." in target:
            target = target.rpartition(".")[0]  # `from mmnet.format.bundle import Bundle`: Bundle is a name
        other, other_rank = layer_of(target)
        if other_rank > rank or (other_rank == rank and other != layer):
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {layer} imports {target} ({other})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from mmnet.pipeline.config import BuildConfig\n    import tensorflow\n")
    targets = [t for _, t in imports_of(bad, "mmnet.runtime.bad")]
    assert "mmnet.pipeline.config" in targets and "tensorflow" in targets
    assert layer_of("mmnet.pipeline.config")[1] > layer_of("mmnet.runtime.bad")[1]
