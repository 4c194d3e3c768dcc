"""The resize policy: conform_frame by hand-computed cases and against Pillow, the policy in the
bundle's manifest, and its use by the runtime, the server's decoding and the pipeline's ingest.

A hand computation of the triangle filter (Pillow's BILINEAR): per axis ``scale = n / m``,
``support = max(scale, 1)``, output ``i`` centred at ``(i + 0.5) * scale`` weighs input ``j`` by
``max(0, 1 - |(j + 0.5 - center) / support|)``, normalised.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.format.bundle import load_bundle, write_manifest
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime import runtime as runtime_module
from mmnet.runtime.preprocessing import conform_frame, crop_box
from mmnet.runtime.runtime import Runtime
from mmnet.server.decoding import MAX_IMAGE_PIXELS, parse_predict_body
from tests.support import tflite_fixtures as tfx
from tests.support.serving import encoded, image_b64, png_header_only

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "imagenet-sample-a"


def _column(values) -> np.ndarray:
    return np.asarray(values, dtype=np.uint8)[..., None]


# --- conform_frame ---------------------------------------------------------------------------------


def test_downscale_4x4_to_2x2_weighs_three_taps_per_output():
    # 4 -> 2: scale 2, support 2. Output 0 (center 1.0) takes inputs 0, 1, 2 with weights
    # 0.75, 0.75, 0.25 -> 3/7, 3/7, 1/7; output 1 (center 3.0) takes 1, 2, 3 with 1/7, 3/7, 3/7.
    frame = _column(np.arange(16).reshape(4, 4) * 10)  # value 10 * (4 r + c)
    lo, hi = (0 * 3 + 1 * 3 + 2 * 1) / 7, (1 * 1 + 2 * 3 + 3 * 3) / 7
    expected = [[10 * (4 * r + c) for c in (lo, hi)] for r in (lo, hi)]  # 35.7, 51.4, 98.6, 114.3
    got = conform_frame(frame, 2, 2, "squash")
    np.testing.assert_array_equal(got[:, :, 0], np.rint(expected))
    np.testing.assert_array_equal(got[:, :, 0], [[36, 51], [99, 114]])
    # 2x2 blocks a, b / c, d: each output is 6/7 of its own block and 1/7 of each neighbour's
    # (per axis), e.g. (0, 0) = (36 a + 6 b + 6 c + d) / 49 = 30 for a, b, c, d = 0, 70, 140, 210.
    blocks = _column(np.kron([[0, 70], [140, 210]], np.ones((2, 2))))
    np.testing.assert_array_equal(conform_frame(blocks, 2, 2, "squash")[:, :, 0], [[30, 80], [130, 180]])


def test_center_crop_of_3x5_to_3x3_picks_columns_1_to_3():
    frame = _column(np.arange(15).reshape(3, 5))
    assert crop_box(3, 5, 3, 3, "center_crop") == (0, 1, 3, 3)
    np.testing.assert_array_equal(conform_frame(frame, 3, 3, "center_crop"), frame[:, 1:4])
    # squash keeps all five columns: 5 -> 3 (scale 5/3) mixes neighbours, so the frames differ.
    squashed = conform_frame(frame, 3, 3, "squash")
    assert not np.array_equal(squashed, frame[:, 1:4])
    np.testing.assert_array_equal(squashed[:, 0, 0], [0, 5, 10])  # column 0: inputs 0..1 of each row
    assert squashed[0, 0, 0] == 0 and squashed[0, 2, 0] == 4 and squashed[0, 1, 0] == 2


def test_same_size_is_returned_unchanged():
    frame = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    assert conform_frame(frame, 6, 9, "center_crop") is frame
    assert conform_frame(frame, 6, 9, "squash") is frame


def test_upscale_2x2_to_4x4():
    # 2 -> 4: support 1; per axis the outputs are a, .75a + .25b, .25a + .75b, b.
    axis = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    pixels = np.array([[0, 100], [200, 255]], dtype=np.float64)
    expected = np.rint(axis @ pixels @ axis.T)
    got = conform_frame(_column(pixels), 4, 4, "squash")[:, :, 0]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, [[0, 25, 75, 100], [50, 72, 117, 139], [150, 167, 200, 216], [200, 214, 241, 255]])


@pytest.mark.parametrize(
    ("size", "target", "box"),
    [
        ((375, 500), (224, 224), (0, 62, 375, 375)),    # landscape: the centred square
        ((500, 333), (224, 224), (83, 0, 333, 333)),    # portrait
        ((10, 10), (3, 4), (1, 0, 8, 10)),              # wider target: crop_h = round_half_up(10 * 3 / 4) = 8
        ((10, 10), (4, 3), (0, 1, 10, 8)),
        ((1, 1000), (10, 1), (0, 499, 1, 1)),            # the free side is at least one pixel
        ((4, 3), (4, 6), (1, 0, 2, 3)),                 # 3 * 4 / 6 = 2 exactly
        ((5, 3), (2, 4), (1, 0, 2, 3)),                 # 3 * 2 / 4 = 1.5 rounds half up to 2
    ],
)
def test_crop_box(size, target, box):
    assert crop_box(*size, *target, "center_crop") == box
    assert crop_box(*size, *target, "squash") == (0, 0, *size)


def test_bad_arguments_are_clear_errors():
    frame = np.zeros((4, 4, 1), np.uint8)
    with pytest.raises(ConfigError, match=r"resize policy is 'zoom'; expected one of \['center_crop', 'squash'\]"):
        conform_frame(frame, 2, 2, "zoom")
    with pytest.raises(ConfigError, match="resize policy is 'zoom'"):
        conform_frame(frame, 4, 4, "zoom")  # checked even when nothing is resized
    with pytest.raises(DataError, match=r"got a float32 array of shape \(4, 4, 1\); expected a uint8 image"):
        conform_frame(frame.astype(np.float32), 2, 2, "squash")
    with pytest.raises(DataError, match=r"shape \(4, 4\)"):
        conform_frame(frame[:, :, 0], 2, 2, "squash")
    with pytest.raises(ConfigError, match="height is 0; expected a positive int"):
        conform_frame(frame, 0, 2, "squash")


def _photos(count: int) -> list[Path]:
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not found at {PHOTOS} (the shared data folder beside the repository)")
    return sorted(PHOTOS.glob("*.JPEG"))[:count]


@pytest.mark.parametrize("target", [(224, 224), (128, 128), (100, 150), (333, 41)])
def test_downscales_agree_with_pillow_within_one_level(target):
    height, width = target
    for path in _photos(4):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        pixels = np.asarray(rgb)
        squashed = conform_frame(pixels, height, width, "squash")
        pillow = np.asarray(rgb.resize((width, height), Image.Resampling.BILINEAR))
        assert np.abs(squashed.astype(int) - pillow).max() <= 1, path.name
        top, left, crop_h, crop_w = crop_box(*pixels.shape[:2], height, width, "center_crop")
        cropped = rgb.crop((left, top, left + crop_w, top + crop_h))
        pillow_crop = np.asarray(cropped.resize((width, height), Image.Resampling.BILINEAR))
        assert np.abs(conform_frame(pixels, height, width, "center_crop").astype(int) - pillow_crop).max() <= 1


# --- the policy in the bundle ------------------------------------------------------------------------


def test_spec_records_the_policy_and_old_manifests_squash():
    spec = PreprocessingSpec(frame_shape=(8, 8, 1), mean=(1.0,), std=(2.0,), resize_policy="center_crop")
    doc = spec.to_json()
    assert doc["resize_policy"] == "center_crop"
    assert PreprocessingSpec.from_json(doc) == spec
    del doc["resize_policy"]  # a bundle written before the key existed
    assert PreprocessingSpec.from_json(doc).resize_policy == "squash"
    with pytest.raises(BundleError, match=r"resize_policy is 'zoom'; expected one of \['center_crop', 'squash'\]"):
        PreprocessingSpec.from_json(doc | {"resize_policy": "zoom"})
    with pytest.raises(ConfigError, match="resize_policy is 'crop'"):
        PreprocessingSpec(frame_shape=(8, 8, 1), mean=(1.0,), std=(2.0,), resize_policy="crop")


def _with_policy(bundle_dir: Path, policy: str | None) -> Path:
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    if policy is None:
        manifest["preprocessing"].pop("resize_policy", None)
    else:
        manifest["preprocessing"]["resize_policy"] = policy
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


def test_the_manifest_schema_checks_the_policy(tmp_path):
    bundle_dir = tfx.write_fixture_bundle(tmp_path / "b")
    assert load_bundle(_with_policy(bundle_dir, None)).preprocessing.resize_policy == "squash"
    assert load_bundle(_with_policy(bundle_dir, "center_crop")).preprocessing.resize_policy == "center_crop"
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["preprocessing"]["resize_policy"] = "zoom"
    with pytest.raises(BundleError, match="resize_policy"):
        write_manifest(manifest, bundle_dir / "manifest.json")


# --- the runtime --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["center_crop", "squash"])
def policy_bundle(request, tmp_path_factory):
    bundle_dir = tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("policy") / "tiny")
    return request.param, load_bundle(_with_policy(bundle_dir, request.param))


def test_runtime_conforms_frames_of_any_size_with_the_bundles_policy(policy_bundle, monkeypatch):
    policy, bundle = policy_bundle
    seen: list[np.ndarray] = []
    real_model_input = runtime_module.model_input

    def spy(frame, *args):
        seen.append(np.array(frame))
        return real_model_input(frame, *args)

    monkeypatch.setattr(runtime_module, "model_input", spy)
    photo = np.random.default_rng(1).integers(0, 256, (12, 20, 1), dtype=np.uint8)
    with Runtime(bundle) as runtime:
        result = runtime.classify(photo, 0.0)
        assert seen, "the minions never preprocessed the frame"
        conformed = conform_frame(photo, 8, 8, policy)
        assert all(np.array_equal(frame, conformed) for frame in seen)
        other = conform_frame(photo, 8, 8, "squash" if policy == "center_crop" else "center_crop")
        assert not np.array_equal(conformed, other)  # the policy made a difference here
        assert 0 <= result.label < tfx.NUM_CLASSES
        # Float pixels of another size are rounded to uint8, then conformed the same way.
        seen.clear()
        runtime.classify(np.minimum(photo.astype(np.float32) + 0.25, 255.0), 2.0)
        assert np.array_equal(seen[0], conformed)
        with pytest.raises(DataError, match=r"frame has shape \(12, 20, 3\); expected \(H, W, 1\)"):
            runtime.classify(np.zeros((12, 20, 3), np.uint8))
        with pytest.raises(DataError, match=r"frame has shape \(0, 20, 1\); expected \(H, W, 1\) with H, W >= 1"):
            runtime.classify(np.zeros((0, 20, 1), np.uint8))
        with pytest.raises(DataError, match=r"frame has shape \(12, 20\); expected"):
            runtime.classify(np.zeros((12, 20), np.uint8))


def test_conforming_counts_as_preprocessing_time(policy_bundle, monkeypatch):
    _, bundle = policy_bundle
    now = [0.0]
    real_conform = runtime_module.conform_frame

    def slow_conform(*args):
        now[0] += 0.5  # half a second on the injected clock
        return real_conform(*args)

    monkeypatch.setattr(runtime_module, "conform_frame", slow_conform)
    with Runtime(bundle, clock=lambda: now[0]) as runtime:
        timings = runtime.classify(np.zeros((12, 20, 1), np.uint8), 0.0).timings_ms
        assert timings["preprocess"] == pytest.approx(500.0)
        assert timings["total"] >= 500.0
        assert runtime.classify(np.zeros((8, 8, 1), np.uint8), 1.0).timings_ms["preprocess"] == 0.0


# --- the server's decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["center_crop", "squash"])
def test_server_conforms_instances_of_any_size(policy):
    photo = np.random.default_rng(2).integers(0, 256, (20, 13, 3), dtype=np.uint8)
    body = {"instances": [photo.tolist(), image_b64(photo), photo[:8, :8].tolist()]}
    request = parse_predict_body(encoded(body), (8, 8, 3), 4, policy)
    assert request.frames.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(request.frames[0], conform_frame(photo, 8, 8, policy))
    np.testing.assert_array_equal(request.frames[1], request.frames[0])  # PNG is lossless
    np.testing.assert_array_equal(request.frames[2], photo[:8, :8])


def test_images_beyond_the_pixel_limit_are_refused_from_their_header():
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    body = {"instances": [{"b64": png_header_only(side, side)}]}
    with pytest.raises(DataError, match=rf"instances\[0\].b64 is a {side}x{side} \(WxH\) image of {side * side} pixels; "
                                        rf"expected at most {MAX_IMAGE_PIXELS} pixels"):
        parse_predict_body(encoded(body), (8, 8, 3), 4, "squash")
    # Just under the limit the header passes and decoding fails on the truncated data instead.
    body = {"instances": [{"b64": png_header_only(side - 1, side - 1)}]}
    with pytest.raises(DataError, match="cannot be decoded"):
        parse_predict_body(encoded(body), (8, 8, 3), 4, "squash")


def test_the_pixel_limit_holds_for_all_the_images_of_a_request(monkeypatch):
    from mmnet.server import decoding

    monkeypatch.setattr(decoding, "MAX_IMAGE_PIXELS", 150)
    frame = np.zeros((8, 8, 3), np.uint8)
    assert parse_predict_body(encoded({"instances": [image_b64(frame)] * 2}), (8, 8, 3), 4).frames.shape[0] == 2
    with pytest.raises(DataError, match=r"instances\[2\].b64 is a 8x8 \(WxH\) image of 64 pixels; expected at most "
                                        r"22 pixels \(the images of one request may hold 150 pixels in all\)"):
        parse_predict_body(encoded({"instances": [image_b64(frame)] * 3}), (8, 8, 3), 4)


# --- the pipeline's ingest ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["center_crop", "squash"])
def test_ingest_uses_conform_frame(policy):
    from mmnet.pipeline.datasets.frames import FrameCollector

    photo = np.random.default_rng(3).integers(0, 256, (30, 47, 3), dtype=np.uint8)
    collector = FrameCollector(16, 3, policy)
    collector.add(Image.fromarray(photo), "photo.png")
    gray = FrameCollector(16, 1, policy)
    gray.add(Image.fromarray(photo[:, :, 0]), "gray.png")
    np.testing.assert_array_equal(collector.finish()[0], conform_frame(photo, 16, 16, policy))
    np.testing.assert_array_equal(gray.finish()[0], conform_frame(photo[:, :, :1], 16, 16, policy))


def test_jpeg_is_decoded_once_then_conformed():
    # The image a JPEG decodes to goes through conform_frame, not Pillow's resize.
    from mmnet.pipeline.datasets.frames import FrameCollector, open_image

    photo = np.random.default_rng(4).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=95)
    image = open_image(buffer.getvalue(), "photo.jpg", at_least=32)
    decoded = np.asarray(image.convert("RGB"))
    collector = FrameCollector(32, 3, "center_crop")
    collector.add(image, "photo.jpg")
    np.testing.assert_array_equal(collector.finish()[0], conform_frame(decoded, 32, 32, "center_crop"))
