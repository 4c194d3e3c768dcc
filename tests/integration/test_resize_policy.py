"""Frames of any size through the real master server (uvicorn on loopback) and the real runtime:
both conform them with the bundle's resize policy, so their answers equal the local interpreter's
on ``conform_frame`` of the same pixels."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from mmnet.format.bundle import load_bundle, write_manifest
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import conform_frame, preprocess
from mmnet.runtime.runtime import Runtime
from mmnet.server.decoding import MAX_IMAGE_PIXELS
from mmnet.server.launch import running_server
from tests.support import tflite_fixtures as tfx
from tests.support.serving import encoded, image_b64, png_header_only


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    bundle_dir = tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("policy") / "tiny")
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["preprocessing"]["resize_policy"] = "center_crop"
    write_manifest(manifest, bundle_dir / "manifest.json")
    return bundle_dir


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((30, 17, 1), (9, 40, 1), (8, 8, 1), (3, 5, 1))]


def _local(bundle, frames: np.ndarray) -> np.ndarray:
    master = bundle.model(tfx.FLOAT_ID)
    return TFLiteClassifier(bundle.model_path(master.id)).predict(preprocess(frames, bundle.preprocessing, master.resolution))


@pytest.mark.server
def test_the_server_conforms_instances_of_any_size(bundle_dir, photos):
    bundle = load_bundle(bundle_dir)
    assert bundle.preprocessing.resize_policy == "center_crop"
    conformed = np.stack([conform_frame(p, 8, 8, "center_crop") for p in photos])
    squashed = np.stack([conform_frame(p, 8, 8, "squash") for p in photos])
    expected = _local(bundle, conformed)
    assert not np.array_equal(expected[:2], _local(bundle, squashed)[:2])  # the policy changes the answer
    with running_server(bundle_dir, threads=1, max_instances=8, model_id=tfx.FLOAT_ID) as url, requests.Session() as http:
        raw = http.post(f"{url}/v1/models/tiny:predict", timeout=10,
                        data=encoded({"instances": [p[:, :, 0].tolist() for p in photos]}))
        assert raw.status_code == 200, raw.text
        np.testing.assert_array_equal(np.asarray(raw.json()["predictions"], dtype=np.float32), expected)
        png = http.post(f"{url}/v1/models/tiny:predict", timeout=10,
                        data=encoded({"instances": [image_b64(p[:, :, 0]) for p in photos]}))
        assert png.status_code == 200, png.text
        np.testing.assert_array_equal(np.asarray(png.json()["predictions"], dtype=np.float32), expected)
        # A JPEG is decoded by Pillow, then conformed like any other frame.
        jpeg = image_b64(photos[0][:, :, 0], "JPEG")
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(jpeg["b64"]))))[:, :, None]
        reply = http.post(f"{url}/v1/models/tiny:predict", timeout=10, data=encoded({"instances": [jpeg]}))
        assert reply.status_code == 200, reply.text
        np.testing.assert_array_equal(np.asarray(reply.json()["predictions"], dtype=np.float32),
                                      _local(bundle, conform_frame(decoded, 8, 8, "center_crop")[None]))
        # A decompression bomb is refused from its header, and the server keeps serving.
        side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
        bomb = http.post(f"{url}/v1/models/tiny:predict", timeout=10,
                         data=encoded({"instances": [{"b64": png_header_only(side, side, channels=1)}]}))
        assert bomb.status_code == 400 and f"expected at most {MAX_IMAGE_PIXELS} pixels" in bomb.json()["error"]
        again = http.post(f"{url}/v1/models/tiny:predict", timeout=10,
                          data=encoded({"instances": [photos[0][:, :, 0].tolist()]}))
        assert again.status_code == 200


def test_the_runtime_answers_a_photo_as_its_conformed_frame(bundle_dir, photos):
    bundle = load_bundle(bundle_dir)
    with Runtime(bundle, mode="mission_critical") as runtime:  # every frame to the (device) master
        for i, photo in enumerate(photos):
            whole = runtime.classify(photo, float(2 * i))
            conformed = runtime.classify(conform_frame(photo, 8, 8, "center_crop"), float(2 * i + 1))
            assert (whole.label, whole.confidence) == (conformed.label, conformed.confidence)
            assert whole.timings_ms["preprocess"] > 0.0


def test_mmnet_run_input_conforms_a_dataset_with_the_bundles_policy(bundle_dir, photos, tmp_path):
    from mmnet.cli.main import _dataset_frames

    wide = [photo for photo in photos if photo.shape[:2] != (8, 8)]
    for i, photo in enumerate(wide):  # one class sub-folder per photo, read in name order
        (tmp_path / "photos" / f"c{i}").mkdir(parents=True)
        Image.fromarray(photo[:, :, 0]).save(tmp_path / "photos" / f"c{i}" / "photo.png")
    frames, _ = _dataset_frames(f"folder:{tmp_path / 'photos'}", load_bundle(bundle_dir).preprocessing)
    # Each frame is the centre crop the runtime would take, not the squashed photo.
    assert np.array_equal(frames, np.stack([conform_frame(photo, 8, 8, "center_crop") for photo in wide]))
