"""The runtime's preprocessing: resize by hand-computed cases, the spec, frame validation, normalisation.

The comparison with TensorFlow's resize is in tests/integration/test_preprocessing.py.
"""

from __future__ import annotations

import gc
import sys

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


def _frames(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


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


def _python_calls(work) -> int:
    """How many Python and C functions ``work()`` calls (its profile events). The garbage collector is
    held off meanwhile: a collection would run other tests' finalizers inside the count."""
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    gc.collect()
    gc.disable()
    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
        gc.enable()
    return calls


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_resize_is_vectorised(method):
    """A batch costs as many function calls as one frame: no per-frame or per-pixel Python loop."""
    frames = _frames((1000, 8, 8, 1))
    # Both shapes once first: the per-size interpolation tables are cached, and numpy's lazily
    # imported helpers (a first use runs Python code once) are loaded.
    resize_frames(frames[:1], 32, method)
    resize_frames(frames, 32, method)
    one = _python_calls(lambda: resize_frames(frames[:1], 32, method))
    batch = _python_calls(lambda: resize_frames(frames, 32, method))
    # A per-frame loop would add a thousand calls or more; a few either way are the interpreter's own.
    assert one > 0 and abs(batch - one) <= 8, (one, batch)


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
        "resize_policy": "squash",
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
