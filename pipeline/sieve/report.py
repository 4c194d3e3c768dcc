"""The format search's report: the per-layer formats table (dissertation Fig 4.7's content per
tensor), a per-layer bits plot, and the bits-vs-accuracy Pareto of the three models (Fig 4.9).

TF-free: it reads :meth:`~mmnet.pipeline.sieve.search.SearchResult.to_json`'s document, plus the
deployed models' TFLite test accuracies when the caller measured them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmnet.pipeline.sieve.search import MODEL_NAMES

__all__ = ["formats_table", "summary_table", "plot_formats", "plot_pareto", "pareto_from_manifest"]


def _bits(name: str | None) -> str:
    return "32" if name is None else name


def formats_table(doc: dict[str, Any]) -> str:
    """Markdown: per tensor, its covering format and each model's pick (float32 where none)."""
    models = doc["models"]
    lines = [
        "| tensor | kind | values | covered exponents (e_max, bias) | trials | exact | accurate | approximate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tensor in doc["tensors"]:
        name = tensor["name"]
        low = 1 - tensor["bias"]
        high = (1 << tensor["e_max"]) - 2 - tensor["bias"]
        picks = [models[m]["formats"].get(name, "float32") for m in MODEL_NAMES]
        lines.append(f"| `{name}` | {tensor['kind']} | {tensor['elements']} | {low} … {high} (e{tensor['e_max']}, "
                     f"b{tensor['bias']}) | {len(tensor['trials'])} | " + " | ".join(f"`{p}`" for p in picks) + " |")
    return "\n".join(lines) + "\n"


def summary_table(doc: dict[str, Any], test_accuracy: dict[str, float] | None = None) -> str:
    """Markdown: the three models' val accuracy, normalised accuracy, bits, repairs (and TFLite test accuracy)."""
    baseline = doc["baseline_val_accuracy"]
    test_accuracy = test_accuracy or {}
    header = "| model | val acc. | of baseline | as picked | avg bits / weight | avg bits / activation | repairs |"
    rule = "|---|---|---|---|---|---|---|"
    if test_accuracy:
        header += " test acc. (LiteRT) |"
        rule += "---|"
    lines = [header, rule]
    if "float32" in test_accuracy:
        lines.append(f"| float32 (folded) | {100 * baseline:.2f}% | 100.00% | | 32 | 32 | |"
                     f" {100 * test_accuracy['float32']:.2f}% |")
    for name in MODEL_NAMES:
        model = doc["models"][name]
        row = (f"| {name} | {100 * model['accuracy']:.2f}% | {100 * model['normalized']:.2f}% | "
               f"{100 * model['picked_accuracy'] / baseline:.2f}% | {model['avg_bits_per_weight']:.2f} | "
               f"{model['avg_bits_per_activation']:.2f} | {len(model['repairs'])} |")
        if test_accuracy:
            row += f" {100 * test_accuracy[name]:.2f}% |" if name in test_accuracy else " |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def plot_formats(doc: dict[str, Any], path: Path) -> Path:
    """Bits per value of every tensor (weights left, activations right) in the three models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ("weight", "activation")
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
    for axis, kind in zip(axes, kinds):
        tensors = [t for t in doc["tensors"] if t["kind"] == kind]
        width = 0.27
        for i, name in enumerate(MODEL_NAMES):
            formats = doc["models"][name]["formats"]
            bits = [_width(formats.get(t["name"])) for t in tensors]
            axis.bar([x + (i - 1) * width for x in range(len(tensors))], bits, width, label=name)
        axis.set_xticks(range(len(tensors)))
        axis.set_xticklabels([t["layer"] for t in tensors], rotation=90, fontsize=7)
        axis.set_title(f"{kind}s: stored bits per value (32 = float32)")
        axis.axhline(8, color="grey", linewidth=0.6, linestyle="--")
    axes[0].set_ylabel("bits")
    axes[0].legend()
    fig.suptitle(f"SIEVE per-tensor formats: {doc.get('model', '')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(doc: dict[str, Any], path: Path, test_accuracy: dict[str, float] | None = None) -> Path:
    """Average stored bits (weights and activations) against normalised val accuracy, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 5))
    baseline = doc["baseline_val_accuracy"]
    names = [m for m in MODEL_NAMES if m in doc["models"]]  # a build may ship some of the three
    for marker, key, label in (("o", "avg_bits_per_weight", "bits / weight"), ("s", "avg_bits_per_activation",
                                                                               "bits / activation")):
        xs = [doc["models"][m][key] for m in names]
        ys = [100 * doc["models"][m]["normalized"] for m in names]
        axis.plot(xs, ys, marker=marker, label=f"{label} (val)")
        labels: dict[tuple[float, float], list[str]] = {}
        for x, y, name in zip(xs, ys, names):
            labels.setdefault((x, y), []).append(name)  # models with the same formats share a point
        for (x, y), same in labels.items():
            axis.annotate(" = ".join(same), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if test_accuracy and "float32" in test_accuracy:
            tested = [(x, 100 * test_accuracy[m] / test_accuracy["float32"]) for x, m in zip(xs, names)
                      if m in test_accuracy]
            axis.plot([x for x, _ in tested], [y for _, y in tested], marker=marker, linestyle=":",
                      label=f"{label} (test, LiteRT)")
    axis.axhline(100, color="grey", linewidth=0.6)
    axis.set_xlabel("average stored bits per value")
    axis.set_ylabel("% of the float32 model's accuracy")
    axis.set_title(f"SIEVE models: bits vs accuracy (baseline val {100 * baseline:.2f}%)")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _width(name: str | None) -> int:
    if name is None:
        return 32
    from mmnet.format.custom_float import FloatFormat

    return FloatFormat.parse(name).width


def pareto_from_manifest(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """Per master with custom-format SIEVE models in a bundle: the Pareto's document (:func:`plot_pareto`)
    from the models' manifest records, and the deployed models' test accuracies with the float32 master's."""
    records = manifest["models"]
    by_master: dict[str, list[dict]] = {}
    for record in records:
        sieve = record.get("sieve")
        if sieve and sieve["model"] in MODEL_NAMES:
            by_master.setdefault(sieve["master_variant"], []).append(record)
    out = []
    for master_variant, models in sorted(by_master.items()):
        doc = {"model": master_variant, "baseline_val_accuracy": models[0]["sieve"]["baseline_val_accuracy"],
               "models": {r["sieve"]["model"]: {"avg_bits_per_weight": r["sieve"]["avg_bits_per_weight"],
                                                "avg_bits_per_activation": r["sieve"]["avg_bits_per_activation"],
                                                "normalized": r["sieve"]["normalized_val_accuracy"]} for r in models}}
        test = {r["sieve"]["model"]: r["metrics"]["test_accuracy"] for r in models if r.get("blessed")}
        master = next((r for r in records if r["role"] == "master" and r["variant"] == master_variant
                       and r["precision"] == "float32" and r.get("blessed")), None)
        if master is not None:
            test["float32"] = master["metrics"]["test_accuracy"]
        out.append((doc, test))
    return out
