"""The SIEVE comparison (mmnet.pipeline.sieve.compare): system kinds, L_spec + P_r × L_t against
cloud-only, the table with the paper's numbers beside; on a hand-made bundle description."""

from __future__ import annotations

import pytest

from mmnet.pipeline.sieve.compare import comparison_markdown, sieve_comparison, system_kind


def _record(model_id: str, precision: str = "float32", sieve: bool = False, role: str = "minion") -> dict:
    record = {"id": model_id, "family": "sieve" if sieve else "lenet5", "precision": precision, "bytes": 1000, "role": role,
              "metrics": {"test_accuracy": 0.9}}
    if sieve:
        record["sieve"] = {"model": "accurate", "avg_bits_per_weight": 6.5, "avg_bits_per_activation": 7.0}
        record["packing"] = {"tflite_bytes": 4000, "gzip_bytes": 800}
    return record


def _system(name: str, minions: list[str], recovery: float) -> dict:
    member = {"false_negative_rate_test": 0.01, "false_positive_rate_test": 0.05}
    return {"system": name, "minions": minions, "modes": {"normal": {
        "val": {"accuracy": 0.9, "recovery_rate": recovery}, "test": {"accuracy": 0.89, "recovery_rate": recovery},
        "members": {"chosen": "per_class_confidence", "per_class_confidence": member}}}}


def test_kinds_come_from_the_minions_records():
    records = {"s": _record("s", sieve=True), "q": _record("q", "int8"), "a": _record("a"), "b": _record("b")}
    assert system_kind(["s"], records) == "sieve"
    assert system_kind(["q"], records) == "int8-ptq"
    assert system_kind(["a", "b"], records) == "mmnet" and system_kind(["a"], records) == "mmnet"


def test_speedup_and_energy_against_cloud_only():
    manifest = {"models": [_record("m", role="master"), _record("s", sieve=True), _record("a"), _record("b")]}
    runtime_config = {
        "master": {"model": "m"},
        "latency": {"m": {"total_ms": 5.0, "energy_mj": 10.0}, "s": {"total_ms": 2.0, "energy_mj": 4.0},
                    "a": {"total_ms": 1.0, "energy_mj": 2.0}, "b": {"total_ms": 1.0, "energy_mj": 2.0}},
        "placement": {"3g": {"cloud_ms": 100.0, "cloud_mj": 200.0}, "wifi": {"cloud_ms": 20.0, "cloud_mj": 10.0}},
    }
    doc = sieve_comparison(manifest, runtime_config, [_system("pair:a+b", ["a", "b"], 0.2), _system("single:s", ["s"], 0.1)])
    sieve, pair = doc["systems"]  # SIEVE systems first
    assert sieve["kind"] == "sieve" and pair["kind"] == "mmnet"
    # 3G: L = 2 + 0.1 x 100 = 12 ms -> 100 / 12; E = 4 + 0.1 x 200 = 24 mJ -> 24 / 200 - 1
    assert sieve["profiles"]["3g"]["speedup_vs_cloud"] == pytest.approx(100 / 12)
    assert sieve["profiles"]["3g"]["energy_change_vs_cloud"] == pytest.approx(24 / 200 - 1)
    # Wi-Fi, the pair: L = 1 + 1 + 0.2 x 20 = 6 ms; E = 4 + 0.2 x 10 = 6 mJ
    assert pair["profiles"]["wifi"]["speedup_vs_cloud"] == pytest.approx(20 / 6)
    assert pair["profiles"]["wifi"]["energy_change_vs_cloud"] == pytest.approx(6 / 10 - 1)
    assert sieve["minions"][0]["shipped_bytes"] == 1000 and sieve["minions"][0]["tflite_bytes"] == 4000
    text = comparison_markdown(doc)
    assert "| single:s | sieve | 89.00% | -1.00 pt | 10.0% | 1.0% | 5.0% | 1000 | 4000 | 800 | 6.5 | 7.0 |" in text
    assert "| paper: SIEVE (ch. 4) | sieve | 12.3× | -91% | 2.0× | -26% |" in text
    assert "8.3× | -88%" in text  # ours on 3G beside


def test_the_sieve_models_formats_are_tabulated_per_tensor():
    manifest = {"models": [_record("m", role="master"), _record("s", sieve=True), _record("a")]}
    manifest["models"][1]["sieve"]["formats"] = {"conv1/kernel": "e4m3b12", "input:out": "e3m2b5"}
    manifest["models"][1]["sieve"]["search_val_frames"] = [0, 1, 2]
    runtime_config = {"master": {"model": "m"}, "placement": {"3g": {"cloud_ms": 100.0, "cloud_mj": 200.0}},
                      "latency": {k: {"total_ms": 1.0, "energy_mj": 1.0} for k in ("m", "s", "a")}}
    text = comparison_markdown(sieve_comparison(manifest, runtime_config, [_system("single:s", ["s"], 0.1)]))
    assert "| tensor | accurate |" in text
    assert "| `conv1/kernel` | `e4m3b12` |" in text and "| `input:out` | `e3m2b5` |" in text
    assert "Formats chosen on 3 val frames" in text


def test_the_pareto_of_a_bundle_comes_from_its_sieve_records(tmp_path):
    from mmnet.pipeline.sieve.report import pareto_from_manifest, plot_pareto

    def sieve(model, bits, normalized):
        return {"model": model, "master_variant": "lenet5-a1.00-r8", "avg_bits_per_weight": bits,
                "avg_bits_per_activation": bits + 1, "normalized_val_accuracy": normalized,
                "baseline_val_accuracy": 0.95}

    manifest = {"models": [
        {"id": "m", "role": "master", "variant": "lenet5-a1.00-r8", "precision": "float32", "blessed": True,
         "metrics": {"test_accuracy": 0.94}},
        {"id": "a", "role": "minion", "variant": "v-a", "precision": "float32", "blessed": True,
         "metrics": {"test_accuracy": 0.93}, "sieve": sieve("accurate", 5.5, 1.0)},
        {"id": "e", "role": "minion", "variant": "v-e", "precision": "float32", "blessed": False,
         "metrics": {"test_accuracy": 0.5}, "sieve": sieve("exact", 9.0, 1.0)},
        {"id": "n", "role": "minion", "variant": "v-n", "precision": "float32", "blessed": True,
         "metrics": {"test_accuracy": 0.9}, "sieve": sieve("accurate_native", 8.0, 1.0)},
    ]}
    ((doc, test),) = pareto_from_manifest(manifest)
    # the custom-format models only (a native model has no per-tensor custom formats), tested when blessed
    assert set(doc["models"]) == {"accurate", "exact"} and doc["baseline_val_accuracy"] == 0.95
    assert doc["models"]["accurate"] == {"avg_bits_per_weight": 5.5, "avg_bits_per_activation": 6.5, "normalized": 1.0}
    assert test == {"accurate": 0.93, "float32": 0.94}
    assert plot_pareto(doc, tmp_path / "p.png", test).stat().st_size > 0
    assert pareto_from_manifest({"models": manifest["models"][:1]}) == []
