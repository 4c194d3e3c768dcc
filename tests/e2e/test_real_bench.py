"""``mmnet bench`` on the real-models bundle (configs/coral-imagenet.yaml), beside the paper's Table 5.5 / Fig 5.6.

Benches the session's Coral bundle (tests/e2e/conftest.py: four pretrained quantised ImageNet classifiers, 500
photos, no training) with the fewest frames and passes that still cross both network paths:
every profile x mode gets hybrid / mobile-only / cloud-only records (and the hybrid with the master forced onto
the device and into the cloud) on the analytical path and over the shaped link; the analytical hybrid is never
slower than the faster baseline beyond the noise; the report sets the paper's tables beside ours and says why the
selector chose what it did. Skips when the data is absent (``../shared/data`` or ``$MMNET_SHARED_DATA``).
"""

from __future__ import annotations

import json
import time

import pytest

from mmnet.benchmarks.bench import validate_results
from mmnet.benchmarks.bench_report import choice_sentence, verdict_rows
from tests.support.shared_data import mmnet, shared_data

pytestmark = pytest.mark.slow

shared_data()  # skips the module, with the reason, when the data is absent
FRAMES, MEASURED_FRAMES = 10, 2
PROFILES, MODES, PATHS = ("3g", "lte", "wifi"), ("normal", "power-saving"), ("analytical", "measured")
SYSTEMS = ("mobile-only", "cloud-only", "hybrid", "hybrid-device", "hybrid-cloud")


@pytest.fixture(scope="module")
def bench(coral_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("coral-bench")
    started = time.monotonic()
    done = mmnet("bench", str(coral_bundle), "--out", str(root / "bench"), "--no-fanout", "--no-extras",
                 "--frames", str(FRAMES), "--measured-frames", str(MEASURED_FRAMES), "--passes", "1", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\ncoral-imagenet: benched in {time.monotonic() - started:.0f} s")
    doc = json.loads((root / "bench" / "results.json").read_text(encoding="utf-8"))
    return doc, (root / "bench" / "results.md").read_text(encoding="utf-8"), root


def _record(doc: dict, **keys: str) -> dict:
    [record] = [r for r in doc["records"] if all(r[k] == v for k, v in keys.items())]
    return record


def test_every_profile_and_mode_has_every_system_on_both_paths(bench):
    doc, _, root = bench
    validate_results(doc)
    assert doc["network"]["frames"] == {"analytical": FRAMES, "measured": MEASURED_FRAMES,
                                        "measured_note": doc["network"]["frames"]["measured_note"]}
    assert doc["method"]["passes"] == 1 and doc["precisions"] is None and doc["fanout"] is None
    for profile in PROFILES:
        for mode in MODES:
            for path in PATHS:
                for system in SYSTEMS:
                    record = _record(doc, system=system, profile=profile, mode=mode, path=path)
                    frames = MEASURED_FRAMES if path == "measured" and system not in ("mobile-only", "hybrid-device") \
                        else FRAMES
                    assert record["applicable"] and record["frames"] == frames, (system, profile, mode, path)
                    assert record["latency_ms"]["mean"] > 0 and record["energy_mj_per_frame"] > 0
        # The measured path crossed the shaped link: every cloud-only frame went through it and came back.
        measured = _record(doc, system="cloud-only", profile=profile, mode="normal", path="measured")
        assert measured["cloud_requests"]["count"] == MEASURED_FRAMES and measured["cloud_requests"]["failed"] == 0
        assert doc["links"][profile]["bytes_up"] >= MEASURED_FRAMES * measured["cloud_requests"]["up_bytes_mean"] > 0
    for plot in doc["plots"]:
        assert (root / "bench" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(doc["plots"]) == {"bench_3g.png", "bench_lte.png", "bench_wifi.png", "normalised.png"}


def test_the_analytical_hybrid_is_never_slower_than_the_faster_baseline(bench):
    doc, _, _ = bench
    rows = [r for r in verdict_rows(doc) if r["path"] == "analytical"]
    assert {(r["profile"], r["mode"]) for r in rows} == {(p, m) for p in PROFILES for m in MODES}
    for row in rows:
        best = min(row["mobile_ms"], row["cloud_ms"])
        assert row["best_ms"] == best
        assert row["ok"], row
        assert row["hybrid_ms"] <= best + row["noise_ms"] or row["same_work"], row


def test_the_build_and_the_runtime_selector_agree_and_the_report_says_why(bench):
    """The master is on the device everywhere (about 18 ms against a cloud round trip of 86 ms or more). Whether a
    minion pair pays off there is close on this host (minions + the recoveries the detector triggers against the
    master alone): the build and the runtime's selector must decide alike, and the report must say why in the
    bundle's numbers. Forced into the cloud, the minions pay off: they spare the round trip of every frame they
    answer."""
    doc, markdown, _ = bench
    decided = set()
    for profile in PROFILES:
        for mode in MODES:
            selection = doc["selection"][profile][mode]
            auto, built = selection["auto"], selection["built"]
            assert (auto["system"], auto["placement"]) == (built["system"], built["placement"])
            assert auto["placement"] == "device", auto
            if auto["runs_minions"]:
                assert auto["best"]["expected_ms"] < auto["master_ms"], auto
            else:
                assert auto["system"] == "master-only" and auto["best"]["expected_ms"] >= auto["master_ms"], auto
            decided.add(auto["runs_minions"])
            assert choice_sentence(auto) in markdown
            cloud = selection["cloud"]
            assert cloud["runs_minions"] and cloud["best"]["expected_ms"] < cloud["master_ms"]
    assert "detector-triggered master" in markdown and "detector-triggered cloud request" in markdown
    if False in decided:
        assert "runs the master alone (mobile-only work): best pair " in markdown
        assert "ran the master alone on the device for every frame, mobile-only's work" in markdown


def test_the_report_sets_the_papers_numbers_beside_ours(bench):
    _, markdown, _ = bench
    for text in ("## Verdict: is the hybrid never slower", "## Beside the paper", "### Beside Table 5.5",
                 "| Mobilenet_V1_quant | 70.00% | 13 | 224×224 | paper, Table 5.5 |", "master-imported-int8 (master)",
                 "### Beside Fig 5.6", "83.80% against cloud-only and 9.50% against mobile-only",
                 "| 3.9× |", "-53.5%", "### Why the numbers differ from the paper's"):
        assert text in markdown, text
    assert "digits" not in markdown.lower() and "sub-millisecond" not in markdown
