"""The families of the zoo and the one entry point that builds a variant.

Minions are the small ImageNet architectures the dissertation (ch. 5) derives speculative models
from; the master is the clearly heavier CIFAR ResNet. Families are looked up in :data:`FAMILIES`,
never chosen by comparing names.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo import mnasnet, mobilenet_v1, mobilenet_v2, resnet
from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["ROLES", "ModelFamily", "FAMILIES", "family_names", "build_model"]

ROLES = ("master", "minion")


@dataclass(frozen=True)
class ModelFamily:
    """A buildable architecture: ``builder(spec, *, channels, num_classes) -> keras.Model``."""

    name: str
    role: str  # "master" | "minion"
    builder: Callable[..., keras.Model]
    description: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"family name must be a non-empty string, got {self.name!r}")
        if self.role not in ROLES:
            raise ConfigError(f"family {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not callable(self.builder):
            raise ConfigError(f"family {self.name}: builder must be callable, got {self.builder!r}")


FAMILIES: Mapping[str, ModelFamily] = MappingProxyType(
    {
        family.name: family
        for family in (
            ModelFamily("mobilenet_v1", "minion", mobilenet_v1.build, mobilenet_v1.DESCRIPTION),
            ModelFamily("mobilenet_v2", "minion", mobilenet_v2.build, mobilenet_v2.DESCRIPTION),
            ModelFamily("mnasnet", "minion", mnasnet.build, mnasnet.DESCRIPTION),
            ModelFamily("resnet", "master", resnet.build, resnet.DESCRIPTION),
        )
    }
)


def family_names(role: str | None = None) -> tuple[str, ...]:
    """Names of the registered families (registration order), optionally only those of ``role``."""
    if role is not None and role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)} or None, got {role!r}")
    return tuple(name for name, family in FAMILIES.items() if role is None or family.role == role)


def build_model(spec: VariantSpec, *, channels: int, num_classes: int) -> keras.Model:
    """A fresh, untrained model of ``spec``.

    Input: float32 normalised frames of shape ``(spec.resolution, spec.resolution, channels)``.
    Output: float32 softmax probabilities ``(N, num_classes)`` from the layer ``probabilities``.
    The model is named ``spec.name`` and its layer names are deterministic. Initial weights come
    from the global seed: call ``keras.utils.set_random_seed`` first for reproducible weights.
    """
    if not isinstance(spec, VariantSpec):
        raise ConfigError(f"spec must be a VariantSpec, got {spec!r}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"channels must be an integer >= 1, got {channels!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return FAMILIES[spec.family].builder(spec, channels=channels, num_classes=num_classes)
