"""SIEVE models through the real Beam build: the format search on the master, float32 TFLite minions
with activations rounded in the graph, kernels packed at their widths in the bundle, unpacked at load.

Digits at 8x8, a LeNet-5 master (three epochs), no minion grid: the SIEVE models of the master are
the only minions. The bundle verifies, its packed files unpack to the gated TFLite bytes and run with
the evaluation stage's outputs, the comparison is in the report, and the runtime runs the bundle; on
a CPU the emulated SIEVE model is slower than its float master, so the selector keeps the master alone.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from mmnet.format.bundle import load_bundle
from mmnet.format.custom_float import FloatFormat, quantize
from mmnet.pipeline.build import run_build
from mmnet.pipeline.config import config_from_mapping
from mmnet.runtime.interpreter import TFLiteClassifier, load_interpreter
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.runtime import Runtime

MASTER = "lenet5-a1.00-r8"
MODELS = ("exact", "accurate")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sieve")
    config = config_from_mapping({
        "name": "digits-sieve",
        "dataset": {"source": "builtin:digits"},
        "master": {"family": "lenet5", "alpha": 1.0, "resolution": 8},
        "minions": {"families": []},
        "training": {"epochs": 3, "master_epochs": 3},
        "export": {"precisions": ["float32"], "parity_margin_points": 1.0},
        "sieve": {"enabled": True, "models": list(MODELS), "search": {"max_mantissa_bits": 2, "repair_evaluations": 60}},
        "runtime": {"latency_model": False, "single_minion_systems": True,
                    "detector": {"members": ["per_class_confidence"], "folds": 2}},
        "beam": {"num_workers": 1},
    }, base_dir=root)
    with pytest.MonkeyPatch.context() as patch:  # unpacked models go to this test's own cache
        patch.setenv("MMNET_CACHE_DIR", str(root / "cache"))
        result = run_build(config, root / "bundle", progress=False)
        yield result, root / ".bundle.work"


def _stage_file(work, stage: str, name: str):
    """The file ``name`` of one entry of ``stage`` in the build's stage cache (``<work>/stages/<stage>/<key>/``)."""
    found = list((work / "stages" / stage).glob(f"*/{name}"))
    assert len(found) == 1, found
    return found[0]


def test_sieve_models_ship_packed_and_verify(built):
    result, work = built
    assert result.failures == [] and result.counters.get("sieve_completed") == 1
    bundle = load_bundle(result.bundle_dir)
    sieve = {m["sieve"]["model"]: m for m in bundle.manifest["models"] if m.get("sieve")}
    assert sorted(sieve) == sorted(MODELS)
    search = json.loads(_stage_file(work, "sieve", "sieve_search.json").read_text())
    for name, record in sieve.items():
        assert record["family"] == "sieve" and record["quantization"] == "sieve" and record["role"] == "minion"
        assert record["blessed"], record["reason"]  # the parity gate against its own Keras model
        assert record["file"].endswith(".packed")
        packing = record["packing"]
        # the kernels of every reformatted weight are in the file at their widths, smaller than float32
        packed_kernels = {t["name"] for t in packing["tensors"]}
        assert packed_kernels == {k for k in search["models"][name]["formats"] if k.endswith("/kernel")}
        assert record["bytes"] < packing["tflite_bytes"] and packing["gzip_bytes"] < packing["tflite_gzip_bytes"]
        assert packing["bits_per_packed_value"] < 32
        assert record["sieve"]["formats"] == search["models"][name]["formats"]
        # unpacked at load: the very bytes the evaluation stage gated
        path = bundle.model_path(record["id"])
        gated = _stage_file(work, "export", f"{record['id']}.tflite").read_bytes()
        assert path.read_bytes() == gated and hashlib.sha256(gated).hexdigest() == packing["tflite_sha256"]


def test_unpacked_kernels_are_the_formats_values(built):
    result, _ = built
    bundle = load_bundle(result.bundle_dir)
    record = next(m for m in bundle.manifest["models"] if m.get("sieve", {}).get("model") == "accurate")
    interpreter = load_interpreter(bundle.model_path(record["id"]), use_xnnpack=False)
    constants = {}
    for detail in interpreter.get_tensor_details():
        try:
            constants[detail["index"]] = np.asarray(interpreter.get_tensor(detail["index"]))
        except ValueError:
            continue
    for tensor in record["packing"]["tensors"]:
        fmt = FloatFormat.parse(tensor["format"])
        same = [c for c in constants.values() if c.size == tensor["count"] and c.dtype == np.float32]
        assert same and any(np.array_equal(quantize(c, fmt), c) for c in same), tensor["name"]


def test_packed_models_run_from_the_bundle_and_the_comparison_is_reported(built):
    result, work = built
    bundle = load_bundle(result.bundle_dir)
    frames, labels = bundle.load_split("test")
    for record in (m for m in bundle.models if m.sieve):
        # the runtime's interpreter on the unpacked file gives what the evaluation stage gated
        classifier = TFLiteClassifier(bundle.model_path(record.id), num_threads=1)
        ours = classifier.predict(preprocess(frames, bundle.preprocessing, record.resolution))
        with np.load(_stage_file(work, "evaluate", f"{record.id}.npz")) as gated:
            np.testing.assert_array_equal(ours, gated["test_probabilities"])
    # On a CPU the emulated SIEVE model (its activations rounded by extra ops) is slower than the float
    # master it came from, so with the master on the device the selector keeps the master alone, and says so.
    config = bundle.runtime_config.document
    for profile, modes in config["selection"].items():
        choice = modes["normal"]
        assert choice["system"] == "master-only" and "no faster" in choice["why"], (profile, choice)
    # the comparison beside the paper's numbers is in the report, checksummed with it
    listed = {entry["file"] for entry in bundle.manifest["report"]["files"]}
    assert "report/sieve_compare.md" in listed
    text = (result.bundle_dir / "report" / "sieve_compare.md").read_text(encoding="utf-8")
    assert "| sieve |" in text and "paper: SIEVE (ch. 4)" in text
    # with the Pareto of the models' stored bits against accuracy (Fig 4.9), checksummed too
    assert "report/sieve_pareto.png" in listed and "](sieve_pareto.png)" in text
    # and a frame runs through the runtime with the bundle as configured
    with Runtime(bundle, mode="normal", network="lte", placement="device") as runtime:
        answers = [runtime.classify(frame, float(i)) for i, frame in enumerate(frames[:20])]
    assert sum(a.label == int(labels[i]) for i, a in enumerate(answers)) >= 12


def test_the_sieve_systems_detectors_are_fitted_on_val_frames_the_search_did_not_use(built):
    """Half of val chooses the formats (recorded per model); the SIEVE systems' detectors see only the
    other half, where the model agrees with its master as rarely as on fresh frames."""
    result, work = built
    bundle = load_bundle(result.bundle_dir)
    val_frames = bundle.manifest["dataset"]["splits"]["val"]
    search = json.loads(_stage_file(work, "sieve", "sieve_search.json").read_text())
    searched = {}
    for record in (m for m in bundle.manifest["models"] if m.get("sieve")):
        frames = record["sieve"]["search_val_frames"]
        assert len(frames) == round(0.5 * val_frames) and max(frames) < val_frames
        searched[record["id"]] = len(frames)
    assert f"searched on {next(iter(searched.values()))} of {val_frames} val frames" in " ".join(search["notes"])
    systems = json.loads((result.bundle_dir / "report" / "systems.json").read_text(encoding="utf-8"))
    fitted = {row["system"]: {m["certification"]["frames"] for mode in row["modes"].values() if mode
                              for kind, m in mode["members"].items() if kind != "chosen"} for row in systems}
    assert {f"single:{mid}" for mid in searched} <= set(fitted)
    for mid, count in searched.items():
        assert fitted[f"single:{mid}"] == {val_frames - count}, (mid, fitted[f"single:{mid}"])
