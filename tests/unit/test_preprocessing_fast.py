"""The runtime's fast model input (model_input) gives exactly what the general path gives:
``classifier.quantize_one(preprocess(frame[None], spec, r))``, on the real Coral models (uint8
inputs, scale 1/128, zero point 128) at all four resolutions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import conform_frame, model_input, preprocess

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MODELS = ("mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "mobilenet_v1_0.75_192_quant",
          "mobilenet_v2_1.0_224_quant")
CORAL = PreprocessingSpec(frame_shape=(224, 224, 3), mean=(128.0,) * 3, std=(128.0,) * 3,
                          resize_policy="center_crop")


@pytest.fixture(scope="module")
def classifiers() -> list[TFLiteClassifier]:
    if not (DATA / "coral-imagenet").is_dir():
        pytest.skip(f"the Coral models are not at {DATA / 'coral-imagenet'} (the shared data folder)")
    return [TFLiteClassifier(DATA / "coral-imagenet" / f"{name}.tflite") for name in MODELS]


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    frames.append(np.full((224, 224, 3), 255, np.uint8))
    frames.append(np.tile(np.arange(224, dtype=np.uint8)[:, None, None], (1, 224, 3)))  # a ramp: many .5 ties
    for path in sorted((DATA / "imagenet-sample-a").glob("*.JPEG"))[:5]:
        with Image.open(path) as image:
            frames.append(conform_frame(np.asarray(image.convert("RGB")), 224, 224, "center_crop"))
    return frames


def test_fast_path_gives_the_general_paths_model_input(classifiers):
    for classifier in classifiers:
        resolution = classifier.input_shape[0]
        assert classifier.input_quantization == (0.0078125, 128)
        for frame in _frames():
            normalised: dict[int, np.ndarray] = {}
            fast = model_input(frame, CORAL, resolution, classifier, normalised)
            assert normalised == {}, "the fast path did not run"  # the general path caches its floats
            general = classifier.quantize_one(preprocess(frame[None], CORAL, resolution))
            assert fast.dtype == general.dtype == np.uint8 and fast.shape == (1, resolution, resolution, 3)
            np.testing.assert_array_equal(fast, general)


def test_other_normalisations_take_the_general_path(classifiers):
    spec = PreprocessingSpec(frame_shape=(224, 224, 3), mean=(127.5,) * 3, std=(127.5,) * 3)
    frame = _frames()[0]
    for classifier in classifiers[:2]:
        resolution = classifier.input_shape[0]
        normalised: dict[int, np.ndarray] = {}
        got = model_input(frame, spec, resolution, classifier, normalised)
        assert list(normalised) == [resolution]
        np.testing.assert_array_equal(got, classifier.quantize_one(preprocess(frame[None], spec, resolution)))
        float_frame = frame.astype(np.float32)  # float pixels: always the general path
        normalised = {}
        np.testing.assert_array_equal(model_input(float_frame, CORAL, resolution, classifier, normalised),
                                      classifier.quantize_one(preprocess(float_frame[None], CORAL, resolution)))
        assert list(normalised) == [resolution]


def _documented_bilinear(frames: np.ndarray, size: int) -> np.ndarray:
    """resize_frames' docstring formula, written out plainly in float32."""
    def axis(n: int):
        scale = np.float32(n) / np.float32(size)
        src = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
        floor = np.floor(src)
        return (np.maximum(floor, 0).astype(int), np.minimum(np.ceil(src), n - 1).astype(int),
                (src - floor).astype(np.float32))

    x = frames.astype(np.float32)
    y_lo, y_hi, t_y = axis(frames.shape[1])
    x_lo, x_hi, t_x = axis(frames.shape[2])
    top = x[:, y_lo][:, :, x_lo] + (x[:, y_lo][:, :, x_hi] - x[:, y_lo][:, :, x_lo]) * t_x[None, None, :, None]
    bottom = x[:, y_hi][:, :, x_lo] + (x[:, y_hi][:, :, x_hi] - x[:, y_hi][:, :, x_lo]) * t_x[None, None, :, None]
    return top + (bottom - top) * t_y[None, :, None, None]


@pytest.mark.parametrize("shape", [(2, 224, 224, 3), (1, 37, 53, 1), (1, 5, 300, 3)])
def test_the_optimised_resizes_keep_the_documented_float32_formula(shape):
    from mmnet.runtime.preprocessing import _pixel_input, resize_frames

    frames = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    for size in (7, 128, 192, 300):
        expected = _documented_bilinear(frames, size)
        np.testing.assert_array_equal(resize_frames(frames, size), expected)
        quantised = np.clip(np.rint(expected[:1] - np.float32(128)) + np.float32(128), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(_pixel_input(frames[0], size, 128), quantised)
