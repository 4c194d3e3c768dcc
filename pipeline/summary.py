"""The readable summary printed at the end of ``mmnet build``."""

from __future__ import annotations

from mmnet.format.bundle import Bundle, load_bundle
from mmnet.format.describe import format_bundle_summary

__all__ = ["build_highlights", "format_build_summary", "runtime_highlights"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def build_highlights(bundle: Bundle) -> list[str]:
    """The few numbers a person checks first: master vs best minion, int8 savings, cost ratio."""
    models = bundle.models
    lines = []
    masters = [m for m in models if m.role == "master" and m.blessed]
    minions = [m for m in models if m.role == "minion" and m.blessed]
    if masters:
        best_master = max(masters, key=lambda m: m.test_accuracy or 0.0)
        lines.append(f"master          {best_master.id}: test accuracy {_pct(best_master.test_accuracy)}, "
                     f"{best_master.macs / 1e6:.2f} M MACs")
    int8_minions = [m for m in minions if m.precision == "int8"]
    if int8_minions:
        best = max(int8_minions, key=lambda m: (m.test_accuracy or 0.0, -m.macs))
        lines.append(f"best int8 minion {best.id}: test accuracy {_pct(best.test_accuracy)}")
    if masters and minions:
        cheapest = min(minions, key=lambda m: m.macs)
        master_macs = max(m.macs for m in masters)
        lines.append(f"cheapest minion  {cheapest.id}: {cheapest.macs / 1e6:.3f} M MACs = "
                     f"1/{master_macs / max(cheapest.macs, 1):.1f} of the master")
    ratios = []
    accuracy_gaps = []
    by_id = {m.id: m for m in models}
    for model in models:
        if model.precision != "int8":
            continue
        twin = by_id.get(f"{model.variant}-float32")
        if twin is None:
            continue
        ratios.append(twin.bytes / model.bytes)
        if twin.test_accuracy is not None and model.test_accuracy is not None:
            accuracy_gaps.append(100 * (twin.test_accuracy - model.test_accuracy))
    if ratios:
        lines.append(f"int8 vs float32  {min(ratios):.2f}x to {max(ratios):.2f}x smaller; "
                     f"test accuracy change {-max(accuracy_gaps):+.2f} to {-min(accuracy_gaps):+.2f} points")
    if bundle.runtime_config is not None:
        lines += runtime_highlights(bundle.runtime_config.document)
    rejected = [m for m in models if not m.blessed]
    lines.append(f"artifacts        {len(models)} ({len(models) - len(rejected)} blessed, {len(rejected)} rejected), "
                 f"{len(bundle.manifest['failures'])} failed tasks")
    return lines


def runtime_highlights(config: dict) -> list[str]:
    """Normal and power-saving mode on the default profile: the chosen system on test vs the master."""
    profile = config["default_profile"]
    master_test = config["master"]["test_accuracy"]
    measure = "agreement with the master" if config["reference"] == "master" else "test accuracy"
    lines = []
    for mode in ("normal", "power_saving"):
        chosen = config["selection"][profile][mode]
        expected = chosen["expected"]
        lines.append(
            f"{mode:<16} ({profile}) {chosen['system']}, master on the {chosen['placement']}: {measure} "
            f"{_pct(expected['test_accuracy'])} vs master {_pct(master_test)}, "
            f"P_r {_pct(expected['test_recovery_rate'])} on test; "
            f"expected {expected['latency_ms']:.3f} ms vs master alone "
            f"{config['placement'][profile][chosen['placement'] + '_ms']:.3f} ms"
        )
    return lines


def format_build_summary(result) -> str:
    bundle = load_bundle(result.bundle_dir)
    lines = [format_bundle_summary(bundle), "", f"Built in {result.duration_s:.0f} s:"]
    lines += ["  " + line for line in build_highlights(bundle)]
    if result.stage_seconds:
        per_stage = ", ".join(
            f"{stage} {result.counters.get(f'{stage}_completed', 0)} ok / {result.counters.get(f'{stage}_failures', 0)} failed, "
            f"{seconds:.0f} s of work"
            for stage, seconds in sorted(result.stage_seconds.items())
        )
        lines.append(f"  stages: {per_stage}")
    if result.cache:
        cached = ", ".join(f"{stage} {counts['hits']} hit{'s' * (counts['hits'] != 1)} / {counts['misses']} run"
                           for stage, counts in result.cache.items())
        lines.append(f"  stage cache: {cached}")
    for failure in result.failures:
        lines.append(f"  FAILED {failure['stage']} {failure['variant']}: {failure['error']}")
    lines.append(f"Bundle: {result.bundle_dir}   (check it any time: mmnet inspect {result.bundle_dir})")
    return "\n".join(lines)
