"""The committed tiny TFLite fixtures are what TensorFlow makes of the tiny network today."""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.runtime.interpreter import TFLiteClassifier
from tests.support import tflite_fixtures as tfx

pytest.importorskip("tensorflow", reason="converting the tiny network needs TensorFlow (the pipeline extra)")


@pytest.mark.parametrize("precision", tfx.PRECISIONS)
def test_committed_fixture_matches_a_fresh_conversion(tmp_path, precision):
    fresh = tmp_path / "fresh.tflite"
    fresh.write_bytes(tfx.convert_tiny_models()[precision])
    inputs = tfx.normalised_inputs(32, seed=11)
    committed = TFLiteClassifier(tfx.write_tflite(tmp_path / "committed.tflite", precision)).predict(inputs)
    converted = TFLiteClassifier(fresh).predict(inputs)
    # int8: the calibration may move a quantisation step; one output step is 1/256.
    np.testing.assert_allclose(committed, converted, atol=1e-6 if precision == "float32" else 2 / 256)
    np.testing.assert_allclose(converted, tfx.reference_scores(inputs), atol=1e-5 if precision == "float32" else 0.05)
