"""The runtime's preprocessing against TensorFlow's: resize (bilinear and nearest, no antialiasing) and
normalisation give what ``tf.image.resize`` gives, to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.runtime.preprocessing import (
    PreprocessingSpec,
    preprocess,
    resize_frames,
)

GRAY = PreprocessingSpec(frame_shape=(8, 8, 1), mean=(127.5,), std=(64.0,))
RGB = PreprocessingSpec(
    frame_shape=(32, 32, 3), mean=(120.0, 110.0, 100.0), std=(60.0, 50.0, 40.0),
    resize_method="nearest",
)


@pytest.fixture(scope="module")
def tf():
    from mmnet.pipeline._tf import tf

    return tf


def _frames(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --- resize_frames against TensorFlow ------------------------------------------------------------

RESIZE_CASES = [
    ((3, 8, 8, 1), 32),  # digits upsampling x4
    ((2, 8, 8, 1), 12),  # non-integer factor
    ((2, 7, 10, 3), 12),  # non-square, RGB
    ((2, 32, 32, 3), 24),  # downsampling
    ((1, 10, 3, 2), 5),  # mixed up/down, two channels
    ((2, 96, 96, 3), 7),  # strong downsampling (no antialiasing)
    ((1, 5, 5, 1), 1),
]


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize(("shape", "size"), RESIZE_CASES)
def test_resize_matches_tf_image_resize(tf, shape, size, method):
    frames = _frames(shape, seed=size)
    expected = tf.image.resize(frames, (size, size), method=method, antialias=False).numpy()
    got = resize_frames(frames, size, method)
    assert got.dtype == np.float32
    assert got.shape == (shape[0], size, size, shape[3])
    np.testing.assert_allclose(got, expected.astype(np.float32), rtol=0, atol=1e-4)


def test_resize_float_input_matches_tf(tf):
    frames = np.random.default_rng(1).uniform(0, 255, (2, 9, 6, 3)).astype(np.float64)
    expected = tf.image.resize(frames.astype(np.float32), (16, 16), antialias=False).numpy()
    np.testing.assert_allclose(resize_frames(frames, 16), expected, rtol=0, atol=1e-4)


def test_preprocess_matches_tf_pipeline(tf):
    frames = _frames((4, 8, 8, 1), seed=3)
    expected = (tf.image.resize(frames, (12, 12), antialias=False).numpy() - 127.5) / 64.0
    np.testing.assert_allclose(preprocess(frames, GRAY, 12), expected, atol=1e-5)


def test_preprocess_per_channel(tf):
    frames = _frames((2, 40, 30, 3), seed=4)
    resized = tf.image.resize(frames, (16, 16), method="nearest").numpy().astype(np.float32)
    expected = (resized - np.array(RGB.mean)) / np.array(RGB.std)
    np.testing.assert_allclose(preprocess(frames, RGB, 16), expected, atol=1e-5)
