"""Where the real models and photos are (``../shared/data`` beside the repository, or ``$MMNET_SHARED_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORAL_CONFIG = REPO / "configs" / "coral-imagenet.yaml"
_NEEDED = ("coral-imagenet/mobilenet_v2_1.0_224_quant.tflite", "coral-imagenet/imagenet_labels.txt",
           "wnids.txt", "imagenet-sample-a")


def shared_data() -> Path:
    """The data root, or a module-level skip naming where it was looked for and what it must hold."""
    root = Path(os.environ.get("MMNET_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not all((root / name).exists() for name in _NEEDED):
        pytest.skip(f"real models and photos not found in {root} (expected {', '.join(_NEEDED)}; set "
                    "$MMNET_SHARED_DATA to the data root, see configs/coral-imagenet.yaml)", allow_module_level=True)
    return root
