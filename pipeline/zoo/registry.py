"""The one entry point that builds a variant of the zoo: family name -> Keras builder.

Importing this module imports TensorFlow (through the builders), so only the stages that build
models import it; what a family is (name, role, description) lives in
:mod:`mmnet.pipeline.zoo.families`, which needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo import lenet5, mnasnet, mobilenet_v1, mobilenet_v2, resnet, vgg_small
from mmnet.pipeline.zoo.families import FAMILIES
from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["BUILDERS", "build_model"]

# ``builder(spec, *, channels, num_classes) -> keras.Model`` per family of FAMILIES.
BUILDERS: Mapping[str, Callable[..., keras.Model]] = MappingProxyType(
    {
        "mobilenet_v1": mobilenet_v1.build,
        "mobilenet_v2": mobilenet_v2.build,
        "mnasnet": mnasnet.build,
        "resnet": resnet.build,
        "lenet5": lenet5.build,
        "vgg_small": vgg_small.build,
    }
)
if set(BUILDERS) != set(FAMILIES):  # a family without a builder (or the reverse) is a bug here
    raise RuntimeError(f"zoo builders {sorted(BUILDERS)} do not match the families {sorted(FAMILIES)}")


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
    return BUILDERS[spec.family](spec, channels=channels, num_classes=num_classes)
