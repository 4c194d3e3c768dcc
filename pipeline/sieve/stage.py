"""The SIEVE stage of the build: the trained master's speculative models (dissertation ch. 4).

The format search (:mod:`mmnet.pipeline.sieve.search`) runs on the batch-norm-folded master with
``sieve.search_fraction`` of the val split (:func:`search_frames`; the configure step fits the SIEVE
systems' detectors on the rest); each of ``sieve.models`` (exact / accurate / approximate) is then rebuilt with its kernels
rounded and its activations rounded in the graph (:func:`~mmnet.pipeline.sieve.keras_graph.deployed_model`),
saved as a Keras model and handed on as a *minion* of family ``sieve``: the export stage converts it
to float32 TFLite and the evaluation stage's parity gate compares that file with this Keras model, so
what is gated is what ships (``accurate_native`` / ``approximate_native``: the master quantised per
layer in formats LiteRT runs natively, :mod:`mmnet.pipeline.sieve.native_stage`). Packing the kernels
at their widths happens when the bundle is written (:func:`pack_sieve_artifact`).

Artifacts on disk (``<work>/sieve/``): ``sieve_search.json`` (the search, schema
``sieve_search.schema.json``) and per model ``<variant>/model.keras`` + ``trained.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmnet.format.custom_float import FloatFormat
from mmnet.format.errors import ModelError
from mmnet.format.packed_model import PackedTensor, pack_model
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import SieveConfig
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.sieve.native import NATIVE_SIEVE_MODELS
from mmnet.pipeline.sieve.native_stage import build_native_models
from mmnet.pipeline.train import TrainedModel, load_keras_model
from mmnet.runtime.preprocessing import preprocess

__all__ = ["SIEVE_FAMILY", "sieve_variant", "search_frames", "build_sieve_models", "kernel_segments", "pack_sieve_artifact"]

log = logging.getLogger(__name__)

SIEVE_FAMILY = "sieve"


def sieve_variant(master_variant: str, model: str) -> str:
    """The variant name of ``master_variant``'s ``model`` (e.g. ``resnet-a1.00-r32-sieve-accurate``)."""
    return f"{master_variant}-sieve-{model}"


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), axis=1) == y))


def search_frames(count: int, fraction: float) -> np.ndarray | None:
    """The val frames (sorted indices, a seeded draw of ``round(fraction × count)``) the format search
    uses, or None when it uses them all (``fraction`` 1)."""
    if fraction >= 1.0:
        return None
    taken = min(count - 1, max(1, round(fraction * count)))
    return np.sort(np.random.default_rng(0).permutation(count)[:taken])


def build_sieve_models(master: TrainedModel, *, splits: Splits, preprocessing: PreprocessingSpec, config: SieveConfig,
                       out_dir: Path) -> list[TrainedModel]:
    """Runs the format search on ``master`` and saves ``config.models`` (module docstring)."""
    from mmnet.pipeline.sieve.keras_graph import CachedEvaluator, deployed_model, fold_batch_norm
    from mmnet.pipeline.sieve.search import run_search, validate_search_document

    if not master.keras_path.endswith((".keras", ".h5")):
        raise ModelError(f"master {master.variant} has no Keras model ({master.keras_path}); the format search needs one")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    model = load_keras_model(master.keras_path)
    resolution = int(model.input_shape[1])
    x_val = preprocess(splits.val.frames, preprocessing, resolution).astype(np.float32)
    x_test = preprocess(splits.test.frames, preprocessing, resolution).astype(np.float32)
    chosen = search_frames(len(splits.val.labels), config.search_fraction)
    searched = slice(None) if chosen is None else chosen
    native = build_native_models(master, model, x_val[searched], splits.val.labels[searched], config, out_dir,
                                 SIEVE_FAMILY, chosen)
    if len(native) == len(config.models):
        return native
    folded = fold_batch_norm(model)
    evaluator = CachedEvaluator(folded, x_val[searched], splits.val.labels[searched])
    frames_note = (f"{len(splits.val.labels)} val frames" if chosen is None else
                   f"{chosen.size} of {len(splits.val.labels)} val frames (the rest fit the SIEVE systems' detectors)")
    result = run_search(evaluator, config.search, model_name=master.variant,
                        notes=(f"activations cached in {time.monotonic() - started:.1f} s", f"searched on {frames_note}"))
    document = result.to_json()
    validate_search_document(document, source=str(out_dir / "sieve_search.json"))
    (out_dir / "sieve_search.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    log.info("SIEVE search on %s: %d evaluations in %.1f s", master.variant, result.evaluations, result.search_seconds)

    made = []
    for name in (name for name in config.models if name not in NATIVE_SIEVE_MODELS):
        combined = result.models[name]
        variant = sieve_variant(master.variant, name)
        deployed = deployed_model(folded, combined.formats, name=variant.replace(".", "_"))
        directory = out_dir / variant
        directory.mkdir(parents=True, exist_ok=True)
        keras_path = directory / "model.keras"
        deployed.save(keras_path)
        sieve = {
            "model": name, "master_variant": master.variant,
            "formats": {k: v.name for k, v in combined.formats.items()},
            "avg_bits_per_weight": round(combined.weight_bits, 4),
            "avg_bits_per_activation": round(combined.activation_bits, 4),
            "search_val_accuracy": combined.accuracy, "baseline_val_accuracy": result.baseline_accuracy,
            "normalized_val_accuracy": combined.normalized, "target": combined.target,
            "repair_stop": combined.repair_stop,
        }
        if chosen is not None:
            sieve["search_val_frames"] = [int(i) for i in chosen]
        trained = replace(
            master, variant=variant, role="minion", family=SIEVE_FAMILY, keras_path=str(keras_path),
            keras_val_accuracy=_accuracy(deployed, x_val, splits.val.labels),
            keras_test_accuracy=_accuracy(deployed, x_test, splits.test.labels),
            epochs_run=0, duration_s=round(time.monotonic() - started, 1), distilled=False, compression=None,
            sieve=sieve,
        )
        trained.write(directory)
        made.append(trained)
    return made + native


def kernel_segments(tflite: bytes, formats: dict[str, FloatFormat], kernels: dict[str, np.ndarray]) -> list[PackedTensor]:
    """Where each rounded kernel lies in the flatbuffer: the float32 constant buffer holding the same
    values (the converter may transpose a kernel, so values are compared as sorted multisets of their
    bit patterns: -0.0 and +0.0 are different values to pack and equal ones to a float sort).

    ``kernels``: ``{tensor name: rounded values}`` for the tensors of ``formats``. ModelError when a
    kernel has no buffer of its own.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(tflite, 0)
    float32 = schema.TensorType.FLOAT32
    buffers: dict[int, int] = {}  # buffer index -> element count, float32 constants only
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            buffer = model.Buffers(tensor.Buffer())
            if tensor.Type() == float32 and buffer is not None and buffer.DataLength() > 0:
                buffers[tensor.Buffer()] = buffer.DataLength() // 4
    by_signature: dict[tuple[int, bytes], list[tuple[int, int]]] = {}
    for index, count in buffers.items():
        buffer = model.Buffers(index)
        start = buffer._tab.Vector(buffer._tab.Offset(4))  # noqa: SLF001 - the data's position in the file
        values = np.frombuffer(tflite, dtype="<f4", count=count, offset=start)
        by_signature.setdefault((count, np.sort(values.view(np.uint32)).tobytes()), []).append((index, start))
    segments = []
    for name, fmt in formats.items():
        values = np.asarray(kernels[name], "<f4").reshape(-1)
        found = by_signature.get((values.size, np.sort(values.view(np.uint32)).tobytes()), [])
        if not found:
            raise ModelError(f"kernel {name!r} ({values.size} values in {fmt.name}) has no float32 constant buffer with "
                             "its values in the converted model; expected the converter to keep each kernel as a constant")
        _, start = found.pop(0)
        segments.append(PackedTensor(name, start, int(values.size), fmt))
    return segments


def pack_sieve_artifact(tflite_path: Path, keras_path: str, sieve: dict) -> tuple[bytes, dict]:
    """The packed container and spec of a SIEVE TFLite artifact: each reformatted kernel at its width."""
    from mmnet.pipeline.sieve.keras_graph import WEIGHTED_LAYERS, kernel_name

    model = load_keras_model(keras_path)
    formats = {k: FloatFormat.parse(v) for k, v in sieve["formats"].items() if k.endswith("/kernel")}
    kernels = {kernel_name(layer.name): layer.get_weights()[0] for layer in model.layers
               if isinstance(layer, WEIGHTED_LAYERS) and kernel_name(layer.name) in formats}
    tflite = Path(tflite_path).read_bytes()
    return pack_model(tflite, kernel_segments(tflite, formats, kernels))
