"""The real-models bundle, built once per session for every e2e module that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared_data import CORAL_CONFIG, build, shared_data


@pytest.fixture(scope="session")
def coral_bundle(tmp_path_factory) -> Path:
    """configs/coral-imagenet.yaml: four pretrained quantised ImageNet models on 500 labeled photos."""
    shared_data()  # skips, with the reason, when the data is absent
    bundle = tmp_path_factory.mktemp("coral") / "bundle"
    build(CORAL_CONFIG, bundle)
    return bundle
