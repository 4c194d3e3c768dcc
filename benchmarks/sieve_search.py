"""SIEVE's per-tensor format search (dissertation §4.4.1) on a model, with its deployed TFLite models.

    .venv/bin/python -m mmnet.benchmarks.sieve_search configs/digits.yaml --out results/sieve-digits
    .venv/bin/python -m mmnet.benchmarks.sieve_search configs/mnist5k.yaml --lenet5 --out results/sieve-mnist5k
    .venv/bin/python -m mmnet.benchmarks.sieve_search bundles/digits --out results/sieve-digits

CONFIG: prepares the config's data (its split and normalisation) and trains its master (``--epochs``
overrides ``training.master_epochs``), or takes ``--model FILE.keras`` (a model of the same
normalisation), or with ``--lenet5`` trains a LeNet-5 (Table 4.1's MNIST network, built here with
plain tf_keras: conv 5×5/6, max pool, conv 5×5/16, max pool, dense 120, 84, softmax).
BUNDLE: the bundle's build work directory (``<parent>/.<name>.work``) holds the split and the
trained master's Keras file; both are used as they are.

The search runs on the batch-norm-folded master with the val split (``mmnet.pipeline.sieve``);
the exact, accurate and approximate models are then built with their weights rounded and their
activations rounded at run time, converted to TFLite and run by LiteRT on the test split. Writes
into ``--out``: ``sieve_search.json`` (the search artifact: every tensor's histogram, trials and
picks, the three models with their repairs, timings, the LiteRT test accuracies),
``sieve_search.md`` (the summary, printed), ``formats.md`` (per-tensor formats), ``formats.png``
and ``pareto.png``, and ``sieve_search.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from mmnet.benchmarks.logged import run_logged
from mmnet.format.errors import DataError, ModelError
from mmnet.pipeline.sieve.search import SearchConfig

__all__ = ["main", "PAPER"]

log = logging.getLogger("mmnet.benchmarks.sieve_search")

# What the dissertation reports for the speculative model (§4.4.1, Table 4.1): the accurate model
# keeps 100% of the baseline's accuracy; LeNet-5's baseline on MNIST is 99.19%. The ≤ 8 bits per
# weight target is this project's acceptance bar for the accurate model (the text gives no per-layer bits).
PAPER = {"accurate_normalized": 1.0, "approximate_normalized": 0.999, "lenet5_mnist_accuracy": 0.9919,
         "accurate_max_bits_per_weight": 8.0}


def _lenet5(resolution: int, channels: int, num_classes: int):
    from mmnet.pipeline._tf import keras

    inputs = keras.Input((resolution, resolution, channels), name="frame")
    x = keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(84, activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def _train_lenet5(x_train, y_train, x_val, y_val, num_classes: int, epochs: int, seed: int):
    from mmnet.pipeline._tf import keras

    keras.utils.set_random_seed(seed)
    model = _lenet5(x_train.shape[1], x_train.shape[3], num_classes)
    model.compile(keras.optimizers.legacy.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=5, restore_best_weights=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=0, callbacks=[stop])
    return model


def _from_bundle(bundle: Path):
    from mmnet.pipeline.prepare import PreparedData
    from mmnet.pipeline.train import TrainedModel

    work = bundle.parent / f".{bundle.name}.work"
    prepared_path = work / "data" / "prepared.json"
    if not prepared_path.is_file():
        raise DataError(f"{bundle}: its build work directory {work} has no data/prepared.json; expected the bundle's "
                        "own build directory (or pass a config)")
    prepared = PreparedData.from_json(json.loads(prepared_path.read_text(encoding="utf-8")))
    records = sorted(work.glob("trained/*/trained.json"))
    masters = [TrainedModel.from_json(json.loads(p.read_text(encoding="utf-8"))) for p in records]
    masters = [m for m in masters if m.role == "master" and m.keras_path.endswith(".keras")]
    if not masters:
        raise ModelError(f"{work}/trained has no master Keras model; the search needs the float Keras master")
    return prepared, masters[0].keras_path


def _inputs(split, spec, resolution: int) -> np.ndarray:
    from mmnet.runtime.preprocessing import preprocess

    return preprocess(split.frames, spec, resolution).astype(np.float32)


def _litert_accuracy(model, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Test accuracy of ``model`` converted to float32 TFLite and run by LiteRT one frame at a time; file bytes."""
    from ai_edge_litert.interpreter import Interpreter

    from mmnet.pipeline.export import convert_keras_model

    content = convert_keras_model(model, "float32")
    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    answers = np.empty(len(x), dtype=np.int64)
    for i, frame in enumerate(x):
        interpreter.set_tensor(inp, frame[np.newaxis])
        interpreter.invoke()
        answers[i] = int(np.argmax(interpreter.get_tensor(out)[0]))
    return float(np.mean(answers == y)), len(content)


def run(args: argparse.Namespace, out: Path) -> dict:
    from mmnet.pipeline.config import load_config
    from mmnet.pipeline.prepare import load_prepared_splits, prepare_data
    from mmnet.pipeline.sieve.keras_graph import CachedEvaluator, deployed_model, fold_batch_norm
    from mmnet.pipeline.sieve.report import formats_table, plot_formats, plot_pareto, summary_table
    from mmnet.pipeline.sieve.search import run_search, validate_search_document
    from mmnet.pipeline.train import load_keras_model, train_variant

    started = time.monotonic()
    source = Path(args.source)
    search_config = SearchConfig(max_mantissa_bits=args.max_mantissa_bits, repair=not args.no_repair,
                                 repair_rounds=args.repair_rounds, repair_evaluations=args.repair_evaluations)
    if source.is_dir() and (source / "manifest.json").is_file():
        prepared, keras_path = _from_bundle(source)
        config = None
    else:
        config = load_config(source)
        prepared = prepare_data(config, out / "work")
        keras_path = args.model
    splits = load_prepared_splits(prepared)
    spec = prepared.spec()
    notes: list[str] = []
    if args.lenet5:
        resolution = spec.frame_shape[0]
        model = _train_lenet5(_inputs(splits.train, spec, resolution), splits.train.labels, _inputs(splits.val, spec, resolution),
                              splits.val.labels, splits.train.num_classes, args.epochs or 30, seed=0)
        notes.append(f"LeNet-5 trained here with plain tf_keras at {resolution}x{resolution}")
    elif keras_path:
        model = load_keras_model(str(keras_path))
        notes.append(f"model: {keras_path}")
    else:
        training = config.training
        if args.epochs:
            import dataclasses

            training = dataclasses.replace(training, master_epochs=args.epochs)
        trained = train_variant(config.master.variant(), role="master", splits=splits, preprocessing=spec,
                                config=training, out_dir=out / "work" / "trained" / "master")
        model = load_keras_model(trained.keras_path)
        notes.append(f"master {trained.variant} trained here for {trained.epochs_run} epochs ({trained.duration_s:.0f} s)")
    train_seconds = time.monotonic() - started

    resolution = int(model.input_shape[1])
    x_val, x_test = _inputs(splits.val, spec, resolution), _inputs(splits.test, spec, resolution)
    folded = fold_batch_norm(model)
    cache_started = time.monotonic()
    evaluator = CachedEvaluator(folded, x_val, splits.val.labels)
    cache_seconds = time.monotonic() - cache_started
    sweeps = None
    if args.sweeps:
        from mmnet.pipeline.sieve.search import sweeps_from_json

        sweeps = sweeps_from_json(json.loads(Path(args.sweeps).read_text(encoding="utf-8")), evaluator.tensors,
                                  source=args.sweeps)
        notes.append(f"sweeps from {args.sweeps} (not swept again)")
    result = run_search(evaluator, search_config, model_name=model.name, notes=tuple(notes), sweeps=sweeps)
    doc = result.to_json()
    log.info("search: %d evaluations in %.1f s", result.evaluations, result.search_seconds)

    test_accuracy, tflite_bytes = {}, {}
    test_accuracy["float32"], tflite_bytes["float32"] = _litert_accuracy(folded, x_test, splits.test.labels)
    for name, combined in result.models.items():
        deployed = deployed_model(folded, combined.formats, name=f"{model.name}_{name}")
        test_accuracy[name], tflite_bytes[name] = _litert_accuracy(deployed, x_test, splits.test.labels)
    doc.update({
        "test_accuracy_litert": test_accuracy, "tflite_bytes": tflite_bytes, "paper": PAPER,
        "timings_s": {"prepare_and_train": round(train_seconds, 1), "cache_activations": round(cache_seconds, 2),
                      "search": round(result.search_seconds, 1)},
        "splits": {"val": len(x_val), "test": len(x_test)},
        "keras_float_val_accuracy": float(np.mean(np.argmax(model.predict(x_val, verbose=0), axis=1) == splits.val.labels)),
    })
    validate_search_document(doc, source=str(out / "sieve_search.json"))
    (out / "sieve_search.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (out / "formats.md").write_text(formats_table(doc), encoding="utf-8")
    plot_formats(doc, out / "formats.png")
    plot_pareto(doc, out / "pareto.png", test_accuracy)

    accurate = doc["models"]["accurate"]
    lines = [
        f"# SIEVE format search: {model.name} ({prepared.source}; val {len(x_val)}, test {len(x_test)} frames)", "",
        summary_table(doc, test_accuracy),
        f"Search: {doc['evaluations']} val evaluations in {doc['search_seconds']:.1f} s (activations cached in "
        f"{cache_seconds:.1f} s); {len(doc['tensors'])} tensors.",
        "",
        "| | paper (§4.4.1) | here |",
        "|---|---|---|",
        f"| accurate model, % of baseline val accuracy | 100% | {100 * accurate['normalized']:.2f}% |",
        f"| accurate model, avg stored bits / weight | ≤ 8 (acceptance bar) | {accurate['avg_bits_per_weight']:.2f} |",
        f"| accurate model, avg stored bits / activation | — | {accurate['avg_bits_per_activation']:.2f} |",
        f"| approximate model, % of baseline val accuracy | ≥ 99.9% | {100 * doc['models']['approximate']['normalized']:.2f}% |",
    ]
    if args.lenet5:
        lines.append(f"| LeNet-5 float accuracy (MNIST; here mnist5k test) | 99.19% | {100 * test_accuracy['float32']:.2f}% |")
    for name in ("accurate", "approximate"):
        model_doc = doc["models"][name]
        if model_doc["losses"]:
            together = 100 * model_doc["picked_accuracy"] / doc["baseline_val_accuracy"]
            put_back = "; ".join(model_doc["repairs"] or ["nothing (repair off)"])
            lines += ["", f"{name}: the picks together reached {together:.2f}% of baseline (each alone met the target); "
                      f"put back: {put_back}"]
        if model_doc["repair_stop"]:
            lines += ["", f"{name}: repair ended ({model_doc['repair_evaluations']} evaluations): {model_doc['repair_stop']}; "
                      f"{100 * model_doc['normalized']:.2f}% of baseline at {model_doc['avg_bits_per_weight']:.2f} bits/weight"]
    markdown = "\n".join(lines) + "\n"
    (out / "sieve_search.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a build config (YAML) or a built bundle directory")
    parser.add_argument("--out", default="results/sieve-search")
    parser.add_argument("--model", help="a Keras model file to search instead of training the config's master")
    parser.add_argument("--lenet5", action="store_true", help="train a LeNet-5 on the config's data and search it")
    parser.add_argument("--epochs", type=int, help="training epochs (master or LeNet-5)")
    parser.add_argument("--max-mantissa-bits", type=int, default=6, help="where the mantissa sweep starts (paper: 6)")
    parser.add_argument("--no-repair", action="store_true", help="report the combined picks without putting tensors back")
    parser.add_argument("--repair-rounds", type=int, default=SearchConfig.repair_rounds,
                        help="repair rounds per combined model (each measures every reduced tensor's gain)")
    parser.add_argument("--repair-evaluations", type=int, default=SearchConfig.repair_evaluations,
                        help="evaluations the repair of one combined model may spend before the rebuild from float32")
    parser.add_argument("--sweeps", help="an earlier sieve_search.json of the same model: combine its sweeps again")
    args = parser.parse_args(argv)
    out = Path(args.out)
    return run_logged("sieve_search", out, lambda: run(args, out))


if __name__ == "__main__":
    sys.exit(main())
