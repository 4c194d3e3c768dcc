"""The model zoo: minion families (MobileNetV1/V2, MnasNet-A1), the ResNet master and their costs.

``VariantSpec`` names a variant, ``build_model`` builds it, ``keras_model_costs`` and
``tflite_model_costs`` count its parameters and MACs (dissertation eq. 5.1-5.4).
"""

from mmnet.pipeline.zoo.costs import (
    LayerCost,
    ModelCosts,
    conv_macs,
    dense_macs,
    depthwise_macs,
    keras_model_costs,
    tflite_model_costs,
)
from mmnet.pipeline.zoo.registry import FAMILIES, ROLES, ModelFamily, build_model, family_names
from mmnet.pipeline.zoo.spec import PRECISIONS, VariantSpec

__all__ = [
    "PRECISIONS",
    "VariantSpec",
    "ROLES",
    "ModelFamily",
    "FAMILIES",
    "family_names",
    "build_model",
    "conv_macs",
    "depthwise_macs",
    "dense_macs",
    "LayerCost",
    "ModelCosts",
    "keras_model_costs",
    "tflite_model_costs",
]
