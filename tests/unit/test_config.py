"""Build-config validation: every bad field is named with its value."""

import json
from pathlib import Path

import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.config import BuildConfig, config_from_mapping, load_config
from mmnet.pipeline.sieve.native import NATIVE_FORMATS

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


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path, monkeypatch):
    monkeypatch.setenv("MMNET_SHARED_DATA", "/data-root")  # configs that read real data name it through this
    assert isinstance(load_config(path), BuildConfig)


@pytest.mark.parametrize(
    "minions, fragment",
    [
        ({"families": ["resnet50x"], "alphas": [0.5], "resolutions": [8]}, "minions.families[0]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5, -0.5], "resolutions": [8]}, "minions.alphas[1]"),
        ({"families": ["mobilenet_v1"], "alphas": [0], "resolutions": [8]}, "minions.alphas[0]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5], "resolutions": [8, 24.5]}, "minions.resolutions[1]"),
        ({"families": ["mobilenet_v1"], "alphas": [0.5], "resolutions": ["12"]}, "minions.resolutions[0]"),
        ({"families": ["mobilenet_v1", "mobilenet_v1"], "alphas": [0.5], "resolutions": [8]},
         "minions.families is ['mobilenet_v1', 'mobilenet_v1']; expected a list without duplicate entries"),
    ],
)
def test_bad_minion_grid_names_the_field(minions, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_mapping(_with(minions=minions))
    assert fragment in str(e.value)


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"training": {"epochs": 0}}, "training.epochs is 0; expected an int in [1, 10000]"),
        ({"training": {"seed": True}}, "training.seed is True; expected an int in [0, 2**31 - 1]"),
        ({"training": {"learning_rate": 0}}, "training.learning_rate is 0; expected a finite number in (0, 10]"),
        ({"training": {"augmentation": {"zoom": 0.7}}},
         "training.augmentation.zoom is 0.7; expected a finite number in [0, 0.5]"),
        ({"training": {"distillation": {"enabled": 1}}}, "training.distillation.enabled is 1; expected true or false"),
        ({"export": {"precisions": ["float32", "int4"]}},
         "export.precisions[1] is 'int4'; expected one of ['float32', 'float16', 'int8']"),
        ({"export": {"parity_margin_points": -1}},
         "export.parity_margin_points is -1; expected a finite number in [0, 100] or None"),
        ({"beam": {"num_workers": 0}}, "beam.num_workers is 0; expected an int in [1, 256] or None"),
        ({"beam": {"options": ["runner=x"]}}, "beam.options[0] is 'runner=x'; expected a flag like '--name=value'"),
        ({"preprocessing": {"mean": [0.5]}},
         "preprocessing.std is None; expected a list beside preprocessing.mean (give both, or neither)"),
        ({"preprocessing": {"mean": [0.5], "std": [0.0]}},
         "preprocessing.std[0] is 0.0; expected a finite number in (0, 1e+06]"),
        ({"runtime": {"detector": {"epsilon": {"normal": 0.9}}}},
         "runtime.detector.epsilon.normal is 0.9; expected a finite number in (0, 0.5]"),
        ({"runtime": {"detector": {"threshold_mode": "bayes"}}},
         "runtime.detector.threshold_mode is 'bayes'; expected one of ['point', 'guaranteed']"),
        ({"runtime": {"detector": {"members": ["logistic", "forest"]}}},
         "runtime.detector.members[1] is 'forest'; expected one of ['per_class_confidence', 'logistic']"),
        ({"runtime": {"server_load": {"rtt_ratio": 3}}},
         "runtime.server_load.rtt_ratio: unknown key; expected one of probe_interval_s, rtt_smoothing"),
        ({"runtime": {"reference": "oracle"}}, "runtime.reference is 'oracle'; expected one of ['labels', 'master']"),
        ({"runtime": {"latency_model": "yes"}}, "runtime.latency_model is 'yes'; expected true or false"),
        ({"runtime": {"default_profile": "wifi", "network_profiles": ["lte"]}},
         "runtime.default_profile is 'wifi'; expected one of ['lte']"),
        ({"name": "a/b"}, "name is 'a/b'; expected a non-empty bundle name without '/'"),
        ({"minions": {"families": []}}, "minions.families is []; expected at least one family, or at least one minion in "
                                        "minions.imported, or sieve.enabled (SIEVE models of the master as the only minions)"),
        ({"sieve": {"enabled": True, "models": ["fast"]}},
         "sieve.models[0] is 'fast'; expected one of ['exact', 'accurate', 'approximate', 'accurate_native', "
         "'approximate_native']"),
        ({"sieve": {"native": {"formats": ["int2"]}}},
         "sieve.native.formats is ['int2']; expected distinct names from ['float16', 'int8_weight_only', 'int8_dynamic', "
         "'int8_static', 'int4_weight_only']"),
        ({"sieve": {"native": {"latency_passes": 0}}}, "sieve.native.latency_passes is 0; expected an int >= 1"),
        ({"sieve": {"search": {"repair_rounds": 0}}}, "sieve.search.repair_rounds is 0; expected an int >= 1"),
        ({"sieve": {"search": {"coverge": 0.9}}},
         "sieve.search.coverge: unknown key; expected one of accurate_target, approximate_target, coverage, "
         "max_mantissa_bits, min_coverage, repair, repair_evaluations, repair_rounds, stop_accuracy, tighten"),
        ({"sieve": {"search_fraction": 1.5}}, "sieve.search_fraction is 1.5; expected a finite number in (0, 1]"),
        ({"sieve": {"enabled": True}, "master": {"import": "m.tflite"}},
         "sieve.enabled is True; expected a trained master or an imported .keras master: the format search needs the "
         "float Keras model, and master.import is 'm.tflite'"),
        ({"minions": {"alphas": []}}, "minions.alphas is []; expected at least one alpha for minions.families"),
        ({"minions": {"imported": [{"path": "m.onnx", "name": "m"}]}},
         "minions.imported.path is 'm.onnx'; expected a .tflite file"),
        ({"master": {"import": "m.onnx"}},
         "master.import is 'm.onnx'; expected a .keras, .h5 or .tflite file, or a SavedModel directory"),
    ],
)
def test_bad_values_name_field_value_and_expectation(sections, message):
    with pytest.raises(ConfigError) as e:
        config_from_mapping(_with(**sections))
    assert str(e.value) == message


def test_a_bad_variant_names_its_section():
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
    with pytest.raises(ConfigError, match=r"--config is '.*missing.yaml'; expected an existing file \(no such file\)"):
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


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ({"method": "snip"}, "compression.method is 'snip'; expected one of ['double_shot', 'channels']"),
        ({"sparsity": 1.0}, "compression.sparsity is 1.0; expected a finite number in [0, 1)"),
        ({"roles": []}, "compression.roles is []; expected at least one of 'master', 'minion'"),
        ({"roles": ["teacher"]}, "compression.roles[0] is 'teacher'; expected one of ['master', 'minion']"),
        ({"metric": "size"}, "compression.metric is 'size'; expected one of ['magnitude', 'movement', "
                             "'magnitude_increase', 'weighted_movement', 'weighted_magnitude_increase']"),
        ({"baselines": ["lottery"]}, "compression.baselines[0] is 'lottery'; expected one of ['snip', 'local_random']"),
        ({"baselines": ["snip", "snip"]}, "compression.baselines is ['snip', 'snip']; expected each method at most once"),
        ({"method": "channels", "baselines": ["snip"]},
         "compression.baselines is ['snip']; expected no baselines with method 'channels' (they compare "
         "unstructured pruning at equal sparsity)"),
        ({"seeds": 0}, "compression.seeds is 0; expected an int in [1, 100]"),
        ({"variants": ["resnet-a1.00-r16"]},
         "compression.variants[0] is 'resnet-a1.00-r16'; expected the name of a trained minion "
         "(['mnasnet-a0.25-r12', 'mnasnet-a0.25-r8', 'mnasnet-a0.50-r12', 'mnasnet-a0.50-r8', "
         "'mobilenet_v2-a0.25-r12', 'mobilenet_v2-a0.25-r8', 'mobilenet_v2-a0.50-r12', 'mobilenet_v2-a0.50-r8'])"),
    ],
)
def test_bad_compression_fields_are_named(compression, message):
    with pytest.raises(ConfigError) as e:
        config_from_mapping(_with(compression=compression))
    assert str(e.value) == message


def test_compression_is_off_by_default_and_selects_roles_and_variants():
    assert not config_from_mapping(BASE).compression.applies_to("mnasnet-a0.25-r8", "minion")
    config = config_from_mapping(_with(compression={"enabled": True, "roles": ["master", "minion"],
                                                    "variants": ["resnet-a1.00-r16", "mnasnet-a0.25-r8"]}))
    compression = config.compression
    assert compression.applies_to("resnet-a1.00-r16", "master")
    assert compression.applies_to("mnasnet-a0.25-r8", "minion")
    assert not compression.applies_to("mnasnet-a0.50-r8", "minion")
    every_minion = config_from_mapping(_with(compression={"enabled": True})).compression
    assert every_minion.applies_to("mnasnet-a0.50-r8", "minion") and not every_minion.applies_to("resnet-a1.00-r16", "master")


def test_sieve_native_models_and_search_settings_parse():
    config = config_from_mapping(_with(sieve={"enabled": True, "models": ["accurate", "accurate_native"],
                                              "native": {"formats": ["int8_static", "float16"], "latency_tolerance": 0.1}}))
    assert config.sieve.models == ("accurate", "accurate_native")
    assert config.sieve.native.formats == ("int8_static", "float16") and config.sieve.native.latency_tolerance == 0.1
    assert config_from_mapping(_with()).sieve.native.formats == NATIVE_FORMATS
