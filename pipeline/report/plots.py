"""The report's PNG plots: one fixed file name per plot, drawn with matplotlib's Agg backend.

A plot whose data is absent is not drawn, and a stale copy of it from an earlier run in the same
folder is removed, so the folder always matches the page. Figures are stand-alone (no pyplot
state) and carry no "Software" text chunk, so the same data gives the same bytes.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mmnet.format.runtime_config import MASTER_ONLY
from mmnet.pipeline.report.presentation import Words, mode_name, ordered_modes, pct, profiles

__all__ = ["PLOT_FILES", "plots_with_data", "draw_plots"]

log = logging.getLogger(__name__)

# Fixed PNG names, one per plot (deterministic, so links and tests can rely on them).
PLOT_FILES = {
    "curve": "accuracy_vs_recovery.png",
    "confidence": "confidence_histograms.png",
    "reliability": "reliability_diagrams.png",
    "pareto": "pareto_latency_accuracy.png",
    "latency_model": "latency_model.png",
    "detector_risk_coverage": "detector_risk_coverage.png",
}
_DPI = 100

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


def _plot_curve(data: Mapping, words: Words, path: Path) -> None:
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
               label=f"master alone, val ({pct(master['val_accuracy'])})")
    ax.axhline(100 * master["test_accuracy"], color=colors["test"], ls="--", lw=1,
               label=f"master alone, test ({pct(master['test_accuracy'])})")
    oracle = chosen["oracle_recovery_rate_test"]
    ax.axvline(100 * oracle, color="tab:green", ls="-.", lw=1, label=f"oracle P_r, test ({pct(oracle)})")
    markers = {"normal": "o", "power_saving": "s"}
    for point in chosen["operating_points"]:
        filled = point["kind"] == "per_class"
        color = colors.get(point["split"], "tab:gray")
        ax.plot(100 * point["recovery_rate"], 100 * point["accuracy"], ls="none",
                marker=markers.get(point["mode"], "D"), ms=8, mec=color,
                mfc=color if filled else "white", mew=1.5,
                label=f"{mode_name(point['mode'])}, {point['kind'].replace('_', '-')}, {point['split']}")
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
    bins = [i / 20 for i in range(21)]  # confidences are in [0, 1] (the report data schema)
    total = 0
    for name, color in groups:
        values = confidence[name]
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
    ax.set_xlim(0.0, 1.0)
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


def _plot_reliability(data: Mapping, words: Words, path: Path) -> None:
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
            filled = [(c, a) for c, a, n in zip(diagram["confidence"], diagram["accuracy"], diagram["count"])
                      if n and c is not None and a is not None]
            ax.plot([p[0] for p in filled], [p[1] for p in filled], marker="o", ms=3.5, lw=1.2,
                    color=color, label=label)
        before, after = _minion_ece(data, model_id)
        ax.set_title(f"{model_id}\nval ECE {pct(before, 1)} -> {pct(after, 1)}", fontsize=7.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel(words.short, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    _save(fig, path)


def _pareto_front(pairs: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both lower latency and higher accuracy."""
    front: list[tuple[float, float]] = []
    for latency, accuracy in sorted(pairs, key=lambda p: (p[0], -p[1])):
        if not front or accuracy > front[-1][1]:
            front.append((latency, accuracy))
    return front


def _plot_pareto(data: Mapping, words: Words, path: Path) -> None:
    panels = [p for p in profiles(data) if any(c["profile"] == p for c in data["candidates"])]
    rows, cols = _grid(len(panels))
    fig = _figure(4.2 * cols, 3.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    mode_colors = {"normal": "tab:blue", "power_saving": "tab:orange", "private": "tab:purple",
                   "mission_critical": "tab:brown"}
    master_val = data["master"]["val_accuracy"]
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.set_axis_off()
            continue
        profile = panels[index]
        rows_here = [c for c in data["candidates"] if c["profile"] == profile]
        for mode in ordered_modes({c["mode"] for c in rows_here}):
            color = mode_colors.get(mode, "tab:gray")
            for meets in (True, False):
                group = [c for c in rows_here if c["mode"] == mode and c["meets_target"] is meets
                         and c["system"] != MASTER_ONLY]
                if group:
                    ax.plot([c["expected_latency_ms"] for c in group], [100 * c["accuracy"] for c in group],
                            ls="none", marker="o", ms=5, mec=color, mfc=color if meets else "white",
                            label=f"{mode_name(mode)}{'' if meets else ' (misses target)'}")
        front = _pareto_front([(c["expected_latency_ms"], 100 * c["accuracy"]) for c in rows_here])
        if front:
            xs = [p[0] for p in front]
            ys = [p[1] for p in front]
            ax.step(xs, ys, where="post", color="black", lw=1, alpha=0.7, label="Pareto front")
        masters = [c for c in rows_here if c["system"] == MASTER_ONLY]
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


_MEMBER_COLORS = {"per_class_confidence": "tab:blue", "logistic": "tab:orange"}
_OTHER_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _member_colors(rows: Sequence[Mapping]) -> dict[str, str]:
    kinds: list[str] = []
    for row in rows:
        kinds += [k for k in row["members"] if k not in kinds]
    spare = iter(_OTHER_COLORS * (1 + len(kinds) // len(_OTHER_COLORS)))
    return {k: _MEMBER_COLORS[k] if k in _MEMBER_COLORS else next(spare) for k in kinds}


def _risk_zoom(row: Mapping) -> float:
    """The x limit (%) of a risk-coverage panel: the operating region, 4x the larger of the oracle and the
    shipped recovery rates, at least 20% and at most 100%."""
    chosen = row["members"].get(row["chosen"]) or {}
    rates = [row["oracle_recovery_rate_test"], row["achieved_recovery_rate_test"]]
    if chosen.get("reached"):
        rates += [chosen["test"]["recovery_rate"], chosen["val"]["recovery_rate"]]
    return min(100.0, max(20.0, 400 * max(rates)))


def _plot_detector_risk_coverage(data: Mapping, path: Path) -> None:
    detectors = data["detectors"]
    rows = detectors["systems"]
    epsilon = detectors["settings"]["epsilon"]
    colors = _member_colors(rows)
    n_rows, cols = _grid(len(rows))
    fig = _figure(4.4 * cols, 3.5 * n_rows + 0.5)
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(rows):
            ax.set_axis_off()
            continue
        row = rows[index]
        for kind, member in row["members"].items():
            color = colors[kind]
            for key, style in (("curve_val", "--"), ("curve_test", "-")):
                curve = member.get(key)
                if curve and curve["recovery_rate"]:
                    ax.plot([100 * r for r in curve["recovery_rate"]], [100 * e for e in curve["extra_error_rate"]],
                            color=color, ls=style, lw=1.2 if style == "-" else 1.0)
        chosen = row["members"].get(row["chosen"])
        if chosen is not None and chosen["reached"]:
            # on test, the shipped member's false negatives per frame are its extra errors per frame
            ax.plot(100 * chosen["test"]["recovery_rate"], 100 * chosen["false_negative_rate_test"], ls="none",
                    marker="*", ms=12, color=colors[row["chosen"]], mec="black", mew=0.6, zorder=4)
        ax.axvline(100 * row["oracle_recovery_rate_test"], color="tab:green", ls=":", lw=1.3)
        if row["tuning"] in epsilon:
            ax.axhline(100 * epsilon[row["tuning"]], color="tab:red", ls=":", lw=1.3)
        ax.set_title(f"{row['system']}\n{mode_name(row['tuning'])}: shipped {row['chosen'].replace('_', '-')}, "
                     f"P_r {pct(row['achieved_recovery_rate_test'])} (oracle {pct(row['oracle_recovery_rate_test'])})",
                     fontsize=7)
        ax.set_xlim(-1, _risk_zoom(row))
        top = ax.get_ylim()[1]
        ax.set_ylim(-0.04 * top, top)  # curves along zero stay visible above the axis
        ax.set_xlabel("recovery rate (% of frames sent to the master)", fontsize=7.5)
        ax.set_ylabel("extra errors per frame (%)", fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=color, lw=1.5, label=kind.replace("_", "-")) for kind, color in colors.items()]
    handles += [Line2D([], [], color="gray", ls="--", label="cross-fitted val"),
                Line2D([], [], color="gray", ls="-", label="test"),
                Line2D([], [], color="gray", ls="none", marker="*", ms=10, mec="black", label="shipped, on test"),
                Line2D([], [], color="tab:green", ls=":", label="oracle recovery rate (test)"),
                Line2D([], [], color="tab:red", ls=":", label="\u03b5 of the mode")]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4), fontsize=8, frameon=False)
    _save(fig, path)


def plots_with_data(data: Mapping) -> list[str]:
    """The keys of :data:`PLOT_FILES` whose data the report data holds, in that order."""
    present = {
        "curve": data["chosen"] is not None,
        "confidence": data["chosen"] is not None,
        "reliability": bool(data["calibration"]),
        "pareto": bool(data["candidates"]),
        "latency_model": bool(data.get("latency_model") and data["latency_model"]["models"]),
        "detector_risk_coverage": bool(data.get("detectors") and data["detectors"]["systems"]),
    }
    return [key for key in PLOT_FILES if present[key]]


def draw_plots(data: Mapping, out_dir: Path) -> dict[str, str]:
    """Draw every plot whose data is present into ``out_dir``; remove stale copies of the others.

    Returns {plot key: file name} of the plots drawn, keys and names as in :data:`PLOT_FILES`.
    """
    words = Words.for_reference(data["reference"])
    draw: dict[str, Callable[[Path], None]] = {
        "curve": lambda path: _plot_curve(data, words, path),
        "confidence": lambda path: _plot_confidence(data, path),
        "reliability": lambda path: _plot_reliability(data, words, path),
        "pareto": lambda path: _plot_pareto(data, words, path),
        "latency_model": lambda path: _plot_latency_model(data, path),
        "detector_risk_coverage": lambda path: _plot_detector_risk_coverage(data, path),
    }
    drawn = plots_with_data(data)
    for key, name in PLOT_FILES.items():
        target = out_dir / name
        if key in drawn:
            draw[key](target)
        elif target.exists():
            log.info("removing stale plot %s (its data is absent this time)", target)
            target.unlink()
    return {key: PLOT_FILES[key] for key in drawn}
