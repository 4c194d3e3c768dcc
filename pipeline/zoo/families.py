"""The families of the zoo as plain data: name, role and description, no TensorFlow.

Validating a config or a variant name needs only these facts, so ``mmnet configure`` and config
loading import this module; the Keras builders (:mod:`mmnet.pipeline.zoo.registry`) are imported
only where a model is built. Minions are the small ImageNet architectures the dissertation (ch. 5)
derives speculative models from; the masters are the clearly heavier CIFAR ResNet, and LeNet-5 and
a small VGG, the plain conv/FC chains chapter 7 prunes (LeNet-5 is the small master of Table 4.1). Families are
looked up in :data:`FAMILIES`, never chosen by comparing names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mmnet.format.bundle import ROLES
from mmnet.format.errors import ConfigError

__all__ = ["ModelFamily", "FAMILIES", "family_names"]


@dataclass(frozen=True)
class ModelFamily:
    """An architecture of the zoo: its name (as in variant names), its role and a one-line description."""

    name: str
    role: str  # one of ROLES
    description: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"family name must be a non-empty string, got {self.name!r}")
        if self.role not in ROLES:
            raise ConfigError(f"family {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.description, str) or not self.description:
            raise ConfigError(f"family {self.name}: description must be a non-empty string, got {self.description!r}")


FAMILIES: Mapping[str, ModelFamily] = MappingProxyType(
    {
        family.name: family
        for family in (
            ModelFamily("mobilenet_v1", "minion",
                        "MobileNetV1 (Howard et al. 2017): 13 depthwise-separable blocks, ReLU6"),
            ModelFamily("mobilenet_v2", "minion",
                        "MobileNetV2 (Sandler et al. 2018): inverted residuals with linear bottlenecks, ReLU6"),
            ModelFamily("mnasnet", "minion", "MnasNet-A1 (Tan et al. 2019): NAS-found MBConv/SE blocks, ReLU"),
            ModelFamily("resnet", "master",
                        "ResNet-20 for small frames (He et al. 2016, CIFAR variant): 3 stages of basic blocks"),
            ModelFamily("lenet5", "master",
                        "LeNet-5 (LeCun et al. 1998): conv 6@5x5, pool, conv 16@5x5, pool, FC 120, 84; ch. 4 and 7"),
            ModelFamily("vgg_small", "master",
                        "small VGG (Simonyan & Zisserman 2015): 3 stages of 2 conv 3x3 (32/64/128), FC 128"),
        )
    }
)


def family_names(role: str | None = None) -> tuple[str, ...]:
    """Names of the families (registration order), optionally only those of ``role``."""
    if role is not None and role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)} or None, got {role!r}")
    return tuple(name for name, family in FAMILIES.items() if role is None or family.role == role)
