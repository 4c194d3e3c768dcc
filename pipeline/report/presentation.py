"""How the report states things: number formats, the metric's name and the order of modes and profiles.

Shared by the page, its plots and the model card so the three say the same thing the same way.
A number that is absent or not finite reads ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mmnet.format.checks import is_int, is_real
from mmnet.format.runtime_config import MODES

__all__ = [
    "Words",
    "is_finite",
    "pct",
    "points",
    "ms",
    "mj",
    "num",
    "ratio",
    "mode_name",
    "ordered_modes",
    "profiles",
]


@dataclass(frozen=True)
class Words:
    """The metric's name: "accuracy" against labels, "agreement with the master" when unlabeled."""

    unlabeled: bool

    @classmethod
    def for_reference(cls, reference: str) -> Words:
        """Words for the report data's ``reference`` (``labels`` or ``master``)."""
        return cls(unlabeled=reference == "master")

    @property
    def metric(self) -> str:
        return "agreement with the master" if self.unlabeled else "accuracy"

    @property
    def short(self) -> str:
        return "agreement" if self.unlabeled else "accuracy"

    @property
    def short_capitalized(self) -> str:
        return self.short.capitalize()


def is_finite(value: Any) -> bool:
    return is_real(value) and math.isfinite(value)


def pct(value: Any, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}%" if is_finite(value) else "n/a"


def points(value: Any) -> str:
    return f"{100 * value:+.2f} points" if is_finite(value) else "n/a"


def ms(value: Any) -> str:
    if not is_finite(value):
        return "n/a"
    return f"{value:.2f} ms" if abs(value) < 100 else f"{value:.1f} ms"


def mj(value: Any) -> str:
    if not is_finite(value):
        return "n/a"
    return f"{value:.2f} mJ" if abs(value) < 100 else f"{value:.1f} mJ"


def num(value: Any, digits: int = 3) -> str:
    """An integer with thousands separators, a float to ``digits`` significant digits, text as is."""
    if value is None:
        return "n/a"
    if not is_real(value):
        return str(value)
    if is_int(value):
        return f"{int(value):,}"
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def ratio(base: Any, value: Any) -> str:
    """How many times smaller ``value`` is than ``base`` ("4.0x less"), or larger."""
    if not (is_finite(base) and is_finite(value)) or base <= 0 or value <= 0:
        return "n/a"
    return f"{base / value:.1f}x less" if value <= base else f"{value / base:.1f}x more"


def mode_name(mode: str) -> str:
    return mode.replace("_", "-")


def ordered_modes(modes: Iterable[str]) -> list[str]:
    """The runtime's modes in their usual order, then any others as given."""
    modes = list(modes)
    return [m for m in MODES if m in modes] + [m for m in modes if m not in MODES]


def profiles(data: Mapping) -> list[str]:
    """Network profiles in a stable order: as the selection lists them, then any others seen."""
    seen: list[str] = []
    for source in (data["selection"], data["placement"], data["network_profiles"],
                   [c["profile"] for c in data["candidates"]]):
        for name in source:
            if name not in seen:
                seen.append(name)
    return seen
