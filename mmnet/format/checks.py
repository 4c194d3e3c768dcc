"""Field checks shared by every layer: one helper per kind of value and one message style.

Every failed check raises ``error`` (a :class:`ConfigError` unless the caller names another
``MmnetError``) reading ``"<where> is <value!r>; expected <what>"``, where ``where`` names the
field by its dotted path (``training.augmentation.zoom``), or the file and the field
(``device_profile.json: $.models[2].latency_ms``), or the argument (``--port``):

    training.augmentation.zoom is 0.7; expected a finite number in [0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Literal, overload

import numpy as np

from mmnet.format.errors import ConfigError, MmnetError

__all__ = ["is_int", "is_real", "check_number", "check_int", "check_text", "check_choice", "check_bool", "fail"]


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real number (Python or numpy int or float), not a bool. NaN and infinities count."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def fail(where: str, value: Any, expected: str, error: type[MmnetError] = ConfigError) -> MmnetError:
    """The error of the house style, for checks this module has no helper for: ``raise fail(...)``."""
    return error(f"{where} is {value!r}; expected {expected}")


def _bound(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"  # ints in full: 10000000, not 1e+07


def _range(kind: str, low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {_bound(low)}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {_bound(high)}"
    return kind


@overload
def check_number(where: str, value: Any, *, positive: bool = ..., low: float | None = ..., high: float | None = ...,
                 low_open: bool = ..., high_open: bool = ..., nullable: Literal[False] = ...,
                 error: type[MmnetError] = ...) -> float: ...
@overload
def check_number(where: str, value: Any, *, positive: bool = ..., low: float | None = ..., high: float | None = ...,
                 low_open: bool = ..., high_open: bool = ..., nullable: bool,
                 error: type[MmnetError] = ...) -> float | None: ...


def check_number(
    where: str,
    value: Any,
    *,
    positive: bool = False,
    low: float | None = 0.0,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    nullable: bool = False,
    error: type[MmnetError] = ConfigError,
) -> float | None:
    """``value`` as a float if it is a finite real number within the bounds, else ``error``.

    The default range is ``>= 0``; ``positive`` means ``> 0``; ``low=None`` drops the lower bound.
    Bools are not numbers here, though Python counts them as ints. ``nullable`` lets None through.
    """
    if nullable and value is None:
        return None
    if positive:
        low, low_open = (0.0 if low is None else low), True
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        expected = _range("a finite number", low, high, low_open, high_open)
        raise fail(where, value, expected + (" or None" if nullable else ""), error)
    return float(value)


@overload
def check_int(where: str, value: Any, *, low: int | None = ..., high: int | None = ..., nullable: Literal[False] = ...,
              error: type[MmnetError] = ...) -> int: ...
@overload
def check_int(where: str, value: Any, *, low: int | None = ..., high: int | None = ..., nullable: bool,
              error: type[MmnetError] = ...) -> int | None: ...


def check_int(
    where: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    nullable: bool = False,
    error: type[MmnetError] = ConfigError,
) -> int | None:
    """``value`` as an int if it is an integer (not a bool) in ``[low, high]``, else ``error``."""
    if nullable and value is None:
        return None
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise fail(where, value, _range("an int", low, high, False, False) + (" or None" if nullable else ""), error)
    return int(value)


@overload
def check_text(where: str, value: Any, *, nullable: Literal[False] = ..., error: type[MmnetError] = ...) -> str: ...
@overload
def check_text(where: str, value: Any, *, nullable: bool, error: type[MmnetError] = ...) -> str | None: ...


def check_text(where: str, value: Any, *, nullable: bool = False, error: type[MmnetError] = ConfigError) -> str | None:
    """``value`` if it is a non-empty string, else ``error``."""
    if nullable and value is None:
        return None
    if not isinstance(value, str) or not value:
        raise fail(where, value, "a non-empty string" + (" or None" if nullable else ""), error)
    return value


def check_choice(where: str, value: Any, choices: Collection[Any], *, error: type[MmnetError] = ConfigError) -> Any:
    """``value`` if it is one of ``choices``, else ``error`` listing them."""
    if isinstance(value, bool) or value not in choices:
        raise fail(where, value, f"one of {list(choices)!r}", error)
    return value


def check_bool(where: str, value: Any, *, error: type[MmnetError] = ConfigError) -> bool:
    """``value`` if it is a bool (not 0 or 1), else ``error``."""
    if value is not True and value is not False:
        raise fail(where, value, "true or false", error)
    return value
