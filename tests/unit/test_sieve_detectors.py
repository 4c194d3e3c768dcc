"""The variants `benchmarks/sieve_detectors.py` configures a SIEVE bundle with."""

from __future__ import annotations

from mmnet.benchmarks.sieve_detectors import _manifest, _markdown


def _bundle_manifest() -> dict:
    return {"models": [
        {"id": "m-float32", "role": "master", "precision": "float32", "blessed": True},
        {"id": "m-int8", "role": "master", "precision": "int8", "blessed": True},
        {"id": "m-sieve-accurate", "role": "minion", "precision": "float32", "blessed": True,
         "sieve": {"model": "accurate", "search_val_frames": [0, 2, 4]}},
    ]}


def test_variants_drop_the_search_frames_or_the_quantised_master_and_leave_the_bundle_alone():
    original = _bundle_manifest()
    shipped = _manifest(original, all_val=False, float_master=False)
    assert shipped == original and shipped is not original
    all_val = _manifest(original, all_val=True, float_master=False)
    assert "search_val_frames" not in all_val["models"][2]["sieve"]
    assert original["models"][2]["sieve"]["search_val_frames"] == [0, 2, 4]
    float_master = _manifest(original, all_val=False, float_master=True)
    assert [m["blessed"] for m in float_master["models"]] == [True, False, True]


def test_a_system_no_detector_reached_reads_as_the_master_answering_every_frame(tmp_path):
    rows = [{"detector frames": "not searched", "master": "m-int8", "detector": "guaranteed, ε 0.3%",
             "system": "single:m-sieve-accurate", "master_test": 0.95, "row": None},
            {"detector frames": "all val", "master": "m-int8", "detector": "point, both members",
             "system": "single:m-sieve-accurate", "master_test": 0.95,
             "row": {"test_accuracy": 0.9417, "test_recovery_rate": 0.011, "false_negative_rate_test": 0.019}}]
    text = _markdown(rows, tmp_path)
    assert "the master answers every frame | — | 100% | —" in text
    assert "| 94.17% | -0.83 pt | 1.1% | 1.9% |" in text
