"""The bundle's model card: ``model_card.md`` (intended use, data, metrics, calibration, limitations).

Rendered from the same report data as the page. Free text from the data is Markdown-escaped;
in unlabeled calibration mode every "accuracy" is agreement with the master, and the card says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmnet.pipeline.report.data import validate_report_data
from mmnet.pipeline.report.files import write_text_atomic
from mmnet.pipeline.report.presentation import Words, mj, mode_name, ms, num, ordered_modes, pct, profiles

__all__ = ["render_model_card", "write_model_card"]


def _md(value: Any) -> str:
    """Free text safe inside Markdown (and Markdown tables): no markup, no raw HTML, one line."""
    text = " ".join(str(value).split())
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def _code(value: Any) -> str:
    text = " ".join(str(value).split()).replace("`", "'")
    return f"`{text}`"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _detector_part(data: Mapping) -> list[str]:
    """The shipped misspeculation detector per system and tuned mode against the oracle (absent: nothing)."""
    detectors = data.get("detectors")
    if detectors is None:
        return []
    settings = detectors["settings"]
    lines = ["## Misspeculation detector", "",
             f"Per system and tuned mode the build fits {_md(', '.join(m.replace('_', '-') for m in settings['members']))} "
             "detectors on val "
             f"(cross-fitted over {settings['folds']} folds, {_md(settings['threshold_mode'])} thresholds) and ships "
             "the one that recovers the fewest frames. Oracle: the test frames whose speculative answer is wrong "
             "and the master's right; efficiency: oracle over achieved recovery rate (1.00 is perfect).", ""]
    rows = [[_code(r["system"]), _md(mode_name(r["tuning"])), _md(r["chosen"].replace("_", "-")),
             pct(r["achieved_recovery_rate_test"]), pct(r["oracle_recovery_rate_test"]),
             "n/a" if r["efficiency"] is None else f"{r['efficiency']:.2f}"] for r in detectors["systems"]]
    lines += _md_table(["system", "mode", "detector", "test P_r", "oracle P_r", "efficiency"], rows)
    lines.append("")
    return lines


def render_model_card(data: Mapping) -> str:
    """The model card's Markdown for validated report data."""
    words = Words.for_reference(data["reference"])
    bundle = data["bundle"]
    dataset = bundle["dataset"]
    splits = dataset["splits"]
    master = data["master"]
    chosen = data["chosen"]
    device = data["device_profile"]
    labels = bundle["labels"]
    lines = [f"# Model card: {_md(bundle['name'])}", "",
             f"Created {_md(bundle['created_utc'])}. Reference: "
             + ("the master's own answers (unlabeled calibration mode); every \"accuracy\" below is "
                "**agreement with the master**." if words.unlabeled else "ground-truth labels."), ""]

    lines += ["## Intended use", "",
              f"On-phone image classification of {dataset['num_classes']} classes "
              f"({_md(', '.join(labels[:20]))}{', ...' if len(labels) > 20 else ''}) from "
              f"{'x'.join(str(v) for v in dataset['frame_shape'])} frames like those of "
              f"{_md(dataset['source'])}.", "",
              "Small minion networks answer on the phone; a misspeculation detector sends an input to the "
              "master (on the device or in the cloud) when it doubts their answer: the paper's rule (the minions "
              "disagree, or a calibrated confidence is below its class's threshold) or a logistic regression on "
              "the minions' scores, whichever recovered fewer frames on held-out validation data. "
              "The runtime picks the system per network "
              "profile and mode (normal, power-saving, private, mission-critical) from this bundle's "
              "selection table.", "",
              "Not intended for inputs unlike the training data (other cameras, classes or domains), where "
              "neither the accuracy nor the calibration below holds, nor for decisions about people or "
              "safety without human review.", ""]

    lines += ["## Data", "",
              f"- source: {_md(dataset['source'])}",
              f"- fingerprint: {_code(dataset['fingerprint'])}",
              f"- splits: train {splits['train']:,}, val {splits['val']:,}, test {splits['test']:,} "
              "(thresholds, temperatures and the selection use val; test is held out for the check below)",
              f"- frames: {'x'.join(str(v) for v in dataset['frame_shape'])}, {dataset['num_classes']} classes",
              ""]

    lines += ["## Metrics", "",
              f"- master {_code(master['id'])}: val {words.short} {pct(master['val_accuracy'])}, "
              f"test {words.short} {pct(master['test_accuracy'])}",
              "- targets: " + "; ".join(f"{_md(mode_name(m))} at least {pct(f, 1)} of the master's {words.short}"
                                        for m, f in data["targets"].items())]
    if chosen is None:
        lines.append("- chosen system: **master only** for every network profile; no minion system beats "
                     "the master alone here.")
    else:
        achieved = chosen["achieved_test"]
        versus = chosen["per_class_vs_single"]["test"]
        per_class, single = versus["per_class"], versus["single"]
        compared = ("no single threshold reaches the target" if single is None else
                    f"P_r {pct(per_class['recovery_rate'])} vs {pct(single['recovery_rate'])} at {words.short} "
                    f"{pct(per_class['accuracy'])} vs {pct(single['accuracy'])}")
        lines += [f"- chosen system ({_md(chosen['profile'])}, normal mode): {_code(chosen['system'])}",
                  f"  - test {words.short} {pct(achieved['accuracy'])} vs the master's "
                  f"{pct(master['test_accuracy'])}; test recovery rate P_r {pct(achieved['recovery_rate'])} "
                  f"(oracle {pct(chosen['oracle_recovery_rate_test'])})",
                  f"  - per-class vs single threshold on test: {compared}; "
                  f"{_md(chosen['per_class_vs_single']['verdict'])}"]
    rows = []
    for profile in profiles(data):
        for mode in ordered_modes(data["selection"].get(profile, {})):
            entry = data["selection"][profile][mode]
            expected = entry["expected"]
            rows.append([_md(profile), _md(mode_name(mode)), _code(entry["system"]), _md(entry["placement"]),
                         ms(expected["latency_ms"]), mj(expected["energy_mj"]), pct(expected["recovery_rate"]),
                         pct(expected["accuracy"])])
    lines += ["", "Selection (expected on val):", ""]
    lines += _md_table(["profile", "mode", "system", "master on", "latency", "energy", "P_r", words.short], rows)
    check = data["test_check"]
    rows = [[_md(mode_name(mode)), pct(check[mode]["accuracy"]), pct(check[mode]["recovery_rate"])]
            for mode in ordered_modes(k for k in check if k != "master_test_accuracy") if check[mode]]
    lines += ["", "Test-split check of the configured systems:", ""]
    lines += _md_table(["mode", f"test {words.short}", "test P_r"], rows)
    lines.append("")

    lines += _detector_part(data)

    lines += ["## Calibration", "",
              "Minion confidences are temperature-scaled on val; ECE is the expected calibration error.", ""]
    rows = [[_code(m["id"]), f"{m['calibration']['temperature']:.3f}", pct(m["calibration"]["ece_before"]),
             pct(m["calibration"]["ece_after"]), pct(m["calibration"]["test_ece_before"]),
             pct(m["calibration"]["test_ece_after"])] for m in data["models"] if m.get("calibration")]
    lines += _md_table(["minion", "T", "val ECE before", "val ECE after", "test ECE before", "test ECE after"], rows)
    lines.append("")

    lines += ["## Limitations", ""]
    test_n = splits["test"]
    size = "Small dataset" if test_n < 10_000 else "Dataset size"
    lines.append(f"- {size}: {splits['train']:,} training, {splits['val']:,} validation and {test_n:,} test "
                 "inputs" + (f"; one test input moves test {words.short} by {pct(1 / test_n, 3)}, so differences "
                             "of a few tenths of a point are within noise." if test_n else "."))
    if device["kind"].lower() == "host":
        lines.append(f"- Latency is measured on the build host ({_md(device['name'])}), not on a phone; phone "
                     "latency and the device-vs-cloud placement can differ. Give a device profile from the "
                     "Android harness to fix this.")
    else:
        lines.append(f"- Latency is estimated for the device profile {_md(device['name'])} ({_md(device['kind'])}; "
                     f"source: {_md(device['source'])}); other phones differ.")
    if data.get("latency_model"):
        lines.append(f"- Model latencies come from a per-layer regression with MAPE "
                     f"{data['latency_model']['mape_pct']:.1f}% on the measured models.")
    if device["power_measured"]:
        lines.append(f"- Compute power {num(device['compute_power_w'])} W was measured; energy still excludes "
                     "display and idle power.")
    else:
        lines.append(f"- Power is assumed, not measured: {num(device['compute_power_w'])} W "
                     f"({_md(device['source'])}); every energy number scales with this assumption.")
    lines.append("- Network costs come from fixed profiles (" + ", ".join(
        f"{_md(name)}: {_md(p['source'])}" for name, p in data["network_profiles"].items())
        + "); real links vary over time.")
    if words.unlabeled:
        lines.append("- Unlabeled mode: no ground-truth labels were used, so every number is agreement with the "
                     "master, not accuracy. The system can be no more accurate than the master, its errors are "
                     "invisible here, and uncorrectable outputs (master wrong) cannot be counted.")
    lines.append("- Calibration and thresholds are fitted to the val split; under distribution shift the "
                 "confidences and the recovery rate change.")
    for note in data.get("notes") or []:
        lines.append(f"- Note: {_md(note)}")
    lines.append("")
    return "\n".join(lines)


def write_model_card(data: dict, path: Path) -> Path:
    """Write the Markdown model card to ``path`` from the report data; return ``path``.

    Raises :class:`~mmnet.format.errors.BundleError` (a ``ValueError``) naming the field when the
    data is malformed, before anything is written.
    """
    document = validate_report_data(data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_model_card(document))
    return path
