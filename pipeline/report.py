"""The bundle's readable report: ``report/index.html`` with PNG plots, and ``model_card.md``.

Both are rendered from one "report data" dict that the integrator assembles after selection
(layout in :func:`write_report`). The report is a single static HTML page with inline CSS: no
JavaScript, no web fonts, no external stylesheet, so it reads offline from the bundle folder. Plots
are PNG files beside ``index.html`` with fixed names (:data:`PLOT_FILES`); a plot whose data is
absent is not drawn, and a stale copy of it from an earlier run in the same folder is removed so the
folder always matches the page.

Every string taken from the data is HTML-escaped (Markdown-escaped in the model card). When
``data["reference"] == "master"`` (unlabeled calibration mode) the master's own answers are the
reference, and every "accuracy" in the data means *agreement with the master*; the report and the
card say so and never call it accuracy.
"""

from __future__ import annotations

import html
import logging
import math
import numbers
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mmnet.format.errors import MmnetError

__all__ = ["write_report", "write_model_card", "report_files"]

log = logging.getLogger(__name__)

# Fixed PNG names, one per plot (deterministic, so links and tests can rely on them).
PLOT_FILES = {
    "curve": "accuracy_vs_recovery.png",
    "confidence": "confidence_histograms.png",
    "reliability": "reliability_diagrams.png",
    "pareto": "pareto_latency_accuracy.png",
    "latency_model": "latency_model.png",
}
_DPI = 100
_MODE_ORDER = ("normal", "power_saving", "private", "mission_critical")
_MASTER_ONLY = "master-only"


class ReportDataError(MmnetError, ValueError):
    """The report data lacks a field or holds a value of the wrong kind."""


# ------------------------------------------------------------------------------------ validation


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "number": (_is_number, "a number"),
    "int": (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, Mapping), "an object"),
    "list": (lambda v: isinstance(v, Sequence) and not isinstance(v, str), "a list"),
    "numbers": (
        lambda v: isinstance(v, Sequence) and not isinstance(v, str) and all(_is_number(x) for x in v),
        "a list of numbers",
    ),
    "numbers_or_null": (
        lambda v: isinstance(v, Sequence) and not isinstance(v, str)
        and all(x is None or _is_number(x) for x in v),
        "a list of numbers or nulls",
    ),
}


def _need(obj: Any, key: str, kind: str, where: str, *, nullable: bool = False) -> Any:
    """``obj[key]``, checked to be of ``kind``; the error names the full field path."""
    path = f"{where}.{key}" if where else key
    if not isinstance(obj, Mapping) or key not in obj:
        raise ReportDataError(f"report data: field {path!r} is missing; expected {_KINDS[kind][1]}")
    value = obj[key]
    if value is None and nullable:
        return None
    check, description = _KINDS[kind]
    if not check(value):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        null = " or null" if nullable else ""
        raise ReportDataError(f"report data: field {path!r} = {shown} is not {description}{null}")
    return value


def _check_reliability(diagram: Any, where: str) -> None:
    edges = _need(diagram, "bin_edges", "numbers", where)
    for key, kind in (("accuracy", "numbers_or_null"), ("confidence", "numbers_or_null"), ("count", "numbers")):
        values = _need(diagram, key, kind, where)
        if len(values) != len(edges) - 1:
            raise ReportDataError(
                f"report data: field '{where}.{key}' has {len(values)} bins; expected "
                f"{len(edges) - 1} (one fewer than bin_edges)"
            )


def _check_rate_pair(obj: Any, where: str) -> None:
    _need(obj, "recovery_rate", "number", where)
    _need(obj, "accuracy", "number", where)


def _validate(data: Any) -> None:
    """Check every field the report reads, so a bad field fails here with its path, not mid-render."""
    if not isinstance(data, Mapping):
        raise ReportDataError(f"report data: expected an object, got {type(data).__name__}")
    bundle = _need(data, "bundle", "dict", "")
    _need(bundle, "name", "str", "bundle")
    _need(bundle, "created_utc", "str", "bundle")
    dataset = _need(bundle, "dataset", "dict", "bundle")
    _need(dataset, "source", "str", "bundle.dataset")
    _need(dataset, "num_classes", "int", "bundle.dataset")
    _need(dataset, "frame_shape", "numbers", "bundle.dataset")
    splits = _need(dataset, "splits", "dict", "bundle.dataset")
    for split in ("train", "val", "test"):
        _need(splits, split, "int", "bundle.dataset.splits")
    _need(dataset, "fingerprint", "str", "bundle.dataset")
    labels = _need(bundle, "labels", "list", "bundle")
    for i, label in enumerate(labels):
        _need({"x": label}, "x", "str", f"bundle.labels[{i}]")

    reference = _need(data, "reference", "str", "")
    if reference not in ("labels", "master"):
        raise ReportDataError(f"report data: field 'reference' = {reference!r}; expected 'labels' or 'master'")
    targets = _need(data, "targets", "dict", "")
    for mode in targets:
        _need(targets, mode, "number", "targets")
    master = _need(data, "master", "dict", "")
    _need(master, "id", "str", "master")
    _need(master, "val_accuracy", "number", "master")
    _need(master, "test_accuracy", "number", "master")

    for i, model in enumerate(_need(data, "models", "list", "")):
        where = f"models[{i}]"
        for key in ("id", "role", "family", "precision", "reason"):
            _need(model, key, "str", where)
        _need(model, "alpha", "number", where, nullable=True)  # imported models have no width multiplier
        for key in ("resolution", "bytes", "params", "macs"):
            _need(model, key, "number", where)
        _need(model, "blessed", "bool", where)
        metrics = _need(model, "metrics", "dict", where)
        _need(metrics, "val_accuracy", "number", f"{where}.metrics", nullable=True)
        _need(metrics, "test_accuracy", "number", f"{where}.metrics", nullable=True)
        if "latency_ms" in model:
            _need(model, "latency_ms", "number", where, nullable=True)
        calibration = model.get("calibration")
        if calibration is not None:
            for key in ("temperature", "ece_before", "ece_after", "test_ece_before", "test_ece_after"):
                _need(calibration, key, "number", f"{where}.calibration")

    for model_id, entry in _need(data, "calibration", "dict", "").items():
        where = f"calibration.{model_id}"
        _need(entry, "temperature", "number", where)
        _check_reliability(_need(entry, "reliability_before", "dict", where), f"{where}.reliability_before")
        _check_reliability(_need(entry, "reliability_after", "dict", where), f"{where}.reliability_after")

    chosen = _need(data, "chosen", "dict", "", nullable=True)
    if chosen is not None:
        _need(chosen, "system", "str", "chosen")
        _need(chosen, "minions", "list", "chosen")
        _need(chosen, "profile", "str", "chosen")
        curve = _need(chosen, "curve", "dict", "chosen")
        for split in ("val", "test"):
            sweep = _need(curve, split, "dict", "chosen.curve")
            rates = _need(sweep, "recovery_rate", "numbers", f"chosen.curve.{split}")
            accuracy = _need(sweep, "accuracy", "numbers", f"chosen.curve.{split}")
            if len(rates) != len(accuracy):
                raise ReportDataError(
                    f"report data: 'chosen.curve.{split}' has {len(rates)} recovery rates but "
                    f"{len(accuracy)} accuracies; expected equal lengths"
                )
        for i, point in enumerate(_need(chosen, "operating_points", "list", "chosen")):
            where = f"chosen.operating_points[{i}]"
            for key in ("mode", "kind", "split"):
                _need(point, key, "str", where)
            _check_rate_pair(point, where)
            _need(point, "threshold", "number", where, nullable=True)
        confidence = _need(chosen, "confidence", "dict", "chosen")
        for group in ("correct", "correctable", "uncorrectable"):
            _need(confidence, group, "numbers", "chosen.confidence")
        _need(chosen, "oracle_recovery_rate_test", "number", "chosen")
        _check_rate_pair(_need(chosen, "achieved_test", "dict", "chosen"), "chosen.achieved_test")
        versus = _need(chosen, "per_class_vs_single", "dict", "chosen")
        for split in ("val", "test"):
            both = _need(versus, split, "dict", "chosen.per_class_vs_single")
            for kind in ("per_class", "single"):
                _check_rate_pair(_need(both, kind, "dict", f"chosen.per_class_vs_single.{split}"),
                                 f"chosen.per_class_vs_single.{split}.{kind}")
        _need(versus, "verdict", "str", "chosen.per_class_vs_single")

    for i, row in enumerate(_need(data, "outcomes", "list", "")):
        where = f"outcomes[{i}]"
        _need(row, "system", "str", where)
        _need(row, "split", "str", where)
        for key in ("total", "correct", "correctable", "uncorrectable", "odd_correct"):
            _need(row, key, "int", where)

    for i, row in enumerate(_need(data, "candidates", "list", "")):
        where = f"candidates[{i}]"
        for key in ("system", "profile", "mode", "placement"):
            _need(row, key, "str", where)
        _need(row, "minions", "list", where)
        for key in ("expected_latency_ms", "expected_energy_mj", "accuracy", "recovery_rate"):
            _need(row, key, "number", where)
        _need(row, "meets_target", "bool", where)
        _need(row, "chosen", "bool", where)

    for profile, modes in _need(data, "selection", "dict", "").items():
        _need({"x": modes}, "x", "dict", f"selection.{profile}")
        for mode, entry in modes.items():
            where = f"selection.{profile}.{mode}"
            _need(entry, "system", "str", where)
            _need(entry, "placement", "str", where)
            expected = _need(entry, "expected", "dict", where)
            for key in ("latency_ms", "energy_mj", "recovery_rate", "accuracy"):
                _need(expected, key, "number", f"{where}.expected")
            _need(entry, "runner_ups", "list", where)
            _need(entry, "why", "str", where)

    for profile, entry in _need(data, "placement", "dict", "").items():
        where = f"placement.{profile}"
        _need(entry, "device_ms", "number", where)
        _need(entry, "cloud_ms", "number", where)
        _need(entry, "choice", "str", where)

    for profile, entry in _need(data, "network_profiles", "dict", "").items():
        where = f"network_profiles.{profile}"
        for key in ("uplink_mbps", "downlink_mbps", "rtt_ms"):
            _need(entry, key, "number", where)
        _need(entry, "source", "str", where)

    device = _need(data, "device_profile", "dict", "")
    for key in ("name", "kind", "source"):
        _need(device, key, "str", "device_profile")
    _need(device, "compute_power_w", "number", "device_profile")
    _need(device, "power_measured", "bool", "device_profile")

    latency_model = data.get("latency_model")
    if latency_model is not None:
        for i, row in enumerate(_need(latency_model, "models", "list", "latency_model")):
            where = f"latency_model.models[{i}]"
            _need(row, "model", "str", where)
            for key in ("measured_ms", "predicted_ms", "error_pct"):
                _need(row, key, "number", where)
        for key in ("mape_pct", "median_ape_pct", "seconds"):
            _need(latency_model, key, "number", "latency_model")
        _need(latency_model, "layer_samples", "int", "latency_model")

    test_check = _need(data, "test_check", "dict", "")
    for mode, entry in test_check.items():
        if mode == "master_test_accuracy":
            _need(test_check, mode, "number", "test_check")
        elif entry is not None:
            _check_rate_pair(entry, f"test_check.{mode}")

    for i, note in enumerate(data.get("notes") or []):
        _need({"x": note}, "x", "str", f"notes[{i}]")


# ------------------------------------------------------------------------------------ formatting


def _finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _pct(value: Any, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}%" if _finite(value) else "n/a"


def _points(value: Any) -> str:
    return f"{100 * value:+.2f} points" if _finite(value) else "n/a"


def _ms(value: Any) -> str:
    if not _finite(value):
        return "n/a"
    return f"{value:.2f} ms" if abs(value) < 100 else f"{value:.1f} ms"


def _mj(value: Any) -> str:
    if not _finite(value):
        return "n/a"
    return f"{value:.2f} mJ" if abs(value) < 100 else f"{value:.1f} mJ"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not _is_number(value):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def _ratio(base: Any, value: Any) -> str:
    """How many times smaller ``value`` is than ``base`` ("4.0x less"), or larger."""
    if not (_finite(base) and _finite(value)) or base <= 0 or value <= 0:
        return "n/a"
    return f"{base / value:.1f}x less" if value <= base else f"{value / base:.1f}x more"


def _mode_name(mode: str) -> str:
    return mode.replace("_", "-")


def _ordered_modes(modes: Iterable[str]) -> list[str]:
    modes = list(modes)
    return [m for m in _MODE_ORDER if m in modes] + [m for m in modes if m not in _MODE_ORDER]


def _profiles(data: Mapping) -> list[str]:
    """Network profiles in a stable order: as the selection lists them, then any others seen."""
    seen: list[str] = []
    for source in (data["selection"], data["placement"], data["network_profiles"],
                   [c["profile"] for c in data["candidates"]]):
        for name in source:
            if name not in seen:
                seen.append(name)
    return seen


class _Words:
    """The metric's name: "accuracy" against labels, "agreement with the master" when unlabeled."""

    def __init__(self, reference: str) -> None:
        self.unlabeled = reference == "master"
        self.metric = "agreement with the master" if self.unlabeled else "accuracy"
        self.short = "agreement" if self.unlabeled else "accuracy"
        self.Short = self.short.capitalize()


def _master_alone(data: Mapping, profile: str, placement: str | None) -> Mapping | None:
    """The master-only candidate to compare a profile's normal-mode choice with: the master alone
    where the placement decision puts it, else where the selection puts it, else the fastest."""
    rows = [c for c in data["candidates"]
            if c["system"] == _MASTER_ONLY and c["profile"] == profile]
    normal = [c for c in rows if c["mode"] == "normal"] or rows
    if not normal:
        return None
    for wanted in (data["placement"].get(profile, {}).get("choice"), placement):
        for row in normal:
            if row["placement"] == wanted:
                return row
    return min(normal, key=lambda c: c["expected_latency_ms"])


# ------------------------------------------------------------------------------------ plots


def _figure(width: float, height: float):
    """A stand-alone Agg figure (no pyplot state, so nothing leaks between calls)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        # Switching the backend after pyplot is imported would close the caller's figures; the
        # Figure API below renders PNGs with Agg regardless, so only select it when it is free.
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _save(fig, path: Path) -> None:
    # No "Software" text chunk: the same data gives the same bytes across matplotlib versions.
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return math.ceil(n / cols), cols


def _plot_curve(data: Mapping, words: _Words, path: Path) -> None:
    chosen = data["chosen"]
    fig = _figure(7.5, 5.0)
    ax = fig.add_subplot()
    colors = {"val": "tab:blue", "test": "tab:orange"}
    for split in ("val", "test"):
        sweep = chosen["curve"][split]
        ax.plot([100 * r for r in sweep["recovery_rate"]], [100 * a for a in sweep["accuracy"]],
                color=colors[split], lw=1.5, label=f"{split} sweep (single threshold)")
    master = data["master"]
    ax.axhline(100 * master["val_accuracy"], color=colors["val"], ls=":", lw=1,
               label=f"master alone, val ({_pct(master['val_accuracy'])})")
    ax.axhline(100 * master["test_accuracy"], color=colors["test"], ls="--", lw=1,
               label=f"master alone, test ({_pct(master['test_accuracy'])})")
    oracle = chosen["oracle_recovery_rate_test"]
    ax.axvline(100 * oracle, color="tab:green", ls="-.", lw=1, label=f"oracle P_r, test ({_pct(oracle)})")
    markers = {"normal": "o", "power_saving": "s"}
    for point in chosen["operating_points"]:
        filled = point["kind"] == "per_class"
        color = colors.get(point["split"], "tab:gray")
        ax.plot(100 * point["recovery_rate"], 100 * point["accuracy"], ls="none",
                marker=markers.get(point["mode"], "D"), ms=8, mec=color,
                mfc=color if filled else "white", mew=1.5,
                label=f"{_mode_name(point['mode'])}, {point['kind'].replace('_', '-')}, {point['split']}")
    achieved = chosen["achieved_test"]
    ax.plot(100 * achieved["recovery_rate"], 100 * achieved["accuracy"], ls="none", marker="*",
            ms=14, color="tab:red", label="configured system on test")
    ax.set_xlabel("recovery rate P_r (% of inputs sent to the master)")
    ax.set_ylabel(f"{words.metric} (%)")
    ax.set_title(f"{chosen['system']} ({chosen['profile']})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def _plot_confidence(data: Mapping, path: Path) -> None:
    confidence = data["chosen"]["confidence"]
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    groups = (("correct", "tab:green"), ("correctable", "tab:orange"), ("uncorrectable", "tab:red"))
    bins = [i / 20 for i in range(21)]
    low = min([0.0] + [v for name, _ in groups for v in confidence[name]])
    if low < 0:
        bins[0] = low
    total = 0
    for name, color in groups:
        values = [min(max(v, bins[0]), 1.0) for v in confidence[name]]
        total += len(values)
        if values:
            ax.hist(values, bins=bins, histtype="step", lw=1.8, color=color, label=f"{name} (n={len(values)})")
        else:
            ax.plot([], [], color=color, label=f"{name} (n=0)")
    if total:
        ax.set_yscale("log", nonpositive="clip")
    else:
        ax.text(0.5, 0.5, "no test outputs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("calibrated minion confidence (min over the pair)")
    ax.set_ylabel("test inputs (log scale)" if total else "test inputs")
    ax.set_xlim(bins[0], 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def _ece_from_bins(diagram: Mapping) -> float | None:
    total = sum(diagram["count"])
    if not total:
        return None
    gap = 0.0
    for acc, conf, count in zip(diagram["accuracy"], diagram["confidence"], diagram["count"]):
        if count and acc is not None and conf is not None:
            gap += count * abs(acc - conf)
    return gap / total


def _minion_ece(data: Mapping, model_id: str) -> tuple[float | None, float | None]:
    """Val ECE before/after temperature scaling: from the model row, else from the diagram."""
    for model in data["models"]:
        if model["id"] == model_id and model.get("calibration"):
            return model["calibration"]["ece_before"], model["calibration"]["ece_after"]
    entry = data["calibration"][model_id]
    return _ece_from_bins(entry["reliability_before"]), _ece_from_bins(entry["reliability_after"])


def _plot_reliability(data: Mapping, words: _Words, path: Path) -> None:
    ids = list(data["calibration"])
    rows, cols = _grid(len(ids))
    fig = _figure(3.2 * cols, 3.1 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(ids):
            ax.set_axis_off()
            continue
        model_id = ids[index]
        entry = data["calibration"][model_id]
        ax.plot([0, 1], [0, 1], color="gray", lw=0.8, ls="--")
        for key, color, label in (("reliability_before", "tab:red", "before"),
                                  ("reliability_after", "tab:blue", f"after (T={entry['temperature']:.2f})")):
            diagram = entry[key]
            points = [(c, a) for c, a, n in zip(diagram["confidence"], diagram["accuracy"], diagram["count"])
                      if n and c is not None and a is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3.5, lw=1.2,
                    color=color, label=label)
        before, after = _minion_ece(data, model_id)
        ax.set_title(f"{model_id}\nval ECE {_pct(before, 1)} -> {_pct(after, 1)}", fontsize=7.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel(words.short, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    _save(fig, path)


def _pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both lower latency and higher accuracy."""
    front: list[tuple[float, float]] = []
    for latency, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or accuracy > front[-1][1]:
            front.append((latency, accuracy))
    return front


def _plot_pareto(data: Mapping, words: _Words, path: Path) -> None:
    profiles = [p for p in _profiles(data) if any(c["profile"] == p for c in data["candidates"])]
    rows, cols = _grid(len(profiles))
    fig = _figure(4.2 * cols, 3.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    mode_colors = {"normal": "tab:blue", "power_saving": "tab:orange", "private": "tab:purple",
                   "mission_critical": "tab:brown"}
    master_val = data["master"]["val_accuracy"]
    for index, ax in enumerate(axes.flat):
        if index >= len(profiles):
            ax.set_axis_off()
            continue
        profile = profiles[index]
        rows_here = [c for c in data["candidates"] if c["profile"] == profile]
        for mode in _ordered_modes({c["mode"] for c in rows_here}):
            color = mode_colors.get(mode, "tab:gray")
            for meets in (True, False):
                group = [c for c in rows_here if c["mode"] == mode and c["meets_target"] is meets
                         and c["system"] != _MASTER_ONLY]
                if group:
                    ax.plot([c["expected_latency_ms"] for c in group], [100 * c["accuracy"] for c in group],
                            ls="none", marker="o", ms=5, mec=color, mfc=color if meets else "white",
                            label=f"{_mode_name(mode)}{'' if meets else ' (misses target)'}")
        front = _pareto_front([(c["expected_latency_ms"], 100 * c["accuracy"]) for c in rows_here])
        if front:
            xs = [p[0] for p in front]
            ys = [p[1] for p in front]
            ax.step(xs, ys, where="post", color="black", lw=1, alpha=0.7, label="Pareto front")
        masters = [c for c in rows_here if c["system"] == _MASTER_ONLY]
        if masters:
            ax.plot([c["expected_latency_ms"] for c in masters], [100 * c["accuracy"] for c in masters],
                    ls="none", marker="*", ms=13, color="black", label="master only")
        chosen = [c for c in rows_here if c["chosen"]]
        if chosen:
            ax.plot([c["expected_latency_ms"] for c in chosen], [100 * c["accuracy"] for c in chosen],
                    ls="none", marker="o", ms=13, mfc="none", mec="tab:red", mew=2, label="chosen")
        for mode, fraction in data["targets"].items():
            ax.axhline(100 * fraction * master_val, color=mode_colors.get(mode, "gray"), ls=":", lw=1)
        latencies = [c["expected_latency_ms"] for c in rows_here if c["expected_latency_ms"] > 0]
        if latencies and max(latencies) / min(latencies) > 30:
            ax.set_xscale("log")
        ax.set_title(f"network profile: {profile}", fontsize=9)
        ax.set_xlabel("expected latency per input (ms)", fontsize=8)
        ax.set_ylabel(f"val {words.short} (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    _save(fig, path)


def _plot_latency_model(data: Mapping, path: Path) -> None:
    model = data["latency_model"]
    rows = model["models"]
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    measured = [r["measured_ms"] for r in rows]
    predicted = [r["predicted_ms"] for r in rows]
    ax.scatter(measured, predicted, s=22, color="tab:blue", zorder=3, label="model")
    values = [v for v in measured + predicted if v > 0]
    if values:
        low, high = min(values) / 1.3, max(values) * 1.3
        ax.plot([low, high], [low, high], color="gray", ls="--", lw=1, label="y = x")
        if high / low > 30:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(f"latency regression: MAPE {model['mape_pct']:.1f}%, "
                 f"median APE {model['median_ape_pct']:.1f}%", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def _draw_plots(data: Mapping, words: _Words, out_dir: Path) -> dict[str, str]:
    """Draw every plot whose data is present; remove stale copies of the others."""
    wanted: dict[str, Callable[[Path], None]] = {}
    if data["chosen"] is not None:
        wanted["curve"] = lambda p: _plot_curve(data, words, p)
        wanted["confidence"] = lambda p: _plot_confidence(data, p)
    if data["calibration"]:
        wanted["reliability"] = lambda p: _plot_reliability(data, words, p)
    if data["candidates"]:
        wanted["pareto"] = lambda p: _plot_pareto(data, words, p)
    if data.get("latency_model") and data["latency_model"]["models"]:
        wanted["latency_model"] = lambda p: _plot_latency_model(data, p)
    written = {}
    for key, name in PLOT_FILES.items():
        target = out_dir / name
        if key in wanted:
            wanted[key](target)
            written[key] = name
        elif target.exists():
            log.info("removing stale plot %s (its data is absent this time)", target)
            target.unlink()
    return written


# ------------------------------------------------------------------------------------ HTML


class _Safe(str):
    """A string that is already HTML (built here from escaped parts)."""


def _e(value: Any) -> str:
    return value if isinstance(value, _Safe) else html.escape(str(value), quote=True)


def _h(template: str, *values: Any) -> _Safe:
    """``template`` (trusted HTML with ``{}`` slots) filled with escaped ``values``."""
    return _Safe(template.format(*(_e(v) for v in values)))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = ()) -> _Safe:
    if not rows:
        return _Safe('<p class="muted">(none)</p>')
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return _Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _figure_html(plots: Mapping[str, str], key: str, alt: str, caption: str) -> _Safe:
    name = plots[key]
    return _h('<figure><a href="{}"><img src="{}" alt="{}"></a><figcaption>{}</figcaption></figure>',
              name, name, alt, caption)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1100px;padding:1rem 1.5rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.summary{background:#eef6ee;border:1px solid #8bb98b;border-radius:6px;padding:.6rem 1.2rem}
.banner{background:#fff4d6;border:2px solid #d9a400;border-radius:6px;padding:.6rem 1.2rem;font-weight:600}
.warn{color:#8a4b00}.muted{color:#666}code{font-size:.9em}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#444}
nav a{margin-right:.8rem}dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
""".strip()


def _header(data: Mapping, words: _Words) -> list[str]:
    bundle = data["bundle"]
    dataset = bundle["dataset"]
    splits = dataset["splits"]
    labels = bundle["labels"]
    shown = ", ".join(labels[:30]) + (f", ... ({len(labels) - 30} more)" if len(labels) > 30 else "")
    master_val = data["master"]["val_accuracy"]
    targets = "; ".join(
        f"{_mode_name(mode)}: at least {_pct(fraction, 1)} of the master's {words.short} "
        f"(val: {_pct(fraction * master_val)})"
        for mode, fraction in data["targets"].items()
    )
    reference = ("the master's own answers (unlabeled calibration mode)" if words.unlabeled
                 else "ground-truth labels")
    parts = [
        _h("<h1>mmnet bundle report: {}</h1>", bundle["name"]),
        '<dl class="meta">',
        _h("<dt>created</dt><dd>{}</dd>", bundle["created_utc"]),
        _h("<dt>dataset</dt><dd>{}, {} classes, frames {}</dd>", dataset["source"], dataset["num_classes"],
           "x".join(str(v) for v in dataset["frame_shape"])),
        _h("<dt>splits</dt><dd>train {}, val {}, test {}</dd>", _num(splits["train"]), _num(splits["val"]),
           _num(splits["test"])),
        _h("<dt>fingerprint</dt><dd><code>{}</code></dd>", dataset["fingerprint"]),
        _h("<dt>labels</dt><dd>{}</dd>", shown),
        _h("<dt>reference</dt><dd>{}</dd>", reference),
        _h("<dt>master</dt><dd><code>{}</code>: val {} {}, test {}</dd>", data["master"]["id"], words.short,
           _pct(master_val), _pct(data["master"]["test_accuracy"])),
        _h("<dt>targets</dt><dd>{}</dd>", targets),
        "</dl>",
    ]
    if words.unlabeled:
        parts.append(_h(
            '<p class="banner">Unlabeled calibration mode: no ground-truth labels were used. The master\'s '
            "own answers are the reference, so every number called {} here is <em>agreement with the "
            "master</em>, not accuracy. The master agrees with itself by construction, and an "
            "&ldquo;uncorrectable&rdquo; output (minion and master both wrong) cannot be observed. How "
            "often the master itself is right is not measured by this report.</p>", words.short))
    return parts


def _summary(data: Mapping, words: _Words) -> list[str]:
    items: list[str] = []
    selection = data["selection"]
    for profile in _profiles(data):
        normal = selection.get(profile, {}).get("normal")
        placement = data["placement"].get(profile)
        where = (_h(" Master placement: <b>{}</b> (device {} vs cloud {}).", placement["choice"],
                    _ms(placement["device_ms"]), _ms(placement["cloud_ms"])) if placement else "")
        if normal is None:
            items.append(_h("<li><b>{}</b>: no normal-mode selection in the data.{}</li>", profile, _Safe(where)))
            continue
        expected = normal["expected"]
        if normal["system"] == _MASTER_ONLY:
            items.append(_h(
                "<li><b>{}</b>: <b>master only</b> ({}) &mdash; no minion system beats the master alone "
                "here. Expected {} and {} per input.{}</li>", profile, normal["placement"],
                _ms(expected["latency_ms"]), _mj(expected["energy_mj"]), _Safe(where)))
            continue
        alone = _master_alone(data, profile, normal["placement"])
        versus = (_h(" vs {} and {} for the master alone ({}: {} latency, {} energy)",
                     _ms(alone["expected_latency_ms"]), _mj(alone["expected_energy_mj"]), alone["placement"],
                     _ratio(alone["expected_latency_ms"], expected["latency_ms"]),
                     _ratio(alone["expected_energy_mj"], expected["energy_mj"]))
                  if alone else _Safe(" (no master-only candidate to compare with)"))
        items.append(_h(
            "<li><b>{}</b>: <code>{}</code>, master on the {}; expected {} and {} per input{}; "
            "val P_r {} at {} {}.{}</li>", profile, normal["system"], normal["placement"],
            _ms(expected["latency_ms"]), _mj(expected["energy_mj"]), versus, _pct(expected["recovery_rate"]),
            words.short, _pct(expected["accuracy"]), _Safe(where)))

    parts = ['<section class="summary" id="summary"><h2>Summary</h2>',
             "<p>Normal mode, per network profile:</p>", "<ul>", *items, "</ul>"]
    chosen = data["chosen"]
    if chosen is None:
        normal = [modes.get("normal") for modes in selection.values()]
        if all(entry is None or entry["system"] == _MASTER_ONLY for entry in normal):
            parts.append(
                "<p><b>Master-only was chosen for every network profile: no minion system beats the master "
                "alone here.</b> There is no chosen minion system, so its accuracy-vs-recovery and "
                "confidence plots are omitted.</p>")
        else:
            parts.append(
                '<p class="warn">The report data has no chosen-system details (chosen is null) although a '
                "minion system is selected above; its accuracy-vs-recovery and confidence plots are "
                "omitted.</p>")
        parts.append("</section>")
        return parts

    master_test = data["master"]["test_accuracy"]
    achieved = chosen["achieved_test"]
    oracle = chosen["oracle_recovery_rate_test"]
    parts.append(_h("<p>Chosen system for profile <b>{}</b>: <code>{}</code>. On <b>test</b>:</p><ul>",
                    chosen["profile"], chosen["system"]))
    parts.append(_h("<li>the system's {} is <b>{}</b> vs the master's <b>{}</b> ({}).</li>", words.metric,
                    _pct(achieved["accuracy"]), _pct(master_test), _points(achieved["accuracy"] - master_test)))
    gap = achieved["recovery_rate"] - oracle
    direction = "more" if gap >= 0 else "fewer"
    parts.append(_h(
        "<li>oracle recovery rate (minion wrong, master right) <b>{}</b>; achieved P_r <b>{}</b> at {} {}: "
        "the detector sends {} points {} inputs to the master than the oracle would.</li>", _pct(oracle),
        _pct(achieved["recovery_rate"]), words.short, _pct(achieved["accuracy"]), f"{abs(100 * gap):.2f}",
        direction))
    parts.append("</ul>")
    parts += _per_class_vs_single(chosen, words)
    parts.append("</section>")
    return parts


def _per_class_vs_single(chosen: Mapping, words: _Words) -> list[str]:
    versus = chosen["per_class_vs_single"]
    lines = ["<p>Per-class thresholds vs one single threshold:</p><ul>"]
    for split in ("val", "test"):
        per_class = versus[split]["per_class"]
        single = versus[split]["single"]
        gap = per_class["recovery_rate"] - single["recovery_rate"]
        accuracy_gap = per_class["accuracy"] - single["accuracy"]
        if abs(gap) < 5e-5:
            effect = "the same share of inputs"
        else:
            effect = f"{abs(100 * gap):.2f} points {'fewer' if gap < 0 else 'more'} inputs"
        caveat = (f" (the {words.short} values differ by {abs(100 * accuracy_gap):.2f} points, so this is not "
                  f"at equal {words.short})"
                  if abs(accuracy_gap) >= 0.001 else "")
        lines.append(_h(
            "<li>{}: per-class P_r <b>{}</b> at {} {}; single threshold P_r <b>{}</b> at {} {} &rarr; "
            "per-class sends {} to the master{}.</li>", split, _pct(per_class["recovery_rate"]), words.short,
            _pct(per_class["accuracy"]), _pct(single["recovery_rate"]), words.short, _pct(single["accuracy"]),
            effect, caveat))
    lines.append(_h("<li>verdict: {}</li></ul>", versus["verdict"]))
    return lines


def _chosen_section(data: Mapping, words: _Words, plots: Mapping[str, str]) -> list[str]:
    chosen = data["chosen"]
    parts = ['<h2 id="chosen">Chosen system</h2>']
    if chosen is None:
        parts.append("<p>Master-only was chosen everywhere: no minion system beats the master alone here, "
                     "so there is no recovery curve or confidence histogram to show.</p>")
        return parts
    parts.append(_h("<p><code>{}</code> (minions: {}), chosen for normal mode under network profile "
                    "<b>{}</b>.</p>", chosen["system"], ", ".join(chosen["minions"]) or "none", chosen["profile"]))
    parts.append(_figure_html(
        plots, "curve", f"{words.metric} vs recovery rate",
        f"{words.Short} vs recovery rate P_r (share of inputs sent to the master) when one confidence "
        "threshold is swept, on val and test; markers are the configured operating points (filled: "
        "per-class thresholds, hollow: single threshold; circle: normal, square: power-saving), the star "
        "is the configured system on test; horizontal lines: the master alone; vertical line: the oracle "
        "P_r (recover exactly the inputs where the minion is wrong and the master right)."))
    rows = [[_mode_name(p["mode"]), p["kind"].replace("_", "-"), p["split"], _pct(p["recovery_rate"]),
             _pct(p["accuracy"]), "per class" if p["threshold"] is None else f"{p['threshold']:.4f}"]
            for p in chosen["operating_points"]]
    parts.append("<h3>Operating points</h3>")
    parts.append(_table(["mode", "thresholds", "split", "P_r", words.short, "threshold"], rows,
                        numeric=(3, 4, 5)))
    confidence = chosen["confidence"]
    parts.append(_figure_html(
        plots, "confidence", "confidence histograms",
        "Test split: the minions' calibrated confidence (the lower of the pair) for outputs that are correct, "
        "wrong but correctable (the master is right) and wrong and uncorrectable (the master is wrong too). "
        f"Counts: correct {len(confidence['correct'])}, correctable {len(confidence['correctable'])}, "
        f"uncorrectable {len(confidence['uncorrectable'])}. A good detector threshold sits where correctable "
        "outputs are common and correct ones rare."))
    return parts


def _selection_section(data: Mapping, words: _Words, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="selection">Selection per network profile and mode</h2>']
    rows = []
    for profile in _profiles(data):
        modes = data["selection"].get(profile, {})
        for mode in _ordered_modes(modes):
            entry = modes[mode]
            expected = entry["expected"]
            rows.append([profile, _mode_name(mode), entry["system"], entry["placement"], _ms(expected["latency_ms"]),
                         _mj(expected["energy_mj"]), _pct(expected["recovery_rate"]), _pct(expected["accuracy"]),
                         ", ".join(entry["runner_ups"]) or "-", entry["why"]])
    parts.append(_table(["profile", "mode", "system", "master on", "latency", "energy", "P_r", f"val {words.short}",
                         "runner-ups", "why"], rows, numeric=(4, 5, 6, 7)))
    if "pareto" in plots:
        parts.append(_figure_html(
            plots, "pareto", "expected latency vs accuracy per network profile",
            f"Every candidate (val): expected latency per input vs {words.metric}, one panel per network "
            "profile; colour is the mode, hollow dots miss their target, the black line is the Pareto front "
            "(no candidate is both faster and better), the star is the master alone, red rings are the "
            "chosen systems; dotted lines are the mode targets."))
    rows = [[c["system"], c["profile"], _mode_name(c["mode"]), c["placement"], _ms(c["expected_latency_ms"]),
             _mj(c["expected_energy_mj"]), _pct(c["accuracy"]), _pct(c["recovery_rate"]),
             "yes" if c["meets_target"] else "no", "yes" if c["chosen"] else ""] for c in data["candidates"]]
    parts.append(_h("<details><summary>All {} candidates (val)</summary>", len(rows)))
    parts.append(_table(["system", "profile", "mode", "master on", "latency", "energy", words.short, "P_r",
                         "meets target", "chosen"], rows, numeric=(4, 5, 6, 7)))
    parts.append("</details>")

    parts.append('<h2 id="placement">Master placement</h2>')
    rows = [[profile, _ms(p["device_ms"]), _ms(p["cloud_ms"]), p["choice"]]
            for profile, p in data["placement"].items()]
    parts.append(_table(["profile", "master on device", "master in the cloud", "choice"], rows, numeric=(1, 2)))
    return parts


def _outcomes_section(data: Mapping, words: _Words) -> list[str]:
    parts = ['<h2 id="outcomes">Minion outcomes</h2>',
             _h("<p>correct: the minion answer is right; correctable: wrong and the master right; "
                "uncorrectable: wrong and the master wrong too; odd correct: the minion right and the master "
                "wrong. {}</p>",
                "Here &ldquo;right&rdquo; means agreeing with the master, so uncorrectable and odd-correct "
                "outputs cannot occur." if words.unlabeled else "")]
    rows = []
    for o in data["outcomes"]:
        total = o["total"]

        def share(n: int, total: int = total) -> str:
            return f"{n:,} ({_pct(n / total, 1)})" if total else f"{n:,}"

        rows.append([o["system"], o["split"], f"{total:,}", share(o["correct"]), share(o["correctable"]),
                     share(o["uncorrectable"]), share(o["odd_correct"])])
    parts.append(_table(["system", "split", "inputs", "correct", "correctable", "uncorrectable", "odd correct"],
                        rows, numeric=(2, 3, 4, 5, 6)))
    return parts


def _calibration_section(data: Mapping, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="calibration">Calibration (temperature scaling)</h2>']
    rows = [[m["id"], f"{m['calibration']['temperature']:.3f}", _pct(m["calibration"]["ece_before"]),
             _pct(m["calibration"]["ece_after"]), _pct(m["calibration"]["test_ece_before"]),
             _pct(m["calibration"]["test_ece_after"])]
            for m in data["models"] if m.get("calibration")]
    parts.append(_table(["minion", "temperature", "val ECE before", "val ECE after", "test ECE before",
                         "test ECE after"], rows, numeric=(1, 2, 3, 4, 5)))
    if "reliability" in plots:
        parts.append(_figure_html(
            plots, "reliability", "reliability diagrams",
            "Reliability diagrams on val, one panel per minion: mean confidence vs observed accuracy per "
            "confidence bin before (red) and after (blue) temperature scaling; the dashed diagonal is "
            "perfect calibration. Empty bins are left out."))
    else:
        parts.append('<p class="muted">No reliability diagrams in the data.</p>')
    return parts


def _models_section(data: Mapping, words: _Words) -> list[str]:
    rows = []
    for m in data["models"]:
        metrics = m["metrics"]
        extra = ", ".join(f"{k}={_num(v)}" for k, v in metrics.items()
                          if k not in ("val_accuracy", "test_accuracy") and (_is_number(v) or isinstance(v, str)))
        rows.append([m["id"], m["role"], m["family"], _num(m["alpha"]), _num(m["resolution"]), m["precision"],
                     f"{m['bytes'] / 1024:.1f}", _num(m["params"]), f"{m['macs'] / 1e6:.3f}",
                     _pct(metrics.get("val_accuracy")), _pct(metrics.get("test_accuracy")),
                     _ms(m.get("latency_ms")), "yes" if m["blessed"] else "no", m["reason"], extra or "-"])
    return ['<h2 id="models">Models</h2>',
            "<p>Latency is the device estimate per input including preprocessing.</p>",
            _table(["id", "role", "family", "alpha", "res", "precision", "KB", "params", "MMACs",
                    f"val {words.short}", f"test {words.short}", "latency", "blessed", "reason", "other metrics"],
                   rows, numeric=(3, 4, 6, 7, 8, 9, 10, 11))]


def _environment_section(data: Mapping, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="network">Network profiles</h2>']
    rows = []
    for name, p in data["network_profiles"].items():
        extra = ", ".join(f"{k}={_num(v)}" for k, v in p.items()
                          if k not in ("uplink_mbps", "downlink_mbps", "rtt_ms", "source"))
        rows.append([name, _num(p["uplink_mbps"]), _num(p["downlink_mbps"]), _ms(p["rtt_ms"]), extra or "-",
                     p["source"]])
    parts.append(_table(["profile", "uplink Mbit/s", "downlink Mbit/s", "RTT", "other", "source"], rows,
                        numeric=(1, 2, 3)))

    device = data["device_profile"]
    parts.append('<h2 id="device">Device profile</h2>')
    power = (_h("{} W (measured)", _num(device["compute_power_w"])) if device["power_measured"]
             else _h('<span class="warn">{} W, assumed, not measured: every energy number above scales '
                     "with this assumption</span>", _num(device["compute_power_w"])))
    parts.append(_h('<dl class="meta"><dt>name</dt><dd>{}</dd><dt>kind</dt><dd>{}</dd><dt>compute power</dt>'
                    "<dd>{}</dd><dt>source</dt><dd>{}</dd></dl>", device["name"], device["kind"], power,
                    device["source"]))

    parts.append('<h2 id="latency-model">Latency model</h2>')
    model = data.get("latency_model")
    if not model:
        parts.append("<p>No latency regression in this bundle: model latencies are measured directly, not "
                     "predicted.</p>")
        return parts
    parts.append(_h("<p>Per-layer latency regression fitted on {} layer samples in {} s: MAPE <b>{}</b>, "
                    "median APE {} over {} models.</p>", _num(model["layer_samples"]), f"{model['seconds']:.1f}",
                    f"{model['mape_pct']:.1f}%", f"{model['median_ape_pct']:.1f}%", len(model["models"])))
    if "latency_model" in plots:
        parts.append(_figure_html(plots, "latency_model", "predicted vs measured latency",
                                  "Predicted vs measured latency per model; the dashed line is y = x."))
    rows = [[r["model"], _ms(r["measured_ms"]), _ms(r["predicted_ms"]), f"{r['error_pct']:+.1f}%"]
            for r in model["models"]]
    parts.append(_table(["model", "measured", "predicted", "error"], rows, numeric=(1, 2, 3)))
    return parts


def _test_check_section(data: Mapping, words: _Words) -> list[str]:
    check = data["test_check"]
    master_test = check.get("master_test_accuracy", data["master"]["test_accuracy"])
    rows = []
    for mode in _ordered_modes(k for k in check if k != "master_test_accuracy"):
        entry = check[mode]
        if entry is None:
            continue
        fraction = data["targets"].get(mode)
        target = fraction * master_test if fraction is not None else None
        meets = "n/a" if target is None else ("yes" if entry["accuracy"] >= target - 1e-12 else "no")
        rows.append([_mode_name(mode), _pct(entry["accuracy"]), _pct(entry["recovery_rate"]), _pct(target), meets])
    return ['<h2 id="test-check">Test-split check</h2>',
            _h("<p>The configured systems re-run on the held-out test split (thresholds were set on val). "
               "Master alone on test: {}.</p>", _pct(master_test)),
            _table(["mode", f"test {words.short}", "test P_r", "target on test", "meets target"], rows,
                   numeric=(1, 2, 3))]


def _render_html(data: Mapping, plots: Mapping[str, str]) -> str:
    words = _Words(data["reference"])
    nav = [("summary", "summary"), ("chosen", "chosen system"), ("selection", "selection"),
           ("placement", "placement"), ("outcomes", "outcomes"), ("calibration", "calibration"),
           ("models", "models"), ("network", "network"), ("device", "device"),
           ("latency-model", "latency model"), ("test-check", "test check"), ("notes", "notes")]
    notes = data.get("notes") or []
    body = [
        *_header(data, words),
        "<nav>" + "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in nav) + "</nav>",
        *_summary(data, words),
        *_chosen_section(data, words, plots),
        *_selection_section(data, words, plots),
        *_outcomes_section(data, words),
        *_calibration_section(data, plots),
        *_models_section(data, words),
        *_environment_section(data, plots),
        *_test_check_section(data, words),
        '<h2 id="notes">Notes</h2>',
        ("<ul>" + "".join(_h("<li>{}</li>", n) for n in notes) + "</ul>") if notes
        else '<p class="muted">(none)</p>',
    ]
    title = _e(f"mmnet report: {data['bundle']['name']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the complete new one, never half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(data: dict, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and its PNG plots from the report data; return the index path.

    The data layout is the integrator's "report data" (see the module docstring and the tests'
    fixture). Optional: ``chosen`` may be null (master-only everywhere: the curve and confidence
    plots are skipped and the page says so), ``latency_model`` may be null or absent, a model's
    ``calibration`` and ``latency_ms`` may be null, ``notes`` may be absent, ``calibration`` and
    ``candidates`` may be empty. The plots are written first and ``index.html`` last (atomically),
    so an index on disk always has its images. Raises :class:`ReportDataError` (a ``ValueError``)
    naming the field when the data is malformed, before anything is written.
    """
    _validate(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    words = _Words(data["reference"])
    plots = _draw_plots(data, words, out_dir)
    index = out_dir / "index.html"
    _write_text(index, _render_html(data, plots))
    log.info("report written to %s (%d plots)", index, len(plots))
    return index


# ------------------------------------------------------------------------------------ model card


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


def _render_model_card(data: Mapping) -> str:
    words = _Words(data["reference"])
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
              "master (on the device or in the cloud) when a minion's calibrated confidence is below its "
              "per-class threshold or the two minions disagree. The runtime picks the system per network "
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
              f"- master {_code(master['id'])}: val {words.short} {_pct(master['val_accuracy'])}, "
              f"test {words.short} {_pct(master['test_accuracy'])}",
              "- targets: " + "; ".join(f"{_md(_mode_name(m))} at least {_pct(f, 1)} of the master's {words.short}"
                                        for m, f in data["targets"].items())]
    if chosen is None:
        lines.append("- chosen system: **master only** for every network profile; no minion system beats "
                     "the master alone here.")
    else:
        achieved = chosen["achieved_test"]
        versus = chosen["per_class_vs_single"]["test"]
        lines += [f"- chosen system ({_md(chosen['profile'])}, normal mode): {_code(chosen['system'])}",
                  f"  - test {words.short} {_pct(achieved['accuracy'])} vs the master's "
                  f"{_pct(master['test_accuracy'])}; test recovery rate P_r {_pct(achieved['recovery_rate'])} "
                  f"(oracle {_pct(chosen['oracle_recovery_rate_test'])})",
                  f"  - per-class vs single threshold on test: P_r {_pct(versus['per_class']['recovery_rate'])} vs "
                  f"{_pct(versus['single']['recovery_rate'])} at {words.short} {_pct(versus['per_class']['accuracy'])} "
                  f"vs {_pct(versus['single']['accuracy'])}; {_md(chosen['per_class_vs_single']['verdict'])}"]
    rows = []
    for profile in _profiles(data):
        for mode in _ordered_modes(data["selection"].get(profile, {})):
            entry = data["selection"][profile][mode]
            expected = entry["expected"]
            rows.append([_md(profile), _md(_mode_name(mode)), _code(entry["system"]), _md(entry["placement"]),
                         _ms(expected["latency_ms"]), _mj(expected["energy_mj"]), _pct(expected["recovery_rate"]),
                         _pct(expected["accuracy"])])
    lines += ["", "Selection (expected on val):", ""]
    lines += _md_table(["profile", "mode", "system", "master on", "latency", "energy", "P_r", words.short], rows)
    check = data["test_check"]
    rows = [[_md(_mode_name(mode)), _pct(check[mode]["accuracy"]), _pct(check[mode]["recovery_rate"])]
            for mode in _ordered_modes(k for k in check if k != "master_test_accuracy") if check[mode]]
    lines += ["", "Test-split check of the configured systems:", ""]
    lines += _md_table(["mode", f"test {words.short}", "test P_r"], rows)
    lines.append("")

    lines += ["## Calibration", "",
              "Minion confidences are temperature-scaled on val; ECE is the expected calibration error.", ""]
    rows = [[_code(m["id"]), f"{m['calibration']['temperature']:.3f}", _pct(m["calibration"]["ece_before"]),
             _pct(m["calibration"]["ece_after"]), _pct(m["calibration"]["test_ece_before"]),
             _pct(m["calibration"]["test_ece_after"])] for m in data["models"] if m.get("calibration")]
    lines += _md_table(["minion", "T", "val ECE before", "val ECE after", "test ECE before", "test ECE after"], rows)
    lines.append("")

    lines += ["## Limitations", ""]
    test_n = splits["test"]
    size = "Small dataset" if test_n < 10_000 else "Dataset size"
    lines.append(f"- {size}: {splits['train']:,} training, {splits['val']:,} validation and {test_n:,} test "
                 "inputs" + (f"; one test input moves test {words.short} by {_pct(1 / test_n, 3)}, so differences "
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
        lines.append(f"- Compute power {_num(device['compute_power_w'])} W was measured; energy still excludes "
                     "display and idle power.")
    else:
        lines.append(f"- Power is assumed, not measured: {_num(device['compute_power_w'])} W "
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
    """Write the Markdown model card (intended use, data, metrics, calibration, limitations) to ``path``.

    Uses the same report data as :func:`write_report`; raises :class:`ReportDataError` on bad data.
    """
    _validate(data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_text(path, _render_model_card(data))
    return path


# ------------------------------------------------------------------------------------ references


class _References(HTMLParser):
    _ATTRIBUTES = {"img": ("src",), "a": ("href",), "link": ("href",), "script": ("src",),
                   "source": ("src",), "iframe": ("src",), "object": ("data",)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self._ATTRIBUTES.get(tag, ())
        for name, value in attrs:
            if name in wanted and value:
                self.found.append(value)


def report_files(index_html: Path) -> list[str]:
    """Every local file ``index_html`` references (``img src``, ``a href``, …), relative to its folder.

    In-page anchors (``#x``), URLs with a scheme (``https:``, ``mailto:``, ``data:``) and
    protocol-relative ``//host`` links are skipped; query and fragment are dropped and
    percent-escapes decoded. Order of first appearance, no duplicates. Check existence with
    ``index_html.parent / name``.
    """
    parser = _References()
    parser.feed(Path(index_html).read_text(encoding="utf-8"))
    parser.close()
    files: list[str] = []
    for reference in parser.found:
        parts = urlsplit(reference.strip())
        if parts.scheme or parts.netloc or not parts.path:
            continue
        name = unquote(parts.path)
        if name not in files:
            files.append(name)
    return files
