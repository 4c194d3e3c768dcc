"""The pruning stage's settings: a frozen dataclass that validates itself (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

from mmnet.format.checks import check_choice, check_int, check_number
from mmnet.pipeline.pruning.scores import IMPORTANCE_METRICS

__all__ = ["PRUNING_BASELINES", "PRUNING_METHODS", "PruningConfig"]

# snip: masks from the initialised network, then trained (Lee et al. 2019);
# local_random: SNIP's per-layer budgets, random connections (lines 1699-1701 of the dissertation);
# double_shot: SNIP's budgets, connections by an importance metric of the trained dense network;
# channels: whole output channels removed by the summed importance (a smaller dense network).
PRUNING_METHODS = ("snip", "local_random", "double_shot", "channels")
PRUNING_BASELINES = ("snip", "local_random")  # what double-shot is compared with at equal sparsity


@dataclass(frozen=True)
class PruningConfig:
    """How to prune one network.

    ``sparsity`` is the global fraction of Conv2D/Dense kernel weights removed (unstructured
    methods); ``channel_keep`` the fraction of output channels every Conv2D/Dense layer but the
    classifier keeps (``channels``). ``snip_batch`` is the size of SNIP's one minibatch. The
    retraining (``epochs``, ``batch_size``, ``learning_rate``, Adam) is the same for every method
    and for the dense network, as the dissertation trains both "in the standard way" (line 1715).
    """

    method: str = "double_shot"
    sparsity: float = 0.9
    metric: str = "weighted_movement"
    channel_keep: float = 0.5
    snip_batch: int = 100
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("pruning.method", self.method, PRUNING_METHODS)
        check_number("pruning.sparsity", self.sparsity, low=0.0, high=1.0, high_open=True)
        check_choice("pruning.metric", self.metric, IMPORTANCE_METRICS)
        check_number("pruning.channel_keep", self.channel_keep, positive=True, high=1.0)
        check_int("pruning.snip_batch", self.snip_batch, low=1, high=65_536)
        check_int("pruning.epochs", self.epochs, low=1, high=10_000)
        check_int("pruning.batch_size", self.batch_size, low=1, high=65_536)
        check_number("pruning.learning_rate", self.learning_rate, positive=True, high=10.0)
        check_int("pruning.seed", self.seed, low=0, high=2**31 - 1)

    @property
    def label(self) -> str:
        """A short name for tables: ``snip``, ``local_random``, ``double_shot:weighted_movement``, ``channels:...``."""
        return f"{self.method}:{self.metric}" if self.method in ("double_shot", "channels") else self.method
