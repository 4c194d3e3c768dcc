"""Double-shot pruning (dissertation ch. 7) against SNIP and local random, with honest size and latency.

For each network (default: LeNet-5 on ``builtin:mnist5k`` at 28x28, the small VGG on
``builtin:digits`` at 8x8) and each seed, the dense network is trained once; then at every sparsity
(default 90/95/98%) SNIP, local random and double-shot with each of the five importance metrics are
pruned and retrained (same epochs, batch and learning rate as the dense training), and the structured
variant (channel pruning by summed weighted-movement importance) keeps 50% and 25% of the channels.
Accuracy is on the test split, mean ± std over the seeds; "normalised" is accuracy / the same seed's
dense accuracy (as the paper's Figures 7.7-7.9), and double-shot (weighted movement) minus SNIP in
normalised points is printed beside the paper's +0.79.

Every artifact of the first seed is exported to float32 TFLite: raw and gzip size, and latency with
the LiteRT interpreter (1 thread), measured after all training, in rounds that time every artifact
of a network one after another (so ratios are side by side): per artifact the median of the round
medians and their min-max spread. Unstructured pruning zeroes weights but keeps every kernel's
shape, so dense kernels (XNNPACK or builtin) do the same work: the latency stays the dense one's.
The double-shot artifacts are also converted with the converter's sparse encoding
(``Optimize.EXPERIMENTAL_SPARSITY``) and timed with XNNPACK and with the builtin kernels, to show what
the sparse paths do for these layouts. Structured pruning makes the matrices smaller: its speed-up
over dense is the real gain.

    .venv/bin/python -m mmnet.benchmarks.pruning --out results/pruning            # the real run
    .venv/bin/python -m mmnet.benchmarks.pruning --quick --out results/pruning    # smoke run
    .venv/bin/python -m mmnet.benchmarks.pruning --xnnpack-probe --out results/pruning/xnnpack

Writes ``pruning.json``, ``pruning.md`` and ``pruning.png`` (accuracy vs sparsity per method) into
``--out``, and the TFLite files into ``--out/tflite``.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.errors import ConfigError, MmnetError

log = logging.getLogger("mmnet.benchmarks.pruning")

PAPER_DOUBLE_SHOT_GAIN = 0.79  # normalised accuracy points over SNIP, dissertation line 1760 (Fig. 7.9)
UNSTRUCTURED = ("snip", "local_random")
METRICS = ("magnitude", "movement", "magnitude_increase", "weighted_movement", "weighted_magnitude_increase")
HEADLINE_METRIC = "weighted_movement"


@dataclass(frozen=True)
class Network:
    """A zoo family on a dataset: ``family:source:resolution``, e.g. ``lenet5:builtin:mnist5k:28``."""

    family: str
    source: str
    resolution: int

    @classmethod
    def parse(cls, text: str) -> Network:
        parts = text.split(":")
        if len(parts) != 4 or not parts[3].isdigit():
            raise ConfigError(f"--net is {text!r}; expected family:source:resolution, e.g. lenet5:builtin:mnist5k:28")
        return cls(parts[0], f"{parts[1]}:{parts[2]}", int(parts[3]))

    @property
    def name(self) -> str:
        return f"{self.family} on {self.source} ({self.resolution}x{self.resolution})"


@dataclass(frozen=True)
class Settings:
    networks: tuple[Network, ...]
    sparsities: tuple[float, ...]
    seeds: tuple[int, ...]
    channel_keeps: tuple[float, ...]
    epochs: int
    batch_size: int
    learning_rate: float
    rounds: int
    runs: int
    equal_epochs: bool = False  # SNIP and local random train 2 x epochs, double-shot's dense + retraining
    headline_only: bool = False  # only dense, SNIP and double-shot (weighted movement): the comparison


def _load(network: Network):
    """Normalised train and test arrays (pixels / 255, then (x - 0.5) / 0.5), split 70/10/20 with seed 0."""
    from mmnet.pipeline.datasets.config import DatasetConfig
    from mmnet.pipeline.datasets.loaders import load_dataset
    from mmnet.pipeline.datasets.split import split_dataset
    from mmnet.runtime.preprocessing import resize_frames

    dataset = load_dataset(DatasetConfig(source=network.source))
    splits = split_dataset(dataset, val_fraction=0.1, test_fraction=0.2, seed=0)

    def arrays(split):
        images = resize_frames(split.frames, network.resolution).astype(np.float32) / 255.0
        return ((images - 0.5) / 0.5).astype(np.float32), split.labels.astype(np.int64)

    return arrays(splits.train), arrays(splits.test), dataset.num_classes


def _sizes(data: bytes) -> dict:
    return {"raw_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}


def _export(model, path: Path, *, sparse_encoding: bool = False) -> dict:
    """float32 TFLite of ``model`` at ``path``; ``sparse_encoding`` stores sparse kernels sparsely."""
    from mmnet.pipeline._tf import tf
    from mmnet.pipeline.export import convert_keras_model

    if sparse_encoding:
        signature = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
        function = tf.function(lambda x: model(x, training=False)).get_concrete_function(signature)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        data = converter.convert()
    else:
        data = convert_keras_model(model, "float32")
    path.write_bytes(data)
    return {"path": str(path), **_sizes(data)}


def _tflite_accuracy(path: str, x: np.ndarray, y: np.ndarray, use_xnnpack: bool = True) -> float:
    from mmnet.runtime.interpreter import TFLiteClassifier

    classifier = TFLiteClassifier(path, num_threads=1, use_xnnpack=use_xnnpack)
    predictions = np.array([np.argmax(classifier.predict(x[i : i + 1])[0]) for i in range(len(x))])
    return float(np.mean(predictions == y))


def _ops(path: str) -> list[str]:
    from mmnet.runtime.interpreter import load_interpreter

    interpreter = load_interpreter(path, use_xnnpack=False)
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})  # noqa: SLF001 - no public op list


def _mean_std(values: list[float]) -> dict:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "values": [float(v) for v in array]}


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run_network(network: Network, settings: Settings, out: Path) -> dict:
    from mmnet.pipeline._tf import keras
    from mmnet.pipeline.pruning.config import PruningConfig
    from mmnet.pipeline.pruning.masked import accuracy
    from mmnet.pipeline.pruning.stage import prune, train_dense
    from mmnet.pipeline.zoo.registry import build_model
    from mmnet.pipeline.zoo.spec import VariantSpec

    (x, y), (x_test, y_test), num_classes = _load(network)
    spec = VariantSpec(network.family, 1.0, network.resolution)
    tflite_dir = out / "tflite"
    tflite_dir.mkdir(parents=True, exist_ok=True)
    accuracies: dict[str, list[float]] = {}  # key -> one accuracy per seed
    sparsity_of: dict[str, float] = {}
    layer_sparsity: dict[str, list[float]] = {}
    artifacts: dict[str, dict] = {}
    for seed_index, seed in enumerate(settings.seeds):
        keras.utils.set_random_seed(seed)
        initial = build_model(spec, channels=x.shape[-1], num_classes=num_classes)
        base = PruningConfig(epochs=settings.epochs, batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate, seed=seed)
        started = time.perf_counter()
        dense = train_dense(initial, x, y, base)
        accuracies.setdefault("dense", []).append(accuracy(dense, x_test, y_test))
        sparsity_of["dense"] = 0.0
        models = {"dense": dense}
        # Trained from the initial weights, once: with equal_epochs as long as double-shot's two trainings.
        from_scratch = replace(base, epochs=2 * settings.epochs) if settings.equal_epochs else base
        baselines = ("snip",) if settings.headline_only else UNSTRUCTURED
        metrics = (HEADLINE_METRIC,) if settings.headline_only else METRICS
        configs = [replace(from_scratch, method=m, sparsity=s) for s in settings.sparsities for m in baselines]
        configs += [replace(base, method="double_shot", metric=m, sparsity=s) for s in settings.sparsities for m in metrics]
        if not settings.headline_only:
            configs += [replace(base, method="channels", metric=HEADLINE_METRIC, channel_keep=k)
                        for k in settings.channel_keeps]
        for config in configs:
            level = config.channel_keep if config.method == "channels" else config.sparsity
            key = f"{config.label}@{level:.2f}"
            pruned = prune(config, initial, x, y, dense=dense)
            accuracies.setdefault(key, []).append(accuracy(pruned.model, x_test, y_test))
            sparsity_of[key] = pruned.sparsity
            layer_sparsity[key] = [round(s, 4) for s in pruned.layer_sparsity]
            models[key] = pruned.model
        _say(f"{network.name}: seed {seed} trained in {time.perf_counter() - started:.0f} s; "
             f"dense {accuracies['dense'][-1]:.4f}")
        if seed_index == 0:  # one set of artifacts: sizes and latency do not depend on the seed
            for key, model in models.items():
                stem = f"{network.family}-{key.replace(':', '-').replace('@', '-s')}"
                artifacts[key] = _export(model, tflite_dir / f"{stem}.tflite")
                artifacts[key]["tflite_test_accuracy"] = _tflite_accuracy(artifacts[key]["path"], x_test, y_test)
                if key.startswith("double_shot:") or key == "dense":
                    encoded = _export(model, tflite_dir / f"{stem}-sparse-encoded.tflite", sparse_encoding=True)
                    encoded["ops"] = _ops(encoded["path"])
                    encoded["tflite_test_accuracy_builtin"] = _tflite_accuracy(encoded["path"], x_test, y_test, False)
                    artifacts[key]["sparse_encoded"] = encoded
    rows = []
    dense_acc = np.asarray(accuracies["dense"])
    for key, values in accuracies.items():
        normalised = (np.asarray(values) / dense_acc * 100.0).tolist()
        rows.append({"key": key, "sparsity": sparsity_of[key], "accuracy": _mean_std(values),
                     "normalised": _mean_std(normalised), "layer_sparsity": layer_sparsity.get(key)})
    return {"network": network.name, "family": network.family, "source": network.source,
            "resolution": network.resolution, "train_size": int(len(x)), "test_size": int(len(x_test)),
            "rows": rows, "artifacts": artifacts, "accuracies": accuracies}


def _latency(result: dict, settings: Settings) -> None:
    """Times every artifact of the network in ``settings.rounds`` rounds (one after another per round)."""
    from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency

    targets = []  # (name, path, use_xnnpack)
    for key, artifact in result["artifacts"].items():
        targets.append((f"{key}|xnnpack", artifact["path"], True))
        if key == "dense":
            targets.append((f"{key}|builtin", artifact["path"], False))
        if "sparse_encoded" in artifact:
            targets.append((f"{key}|sparse-encoded|xnnpack", artifact["sparse_encoded"]["path"], True))
            targets.append((f"{key}|sparse-encoded|builtin", artifact["sparse_encoded"]["path"], False))
    classifiers = {name: TFLiteClassifier(path, num_threads=1, use_xnnpack=xnn) for name, path, xnn in targets}
    sample = np.random.default_rng(0).standard_normal((1, *next(iter(classifiers.values())).input_shape))
    medians: dict[str, list[float]] = {name: [] for name in classifiers}
    for _ in range(settings.rounds):
        for name, classifier in classifiers.items():
            stats = measure_latency(classifier, sample.astype(np.float32), warmup=20, runs=settings.runs)
            medians[name].append(stats.median_ms * 1000.0)
    latency = {}
    dense_rounds = np.asarray(medians["dense|xnnpack"])
    for name, values in medians.items():
        array = np.asarray(values)
        speedup = dense_rounds / array
        latency[name] = {"median_us": float(np.median(array)), "min_us": float(array.min()), "max_us": float(array.max()),
                         "speedup_vs_dense": {"median": float(np.median(speedup)), "min": float(speedup.min()),
                                              "max": float(speedup.max())},
                         "rounds_us": [round(v, 2) for v in values]}
    result["latency"] = latency


def headline(result: dict, sparsities: tuple[float, ...]) -> list[dict]:
    """Double-shot (weighted movement) minus SNIP, normalised points per seed, at each sparsity."""
    dense = np.asarray(result["accuracies"]["dense"])
    lines = []
    for s in sparsities:
        ds = np.asarray(result["accuracies"][f"double_shot:{HEADLINE_METRIC}@{s:.2f}"])
        snip = np.asarray(result["accuracies"][f"snip@{s:.2f}"])
        lines.append({"sparsity": s, "gain_points": _mean_std(((ds - snip) / dense * 100.0).tolist())})
    return lines


def _fmt(stat: dict, scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def to_markdown(result: dict) -> str:
    s = result["settings"]
    lines = [
        "# Double-shot pruning: accuracy, size, latency",
        "",
        f"Seeds {s['seeds']}; {s['epochs']} epochs (dense training and every retraining), batch {s['batch_size']}, "
        f"Adam {s['learning_rate']}; latency: {s['rounds']} rounds × {s['runs']} invokes per artifact, 1 thread, "
        f"{result['machine']}.",
        "",
        "Unstructured sparsity keeps every kernel's shape: dense kernels (XNNPACK or builtin) do the same work, "
        "so a pruned artifact runs as fast as the dense one. Only the structured (channels) variant is faster.",
        ("SNIP and local random train for twice the epochs, as long as double-shot's two trainings (--equal-epochs)."
         if s.get("equal_epochs") else
         "Double-shot trains twice (dense, then the sparse retraining); SNIP and local random train once."),
        "",
    ]
    for net in result["networks"]:
        lines += [f"## {net['network']}", "", f"train {net['train_size']}, test {net['test_size']} frames.", ""]
        lines += ["### Double-shot (weighted movement) vs SNIP at equal sparsity", "",
                  "| sparsity | gain, normalised points (mean ± std over seeds) | paper (avg. of 7 nets) |", "|---|---|---|"]
        for h in net["headline"]:
            lines.append(f"| {100 * h['sparsity']:.0f}% | {_fmt(h['gain_points'], 1.0)} | +{PAPER_DOUBLE_SHOT_GAIN:.2f} |")
        lines += ["", "### Accuracy (test), size, latency", "",
                  "| method | sparsity | accuracy % | normalised % | TFLite acc. % (seed 0) | raw KiB | gzip KiB | "
                  "latency µs (XNNPACK) [min-max] | vs dense |",
                  "|---|---|---|---|---|---|---|---|---|"]
        latency = net.get("latency", {})
        for row in net["rows"]:
            artifact = net["artifacts"].get(row["key"], {})
            lat = latency.get(f"{row['key']}|xnnpack")
            lat_text = f"{lat['median_us']:.1f} [{lat['min_us']:.1f}-{lat['max_us']:.1f}]" if lat else "-"
            speed = f"{lat['speedup_vs_dense']['median']:.2f}×" if lat else "-"
            lines.append(
                "| " + " | ".join([
                    row["key"].split("@")[0], f"{100 * row['sparsity']:.1f}%", _fmt(row["accuracy"]),
                    _fmt(row["normalised"], 1.0),
                    f"{100 * artifact['tflite_test_accuracy']:.2f}" if artifact else "-",
                    f"{artifact['raw_bytes'] / 1024:.1f}" if artifact else "-",
                    f"{artifact['gzip_bytes'] / 1024:.1f}" if artifact else "-",
                    lat_text, speed,
                ]) + " |"
            )
        lines += ["", "### Sparse encoding (`Optimize.EXPERIMENTAL_SPARSITY`) of the double-shot artifacts", "",
                  "| artifact | raw KiB | gzip KiB | ops | XNNPACK µs | builtin µs | builtin vs dense builtin |",
                  "|---|---|---|---|---|---|---|"]
        dense_builtin = latency.get("dense|builtin")
        for key, artifact in net["artifacts"].items():
            encoded = artifact.get("sparse_encoded")
            if not encoded:
                continue
            xnn = latency.get(f"{key}|sparse-encoded|xnnpack")
            builtin = latency.get(f"{key}|sparse-encoded|builtin")
            ratio = (f"{dense_builtin['median_us'] / builtin['median_us']:.2f}×"
                     if builtin and dense_builtin else "-")
            lines.append(
                f"| {key} | {encoded['raw_bytes'] / 1024:.1f} | {encoded['gzip_bytes'] / 1024:.1f} | "
                f"{', '.join(encoded['ops'])} | {xnn['median_us']:.1f} | {builtin['median_us']:.1f} | {ratio} |"
                if xnn and builtin else f"| {key} | {encoded['raw_bytes'] / 1024:.1f} | - | - | - | - | - |"
            )
        if dense_builtin:
            lines.append(f"\nDense artifact with builtin kernels: {dense_builtin['median_us']:.1f} µs.")
        lines += ["", "Per-layer sparsity (prunable layers in model order):", ""]
        for row in net["rows"]:
            if row["layer_sparsity"]:
                lines.append(f"- {row['key']}: {row['layer_sparsity']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    networks = result["networks"]
    figure, axes = plt.subplots(1, len(networks), figsize=(6.5 * len(networks), 4.5), squeeze=False)
    for ax, net in zip(axes[0], networks):
        by_method: dict[str, list[tuple[float, dict]]] = {}
        for row in net["rows"]:
            method = row["key"].split("@")[0]
            if method == "dense" or method.startswith("channels"):
                continue
            by_method.setdefault(method, []).append((row["sparsity"], row["normalised"]))
        for method, points in sorted(by_method.items()):
            points.sort(key=lambda p: p[0])
            ax.errorbar([100 * p[0] for p in points], [p[1]["mean"] for p in points],
                        yerr=[p[1]["std"] for p in points], marker="o", capsize=3, label=method)
        ax.axhline(100.0, color="grey", linestyle="--", linewidth=1, label="dense")
        ax.set_xlabel("global sparsity (%)")
        ax.set_ylabel("accuracy normalised by dense (%)")
        ax.set_title(net["network"], fontsize=10)
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def xnnpack_sparse_probe(out: Path, *, rounds: int, runs: int) -> dict:
    """Where XNNPACK's sparse inference can apply: a MobileNetV1 (3-channel input, 3x3 stride-2 stem,
    1x1 convolutions, depthwise 3x3, global mean) whose 1x1 kernels are 90% zero by magnitude, stored
    with the converter's sparse encoding (DENSIFY), timed against its dense twin with XNNPACK.

    At 65x65 input, TF's 'same' padding of every stride-2 layer is 1 pixel on each side, as the sparse
    path requires; at 64x64 it is 0 before and 1 after (the control). Weights are random: latency
    does not depend on accuracy. Returns per model the median and min of the per-round medians.
    """
    from mmnet.pipeline._tf import keras
    from mmnet.pipeline.zoo.registry import build_model
    from mmnet.pipeline.zoo.spec import VariantSpec
    from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency

    probe_dir = out / "tflite"
    probe_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for resolution in (65, 64):
        keras.utils.set_random_seed(0)
        model = build_model(VariantSpec("mobilenet_v1", 1.0, resolution), channels=3, num_classes=10)
        for layer in model.layers:
            if type(layer) is keras.layers.Conv2D and layer.kernel_size == (1, 1):
                kernel, *rest = layer.get_weights()
                kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.9)] = 0.0
                layer.set_weights([kernel, *rest])
        for encoded in (False, True):
            name = f"mobilenet_v1-r{resolution}-pw90-{'sparse-encoded' if encoded else 'dense-encoded'}"
            paths[name] = _export(model, probe_dir / f"{name}.tflite", sparse_encoding=encoded)
    classifiers = {name: TFLiteClassifier(a["path"], num_threads=1, use_xnnpack=True) for name, a in paths.items()}
    sample = np.random.default_rng(0).standard_normal((1, 65, 65, 3)).astype(np.float32)
    medians: dict[str, list[float]] = {name: [] for name in classifiers}
    fastest: dict[str, list[float]] = {name: [] for name in classifiers}
    for _ in range(rounds):
        for name, classifier in classifiers.items():
            frame = sample[:, : classifier.input_shape[0], : classifier.input_shape[1]]
            stats = measure_latency(classifier, frame, warmup=10, runs=runs)
            medians[name].append(stats.median_ms * 1000.0)
            fastest[name].append(stats.min_ms * 1000.0)
    # On a busy host the fastest invoke is the least disturbed estimate of the kernel's own speed.
    return {name: {**{k: v for k, v in paths[name].items() if k != "path"}, "ops": _ops(paths[name]["path"]),
                   "median_us": float(np.median(values)), "min_us": float(np.min(values)),
                   "max_us": float(np.max(values)), "fastest_invoke_us": float(np.min(fastest[name]))}
            for name, values in medians.items()}


def probe_markdown(probe: dict) -> str:
    lines = ["# XNNPACK sparse inference probe (MobileNetV1, 1x1 convolutions 90% zero)", "",
             "| model | raw KiB | ops | XNNPACK µs median [min-max of round medians] | fastest invoke µs |",
             "|---|---|---|---|---|"]
    for name, row in probe.items():
        lines.append(f"| {name} | {row['raw_bytes'] / 1024:.0f} | {', '.join(row['ops'])} | "
                     f"{row['median_us']:.0f} [{row['min_us']:.0f}-{row['max_us']:.0f}] | {row['fastest_invoke_us']:.0f} |")
    return "\n".join(lines) + "\n"


def run(settings: Settings, out: Path) -> dict:
    networks = []
    for network in settings.networks:
        result = _run_network(network, settings, out)
        result["headline"] = headline(result, settings.sparsities)
        networks.append(result)
    _say("measuring latency (all training done)")
    for result in networks:
        _latency(result, settings)
    return {
        "settings": {"seeds": list(settings.seeds), "sparsities": list(settings.sparsities), "epochs": settings.epochs,
                     "equal_epochs": settings.equal_epochs, "headline_only": settings.headline_only,
                     "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
                     "channel_keeps": list(settings.channel_keeps), "rounds": settings.rounds, "runs": settings.runs},
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}",
        "paper_double_shot_gain_points": PAPER_DOUBLE_SHOT_GAIN,
        "networks": networks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.pruning", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/pruning"))
    parser.add_argument("--net", action="append", default=None,
                        help="family:source:resolution (repeatable); default lenet5:builtin:mnist5k:28 and "
                             "vgg_small:builtin:digits:8")
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--channel-keep", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--rounds", type=int, default=7, help="latency rounds (each times every artifact)")
    parser.add_argument("--runs", type=int, default=200, help="timed invokes per artifact and round")
    parser.add_argument("--equal-epochs", action="store_true",
                        help="train SNIP and local random for 2 x --epochs, the total of double-shot's dense "
                             "training and retraining")
    parser.add_argument("--headline-only", action="store_true",
                        help="only dense, SNIP and double-shot (weighted movement); no other metric, no local random, "
                             "no channel pruning")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 epochs, seeds 0 1, sparsity 0.9, 3 rounds of 50 invokes")
    parser.add_argument("--xnnpack-probe", action="store_true",
                        help="only time XNNPACK's sparse inference path on a layout where it applies (no training)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.xnnpack_probe:
        probe = xnnpack_sparse_probe(args.out, rounds=args.rounds, runs=args.runs)
        write_results(args.out, "xnnpack_probe", probe, probe_markdown(probe))
        return 0
    log_path = args.out / "pruning.log"
    logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        nets = args.net or ["lenet5:builtin:mnist5k:28", "vgg_small:builtin:digits:8"]
        settings = Settings(
            networks=tuple(Network.parse(n) for n in nets),
            sparsities=(0.9,) if args.quick else tuple(args.sparsities),
            seeds=(0, 1) if args.quick else tuple(args.seeds),
            channel_keeps=tuple(args.channel_keep),
            epochs=2 if args.quick else args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            rounds=3 if args.quick else args.rounds,
            runs=50 if args.quick else args.runs,
            equal_epochs=args.equal_epochs,
            headline_only=args.headline_only,
        )
        if len(settings.seeds) < 2 and not args.quick:
            raise ConfigError(f"--seeds is {list(settings.seeds)}; expected at least 2 seeds for a spread (3 or more)")
        result = run(settings, args.out)
    except MmnetError as e:
        log.exception("pruning benchmark failed")
        print(f"error: {e} (details in {log_path})", file=sys.stderr)
        return 2
    write_results(args.out, "pruning", result, to_markdown(result))
    plot(result, args.out / "pruning.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
