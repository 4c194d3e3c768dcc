"""SIEVE's formats in the deployed TFLite model, run by the real LiteRT interpreter.

- The activation-rounding layer, converted to TFLite alone, equals the codec's ``quantize`` bit
  for bit on real activations of a trained network and on the edge cases (ties to even, the carry
  into the next binade, saturation and infinities, the Min/2 flush, signed zeros).
- A small CNN trained on scikit-learn's digits: batch norm folding keeps its outputs; the format
  search's accurate model, converted with its rounded weights and run-time activation rounding,
  gives in LiteRT the outputs the search's cached evaluator computed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from mmnet.format.custom_float import FloatFormat, quantize
from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras, tf
from mmnet.pipeline.export import convert_keras_model
from mmnet.pipeline.sieve.emulation import CustomFloatQuantize, check_emulable
from mmnet.pipeline.sieve.keras_graph import CachedEvaluator, deployed_model, fold_batch_norm
from mmnet.pipeline.sieve.search import SearchConfig, run_search

FORMATS = ("e4m3b7", "e2m0b1", "e5m6b15", "e3m1b-2", "e7m6b63", "e4m0b10")


def _interpreter(content: bytes) -> Interpreter:
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter: Interpreter, batch: np.ndarray) -> np.ndarray:
    """Each row through the batch-1 model."""
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    rows = []
    for row in batch:
        interpreter.set_tensor(inp, row[np.newaxis])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(rows)


def _op_names(interpreter: Interpreter) -> set[str]:
    return {op["op_name"] for op in interpreter._get_ops_details()}  # noqa: SLF001 - the op list is only here


@functools.cache
def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = ((digits.images[..., np.newaxis] - 4.9) / 6.0).astype(np.float32)
    return x[:1200], digits.target[:1200], x[1200:1500], digits.target[1200:1500]


@functools.cache
def _trained_cnn():
    keras.utils.set_random_seed(0)
    x_train, y_train, _, _ = _digits()
    inputs = keras.Input((8, 8, 1), name="frame")
    h = keras.layers.Conv2D(12, 3, padding="same", use_bias=False, name="conv1")(inputs)
    h = keras.layers.BatchNormalization(name="conv1_bn")(h)
    h = keras.layers.ReLU(name="conv1_relu")(h)
    shortcut = keras.layers.Conv2D(16, 1, strides=2, name="shortcut")(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(h)
    h = keras.layers.BatchNormalization(name="dw_bn")(h)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.Add(name="add")([shortcut, h])
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.legacy.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=12, batch_size=64, verbose=0)
    return model


def _edge_cases(fmt: FloatFormat) -> np.ndarray:
    """Ties, carries, saturation, the flush boundary and signed zeros of ``fmt``, as float32."""
    m, low, high = fmt.mantissa_bits, fmt.min_exponent, fmt.max_exponent
    values = [0.0, -0.0, math.inf, -math.inf, fmt.max_value, -fmt.max_value, fmt.max_value * 1.5, 1e38,
              fmt.min_normal, fmt.min_normal / 2, -fmt.min_normal / 2, fmt.min_normal * 0.75, -fmt.min_normal * 0.51,
              fmt.min_normal * 0.49, 1e-45, -1e-45]
    for exponent in range(low, min(high, low + 12) + 1):
        ulp = math.ldexp(1.0, exponent - m)
        base = math.ldexp(1.0, exponent)
        for k in range(0, 4):  # ties between neighbours with even and odd codes, and the ones just off them
            tie = base + (k + 0.5) * ulp
            values += [tie, -tie, np.nextafter(np.float32(tie), np.float32(0)), np.nextafter(np.float32(tie), np.float32(9e9))]
        top = math.ldexp(2.0, exponent) - ulp / 2  # rounds up into the next binade (a carry)
        values += [top, -top]
    return np.array(values, dtype=np.float32)


@pytest.mark.parametrize("name", FORMATS)
def test_tflite_rounding_layer_equals_the_codec_bit_for_bit(name):
    fmt = FloatFormat.parse(name)
    x_train, _, _, _ = _digits()
    activations = keras.Model(_trained_cnn().input, _trained_cnn().get_layer("conv1_relu").output)(x_train[:64]).numpy()
    real = activations.reshape(-1)[:4000] * np.float32(2.0 ** (fmt.min_exponent + 3))  # into the format's range
    raw_conv = _trained_cnn().get_layer("conv1")(x_train[:8]).numpy().reshape(-1)  # signed real values
    values = np.concatenate([_edge_cases(fmt), real, raw_conv * np.float32(2.0 ** fmt.min_exponent)])
    width = 256
    values = np.concatenate([values, np.zeros((-len(values)) % width, np.float32)]).reshape(-1, width)

    inputs = keras.Input((width,))
    model = keras.Model(inputs, CustomFloatQuantize(fmt.name)(inputs))
    interpreter = _interpreter(convert_keras_model(model, "float32"))
    assert {"BITCAST", "ROUND", "FLOOR_DIV"} <= _op_names(interpreter)  # LiteRT runs the rounding itself
    got = _run(interpreter, values)
    expected = quantize(values, fmt)
    mismatched = got.view(np.uint32) != expected.view(np.uint32)
    assert not mismatched.any(), (values[mismatched][:5], got[mismatched][:5], expected[mismatched][:5])
    # the cases were reached: saturation, the flush to both zeros, a carry and a tie to even
    flat_in, flat_out = values.reshape(-1), got.reshape(-1)
    assert (flat_out == fmt.max_value).any() and (flat_out == fmt.min_normal).any()
    assert (np.signbit(flat_out) & (flat_out == 0) & (flat_in != 0)).any()
    # and the Keras layer itself (what the search's deployed Keras model runs) agrees too
    assert np.array_equal(model(values).numpy().view(np.uint32), expected.view(np.uint32))


def test_formats_the_layer_cannot_emulate_are_refused():
    with pytest.raises(ConfigError, match="signed format without subnormals"):
        check_emulable(FloatFormat(5, 15, 10, subnormals=True))
    with pytest.raises(ConfigError, match="float32 normals"):
        check_emulable(FloatFormat(2, 126, 6))


def test_folding_keeps_the_model_and_the_deployed_search_result_runs_in_litert():
    model = _trained_cnn()
    _, _, x_val, y_val = _digits()
    folded = fold_batch_norm(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    np.testing.assert_allclose(folded.predict(x_val, verbose=0), model.predict(x_val, verbose=0), atol=2e-5)

    evaluator = CachedEvaluator(folded, x_val, y_val)
    names = {t.name for t in evaluator.tensors}
    assert {"conv1/kernel", "dw/kernel", "frame:out", "conv1_relu:out", "pool:out"} <= names
    assert "add:out" not in names  # nothing weighted reads it
    result = run_search(evaluator, SearchConfig(max_mantissa_bits=4))
    accurate = result.models["accurate"]
    assert accurate.normalized >= 1.0 and accurate.weight_bits < 32

    deployed = deployed_model(folded, accurate.formats)
    rounding_layers = [layer for layer in deployed.layers if isinstance(layer, CustomFloatQuantize)]
    assert len(rounding_layers) == sum(1 for k in accurate.formats if k.endswith(":out")) > 0
    kernel = deployed.get_layer("conv1").get_weights()[0]
    if "conv1/kernel" in accurate.formats:
        assert np.array_equal(kernel, quantize(kernel, accurate.formats["conv1/kernel"]))  # stored in its format

    interpreter = _interpreter(convert_keras_model(deployed, "float32"))
    assert "BITCAST" in _op_names(interpreter)
    litert = _run(interpreter, x_val)
    cached = evaluator.outputs(accurate.formats)
    np.testing.assert_allclose(litert, cached, atol=1e-5)
    assert float(np.mean(litert.argmax(axis=1) == y_val)) == pytest.approx(accurate.accuracy, abs=1 / len(y_val))
    assert tf.reduce_all(tf.equal(deployed(x_val).numpy().argmax(1), cached.argmax(1)))


def test_evaluations_leave_the_callers_model_unchanged():
    folded = fold_batch_norm(_trained_cnn())
    before = [w.copy() for w in folded.get_weights()]
    _, _, x_val, y_val = _digits()
    evaluator = CachedEvaluator(folded, x_val[:50], y_val[:50])
    evaluator.accuracy({"conv1/kernel": FloatFormat.parse("e2m0b5"), "classifier/kernel": FloatFormat.parse("e2m0b5")})
    assert all(np.array_equal(a, b) for a, b in zip(before, folded.get_weights()))


def test_evaluations_from_a_reference_combination_equal_evaluations_from_float32():
    folded = fold_batch_norm(_trained_cnn())
    _, _, x_val, y_val = _digits()
    evaluator = CachedEvaluator(folded, x_val[:80], y_val[:80])
    names = [t.name for t in evaluator.tensors]
    combination = {name: FloatFormat.parse("e3m1b5" if name.endswith(":out") else "e3m2b6") for name in names}
    one_back = {k: v for k, v in combination.items() if k != names[-1]}  # the last tensor back at float32
    one_wider = {**combination, names[1]: FloatFormat.parse("e4m3b8")}
    fresh = [evaluator.outputs(f) for f in (one_back, one_wider)]  # from the float32 cache
    evaluator.set_reference(combination)
    assert evaluator._reference is not None  # noqa: SLF001 - the branch under test: recomputed from the reference
    assert evaluator._first_change(one_back, combination) > evaluator._first_change(one_back, {})  # noqa: SLF001
    for formats, expected in zip((one_back, one_wider), fresh):
        np.testing.assert_array_equal(evaluator.outputs(formats), expected)
