"""How the per-layer latency regression is measured: :class:`LatencyModelConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from mmnet.format.checks import check_bool, check_int, fail

__all__ = ["LATENCY_PRECISIONS", "LatencyModelConfig"]

# The arithmetic an op runs in; float16 models run float32 kernels (see the package docstring).
LATENCY_PRECISIONS = ("float32", "int8")


@dataclass(frozen=True)
class LatencyModelConfig:
    """How the per-layer latency regression is measured.

    ``samples_per_type`` single-layer configurations are drawn per layer type with MACs (Conv2D,
    DepthwiseConv2D, Dense) and precision; the element-wise types, whose cost is affine in their
    size, get a third as many (at least 2). ``runs`` timed invokes (median) follow ``warmup``
    untimed ones for every single-layer model.
    """

    enabled: bool = True
    precisions: tuple[str, ...] = LATENCY_PRECISIONS
    samples_per_type: int = 24
    runs: int = 30
    warmup: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        check_bool("latency_model.enabled", self.enabled)
        if not isinstance(self.precisions, tuple) or not self.precisions:
            raise fail("latency_model.precisions", self.precisions, "a non-empty tuple of precisions")
        for i, precision in enumerate(self.precisions):
            if precision not in LATENCY_PRECISIONS:
                raise fail(f"latency_model.precisions[{i}]", precision,
                           f"one of {list(LATENCY_PRECISIONS)} (float16 models run float32 kernels and are "
                           "predicted from float32)")
        if len(set(self.precisions)) != len(self.precisions):
            raise fail("latency_model.precisions", self.precisions, "no precision twice")
        check_int("latency_model.samples_per_type", self.samples_per_type, low=1, high=1_000)
        check_int("latency_model.runs", self.runs, low=1, high=100_000)
        check_int("latency_model.warmup", self.warmup, low=0, high=10_000)
        check_int("latency_model.seed", self.seed, low=0, high=2**32 - 1)
