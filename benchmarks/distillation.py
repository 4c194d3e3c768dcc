"""Effect of knowledge distillation on the minions: accuracy and agreement with the master.

Builds the config twice, with ``training.distillation.enabled`` false and true (same seeds, same
grid), and compares every float32 minion on the test split: its accuracy and its top-1 agreement
with the master (the quantity that drives the recovery rate). Writes ``distillation.json`` and
``distillation.md`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.distillation --config configs/digits.yaml --out results/distillation

``--baseline BUNDLE`` / ``--distilled BUNDLE`` reuse existing bundles of the same config (without /
with distillation) instead of building them again.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.pipeline.build import run_build
from mmnet.pipeline.config import load_config


def _minion_metrics(bundle_dir: Path) -> dict[str, dict]:
    bundle = load_bundle(bundle_dir)
    return {
        m.variant: {"test_accuracy": m.test_accuracy, "agreement": m.metrics.get("agreement_with_master_test")}
        for m in bundle.models
        if m.role == "minion" and m.precision == "float32"
    }


def _master_accuracy(bundle_dir: Path) -> float:
    bundle = load_bundle(bundle_dir)
    return max(m.test_accuracy for m in bundle.models if m.role == "master" and m.precision == "float32")


def compare(baseline: Path, distilled: Path) -> dict:
    off, on = _minion_metrics(baseline), _minion_metrics(distilled)
    rows = []
    for variant in sorted(set(off) & set(on)):
        rows.append({
            "variant": variant,
            "accuracy_off": off[variant]["test_accuracy"], "accuracy_on": on[variant]["test_accuracy"],
            "agreement_off": off[variant]["agreement"], "agreement_on": on[variant]["agreement"],
        })
    return {"master_accuracy_off": _master_accuracy(baseline), "master_accuracy_on": _master_accuracy(distilled), "minions": rows,
            "system_off": _configured_system(baseline), "system_on": _configured_system(distilled)}


def _configured_system(bundle_dir: Path) -> dict | None:
    """The runtime config's normal-mode system on its default profile, on test (None without a config)."""
    config = load_bundle(bundle_dir).runtime_config
    if config is None:
        return None
    chosen = config.selection(config.document["default_profile"], "normal")
    return {"system": chosen["system"], "test_accuracy": chosen["expected"]["test_accuracy"],
            "test_recovery_rate": chosen["expected"]["test_recovery_rate"],
            "val_recovery_rate": chosen["expected"]["recovery_rate"]}


def to_markdown(result: dict) -> str:
    lines = [
        "| minion (float32) | test acc. off | test acc. on | Δ points | agreement off | agreement on | Δ points |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["minions"]:
        lines.append(
            f"| {r['variant']} | {100 * r['accuracy_off']:.2f}% | {100 * r['accuracy_on']:.2f}% | "
            f"{100 * (r['accuracy_on'] - r['accuracy_off']):+.2f} | {100 * r['agreement_off']:.2f}% | "
            f"{100 * r['agreement_on']:.2f}% | {100 * (r['agreement_on'] - r['agreement_off']):+.2f} |"
        )
    rows = result["minions"]
    if rows:
        mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
        lines.append(
            f"| **mean** | {100 * mean('accuracy_off'):.2f}% | {100 * mean('accuracy_on'):.2f}% | "
            f"{100 * (mean('accuracy_on') - mean('accuracy_off')):+.2f} | {100 * mean('agreement_off'):.2f}% | "
            f"{100 * mean('agreement_on'):.2f}% | {100 * (mean('agreement_on') - mean('agreement_off')):+.2f} |"
        )
    lines.append("")
    lines.append(f"Master test accuracy: {100 * result['master_accuracy_off']:.2f}% (off) / "
                 f"{100 * result['master_accuracy_on']:.2f}% (on).")
    for key, label in (("system_off", "off"), ("system_on", "on")):
        system = result.get(key)
        if system:
            lines.append(f"Configured normal-mode system ({label}): {system['system']}: test accuracy "
                         f"{100 * system['test_accuracy']:.2f}%, recovery rate {100 * system['test_recovery_rate']:.2f}% on test "
                         f"({100 * system['val_recovery_rate']:.2f}% on val).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/digits.yaml")
    parser.add_argument("--out", default="results/distillation")
    parser.add_argument("--baseline", help="existing bundle built from the same config without distillation")
    parser.add_argument("--distilled", help="existing bundle built from the same config with distillation")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baseline = Path(args.baseline) if args.baseline else None
    if baseline is None:
        off = dataclasses.replace(config, training=dataclasses.replace(
            config.training, distillation=dataclasses.replace(config.training.distillation, enabled=False)))
        baseline = run_build(off, out / "bundle-off").bundle_dir
    distilled = Path(args.distilled) if args.distilled else None
    if distilled is None:
        on = dataclasses.replace(config, training=dataclasses.replace(
            config.training, distillation=dataclasses.replace(config.training.distillation, enabled=True)))
        distilled = run_build(on, out / "bundle-on").bundle_dir
    result = compare(baseline, distilled)
    write_results(out, "distillation", result, to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
