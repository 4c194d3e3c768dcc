"""The duo_pool benchmark's console contract: a skip with its reason when the real data is absent, one
``error:`` line (no traceback) and exit code 2 for bad input."""

from __future__ import annotations

from mmnet.benchmarks.duo_pool import main, missing_data


def test_absent_data_is_a_skip_with_its_reason(tmp_path, capsys):
    assert main(["--coral", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("skipped: real models and photos not found in ") and "imagenet-sample-a" in err
    assert not (tmp_path / "out").exists()
    assert missing_data(tmp_path) == ["coral-imagenet/mobilenet_v2_1.0_224_quant.tflite",
                                      "coral-imagenet/imagenet_labels.txt", "wnids.txt", "imagenet-sample-a"]


def test_a_missing_bundle_is_one_error_line(tmp_path, capsys):
    assert main(["--bundle", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_bad_fraction_is_one_error_line(tmp_path, capsys):
    assert main(["--bundle", str(tmp_path), "--fraction", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --fraction is 1.5")


def test_bad_threshold_settings_are_one_error_line(tmp_path, capsys):
    assert main(["--bundle", str(tmp_path), "--epsilon", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: epsilon is 2.0") and err.count("\n") == 1
    assert main(["--bundle", str(tmp_path), "--resplits", "-1"]) == 2
    assert capsys.readouterr().err.startswith("error: --resplits is -1")
