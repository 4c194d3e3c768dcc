"""Build-config validation: every bad field is named with its value."""

import json

import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.config import BuildConfig, config_from_mapping, load_config

BASE = {"name": "t", "dataset": {"source": "builtin:digits"}}


def _with(**sections):
    data = json.loads(json.dumps(BASE))
    for key, value in sections.items():
        data[key] = value
    return data


def test_default_config_file_loads_with_expected_grid():
    config = load_config("configs/digits.yaml")
    assert isinstance(config, BuildConfig)
    names = [v.name for v in config.minions.variants()]
    assert len(names) == len(set(names)) == 8
    assert config.master.variant().family == "resnet"


@pytest.mark.parametrize(
    "minions, fragment",
    [
        ({"families": ["resnet50x"], "alphas": [0.5], "resolutions": [8]}, "minions.families[0]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5, -0.5], "resolutions": [8]}, "minions.alphas[1]"),
        ({"families": ["mobilenet_v1"], "alphas": [0], "resolutions": [8]}, "minions.alphas[0]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5], "resolutions": [8, 24.5]}, "minions.resolutions[1]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5], "resolutions": ["12"]}, "minions.resolutions[0]"),
        ({"families": ["mobilenet_v1", "mobilenet_v1"], "alphas": [0.5], "resolutions": [8]}, "minions.families: duplicate"),
    ],
)
def test_bad_minion_grid_names_the_field(minions, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_mapping(_with(minions=minions))
    assert fragment in str(e.value)


def test_bad_values_name_field_and_value():
    with pytest.raises(ConfigError, match=r"training.epochs: expected an integer in \[1, 10000\], got 0"):
        config_from_mapping(_with(training={"epochs": 0}))
    with pytest.raises(ConfigError, match=r"export.precisions\[1\]: unknown precision 'int4'"):
        config_from_mapping(_with(export={"precisions": ["float32", "int4"]}))
    with pytest.raises(ConfigError, match=r"runtime.threshold_floor.normal: expected a number in \[0.0, 0.5\], got 0.9"):
        config_from_mapping(_with(runtime={"threshold_floor": {"normal": 0.9}}))
    with pytest.raises(ConfigError, match="master: .*alpha"):
        config_from_mapping(_with(master={"family": "resnet", "alpha": -1, "resolution": 16}))


def test_unknown_key_is_rejected_with_allowed_keys():
    with pytest.raises(ConfigError, match=r"training.epochz: unknown key; expected one of .*epochs"):
        config_from_mapping(_with(training={"epochz": 3}))
    with pytest.raises(ConfigError, match="master.importt: unknown key; expected one of .*import"):
        config_from_mapping(_with(master={"importt": "x.keras"}))


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    (tmp_path / "imgs").mkdir()
    config_path = tmp_path / "c.yaml"
    config_path.write_text("name: f\ndataset: {source: 'folder:imgs', image_size: 8}\n")
    config = load_config(config_path)
    assert config.dataset.source == f"folder:{tmp_path / 'imgs'}"


def test_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    wrong = tmp_path / "c.toml"
    wrong.write_text("x=1")
    with pytest.raises(ConfigError, match="expected a .yaml, .yml or .json file"):
        load_config(wrong)


def test_json_config_equals_yaml_config(tmp_path):
    yaml_config = load_config("configs/digits.yaml")
    json_path = tmp_path / "digits.json"
    json_path.write_text(json.dumps(yaml_config.to_json()))
    assert load_config(json_path) == yaml_config
