"""The network model's modules in a fresh interpreter: they import neither TensorFlow nor the pipeline, and
Pillow only on demand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib.abc
import sys

BLOCKED = {"tensorflow", "tf_keras", "keras", "mmnet.pipeline", "PIL"}


def is_blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if is_blocked(name):
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocker())
import numpy as np
from mmnet.runtime.network import DEFAULT_PROFILES, transfer_latency_ms, upload_bytes
from mmnet.format.device_profile import load_device_profile  # noqa: F401

size = upload_bytes(np.zeros((8, 8, 3), np.uint8), "raw")
transfer_latency_ms(DEFAULT_PROFILES["lte"], size, 100)
print(sorted(m for m in sys.modules if is_blocked(m)))
"""


def test_modules_import_without_tensorflow_or_pillow():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
