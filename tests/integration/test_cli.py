"""The CLI as a user runs it, in a child process: bad input gives one clear line on stderr and exit 2, never a
traceback, and the libraries' import chatter never reaches the console.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _mmnet(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "mmnet", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("minions: {families: [mobilenet_v9], alphas: [0.5], resolutions: [8]}", "minions.families[0]: family must be one of"),
        ("minions: {families: [mobilenet_v1], alphas: [0.0], resolutions: [8]}", "minions.alphas[0]"),
        ("minions: {families: [mobilenet_v1], alphas: [0.5], resolutions: [12.5]}", "minions.resolutions[0]"),
        ("runtime: {reference: oracle}", "runtime.reference is 'oracle'; expected one of ['labels', 'master']"),
        ("runtime: {targets: {normal: 1.2}}", "runtime.targets.normal"),
        ("runtime: {targets: {normal: 0.98, power_saving: 0.99}}",
         "runtime.targets.power_saving is 0.99; expected at most runtime.targets.normal (0.98)"),
        ("runtime: {network_profiles: [lte, 5g]}", "runtime.network_profiles[1] is '5g'; expected one of ['3g', 'lte', 'wifi']"),
        ("runtime: {default_profile: wifi, network_profiles: [lte]}", "runtime.default_profile"),
        ("runtime: {minion_execution: sometimes}", "runtime.minion_execution"),
        ("runtime: {device_profile: no/such/phone.json}", "runtime.device_profile is '"),
    ],
)
def test_bad_config_gives_one_line_and_exit_2(tmp_path, body, fragment):
    config = _write(tmp_path, f"name: bad\ndataset: {{source: 'builtin:digits'}}\n{body}\n")
    result = _mmnet("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    # The whole of stderr: the libraries' import chatter (absl, CUDA probes) never reaches the console.
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mmnet build: error: "), result.stderr
    assert fragment in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.work").exists()


def test_missing_dataset_path_is_named(tmp_path):
    config = _write(tmp_path, "name: bad\ndataset: {source: 'folder:no/such/dir'}\n")
    result = _mmnet("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "path does not exist" in result.stderr and "no/such/dir" in result.stderr
    assert "details:" not in result.stderr and not (tmp_path / ".out.work").exists()  # caught before the build log starts


def test_inspect_of_a_missing_bundle_is_one_line(tmp_path):
    result = _mmnet("inspect", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "manifest" in result.stderr



def test_configure_names_a_missing_device_profile(tmp_path):
    result = _mmnet("configure", str(tmp_path), "--device-profile", str(tmp_path / "phone.json"))
    assert result.returncode == 2
    assert "--device-profile: no such file" in result.stderr and "Traceback" not in result.stderr


def test_run_and_serve_of_a_missing_bundle_are_one_line(tmp_path):
    for command in (("run", str(tmp_path / "nothing"), "--split", "test"), ("serve", str(tmp_path / "nothing"))):
        result = _mmnet(*command)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith(f"mmnet {command[0]}")]
        assert len(lines) == 1 and "manifest" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_dataset_that_fails_inside_the_pipeline_is_one_line_naming_the_build_log(tmp_path):
    """Passes every config check, fails in Beam's 'Prepare data' in a worker process (two workers)."""
    frames = np.random.default_rng(0).integers(0, 256, (41, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", x=frames, y=np.array([0] * 20 + [1] * 20 + [2]))  # class 2: a single example
    config = _write(tmp_path, f"name: bad-data\ndataset: {{source: 'npz:{tmp_path / 'data.npz'}', split: stratified}}\n"
                              "minions: {families: [mobilenet_v1], alphas: [0.25], resolutions: [8]}\n"
                              "beam: {num_workers: 2}\n")
    result = subprocess.run([str(Path(sys.executable).parent / "mmnet"), "build", "--config", str(config),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 2, result.stderr
    log = tmp_path / ".out.work" / "build.log"
    assert result.stderr == (f"mmnet build: error: 'Prepare data' failed: DataError: npz:{tmp_path / 'data.npz'}: class '2' "
                             f"(label 2) has 1 example(s); a stratified train/val/test split needs at least 3 per class "
                             f"(dataset.split: auto or random splits sparse data at random) (details: {log})\n")
    text = log.read_text()
    # The data is prepared (a cached stage) before the Beam graph starts: the traceback through the frame
    # that raised is in the log.
    assert "Traceback (most recent call last)" in text and "in prepare_data" in text and "mmnet build failed:" in text
    assert not (tmp_path / "out").exists()
