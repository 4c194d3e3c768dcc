"""The MAC/parameter counts of mmnet.pipeline.zoo.costs (dissertation eq. 5.1-5.4) on real models."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, ModelError
from mmnet.pipeline._tf import keras, tf
from mmnet.pipeline.zoo.costs import (
    ModelCosts,
    conv_macs,
    dense_macs,
    depthwise_macs,
    keras_model_costs,
    tflite_model_costs,
)
from mmnet.pipeline.zoo.registry import build_model
from mmnet.pipeline.zoo.spec import VariantSpec


@functools.cache
def _model(family: str, alpha: float, resolution: int):
    return build_model(VariantSpec(family, alpha, resolution), channels=1, num_classes=10)


def _by_name(costs: ModelCosts) -> dict:
    return {layer.name: layer for layer in costs.layers}


# ------------------------------------------------------------------------------------- equations


def test_equations_on_hand_computed_cases():
    # eq. 5.1: 3*3 * 16 * 32 * 8*8 = 9 * 16 = 144; 144 * 32 = 4608; 4608 * 64 = 294912
    assert conv_macs(3, 16, 32, 8, 8) == 294_912
    # eq. 5.3 with alpha = rho = 0.5: 9 * 8 * 16 * 4*4 = 18432 (= 294912 / 2^4)
    assert conv_macs(3, 16, 32, 8, 8, alpha=0.5, rho=0.5) == 18_432
    # eq. 5.2: 3*3 * 32 * 8*8 = 9 * 32 * 64 = 18432
    assert depthwise_macs(3, 32, 8, 8) == 18_432
    # eq. 5.4 with alpha = rho = 0.5: 9 * 16 * 4*4 = 2304 (= 18432 / 2^3)
    assert depthwise_macs(3, 32, 8, 8, alpha=0.5, rho=0.5) == 2_304
    # non-square kernel: 3*1 * 4 * 4 * 2*2 = 192
    assert conv_macs((3, 1), 4, 4, 2, 2) == 192
    # dense: 256 * 10
    assert dense_macs(256, 10) == 2_560
    with pytest.raises(ConfigError, match="kernel"):
        conv_macs(0, 4, 4, 2, 2)


def _tiny_model(nested: bool):
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c1")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(8, 1, name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, name="fc")(x)
    inner = keras.Model(inputs, outputs, name="inner")
    if not nested:
        return inner
    outer_in = keras.Input((8, 8, 2))
    return keras.Model(outer_in, keras.layers.Activation("softmax")(inner(outer_in)), name="outer")


@pytest.mark.parametrize("nested", [False, True])
def test_keras_costs_of_a_hand_built_model(nested):
    costs = keras_model_costs(_tiny_model(nested))
    # c1: 3*3 * 2 * 4 * (4*4 output, stride 2) = 1152; dw: 3*3 * 4 * 4*4 = 576;
    # pw: 1*1 * 4 * 8 * 4*4 = 512; fc: 8 * 3 = 24; bn and pool: 0. Total 2264.
    assert [(c.name, c.kind, c.macs) for c in costs.layers] == [
        ("c1", "conv", 1152),
        ("dw", "depthwise", 576),
        ("pw", "conv", 512),
        ("fc", "dense", 24),
    ]
    assert costs.macs == 2264
    # params: c1 3*3*2*4 + 4 = 76; dw 3*3*4 + 4 = 40; bn 4*4 = 16; pw 4*8 + 8 = 40; fc 8*3 + 3 = 27
    assert costs.params == 76 + 40 + 16 + 40 + 27
    assert costs.to_json() == {"params": 199, "macs": 2264}
    assert _by_name(costs)["c1"].kernel == (3, 3) and _by_name(costs)["c1"].out_h == 4


@pytest.mark.parametrize(
    "layer",
    [
        lambda: keras.layers.SeparableConv2D(4, 3, name="sep"),
        lambda: keras.layers.Conv2D(4, 3, groups=2, name="grouped"),
        lambda: keras.layers.Conv2DTranspose(4, 3, name="transposed"),
    ],
)
def test_keras_costs_refuse_layers_the_equations_do_not_cover(layer):
    inputs = keras.Input((8, 8, 2))
    model = keras.Model(inputs, layer()(inputs))
    with pytest.raises(ModelError, match="layer"):
        keras_model_costs(model)


def test_resnet20_master_macs_hand_computed():
    # ResNet-20 (alpha 1) on 32x32x1 frames, every conv 'same':
    #   stem 3*3*1*16*32*32                                  =    147,456
    #   stage 1: 6 convs 3*3*16*16*32*32 = 6 * 2,359,296     = 14,155,776
    #   stage 2: 3*3*16*32*16*16 + 1*1*16*32*16*16 (projection)
    #            + 5 * 3*3*32*32*16*16 = 1,179,648 + 131,072 + 11,796,480 = 13,107,200
    #   stage 3: same numbers at 8x8 with 32 -> 64 channels  = 13,107,200
    #   dense 64*10                                          =        640
    #   total                                                = 40,518,272
    costs = keras_model_costs(_model("resnet", 1.0, 32))
    assert costs.macs == 40_518_272
    assert sum(1 for c in costs.layers if c.kind == "conv") == 19 + 2


# --------------------------------------------------------------------------- alpha and rho scaling


@pytest.mark.parametrize("alpha", [0.5, 0.25])
def test_mobilenet_v1_macs_scale_with_alpha_as_in_eq_5_1_and_5_2(alpha):
    # At alpha 0.5 and 0.25 every MobileNetV1 width (32, 64, ..., 1024) times alpha is already a
    # multiple of 8, so make_divisible does not round and eq. 5.1/5.2 must hold exactly per layer.
    full = _by_name(keras_model_costs(_model("mobilenet_v1", 1.0, 16)))
    scaled_costs = keras_model_costs(_model("mobilenet_v1", alpha, 16))
    scaled = _by_name(scaled_costs)
    assert scaled.keys() == full.keys()
    expected_total = 0.0
    for name, ref in full.items():
        if name == "stem":  # its input channels are the frame's, which alpha does not scale
            expected = conv_macs(3, ref.in_channels, alpha * ref.out_channels, ref.out_h, ref.out_w)
        elif name == "logits":  # alpha scales the features, not the number of classes
            expected = dense_macs(alpha * ref.in_channels, ref.out_channels)
        elif ref.kind == "conv":
            expected = conv_macs(ref.kernel[0], ref.in_channels, ref.out_channels, ref.out_h, ref.out_w, alpha=alpha)
        else:
            expected = depthwise_macs(ref.kernel[0], ref.out_channels, ref.out_h, ref.out_w, alpha=alpha)
        assert scaled[name].macs == expected, name
        expected_total += expected
    assert scaled_costs.macs == expected_total
    # Pointwise convs scale with alpha^2; depthwise convs, the stem and the classifier (a share s
    # of the alpha=1 MACs) only with alpha, so ratio = alpha^2 + alpha * (1 - alpha) * s. In
    # MobileNetV1 the pointwise convs carry more than 95% of the MACs (s < 5%), which bounds the
    # ratio tightly above alpha^2 (0.25 -> 0.2596 measured for alpha 0.5).
    full_total = sum(c.macs for c in full.values())
    linear_share = sum(c.macs for c in full.values() if c.kind != "conv" or c.name == "stem") / full_total
    assert linear_share < 0.05
    ratio = scaled_costs.macs / full_total
    assert ratio == pytest.approx(alpha**2 + alpha * (1 - alpha) * linear_share, rel=1e-12)
    assert alpha**2 < ratio < alpha**2 + 0.05 * alpha * (1 - alpha)


def test_mobilenet_v1_macs_scale_with_rho_squared():
    # 16 -> 32 (stem stride 1 at both) and 64 -> 128 (stem stride 2 at both): every map doubles
    # in each direction and divides evenly, so eq. 5.3/5.4 with rho = 2 hold exactly per layer;
    # the classifier after global pooling does not depend on the resolution.
    for low, high in ((16, 32), (64, 128)):
        small = _by_name(keras_model_costs(_model("mobilenet_v1", 0.25, low)))
        large = _by_name(keras_model_costs(_model("mobilenet_v1", 0.25, high)))
        for name, ref in small.items():
            if ref.kind == "conv":
                expected = conv_macs(ref.kernel[0], ref.in_channels, ref.out_channels, ref.out_h, ref.out_w, rho=2)
            elif ref.kind == "depthwise":
                expected = depthwise_macs(ref.kernel[0], ref.out_channels, ref.out_h, ref.out_w, rho=2)
            else:
                expected = ref.macs
            assert large[name].macs == expected, (low, high, name)
        conv_small = sum(c.macs for c in small.values() if c.kind != "dense")
        conv_large = sum(c.macs for c in large.values() if c.kind != "dense")
        assert conv_large == 4 * conv_small


def test_stem_rule_makes_64_pixels_cost_the_same_as_32():
    # The stem has stride 1 below 64 pixels and 2 from 64 on: a 64x64 input is reduced to the
    # 32x32 map a 32x32 input keeps, so every layer after the stem sees identical shapes.
    at_32 = keras_model_costs(_model("mobilenet_v1", 0.25, 32))
    at_64 = keras_model_costs(_model("mobilenet_v1", 0.25, 64))
    assert [(c.name, c.out_h, c.macs) for c in at_32.layers] == [(c.name, c.out_h, c.macs) for c in at_64.layers]


# ---------------------------------------------------------------------------- Keras versus TFLite


def _randomise_vectors(model, seed: int) -> None:
    # Biases and batch-norm parameters/statistics away from their 0/1 initial values: the
    # converter drops all-zero bias tensors, and the folded batch norm must matter. Kernels keep
    # their (random) initial values.
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if w.ndim == 1 else w for w in model.get_weights()]
    )


def _to_tflite(model, resolution: int, path) -> None:
    # from_concrete_functions freezes the graph directly; from_keras_model round-trips through a
    # SavedModel and takes minutes per model on the shared 2-core machine.
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, resolution, resolution, 1), tf.float32))
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["mobilenet_v1", "mobilenet_v2", "mnasnet", "resnet"])
def test_keras_costs_equal_tflite_costs(family, tmp_path):
    model = _model(family, 0.25, 16)
    _randomise_vectors(model, seed=0)
    path = tmp_path / f"{model.name}.tflite"
    _to_tflite(model, 16, path)

    keras_costs = keras_model_costs(model)
    tflite_costs = tflite_model_costs(path)

    def per_layer(costs):
        return sorted((c.kind, c.kernel, c.in_channels, c.out_channels, c.out_h, c.out_w, c.macs) for c in costs.layers)

    assert per_layer(tflite_costs) == per_layer(keras_costs)
    assert tflite_costs.macs == keras_costs.macs
    # TFLite folds batch norm into the preceding conv, so its params are exactly every costed
    # layer's kernel plus one bias per output channel.
    layers = {layer.name: layer for layer in model.layers}
    folded = sum(layers[c.name].weights[0].shape.num_elements() + c.out_channels for c in keras_costs.layers)
    assert tflite_costs.params == folded
    assert keras_costs.params > tflite_costs.params  # plus the batch-norm scale/offset/statistics

    # The converted model is the same function: same probabilities on a real input.
    from mmnet.runtime.interpreter import load_interpreter

    x = np.random.default_rng(1).normal(size=(1, 16, 16, 1)).astype(np.float32)
    interpreter = load_interpreter(path, use_xnnpack=False)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    tflite_out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(tflite_out, model(x, training=False).numpy(), atol=1e-5)


def test_tflite_costs_of_a_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        tflite_model_costs(tmp_path / "missing.tflite")
