"""Names of zoo variants: a family with a width multiplier (alpha) and an input resolution (rho).

A :class:`VariantSpec` is the identity of a trained model; its :attr:`VariantSpec.name` (e.g.
``mobilenet_v2-a0.50-r24``) and :meth:`VariantSpec.artifact_id` (``mobilenet_v2-a0.50-r24-int8``)
name files and bundle entries, so a name must map back to exactly one spec: alpha is therefore
limited to two decimal places, the precision the name encodes.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from mmnet.format.errors import ConfigError
from mmnet.pipeline.zoo.families import FAMILIES

__all__ = ["PRECISIONS", "VariantSpec"]

PRECISIONS = ("float32", "float16", "int8")

_ALPHA_MAX = 4.0
_RESOLUTION_MIN = 8
_RESOLUTION_MAX = 1024
_NAME = re.compile(r"(?P<family>[a-z0-9_]+)-a(?P<alpha>\d+\.\d{2})-r(?P<resolution>\d+)")


@dataclass(frozen=True, order=True)
class VariantSpec:
    """One variant of a zoo family: ``alpha`` scales every layer's width, ``resolution`` the input."""

    family: str
    alpha: float
    resolution: int

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")

        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise ConfigError(f"alpha must be a number, got {alpha!r}")
        if not (0 < alpha <= _ALPHA_MAX):  # also rejects NaN
            raise ConfigError(f"alpha must be in (0, {_ALPHA_MAX:g}], got {alpha!r}")
        if not math.isclose(alpha, round(alpha, 2), rel_tol=0.0, abs_tol=1e-9):
            raise ConfigError(f"alpha must have at most 2 decimal places (names encode it as a0.50), got {alpha!r}")
        # Normalised so that equal names mean equal specs (0.1 + 0.2 == 0.3, numpy floats == floats).
        object.__setattr__(self, "alpha", round(float(alpha), 2))

        resolution = self.resolution
        if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral):
            raise ConfigError(f"resolution must be an integer, got {resolution!r}")
        if not _RESOLUTION_MIN <= resolution <= _RESOLUTION_MAX:
            raise ConfigError(f"resolution must be in [{_RESOLUTION_MIN}, {_RESOLUTION_MAX}], got {resolution}")
        object.__setattr__(self, "resolution", int(resolution))

    @property
    def name(self) -> str:
        """``{family}-a{alpha:.2f}-r{resolution}``, e.g. ``mobilenet_v2-a0.50-r24``."""
        return f"{self.family}-a{self.alpha:.2f}-r{self.resolution}"

    def artifact_id(self, precision: str) -> str:
        """The id of this variant's model at ``precision``, e.g. ``mobilenet_v2-a0.50-r24-int8``."""
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        return f"{self.name}-{precision}"

    @classmethod
    def parse(cls, name: str) -> VariantSpec:
        """The spec whose :attr:`name` is ``name``; raises ConfigError for anything else."""
        match = _NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            raise ConfigError(
                f"variant name must look like 'mobilenet_v2-a0.50-r24' (family-a<alpha>-r<resolution>), got {name!r}"
            )
        spec = cls(match["family"], float(match["alpha"]), int(match["resolution"]))
        if spec.name != name:  # e.g. 'r024' or 'a00.50': not the canonical spelling
            raise ConfigError(f"variant name {name!r} is not canonical; expected {spec.name!r}")
        return spec
