"""The model the server runs and the pool of interpreters that run it.

``TFLiteClassifier`` is not thread-safe, and LiteRT's ``invoke()`` releases the GIL. The pool keeps
``size`` classifiers (one single-threaded interpreter each) in a queue; a call owns one for its
whole batch, so ``size`` frames run in parallel on ``size`` cores. Chosen over one interpreter
behind a lock, which serialises every inference on one core, and over one interpreter per request,
which would re-load the model each time. The cost is ``size`` copies of the master's tensors in
memory (a few MB each for the bundle's MobileNets).
"""

from __future__ import annotations

import logging
import queue
from pathlib import Path

import numpy as np

from mmnet.format.bundle import Bundle, ModelRecord
from mmnet.format.checks import check_int, check_number
from mmnet.format.errors import BundleError, MmnetError
from mmnet.runtime.interpreter import TFLiteClassifier, check_model_file

__all__ = ["InterpretersBusy", "MasterPool", "select_master"]

logger = logging.getLogger(__name__)


class InterpretersBusy(MmnetError, RuntimeError):
    """No interpreter of the pool became free in time (the server answers 503)."""


def select_master(bundle: Bundle, model_id: str | None = None) -> ModelRecord:
    """The model the server runs: ``model_id``, else the runtime config's master, else the only
    blessed master of the bundle; BundleError if its file does not take the input and give the
    outputs the manifest records."""
    if model_id is not None:
        record = bundle.model(model_id)
    elif bundle.runtime_config is not None:
        record = bundle.model(bundle.runtime_config.master_model)
    else:
        masters = bundle.blessed("master")
        if len(masters) != 1:
            raise BundleError(
                f"bundle {bundle.path} has no runtime_config and {len(masters)} blessed masters "
                f"{[m.id for m in masters]}; expected exactly one, or pass the master's model id"
            )
        record = masters[0]
        logger.warning(
            "bundle %s has no runtime_config; serving its only blessed master %s", bundle.path, record.id
        )
    if not record.shipped:
        raise BundleError(f"master {record.id!r} of bundle {bundle.path} is not shipped: {record.reason}")
    check_model_file(TFLiteClassifier(bundle.model_path(record.id)), record.id, resolution=record.resolution,
                     channels=bundle.preprocessing.channels, num_classes=bundle.num_classes)
    return record


class MasterPool:
    """``size`` independent classifiers of one model file; each call owns one for its duration."""

    def __init__(self, path: Path, size: int, *, acquire_timeout_s: float) -> None:
        check_int("MasterPool.size", size, low=1)
        self.size = size
        self.acquire_timeout_s = check_number("MasterPool.acquire_timeout_s", acquire_timeout_s, positive=True)
        self._free: queue.Queue[TFLiteClassifier] = queue.Queue(maxsize=size)
        classifiers = [TFLiteClassifier(path, num_threads=1) for _ in range(size)]
        for classifier in classifiers:
            # One warm-up run each: a loaded pool is a pool that has produced a prediction.
            classifier.predict(np.zeros((1, *classifier.input_shape), dtype=np.float32))
            self._free.put_nowait(classifier)
        self.input_shape = classifiers[0].input_shape
        self.num_classes = classifiers[0].num_classes

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """``TFLiteClassifier.predict`` on a free classifier; :class:`InterpretersBusy` when none
        frees up within ``acquire_timeout_s``."""
        try:
            classifier = self._free.get(timeout=self.acquire_timeout_s)
        except queue.Empty as e:
            raise InterpretersBusy(
                f"no interpreter became free within {self.acquire_timeout_s:g} s; retry later"
            ) from e
        try:
            return classifier.predict(batch)
        finally:
            self._free.put_nowait(classifier)
