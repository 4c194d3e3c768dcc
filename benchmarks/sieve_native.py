"""SIEVE's emulated formats beside the formats LiteRT executes natively, on a bundle's master.

    .venv/bin/python -m mmnet.benchmarks.sieve_native BUNDLE --out results/sieve-native

The bundle's float32 master, its float16 and int8 (PTQ) artifacts when the build exported them,
the master quantised by LiteRT's ai-edge-quantizer (weight-only int8 and int4: weights stored small,
dequantised to float32; dynamic int8 and int4: weights small and activations quantised on the fly
per inference), and the bundle's SIEVE models (their kernels in custom formats, activations rounded by
ops in the graph). Per model: file bytes and gzip bytes, test accuracy in LiteRT, and the invoke
latency, 1 thread, XNNPACK, measured side by side: ``--passes`` rounds, in each every model times
``--runs`` invokes (median); the median pass and the [lowest, highest] pass are printed, with the
ratio to the float32 master measured in the same pass.

With ``--native-search`` (the default) SIEVE's per-layer search over the native formats
(:mod:`mmnet.pipeline.sieve.native`) runs on the float32 master with the bundle's val split, and its
accurate and approximate models join the table, timed in the same passes; the search's picks, costs,
choice and time are in ``sieve_native.json`` and under the table.

Writes ``sieve_native.json`` and ``sieve_native.md`` (printed) into ``--out``, and the quantised
``.tflite`` files. An error is one line naming the log (``sieve_native.log``), exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mmnet.benchmarks.logged import run_logged
from mmnet.format.errors import BundleError, ConfigError, DependencyError

__all__ = ["main", "QUANTIZER_RECIPES"]

log = logging.getLogger("mmnet.benchmarks.sieve_native")

# name in the table -> ai-edge-quantizer recipe
QUANTIZER_RECIPES = {
    "aeq weight-only int8": "weight_only_wi8_afp32",
    "aeq weight-only int4": "weight_only_wi4_afp32",
    "aeq dynamic int8": "dynamic_wi8_afp32",
    "aeq dynamic int4": "dynamic_wi4_afp32",
}


def _quantize(float_path: Path, recipe_name: str) -> bytes:
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as e:
        raise DependencyError(f"ai-edge-quantizer is not installed ({e}); pip install 'mmnet[pipeline]'") from e
    with contextlib.redirect_stdout(io.StringIO()) as chatter:  # it prints a summary per model
        qt = quantizer.Quantizer(str(float_path))
        qt.load_quantization_recipe(getattr(recipe, recipe_name)())
        content = qt.quantize().quantized_model
    log.info("%s: %s", recipe_name, chatter.getvalue().strip())
    return bytes(content)


def _native_search(master_path: Path, x_val: np.ndarray, y_val: np.ndarray, out: Path) -> tuple[dict, dict[str, Path]]:
    """The native search on the float32 master: its JSON and each model's file."""
    from mmnet.pipeline.sieve.native import run_native_search
    from mmnet.pipeline.sieve.native_litert import LiteRTNativeEvaluator

    started = time.monotonic()
    evaluator = LiteRTNativeEvaluator(master_path.read_bytes(), x_val, y_val, workdir=out / "native-search")
    result = run_native_search(evaluator)
    doc = {**result.to_json(), "total_seconds": round(time.monotonic() - started, 3)}  # with calibration
    files = {}
    for name, model in result.models.items():
        path = out / f"native-{name}.tflite"
        path.write_bytes(evaluator.model_file(model.assignment).read_bytes())
        files[name] = path
    return doc, files


def _format_counts(assignment: dict[str, str], layers: int) -> str:
    """``{int8_dynamic: 19, float32: 3}``: how many of the ``layers`` weighted layers are in each format."""
    if "*" in assignment:
        return f"{{{assignment['*']}: every layer}}"
    counts = Counter(assignment.values())
    counts["float32"] += layers - len(assignment)
    return "{" + ", ".join(f"{fmt}: {n}" for fmt, n in counts.most_common() if n) + "}"


def run(bundle_dir: Path, out: Path, passes: int, runs: int, native_search: bool = True) -> dict:
    from mmnet.format.bundle import load_bundle
    from mmnet.runtime.interpreter import TFLiteClassifier, measure_latency
    from mmnet.runtime.preprocessing import preprocess

    bundle = load_bundle(bundle_dir)
    masters = {m.precision: m for m in bundle.models if m.role == "master" and m.shipped}
    if "float32" not in masters:
        raise BundleError(f"bundle {bundle.path} ships no float32 master; expected one to quantise")
    master = masters["float32"]
    models: dict[str, Path] = {"float32 master": bundle.model_path(master.id)}
    for precision, name in (("float16", "float16 master"), ("int8", "int8 PTQ master")):
        if precision in masters:
            models[name] = bundle.model_path(masters[precision].id)
    for name, recipe_name in QUANTIZER_RECIPES.items():
        path = out / f"{master.variant}-{recipe_name}.tflite"
        path.write_bytes(_quantize(models["float32 master"], recipe_name))
        models[name] = path
    native_doc: dict | None = None
    if native_search:
        x_val = preprocess(bundle.load_split("val")[0], bundle.preprocessing, master.resolution)
        native_doc, native_files = _native_search(models["float32 master"], x_val, bundle.load_split("val")[1], out)
        for name, path in native_files.items():
            model = native_doc["models"][name]
            models[f"native {name} ({model['chosen']}, {model['avg_bits_per_weight']:.2f} bits/weight)"] = path
    sieve = {}
    for record in bundle.models:
        if record.sieve and record.shipped:
            name = f"SIEVE {record.sieve['model']}"
            models[name] = bundle.model_path(record.id)
            sieve[name] = record
    frames, labels = bundle.load_split("test")
    x = preprocess(frames, bundle.preprocessing, master.resolution)
    classifiers = {name: TFLiteClassifier(path, num_threads=1) for name, path in models.items()}
    rows = {}
    for name, classifier in classifiers.items():
        content = Path(models[name]).read_bytes()
        record = sieve.get(name)
        rows[name] = {
            "file": str(models[name]), "tflite_bytes": len(content),
            # what a download of the shipped file costs: a SIEVE model's packed container, else the TFLite file
            "gzip_bytes": record.packing["gzip_bytes"] if record and record.packing else len(
                gzip.compress(content, compresslevel=9, mtime=0)),
            "shipped_bytes": record.bytes if record else len(content),
            "test_accuracy": float(np.mean(np.argmax(classifier.predict(x), axis=1) == labels)),
            "passes_ms": [],
        }
    for _ in range(passes):  # round robin: every model once per pass, so a pass compares like with like
        for name, classifier in classifiers.items():
            rows[name]["passes_ms"].append(measure_latency(classifier, x[:1], warmup=10, runs=runs).median_ms)
    reference = np.asarray(rows["float32 master"]["passes_ms"])
    for row in rows.values():
        times = np.asarray(row["passes_ms"])
        row["median_ms"] = float(np.median(times))
        row["range_ms"] = [float(times.min()), float(times.max())]
        ratios = times / reference
        row["ratio_to_float32"] = float(np.median(ratios))
        row["ratio_range"] = [float(ratios.min()), float(ratios.max())]
    doc = {"bundle": str(bundle.path), "master": master.id, "test_frames": len(labels), "passes": passes,
           "runs_per_pass": runs, "models": rows, "native_search": native_doc}
    lines = [f"# SIEVE vs natively executed formats: {master.id} ({len(labels)} test frames)", "",
             f"Invoke latency, 1 thread, XNNPACK: median of {passes} passes (each the median of {runs} invokes), "
             "[lowest, highest] pass; ratio to the float32 master in the same pass.", "",
             "| model | shipped bytes | TFLite bytes | shipped gzip | test acc | latency ms | range | × float32 | range |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['shipped_bytes']} | {row['tflite_bytes']} | {row['gzip_bytes']} | "
                     f"{100 * row['test_accuracy']:.2f}% | {row['median_ms']:.4f} | "
                     f"[{row['range_ms'][0]:.4f}, {row['range_ms'][1]:.4f}] | {row['ratio_to_float32']:.2f} | "
                     f"[{row['ratio_range'][0]:.2f}, {row['ratio_range'][1]:.2f}] |")
    if native_doc is not None:
        lines += ["", f"Native search on the float32 master: {native_doc['evaluations']} val evaluations in "
                  f"{native_doc['search_seconds']:.1f} s ({native_doc['total_seconds']:.1f} s with the conversion's "
                  "calibration); baseline val accuracy "
                  f"{100 * native_doc['baseline_val_accuracy']:.2f}%; whole-model latency over float32 (the costs): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in native_doc["costs"].items()) + "."]
        layers = len(native_doc["layers"])
        for name, model in native_doc["models"].items():
            repair = "; ".join([*model["repairs"], model["repair_stop"]][-3:]).strip("; ") or "no repair needed"
            lines.append(f"- native {name}: per-layer picks {_format_counts(model['picked'], layers)} keep "
                         f"{100 * model['picked_accuracy']:.2f}% val together; repair: {repair}; combination "
                         f"{_format_counts(model['combination'], layers)} at {100 * model['combination_accuracy']:.2f}%; "
                         f"chosen {model['choice_reason']}.")
    markdown = "\n".join(lines) + "\n"
    (out / "sieve_native.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (out / "sieve_native.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a built bundle with a float32 master (SIEVE models too, when built with sieve)")
    parser.add_argument("--out", default="results/sieve-native")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-native-search", dest="native_search", action="store_false",
                        help="skip SIEVE's per-layer search over the native formats")
    args = parser.parse_args(argv)
    out = Path(args.out)

    def work() -> None:
        if args.passes < 1 or args.runs < 1:
            raise ConfigError(f"--passes is {args.passes} and --runs {args.runs}; expected both >= 1")
        run(Path(args.bundle), out, args.passes, args.runs, args.native_search)

    return run_logged("sieve_native", out, work)


if __name__ == "__main__":
    sys.exit(main())
