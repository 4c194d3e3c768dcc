"""The whole build pipeline on real data, through real Beam runners, to a verified bundle."""

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.format.bundle import load_bundle
from mmnet.format.describe import format_bundle_summary
from mmnet.format.device_profile import host_device_profile, write_device_profile
from mmnet.format.errors import BundleError
from mmnet.format.signing import generate_key, load_public_key
from mmnet.pipeline.build import run_build
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.report.files import report_files
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from tests.support.served import mmnet_serve
from tests.support.tflite_fixtures import write_tflite

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits_bundle(tmp_path_factory):
    """Two Beam worker processes; one imported minion is broken on purpose (3 classes, not 10)."""
    root = tmp_path_factory.mktemp("e2e")
    broken = write_tflite(root / "three_classes.tflite", "float32")
    config = config_from_mapping(
        {
            "name": "digits-e2e",
            "dataset": {"source": "builtin:digits"},
            "master": {"family": "resnet", "alpha": 0.25, "resolution": 8},
            "minions": {
                "families": ["mobilenet_v1", "mobilenet_v2"],
                "alphas": [0.25],
                "resolutions": [8],
                "imported": [{"path": str(broken), "name": "team-model"}],
            },
            "training": {"epochs": 4, "master_epochs": 4},
            "export": {"precisions": ["float32", "int8"]},
            "beam": {"num_workers": 2},
        }
    )
    result = run_build(config, root / "bundle", progress=False)
    return result, root


def test_bundle_verifies_and_records_every_artifact(digits_bundle):
    result, _ = digits_bundle
    bundle = load_bundle(result.bundle_dir)
    ids = {m.id for m in bundle.models}
    variants = ("resnet-a0.25-r8", "mobilenet_v1-a0.25-r8", "mobilenet_v2-a0.25-r8")
    expected = {f"{v}-{p}" for v in variants for p in ("float32", "int8")}
    assert ids == expected
    for model in bundle.models:
        assert model.reason and isinstance(model.blessed, bool)
        assert model.macs > 0 and model.params > 0 and model.bytes > 0
        assert model.host_latency_ms["runs"] >= 50 and model.host_latency_ms["median"] > 0
        assert 0.0 <= model.metrics["val_accuracy"] <= 1.0
        assert model.shipped == model.blessed
    assert bundle.manifest["dataset"]["fingerprint"].startswith("sha256:")
    assert bundle.manifest["dataset"]["splits"] == {"train": 1077, "val": 360, "test": 360}


def test_broken_import_is_a_dead_letter_not_a_crash(digits_bundle):
    result, _ = digits_bundle
    [failure] = result.failures
    assert failure["stage"] == "import" and failure["variant"] == "team-model"
    assert "3 classes, the dataset has 10" in failure["error"]


def test_recorded_accuracy_is_the_deployed_artifacts(digits_bundle):
    result, _ = digits_bundle
    bundle = load_bundle(result.bundle_dir)
    frames, labels = bundle.load_split("test")
    for model in bundle.blessed():
        classifier = TFLiteClassifier(bundle.model_path(model.id))
        probabilities = classifier.predict(preprocess(frames, bundle.preprocessing, model.resolution))
        assert np.mean(probabilities.argmax(1) == labels) == pytest.approx(model.test_accuracy)


def test_int8_artifacts_take_int8_input_and_output(digits_bundle):
    result, _ = digits_bundle
    manifest = json.loads((result.bundle_dir / "manifest.json").read_text())
    int8 = [record for record in manifest["models"] if record["precision"] == "int8"]
    assert len(int8) == 3, [record["id"] for record in int8]  # the master and both minions
    for record in int8:
        assert record["input"]["dtype"] == "int8" and record["output"]["dtype"] == "int8"
        assert record["input"]["scale"] > 0


def test_inspect_verifies_and_rejects_a_tampered_model(digits_bundle):
    result, root = digits_bundle
    ok = subprocess.run([sys.executable, "-m", "mmnet", "inspect", str(result.bundle_dir)], capture_output=True, text=True,
                        cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "verified: schema OK" in ok.stdout and "resnet-a0.25-r8-float32" in ok.stdout

    tampered = root / "tampered"
    shutil.copytree(result.bundle_dir, tampered)
    victim = next((tampered / "models").glob("*.tflite"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=victim.name):
        load_bundle(tampered)
    bad = subprocess.run([sys.executable, "-m", "mmnet", "inspect", str(tampered)], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and victim.name in bad.stderr and "Traceback" not in bad.stderr


def test_image_folder_dataset_needs_only_a_config_change(tmp_path):
    """The same pipeline on PNG files in class folders, in-process runner (1 worker)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path / "images"
    for i, (image, label) in enumerate(zip(digits.images[:400], digits.target[:400])):
        class_dir = folder / f"digit_{label}"
        class_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(class_dir / f"{i}.png")
    config_path = tmp_path / "folder.yaml"
    config_path.write_text(
        "name: folder-digits\n"
        "dataset: {source: 'folder:images', val_fraction: 0.25, test_fraction: 0.25}\n"
        "master: {family: resnet, alpha: 0.25, resolution: 8}\n"
        "minions: {families: [mobilenet_v1], alphas: [0.25], resolutions: [8]}\n"
        "training: {epochs: 1, master_epochs: 1}\n"
        "export: {precisions: [float32]}\n"
        "beam: {num_workers: 1}\n"
    )
    out = tmp_path / "bundle"
    private_key, public_key = generate_key(tmp_path / "team.key")
    run = subprocess.run([sys.executable, "-m", "mmnet", "build", "--config", str(config_path), "--out", str(out),
                          "--key", str(private_key)],
                         capture_output=True, text=True, cwd=REPO, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    # The console holds the progress lines and the summary; TensorFlow, absl and Beam write to the build log.
    stages = "prepare|train|export|evaluate|host_latency|latency_model|configure"
    progress = re.compile(rf"^\[\s*\d+s\] ({stages}) +\d+/\d+  .+  done in ")
    assert run.stderr and all(progress.match(line) for line in run.stderr.splitlines()), run.stderr[-3000:]
    for noise in ("cuDNN", "absl", "InitializeLog", "cuda", "Traceback", "WARNING", "apache_beam"):
        assert noise not in run.stderr and noise not in run.stdout, noise
    log = tmp_path / ".bundle.work" / "build.log"
    assert run.stdout.splitlines()[-1] == f"Build log: {log}" and log.is_file()
    bundle = load_bundle(out, trusted_keys=(load_public_key(public_key),))  # built signed
    assert bundle.labels == tuple(f"digit_{d}" for d in range(10))
    assert bundle.manifest["dataset"]["source"].startswith("folder:")
    assert bundle.manifest["dataset"]["splits"] == {"train": 200, "val": 100, "test": 100}
    assert {m.role for m in bundle.models} == {"master", "minion"}


def test_distillation_and_qat_path(tmp_path):
    """Master first (a graph of its own), its soft labels carried by the minion tasks; int8 from QAT fine-tuning."""
    config = config_from_mapping(
        {
            "name": "distilled",
            "dataset": {"source": "builtin:digits"},
            "master": {"family": "resnet", "alpha": 0.25, "resolution": 8},
            "minions": {"families": ["mobilenet_v1"], "alphas": [0.25], "resolutions": [8]},
            "training": {"epochs": 2, "master_epochs": 2, "distillation": {"enabled": True, "temperature": 3.0}},
            "export": {"precisions": ["int8"], "qat_epochs": 1},
            "beam": {"num_workers": 1},
        }
    )
    result = run_build(config, tmp_path / "bundle", progress=False)
    assert result.failures == []
    bundle = load_bundle(result.bundle_dir)
    assert {m.quantization for m in bundle.models} == {"qat"}
    stages = tmp_path / ".bundle.work" / "stages"
    records = [json.loads(p.read_text())["record"] for p in (stages / "train").glob("*/entry.json")]
    trained = next(r for r in records if r["variant"] == "mobilenet_v1-a0.25-r8")
    assert trained["distilled"] is True
    (teacher_entry,) = (stages / "teacher").glob("*/entry.json")
    teacher = np.load(json.loads(teacher_entry.read_text())["record"]["path"].replace("${ENTRY}", str(teacher_entry.parent)))
    assert teacher["train"].shape == (1077, 10) and np.allclose(teacher["train"].sum(1), 1.0, atol=1e-4)


def test_runtime_config_report_and_latency_model(digits_bundle):
    result, _ = digits_bundle
    bundle = load_bundle(result.bundle_dir)
    config = bundle.runtime_config
    assert config is not None, result.failures
    doc = config.document
    assert set(doc["selection"]) == {"3g", "lte", "wifi"}
    for profile, modes in doc["selection"].items():
        assert modes["mission_critical"]["system"] == "master-only"
        for chosen in modes.values():
            # Never a hybrid slower than the master alone where it runs.
            master_alone = doc["placement"][profile][f"{chosen['placement']}_ms"]
            assert chosen["expected"]["latency_ms"] <= master_alone + 1e-9
    index = bundle.path / bundle.manifest["report"]["index"]["file"]
    for name in report_files(index):
        assert (index.parent / name).is_file(), name
    latency_model = bundle.manifest["build"]["latency_model"]
    evaluation = latency_model["evaluation"]
    assert evaluation["count"] >= 3
    assert all(row["predicted_ms"] > 0 for row in evaluation["models"])
    assert "Runtime config: runtime_config.json" in format_bundle_summary(bundle)


def _profile_with_master_latency(bundle, master_ms: float, path: Path) -> Path:
    """A device profile like the host's, but with the master (every precision) taking ``master_ms``."""
    profile = host_device_profile(bundle.manifest)
    timings = {
        model_id: dataclasses.replace(t, median_ms=master_ms, p90_ms=master_ms, mean_ms=master_ms, min_ms=master_ms)
        if bundle.model(model_id).role == "master" else t
        for model_id, t in profile.models.items()
    }
    phone = dataclasses.replace(profile, models=timings,
                                device=dataclasses.replace(profile.device, name="test-phone", kind="android"))
    write_device_profile(phone, path)
    return path


def test_a_device_profile_changes_master_placement(digits_bundle, tmp_path):
    result, _ = digits_bundle
    copy = tmp_path / "bundle"
    shutil.copytree(result.bundle_dir, copy)
    bundle = load_bundle(copy)
    slow = _profile_with_master_latency(bundle, 500.0, tmp_path / "slow-master.json")
    fast = _profile_with_master_latency(bundle, 1.0, tmp_path / "fast-master.json")
    for path, expected in ((slow, "cloud"), (fast, "device")):
        done = subprocess.run([sys.executable, "-m", "mmnet", "configure", str(copy), "--device-profile", str(path)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        doc = load_bundle(copy).runtime_config.document
        # Wi-Fi's round trip (~30 ms) beats a 500 ms master on the phone but not a 1 ms one.
        assert doc["placement"]["wifi"]["choice"] == expected
        assert doc["selection"]["wifi"]["private"]["placement"] == "device"
        assert doc["device_profile"]["name"] == "test-phone"


def test_built_bundle_runs_on_device_and_against_mmnet_serve_identically(digits_bundle, tmp_path):
    """`mmnet serve` in its own process on loopback; `mmnet run` on the device and against it."""
    result, _ = digits_bundle
    with mmnet_serve(result.bundle_dir) as url:
        runs = {}
        for placement in ("device", "cloud"):
            trace = tmp_path / f"{placement}.jsonl"
            done = subprocess.run(
                [sys.executable, "-m", "mmnet", "run", str(result.bundle_dir), "--split", "test", "--mode", "mission-critical",
                 "--placement", placement, "--master-url", url, "--quiet", "--trace", str(trace),
                 "--summary-json", str(tmp_path / f"{placement}.json")],
                capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr
            runs[placement] = [json.loads(line) for line in trace.read_text().splitlines()]
            summary = json.loads((tmp_path / f"{placement}.json").read_text())
            assert summary["frames"] == 360 and summary["frames_lost"] == 0 and summary["fallbacks_total"] == 0
        assert {row["master_placement"] for row in runs["cloud"]} == {"cloud"}
        assert [row["label"] for row in runs["device"]] == [row["label"] for row in runs["cloud"]]


def test_runtime_selector_reproduces_the_pipelines_selection(digits_bundle):
    """At a profile's own numbers, the runtime's selector chooses what mmnet.pipeline.pairing chose."""
    from mmnet.format.runtime_config import MASTER_ONLY, MODES
    from mmnet.runtime.selector import SelectorTables, decide, initial_state, master_cloud_ms

    result, _ = digits_bundle
    config = load_bundle(result.bundle_dir).runtime_config
    doc = config.document
    tables = SelectorTables.from_config(config)
    for profile in doc["network_profiles"]:
        state = initial_state(tables, profile)
        assert master_cloud_ms(tables, state.link) == pytest.approx(doc["placement"][profile]["cloud_ms"])
        for mode in MODES:
            chosen = doc["selection"][profile][mode]
            decision = decide(tables, state, mode=mode, now_s=0.0)
            assert (decision.system, decision.placement) == (chosen["system"], chosen["placement"]), decision.reasons
            estimates = decision.estimates
            ms = estimates["master_ms"] if decision.system == MASTER_ONLY else estimates["expected_ms"][decision.system]
            assert ms == pytest.approx(chosen["expected"]["latency_ms"], abs=1e-6)
