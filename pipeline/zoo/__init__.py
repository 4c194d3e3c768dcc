"""The model zoo: minion families (MobileNetV1/V2, MnasNet-A1), the masters (ResNet, LeNet-5, a small
VGG) and their costs.

:mod:`~mmnet.pipeline.zoo.families` and :mod:`~mmnet.pipeline.zoo.spec` (``VariantSpec`` names a
variant) need no TensorFlow; :mod:`~mmnet.pipeline.zoo.registry` (``build_model``) imports it, and
:mod:`~mmnet.pipeline.zoo.costs` (parameters and MACs, dissertation eq. 5.1-5.4) imports it only when
a Keras model is costed (``tflite_model_costs`` runs without it). This package imports none of them,
so validating a config stays TensorFlow-free.
"""
