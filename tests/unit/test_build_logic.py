"""The build's decision logic in TF-free modules: the agreement of two models' answers.

The rest of it lives in modules that import Beam or TensorFlow: tests/integration/test_build_logic.py.
"""

import numpy as np
import pytest

from mmnet.pipeline.bundle import agreement


def test_agreement_counts_matching_top1():
    a = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    b = np.array([[0.7, 0.3], [0.9, 0.1], [0.5, 0.5]])
    assert agreement(a, b) == pytest.approx(2 / 3)
