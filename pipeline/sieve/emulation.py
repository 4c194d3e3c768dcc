"""Custom-float rounding of activations inside the deployed TFLite model.

:class:`CustomFloatQuantize` is a Keras layer that rounds float32 values to a
:class:`~mmnet.format.custom_float.FloatFormat` and back to float32 with TF ops that convert to
TFLite builtins (ABS, BITCAST, FLOOR_DIV, ADD/SUB/MUL, ROUND, MINIMUM/MAXIMUM, GREATER/LESS, SELECT),
so LiteRT runs the emulation and what is measured is what ships. It equals the codec's
:func:`~mmnet.format.custom_float.quantize` bit for bit (``tests/integration/test_sieve_emulation.py``
checks the converted model on real activations and on ties, saturation, flush and signed zeros):

- ``a = min(|x|, max)``: saturating first is the same as rounding then saturating, since every
  value above ``max`` rounds to ``max`` or beyond.
- Normal range: ``E = floor(log2 a)`` read exactly from the float32 exponent field (BITCAST to
  int32, FLOOR_DIV by 2^23); ``round(a · 2^(m-E)) · 2^(E-m)`` is exact (power-of-two scalings of a
  float32 normal, the product below 2^24) and ROUND is half-to-even in TF and in LiteRT's kernel, so
  ties go to the even mantissa and a carry moves to the next binade; with 0 mantissa bits a tie
  goes to the even exponent code instead (a SELECT on FLOOR_MOD). Powers of two are built from
  their bit pattern (BITCAST of ``(k + 127) · 2^23``).
- Underflow, as the codec's compressor rule: ``a <= Min/2`` → 0, ``Min/2 < a < Min`` → ``Min``.
- Sign: ``r · -1`` where the sign bit of ``x`` is set, else ``r``, so a negative value that flushes
  becomes ``-0.0`` and zeros keep their sign, as the codec does.

Only signed formats without subnormals (what the search produces) are emulated, and only those
whose scalings ``2^(±(E - m))`` stay float32 normals; another format is a ConfigError naming it.
NaN is not checked at run time (the codec refuses it; the layer passes it through the comparisons).
"""

from __future__ import annotations

from mmnet.format.custom_float import FloatFormat
from mmnet.format.errors import ConfigError
from mmnet.pipeline._tf import keras, tf

__all__ = ["CustomFloatQuantize", "check_emulable"]

_F32_MANTISSA = 23
_F32_BIAS = 127


def check_emulable(fmt: FloatFormat) -> FloatFormat:
    """``fmt`` if the TFLite layer can emulate it exactly, else ConfigError saying why."""
    if not fmt.signed or fmt.subnormals:
        raise ConfigError(f"format {fmt} cannot be emulated in TFLite here; expected a signed format without "
                          "subnormals (what the format search produces)")
    low = fmt.min_exponent - fmt.mantissa_bits
    high = fmt.max_exponent - fmt.mantissa_bits
    if not (-126 <= low and high <= 126 and -126 <= -high and -low <= 126):
        raise ConfigError(f"format {fmt} cannot be emulated in TFLite here; expected 2^(exponent - mantissa bits) "
                          "and its inverse to be float32 normals for every exponent of the format")
    return fmt


def _pow2(exponent):
    """2^exponent for an int32 tensor of exponents in [-126, 127], exactly (its float32 bit pattern)."""
    return tf.bitcast((exponent + _F32_BIAS) * (1 << _F32_MANTISSA), tf.float32)


@keras.utils.register_keras_serializable(package="mmnet")
class CustomFloatQuantize(keras.layers.Layer):
    """float32 → ``fmt`` → float32, elementwise (module docstring); no weights."""

    def __init__(self, format: str, **kwargs):  # noqa: A002 - the config key is the format's name
        super().__init__(**kwargs)
        self.format = check_emulable(FloatFormat.parse(format, where=f"{self.name}.format"))

    def call(self, x):
        fmt = self.format
        m = fmt.mantissa_bits
        a = tf.minimum(tf.abs(x), tf.constant(fmt.max_value, tf.float32))
        normal_input = tf.maximum(a, tf.constant(fmt.min_normal, tf.float32))
        exponent = tf.math.floordiv(tf.bitcast(normal_input, tf.int32), 1 << _F32_MANTISSA) - _F32_BIAS
        scaled = normal_input * _pow2(m - exponent)  # in [2^m, 2^(m+1)): the significand in mantissa units
        steps = tf.round(scaled)
        if m == 0:
            # With no mantissa bits the neighbours are 2^E and 2^(E+1): a tie goes to the even exponent
            # code E + bias, which ROUND's even integer (2, i.e. up) does not know about.
            down = tf.math.floormod(exponent + fmt.bias, 2) == 0
            steps = tf.where((scaled == 1.5) & down, tf.ones_like(steps), steps)
        rounded = steps * _pow2(exponent - m)
        min_normal = tf.constant(fmt.min_normal, tf.float32)
        underflow = tf.where(a > tf.constant(fmt.min_normal / 2, tf.float32), min_normal, tf.zeros_like(a))
        magnitude = tf.where(a >= min_normal, rounded, underflow)
        # The sign from the bit pattern, not from x < 0: TF's CPU kernels flush float32 subnormals, so a
        # comparison misses a tiny negative (and -0.0); x * -1 rather than NEG: LiteRT's NEG turned 0 into +0.
        negative = tf.bitcast(x, tf.int32) < 0
        return tf.where(negative, magnitude * tf.constant(-1.0, tf.float32), magnitude)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "format": self.format.name}
