"""The real models and photos (``../shared/data`` beside the repository, or ``$MMNET_SHARED_DATA``) and
the ``mmnet`` commands the tests run on them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORAL_CONFIG = REPO / "configs" / "coral-imagenet.yaml"
_NEEDED = ("coral-imagenet/mobilenet_v2_1.0_224_quant.tflite", "coral-imagenet/imagenet_labels.txt",
           "wnids.txt", "imagenet-sample-a")


def shared_data() -> Path:
    """The data root, or a skip naming where it was looked for and what it must hold."""
    root = Path(os.environ.get("MMNET_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not all((root / name).exists() for name in _NEEDED):
        pytest.skip(f"real models and photos not found in {root} (expected {', '.join(_NEEDED)}; set "
                    "$MMNET_SHARED_DATA to the data root, see configs/coral-imagenet.yaml)", allow_module_level=True)
    return root


def mmnet(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m mmnet ARGS`` from the repository root, with the data root in ``$MMNET_SHARED_DATA``."""
    env = {**os.environ, "MMNET_SHARED_DATA": str(shared_data())}
    return subprocess.run([sys.executable, "-m", "mmnet", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


def build(config: Path, out: Path) -> float:
    """Builds ``config`` into ``out`` (no training in the real-models configs) and returns the seconds it took."""
    started = time.monotonic()
    done = mmnet("build", "--config", str(config), "--out", str(out), "--quiet")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\n{config.name}: built in {seconds:.0f} s")
    return seconds
