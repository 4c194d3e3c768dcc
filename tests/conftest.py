import os

import pytest

from tests.support.layers import HOW_TO_RUN, layer_of, layers_of_args, mixes_unit_with_others

# tensorflow-model-optimization needs Keras 2: this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config: pytest.Config) -> None:
    layers = layers_of_args(config.args, config.invocation_params.dir)
    if mixes_unit_with_others(layers) and not config.option.collectonly:
        others = ", ".join(f"tests/{layer}" for layer in sorted(layers - {"unit"}))
        raise pytest.UsageError(f"this run mixes tests/unit with {others}; the unit layer runs in a pytest process of "
                                f"its own: {HOW_TO_RUN}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer (``-m unit``, ``-m "not e2e"``); a test outside the layers is an error."""
    for item in items:
        layer = layer_of(item.path)
        if layer is None:
            raise pytest.UsageError(f"{item.nodeid} is in no test layer; put it in tests/unit, tests/integration or tests/e2e")
        item.add_marker(layer)
