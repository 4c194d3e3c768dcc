"""The timer: the median invoke time of one .tflite model (:class:`Timer`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mmnet.runtime.interpreter import load_interpreter

__all__ = ["Timer"]


class Timer:
    """Median invoke time of a .tflite model, timed like :func:`mmnet.runtime.interpreter.measure_latency`:
    one thread, XNNPACK, one random input set once (a model's time does not depend on its values)."""

    def __init__(self, path: Path, rng: np.random.Generator) -> None:
        self._interpreter = load_interpreter(path, num_threads=1, use_xnnpack=True)
        detail = self._interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        if dtype == np.float32:
            x = rng.standard_normal(detail["shape"]).astype(np.float32)
        else:
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max + 1, detail["shape"]).astype(dtype)
        self._interpreter.set_tensor(detail["index"], x)

    def median_ms(self, warmup: int, runs: int) -> float:
        """The median of ``runs`` timed invokes after ``warmup`` untimed ones, in milliseconds."""
        invoke = self._interpreter.invoke
        for _ in range(warmup):
            invoke()
        times = np.empty(runs)
        for i in range(runs):
            start = time.perf_counter()
            invoke()
            times[i] = time.perf_counter() - start
        return float(np.median(times)) * 1000.0
