"""The model zoo's names: variant specs, their parsing and the families' roles.

The Keras side (building models, the families' architectures) is tested in tests/integration/test_zoo.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.zoo.families import FAMILIES, family_names
from mmnet.pipeline.zoo.spec import PRECISIONS, VariantSpec

# ------------------------------------------------------------------------------------ VariantSpec


def test_name_artifact_id_and_parse_round_trip():
    spec = VariantSpec("mobilenet_v2", 0.5, 24)
    assert spec.name == "mobilenet_v2-a0.50-r24"
    assert spec.artifact_id("int8") == "mobilenet_v2-a0.50-r24-int8"
    assert [spec.artifact_id(p) for p in PRECISIONS] == [f"{spec.name}-{p}" for p in PRECISIONS]
    assert VariantSpec.parse(spec.name) == spec
    for name in ("resnet-a1.00-r32", "mnasnet-a0.35-r8", "mobilenet_v1-a4.00-r1024", "lenet5-a1.00-r28", "vgg_small-a0.50-r8"):
        assert VariantSpec.parse(name).name == name


def test_alpha_is_normalised_so_equal_names_mean_equal_specs():
    spec = VariantSpec("mobilenet_v1", 0.1 + 0.2, np.int64(16))
    assert spec == VariantSpec("mobilenet_v1", 0.3, 16)
    assert type(spec.alpha) is float and type(spec.resolution) is int
    assert sorted([VariantSpec("resnet", 1.0, 32), VariantSpec("mnasnet", 0.5, 16)])[0].family == "mnasnet"


@pytest.mark.parametrize(
    "family, alpha, resolution, message",
    [
        ("vgg16", 1.0, 32, r"family must be one of mobilenet_v1, mobilenet_v2, mnasnet, resnet, lenet5, vgg_small, got 'vgg16'"),
        (None, 1.0, 32, "family must be one of"),
        ("resnet", 0.0, 32, r"alpha must be in \(0, 4\], got 0.0"),
        ("resnet", -0.5, 32, r"alpha must be in \(0, 4\], got -0.5"),
        ("resnet", 4.5, 32, r"alpha must be in \(0, 4\], got 4.5"),
        ("resnet", float("nan"), 32, r"alpha must be in \(0, 4\], got nan"),
        ("resnet", True, 32, "alpha must be a number, got True"),
        ("resnet", "0.5", 32, "alpha must be a number, got '0.5'"),
        ("resnet", 0.125, 32, "alpha must have at most 2 decimal places"),
        ("resnet", 1.0, 24.5, "resolution must be an integer, got 24.5"),
        ("resnet", 1.0, 24.0, "resolution must be an integer, got 24.0"),
        ("resnet", 1.0, "24", "resolution must be an integer, got '24'"),
        ("resnet", 1.0, True, "resolution must be an integer, got True"),
        ("resnet", 1.0, 4, r"resolution must be in \[8, 1024\], got 4"),
        ("resnet", 1.0, 2048, r"resolution must be in \[8, 1024\], got 2048"),
    ],
)
def test_variant_spec_rejects_bad_fields(family, alpha, resolution, message):
    with pytest.raises(ConfigError, match=message):
        VariantSpec(family, alpha, resolution)


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "variant name must look like"),
        ("mobilenet_v2", "variant name must look like"),
        ("mobilenet_v2-a0.5-r24", "variant name must look like"),
        ("mobilenet_v2-a0.50-r24-int8", "variant name must look like"),
        (None, "variant name must look like"),
        ("vgg-a1.00-r32", "family must be one of"),
        ("resnet-a1.00-r4", r"resolution must be in \[8, 1024\]"),
        ("resnet-a1.00-r024", "is not canonical; expected 'resnet-a1.00-r24'"),
    ],
)
def test_parse_rejects_malformed_names(name, message):
    with pytest.raises(ConfigError, match=message):
        VariantSpec.parse(name)


def test_artifact_id_rejects_unknown_precision():
    with pytest.raises(ConfigError, match="precision must be one of float32, float16, int8, got 'int4'"):
        VariantSpec("resnet", 1.0, 32).artifact_id("int4")


# --------------------------------------------------------------------------------------- registry


def test_registry_roles_and_read_only():
    assert family_names() == ("mobilenet_v1", "mobilenet_v2", "mnasnet", "resnet", "lenet5", "vgg_small")
    assert family_names("minion") == ("mobilenet_v1", "mobilenet_v2", "mnasnet")
    assert family_names("master") == ("resnet", "lenet5", "vgg_small")
    assert all(FAMILIES[name].name == name and FAMILIES[name].description for name in FAMILIES)
    with pytest.raises(TypeError):
        FAMILIES["vgg"] = FAMILIES["resnet"]  # type: ignore[index]
    with pytest.raises(ConfigError, match="role must be one of master, minion"):
        family_names("boss")
