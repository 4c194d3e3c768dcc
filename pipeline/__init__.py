"""The mmnet build pipeline: dataset -> trained master and minions -> validated TFLite bundle.

The names below are loaded on first use, so ``import mmnet.pipeline`` stays cheap (TensorFlow and Beam
are imported only by the stages that need them).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BuildConfig": "mmnet.pipeline.config",
    "load_config": "mmnet.pipeline.config",
    "config_from_mapping": "mmnet.pipeline.config",
    "run_build": "mmnet.pipeline.build",
    "BuildResult": "mmnet.pipeline.build",
    "BuildError": "mmnet.pipeline.bundle",
    "DatasetConfig": "mmnet.pipeline.datasets.config",
    "load_dataset": "mmnet.pipeline.datasets.loaders",
    "split_dataset": "mmnet.pipeline.datasets.split",
    "fingerprint": "mmnet.pipeline.datasets.dataset",
    "VariantSpec": "mmnet.pipeline.zoo.spec",
    "build_model": "mmnet.pipeline.zoo.registry",
    "keras_model_costs": "mmnet.pipeline.zoo.costs",
    "tflite_model_costs": "mmnet.pipeline.zoo.costs",
    "parity_gate": "mmnet.pipeline.evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mmnet.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
