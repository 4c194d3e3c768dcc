"""The model zoo's Keras side: the registry's build arguments, the layer rules and the families'
architectures (built, not trained).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras
from mmnet.pipeline.zoo.costs import keras_model_costs
from mmnet.pipeline.zoo.layers import make_divisible, stem_stride
from mmnet.pipeline.zoo.registry import build_model
from mmnet.pipeline.zoo.spec import VariantSpec

ALPHAS = (0.25, 0.5, 1.0)
RESOLUTIONS = (16, 24, 32)


@functools.cache
def _model(family: str, alpha: float, resolution: int, channels: int = 1, num_classes: int = 10):
    return build_model(VariantSpec(family, alpha, resolution), channels=channels, num_classes=num_classes)


def _layers_of(model, layer_type) -> list:
    return [layer for layer in model.layers if type(layer) is layer_type]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 0, "num_classes": 10}, "channels must be an integer >= 1, got 0"),
        ({"channels": True, "num_classes": 10}, "channels must be an integer >= 1, got True"),
        ({"channels": 1, "num_classes": 1}, "num_classes must be an integer >= 2, got 1"),
    ],
)
def test_build_model_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_model(VariantSpec("resnet", 0.25, 16), **kwargs)


def test_make_divisible_and_stem_rule():
    # The TF-slim rule, by hand: round(v / 8) * 8, at least 8, and never more than 10% below v.
    assert make_divisible(0.25 * 32) == 8
    assert make_divisible(0.25 * 16) == 8  # 4 -> at least 8
    assert make_divisible(12) == 16  # 12 + 4 = 16 -> 16
    assert make_divisible(30) == 32  # 34 // 8 * 8 = 32
    assert make_divisible(18) == 24  # 22 // 8 * 8 = 16 < 0.9 * 18 = 16.2 -> 24
    assert make_divisible(0.5 * 1280) == 640
    assert [stem_stride(r) for r in (8, 32, 63, 64, 224)] == [1, 1, 1, 2, 2]


# ------------------------------------------------------------------------------- the architectures


@pytest.mark.slow
@pytest.mark.parametrize("family", ["mobilenet_v1", "mobilenet_v2", "mnasnet", "resnet"])
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_every_family_builds_on_the_grid(family, alpha, resolution):
    model = _model(family, alpha, resolution)
    assert model.name == VariantSpec(family, alpha, resolution).name
    assert model.input_shape == (None, resolution, resolution, 1)
    assert model.output_shape == (None, 10)
    assert model.layers[-1].name == "probabilities"
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"
    convs = _layers_of(model, keras.layers.Conv2D) + _layers_of(model, keras.layers.DepthwiseConv2D)
    # Every width is make_divisible(..., 8); the only exception is the squeeze-excite
    # bottleneck, int(0.25 * block input) as in MnasNet.
    divisible = [layer for layer in convs if not layer.name.endswith("_se_reduce")]
    assert divisible
    for layer in divisible:
        assert layer.output_shape[-1] % 8 == 0, layer.name
    # Small-input rule: below 64 pixels no family downsamples in its stem.
    assert model.get_layer("stem").output_shape[1] == resolution


@pytest.mark.parametrize("family", ["mobilenet_v1", "mobilenet_v2", "mnasnet", "resnet", "lenet5", "vgg_small"])
def test_builds_have_deterministic_names_and_predict_probabilities(family):
    first = _model(family, 0.25, 16)
    second = build_model(VariantSpec(family, 0.25, 16), channels=1, num_classes=10)
    assert [layer.name for layer in second.layers] == [layer.name for layer in first.layers]
    assert len({layer.name for layer in first.layers}) == len(first.layers)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype(np.float32)
    probabilities = first(x, training=False).numpy()
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_the_caller_seed_decides_the_initial_weights():
    spec = VariantSpec("resnet", 0.25, 16)

    def weights_after_seed(seed: int) -> list[np.ndarray]:
        keras.utils.set_random_seed(seed)
        return build_model(spec, channels=1, num_classes=10).get_weights()

    first, again, other = weights_after_seed(1), weights_after_seed(1), weights_after_seed(2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    kernels = [i for i, w in enumerate(first) if w.ndim == 4]
    assert not any(np.array_equal(first[i], other[i]) for i in kernels)


def test_mobilenet_v1_follows_howard_table_1():
    model = _model("mobilenet_v1", 1.0, 32)
    pointwise = [model.get_layer(f"block{i}_pw").filters for i in range(1, 14)]
    assert pointwise == [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    strides = [model.get_layer(f"block{i}_dw").strides[0] for i in range(1, 14)]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert model.get_layer("stem").filters == 32
    assert model.get_layer("block13_pw_relu6").output_shape[1:] == (2, 2, 1024)  # 32 / 16


def test_mobilenet_v2_follows_sandler_table_2():
    model = _model("mobilenet_v2", 1.0, 32)
    projections = [model.get_layer(f"block{i}_project").filters for i in range(1, 18)]
    assert projections == [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    names = {layer.name for layer in model.layers}
    assert "block1_expand" not in names  # t = 1
    assert model.get_layer("block2_expand").filters == 6 * 16
    # residual add exactly where the stride is 1 and the widths match
    adds = sorted(int(n[len("block") : -len("_add")]) for n in names if n.endswith("_add"))
    assert adds == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    assert model.get_layer("head").filters == 1280
    assert _model("mobilenet_v2", 0.25, 16).get_layer("head").filters == 1280  # not scaled down
    assert model.get_layer("block1_dw").output_shape[1:] == (32, 32, 32)  # stride-1 stem below 64 px


def test_mnasnet_follows_tan_figure_7():
    model = _model("mnasnet", 1.0, 32)
    names = {layer.name for layer in model.layers}
    projections = [model.get_layer(f"block{i}_project").filters for i in range(1, 17)]
    assert projections == [16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160, 320]
    kernels = [model.get_layer(f"block{i}_dw").kernel_size[0] for i in range(1, 17)]
    assert kernels == [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5, 3]
    with_se = [i for i in range(1, 17) if f"block{i}_se_excite" in names]
    assert with_se == [4, 5, 6, 11, 12, 13, 14, 15]
    # SE width = int(0.25 * block input): block 4 gets 24 channels, 5 gets 40, 11 gets 80, 13 gets 112
    assert [model.get_layer(f"block{i}_se_reduce").filters for i in (4, 5, 11, 13)] == [6, 10, 20, 28]
    # expansion: MBConv3 in the 40-channel stage (3 * 24), MBConv6 elsewhere (6 * 16), SepConv none
    assert model.get_layer("block4_expand").filters == 72 and model.get_layer("block2_expand").filters == 96
    assert "block1_expand" not in names and "block1_add" not in names
    assert model.get_layer("head").filters == 1280


def test_resnet_master_is_resnet20_and_clearly_heavier():
    model = _model("resnet", 1.0, 32)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert len(convs) == 1 + 18 + 2  # stem, 9 blocks x 2 convs, 2 projection shortcuts
    assert [model.get_layer(f"stage{s}_block1_conv1").filters for s in (1, 2, 3)] == [16, 32, 64]
    assert model.get_layer("stage3_block3_out_relu").output_shape[1:] == (8, 8, 64)
    master = keras_model_costs(model).macs
    smallest_minion = keras_model_costs(_model("mobilenet_v1", 0.25, 16)).macs
    assert master >= 10 * smallest_minion


def test_lenet5_has_lecun_maps_on_28x28_and_adapts_to_8x8():
    model = _model("lenet5", 1.0, 28)
    assert [model.get_layer(n).output_shape[1:] for n in ("conv1", "pool1", "conv2", "pool2")] == [
        (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)
    ]
    assert [model.get_layer(n).units for n in ("fc1", "fc2", "logits")] == [120, 84, 10]
    assert model.get_layer("fc1").input_shape[-1] == 400
    # 61,706 parameters: LeNet-5 with ReLU and max pooling on 10 classes, counted by hand
    assert model.count_params() == (25 * 6 + 6) + (150 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    small = _model("lenet5", 1.0, 8)
    assert small.get_layer("conv2").padding == "same"
    assert small.get_layer("pool2").output_shape[1:] == (2, 2, 16)
    assert [layer.units for layer in _layers_of(_model("lenet5", 0.5, 16), keras.layers.Dense)] == [60, 42, 10]


def test_vgg_small_stages_and_head():
    model = _model("vgg_small", 1.0, 32)
    widths = [model.get_layer(f"stage{s}_conv{c}").filters for s in (1, 2, 3) for c in (1, 2)]
    assert widths == [32, 32, 64, 64, 128, 128]
    assert model.get_layer("stage3_pool").output_shape[1:] == (4, 4, 128)
    assert model.get_layer("fc").units == 128
    assert _model("vgg_small", 1.0, 8).get_layer("stage3_pool").output_shape[1:] == (1, 1, 128)
    assert _model("vgg_small", 0.25, 16).get_layer("stage1_conv1").filters == 8
    assert keras_model_costs(model).macs >= 10 * keras_model_costs(_model("lenet5", 1.0, 28)).macs
