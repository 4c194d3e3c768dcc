"""The manifest's ``preprocessing`` contract: how raw frames become model input.

A frame is a raw camera/dataset image in pixel units (0..255). A model of resolution ``r`` takes
``(resize(frame, r) - mean) / std`` with per-channel mean and std in pixel units;
:mod:`mmnet.runtime.preprocessing` carries it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mmnet.format.checks import is_int, is_real
from mmnet.format.errors import BundleError, ConfigError

__all__ = ["RESIZE_METHODS", "RESIZE_POLICIES", "PreprocessingSpec"]

RESIZE_METHODS = ("bilinear", "nearest")
# How an image of another size becomes a frame of ``frame_shape``
# (mmnet.runtime.preprocessing.conform_frame): the largest centred box of the frame's aspect ratio,
# or the whole image with its aspect ratio changed.
RESIZE_POLICIES = ("center_crop", "squash")

_SPEC_KEYS = ("frame_shape", "frame_dtype", "mean", "std", "resize_method", "resize_policy")
_OPTIONAL_KEYS = {"resize_policy": "squash"}  # bundles written before the key existed squashed


@dataclass(frozen=True)
class PreprocessingSpec:
    """How raw frames become model input; mirrors ``manifest["preprocessing"]``.

    ``frame_shape`` is the (H, W, C) of recorded frames; ``mean`` and ``std`` hold one value per
    channel in pixel units (0..255). ``resize_method`` resizes a frame to each model's resolution;
    ``resize_policy`` conforms images of any other size to ``frame_shape`` first.
    """

    frame_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_method: str = "bilinear"
    resize_policy: str = "squash"

    def __post_init__(self) -> None:
        shape = self.frame_shape
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != 3
            or not all(is_int(v) and v >= 1 for v in shape)
        ):
            raise ConfigError(
                f"PreprocessingSpec.frame_shape is {shape!r}; "
                "expected three positive ints (H, W, C)"
            )
        channels = int(shape[2])
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not all(is_real(v) for v in values):
                raise ConfigError(
                    f"PreprocessingSpec.{name} is {values!r}; expected a sequence of numbers"
                )
            if len(values) != channels:
                raise ConfigError(
                    f"PreprocessingSpec.{name} has {len(values)} values {tuple(values)!r}; "
                    f"expected one per channel ({channels})"
                )
            if not all(math.isfinite(v) for v in values):
                raise ConfigError(
                    f"PreprocessingSpec.{name} is {tuple(values)!r}; expected finite numbers"
                )
        if not all(v > 0 for v in self.std):
            raise ConfigError(
                f"PreprocessingSpec.std is {tuple(self.std)!r}; expected every value > 0"
            )
        if self.resize_method not in RESIZE_METHODS:
            raise ConfigError(
                f"PreprocessingSpec.resize_method is {self.resize_method!r}; "
                f"expected one of {list(RESIZE_METHODS)}"
            )
        if self.resize_policy not in RESIZE_POLICIES:
            raise ConfigError(
                f"PreprocessingSpec.resize_policy is {self.resize_policy!r}; "
                f"expected one of {list(RESIZE_POLICIES)}"
            )
        # Normalise lists/numpy scalars so equality and hashing behave.
        object.__setattr__(self, "frame_shape", tuple(int(v) for v in shape))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def channels(self) -> int:
        return self.frame_shape[2]

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``preprocessing`` object."""
        return {
            "frame_shape": list(self.frame_shape),
            "frame_dtype": "uint8",
            "mean": list(self.mean),
            "std": list(self.std),
            "resize_method": self.resize_method,
            "resize_policy": self.resize_policy,
        }

    @classmethod
    def from_json(cls, doc: Any) -> PreprocessingSpec:
        """Parse a manifest ``preprocessing`` object; BundleError when it is malformed."""
        if not isinstance(doc, dict):
            raise BundleError(
                f"preprocessing is a {type(doc).__name__}; expected an object with keys "
                f"{list(_SPEC_KEYS)}"
            )
        missing = [k for k in _SPEC_KEYS if k not in doc and k not in _OPTIONAL_KEYS]
        extra = sorted(set(doc) - set(_SPEC_KEYS))
        if missing or extra:
            raise BundleError(
                f"preprocessing has missing keys {missing} and unknown keys {extra}; "
                f"expected exactly {list(_SPEC_KEYS)} ({', '.join(_OPTIONAL_KEYS)} optional)"
            )
        if doc["frame_dtype"] != "uint8":
            raise BundleError(
                f"preprocessing.frame_dtype is {doc['frame_dtype']!r}; expected 'uint8'"
            )
        try:
            return cls(
                frame_shape=tuple(doc["frame_shape"]),
                mean=tuple(doc["mean"]),
                std=tuple(doc["std"]),
                resize_method=doc["resize_method"],
                resize_policy=doc.get("resize_policy", _OPTIONAL_KEYS["resize_policy"]),
            )
        except (ConfigError, TypeError) as e:
            raise BundleError(f"preprocessing is invalid: {e}") from e
