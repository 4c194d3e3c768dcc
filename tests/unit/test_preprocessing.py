from __future__ import annotations

import time

import numpy as np
import pytest

from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.runtime.preprocessing import (
    PreprocessingSpec,
    preprocess,
    resize_frames,
    validate_frames,
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


def test_resize_bilinear_hand_computed():
    # 1x2 -> 1x4 along x: scale 0.5, s = (i + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25
    # -> lo/hi/t = (0,0,.75), (0,1,.25), (0,1,.75), (1,1,.25) -> 0, 25, 75, 100.
    # Rows (1 -> 4) all read row 0.
    frame = np.array([0, 100], dtype=np.uint8).reshape(1, 1, 2, 1)
    out = resize_frames(frame, 4)
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 25, 75, 100]] * 4, atol=1e-6)


def test_resize_identity_is_exact_float32_copy():
    frames = _frames((4, 8, 8, 1))
    out = resize_frames(frames, 8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, frames.astype(np.float32))
    floats = frames.astype(np.float32)
    same = resize_frames(floats, 8)
    assert not np.shares_memory(same, floats)  # a copy even when the dtype already matches


def test_resize_is_vectorised_fast():
    frames = _frames((1000, 8, 8, 1))
    resize_frames(frames, 32)  # warm up
    start = time.perf_counter()
    resize_frames(frames, 32)
    elapsed = time.perf_counter() - start
    # ~10 ms on a quiet core; the bound leaves room for a shared, busy CI machine.
    assert elapsed < 0.5, f"resizing 1000 frames took {elapsed:.3f} s"


@pytest.mark.parametrize(
    ("size", "method", "fragment"),
    [(0, "bilinear", "resize size is 0"), (8, "bicubic", "resize method is 'bicubic'")],
)
def test_resize_rejects_bad_arguments(size, method, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resize_frames(_frames((1, 8, 8, 1)), size, method)


# --- PreprocessingSpec ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (
            {"mean": (1.0, 2.0)},
            r"PreprocessingSpec.mean has 2 values \(1.0, 2.0\); expected one per channel \(1\)",
        ),
        ({"std": (0.0,)}, r"PreprocessingSpec.std is \(0.0,\); expected every value > 0"),
        ({"std": (-1.0,)}, r"PreprocessingSpec.std is \(-1.0,\)"),
        ({"resize_method": "area"}, r"PreprocessingSpec.resize_method is 'area'"),
        ({"frame_shape": (8, 8)}, r"PreprocessingSpec.frame_shape is \(8, 8\)"),
        ({"frame_shape": (8, 0, 1)}, r"PreprocessingSpec.frame_shape is \(8, 0, 1\)"),
        ({"mean": (float("nan"),)}, r"PreprocessingSpec.mean is \(nan,\); expected finite"),
    ],
)
def test_spec_validation(kwargs, fragment):
    args = {"frame_shape": (8, 8, 1), "mean": (1.0,), "std": (2.0,)} | kwargs
    with pytest.raises(ConfigError, match=fragment):
        PreprocessingSpec(**args)


def test_spec_json_round_trip():
    doc = RGB.to_json()
    assert doc == {
        "frame_shape": [32, 32, 3],
        "frame_dtype": "uint8",
        "mean": [120.0, 110.0, 100.0],
        "std": [60.0, 50.0, 40.0],
        "resize_method": "nearest",
    }
    assert PreprocessingSpec.from_json(doc) == RGB
    assert RGB.channels == 3


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"frame_dtype": "float32"}, "frame_dtype is 'float32'; expected 'uint8'"),
        ({"std": [0.0]}, "std is"),
        ({"extra": 1}, r"unknown keys \['extra'\]"),
    ],
)
def test_spec_from_json_rejects_bad_documents(change, fragment):
    doc = GRAY.to_json() | change
    with pytest.raises(BundleError, match=fragment):
        PreprocessingSpec.from_json(doc)


def test_spec_from_json_missing_key():
    doc = GRAY.to_json()
    del doc["mean"]
    with pytest.raises(BundleError, match=r"missing keys \['mean'\]"):
        PreprocessingSpec.from_json(doc)


# --- validate_frames ------------------------------------------------------------------------------


def test_validate_accepts_single_frames_and_batches():
    assert validate_frames(_frames((8, 8)), GRAY).shape == (1, 8, 8, 1)
    assert validate_frames(_frames((8, 8, 1)), GRAY).shape == (1, 8, 8, 1)
    assert validate_frames(_frames((5, 8, 8, 1)), GRAY).shape == (5, 8, 8, 1)
    assert validate_frames(_frames((20, 13, 3)), RGB).shape == (1, 20, 13, 3)  # any H, W
    floats = np.full((2, 4, 4, 1), 3.5, dtype=np.float32)
    assert validate_frames(floats, GRAY).dtype == np.float32


@pytest.mark.parametrize(
    ("frames", "spec", "fragment"),
    [
        (
            np.zeros((2, 8, 8, 1, 1), np.uint8), GRAY,
            r"frames have rank 5 \(shape \(2, 8, 8, 1, 1\)\)",
        ),
        (
            np.zeros((8,), np.uint8), GRAY,
            r"rank 1 .*expected \(H, W, C\), \(N, H, W, C\) or \(H, W\)",
        ),
        (np.zeros((8, 8), np.uint8), RGB, r"frames have rank 2 .* with C=3"),
        (
            np.zeros((2, 8, 8, 3), np.uint8), GRAY,
            r"frames have 3 channels \(shape \(2, 8, 8, 3\)\); expected 1",
        ),
        (np.zeros((8, 8, 1), np.uint8), RGB, r"frames have 1 channels .*; expected 3"),
        (
            np.zeros((1, 8, 8, 1), np.int64), GRAY,
            r"frames have dtype int64; expected uint8 or a float",
        ),
        (np.zeros((1, 8, 8, 1), bool), GRAY, r"frames have dtype bool"),
        (np.zeros((1, 0, 8, 1), np.uint8), GRAY, r"expected H >= 1 and W >= 1"),
    ],
)
def test_validate_rejects(frames, spec, fragment):
    with pytest.raises(DataError, match=fragment):
        validate_frames(frames, spec)


def test_validate_reports_first_nan_frame():
    frames = np.zeros((5, 8, 8, 1), np.float32)
    frames[2, 3, 4, 0] = np.nan
    frames[4, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"frame 2 contains NaN values; expected finite"):
        validate_frames(frames, GRAY)


def test_validate_reports_inf():
    frames = np.zeros((3, 8, 8, 1), np.float64)
    frames[1, 0, 0, 0] = -np.inf
    with pytest.raises(DataError, match=r"frame 1 contains inf values"):
        validate_frames(frames, GRAY)


# --- preprocess -----------------------------------------------------------------------------------


def test_preprocess_normalises_constant_frames():
    # (191.5 - 127.5) / 64 = 1.0 everywhere, whatever the resize.
    frames = np.full((3, 8, 8), 191.5, dtype=np.float32)
    out = preprocess(frames[0], GRAY, 12)
    assert out.shape == (1, 12, 12, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


def test_preprocess_matches_tf_pipeline(tf):
    frames = _frames((4, 8, 8, 1), seed=3)
    expected = (tf.image.resize(frames, (12, 12), antialias=False).numpy() - 127.5) / 64.0
    np.testing.assert_allclose(preprocess(frames, GRAY, 12), expected, atol=1e-5)


def test_preprocess_per_channel(tf):
    frames = _frames((2, 40, 30, 3), seed=4)
    resized = tf.image.resize(frames, (16, 16), method="nearest").numpy().astype(np.float32)
    expected = (resized - np.array(RGB.mean)) / np.array(RGB.std)
    np.testing.assert_allclose(preprocess(frames, RGB, 16), expected, atol=1e-5)
