"""The CLI turns bad input into one clear line and a non-zero exit, never a traceback."""

import subprocess
import sys
from pathlib import Path

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
        ("runtime: {reference: oracle}", "runtime.reference: expected 'labels' or 'master', got 'oracle'"),
        ("runtime: {targets: {normal: 1.2}}", "runtime.targets.normal"),
        ("runtime: {targets: {normal: 0.98, power_saving: 0.99}}", "runtime.targets.power_saving: expected at most"),
        ("runtime: {network_profiles: [lte, 5g]}", "runtime.network_profiles[1]: unknown profile '5g'"),
        ("runtime: {default_profile: wifi, network_profiles: [lte]}", "runtime.default_profile"),
        ("runtime: {minion_execution: sometimes}", "runtime.minion_execution"),
        ("runtime: {device_profile: no/such/phone.json}", "runtime.device_profile: no such file"),
    ],
)
def test_bad_config_gives_one_line_and_exit_2(tmp_path, body, fragment):
    config = _write(tmp_path, f"name: bad\ndataset: {{source: 'builtin:digits'}}\n{body}\n")
    result = _mmnet("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("mmnet build")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_dataset_path_is_named(tmp_path):
    config = _write(tmp_path, "name: bad\ndataset: {source: 'folder:no/such/dir'}\n")
    result = _mmnet("build", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "path does not exist" in result.stderr and "no/such/dir" in result.stderr
    assert "Traceback" not in result.stderr


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
