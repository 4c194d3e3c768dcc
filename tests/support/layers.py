"""The test layers: which folder a test lives in, and which layers a pytest run covers.

``tests/unit`` runs in a pytest process of its own (its import blocker only sees imports that have
not happened yet, and the other layers import TensorFlow), so a run that would mix it with
``tests/integration`` or ``tests/e2e`` is refused, unless it only collects.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
LAYERS = ("unit", "integration", "e2e")
HOW_TO_RUN = ("`make test` runs tests/unit in its own pytest process, then tests/integration and tests/e2e; "
              "`make test-unit` runs the unit layer alone")


def layer_of(path: Path) -> str | None:
    """The layer of a test file or folder inside one layer, or None."""
    try:
        top = path.resolve().relative_to(TESTS_DIR).parts[:1]
    except ValueError:
        return None
    return top[0] if top and top[0] in LAYERS else None


def layers_of_args(args: Iterable[str], invocation_dir: Path) -> frozenset[str]:
    """The layers that pytest's path arguments (``path`` or ``path::test``) reach into."""
    layers: set[str] = set()
    for arg in args:
        path = (invocation_dir / arg.split("::", 1)[0]).resolve()
        layer = layer_of(path)
        if layer is not None:
            layers.add(layer)
        elif path == TESTS_DIR or TESTS_DIR.is_relative_to(path):
            layers.update(LAYERS)  # tests/ itself or a folder above it
    return frozenset(layers)


def mixes_unit_with_others(layers: frozenset[str]) -> bool:
    return "unit" in layers and len(layers) > 1
