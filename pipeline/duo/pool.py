"""Pool evaluation: what the pair search needs of every model in a Dynamic Duo model pool.

For every pool model, on this host: its probabilities on the val and test frames (the pair search
fits thresholds on val and judges them on test), its accuracy, its MACs and its measured latency at
batch 1 and batched. TF-free: models run on the runtime's LiteRT wrapper
(:class:`~mmnet.runtime.interpreter.TFLiteClassifier`), frames are preprocessed by
:mod:`mmnet.runtime.preprocessing` exactly as the runtime and the build do.

Two pools:

- :func:`bundle_pool` — a bundle's shipped models on its recorded val/test splits; MACs from the
  manifest (counted at build time by :mod:`mmnet.pipeline.zoo.costs`).
- :func:`config_pool` — imported models and photos named by a build config (e.g.
  ``configs/coral-imagenet.yaml``: the four Coral ImageNet models on ``imagenet-sample-a``), loaded
  with the build's own loaders (:func:`~mmnet.pipeline.datasets.loaders.load_dataset`,
  :func:`~mmnet.pipeline.datasets.split.split_dataset` with the config's method and a recorded seed,
  :func:`~mmnet.pipeline.prepare.preprocessing_from_train`); MACs counted from each ``.tflite``
  file's operator list (:func:`~mmnet.pipeline.zoo.costs.tflite_model_costs`, eq. 5.1-5.4:
  convolutions, depthwise convolutions and dense layers).

**Latency.** Per model and batch size: ``passes`` passes, round robin over the models (a slow spell
of the host then touches every model alike rather than one); each pass times ``runs`` invokes after
warm-up and keeps their median per-frame time. The model's latency is the median of its pass
medians, the spread the lowest and highest pass median. Only ``invoke()`` is timed; preprocessing (a
recorded frame to the model's input tensor: resize and quantise, :func:`model_input`) is timed
apart, per frame, and :meth:`PoolModel.latency_ms` adds it: a server pays it for every model it runs.
Batches above 1 resize the interpreter's input (``resize_tensor_input``, ``allocate_tensors``); a
model whose graph fixes its batch (Coral's end in a RESHAPE to ``[1, 1001]``) cannot be resized and
its batched latency is recorded as unsupported with the interpreter's message.

On disk (:meth:`Pool.save`): ``pool.json`` (everything but the outputs) and ``pool_outputs.npz``
(``labels_val``, ``labels_test`` and per model ``<id>__val``, ``<id>__test``: float32 probabilities).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.bundle import load_bundle, sha256_file
from mmnet.format.errors import ConfigError, DataError, ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.interpreter import TFLiteClassifier, interpreter_backend, load_interpreter
from mmnet.runtime.preprocessing import model_input, preprocess

__all__ = ["BatchLatency", "PoolModel", "Pool", "PoolEntry", "TimingSettings", "evaluate_pool", "bundle_pool",
           "config_pool", "load_pool"]

Progress = Callable[[str], None]

OUTPUTS_FILE = "pool_outputs.npz"
POOL_FILE = "pool.json"


@dataclass(frozen=True)
class TimingSettings:
    """How latency is measured: batch sizes, passes per batch size, and per pass the invokes timed
    (``runs``, at least ``min_runs``; fewer when ``pass_seconds`` would be exceeded) after ``warmup``."""

    batches: tuple[int, ...] = (1, 8, 32)
    passes: int = 5
    runs: int = 30
    min_runs: int = 5
    warmup: int = 3
    pass_seconds: float = 0.5
    threads: int = 1
    preprocess_frames: int = 20

    def __post_init__(self) -> None:
        if not self.batches or any(not isinstance(b, int) or b < 1 for b in self.batches) or 1 not in self.batches:
            raise ConfigError(f"timing batches are {list(self.batches)}; expected positive ints including 1")
        for name in ("passes", "runs", "min_runs", "threads", "preprocess_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"timing {name} is {getattr(self, name)!r}; expected an int >= 1")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"timing warmup is {self.warmup!r}; expected an int >= 0")
        if not self.pass_seconds > 0:
            raise ConfigError(f"timing pass_seconds is {self.pass_seconds!r}; expected a positive number")

    def to_json(self) -> dict[str, Any]:
        return {"batches": list(self.batches), "passes": self.passes, "runs": self.runs, "min_runs": self.min_runs,
                "warmup": self.warmup, "pass_seconds": self.pass_seconds, "threads": self.threads,
                "preprocess_frames": self.preprocess_frames}


@dataclass(frozen=True)
class BatchLatency:
    """Per-frame ``invoke()`` time of one model at one batch size: median and spread over passes."""

    batch: int
    supported: bool
    per_frame_ms: float | None = None  # the median of the pass medians
    pass_ms: tuple[float, ...] = ()  # each pass's median per-frame time
    runs: int = 0  # invokes timed per pass
    note: str = ""  # why the batch is unsupported

    @property
    def spread_ms(self) -> tuple[float, float] | None:
        return (min(self.pass_ms), max(self.pass_ms)) if self.pass_ms else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"batch": self.batch, "supported": self.supported}
        if self.supported:
            low, high = self.spread_ms or (None, None)
            out.update({"per_frame_ms": self.per_frame_ms, "min_pass_ms": low, "max_pass_ms": high,
                        "pass_ms": list(self.pass_ms), "runs_per_pass": self.runs})
        else:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BatchLatency:
        return cls(int(doc["batch"]), bool(doc["supported"]), doc.get("per_frame_ms"),
                   tuple(doc.get("pass_ms", ())), int(doc.get("runs_per_pass", 0)), doc.get("note", ""))


@dataclass(frozen=True)
class PoolEntry:
    """A model to evaluate: its file, its MACs (None: unknown) and where they came from."""

    id: str
    path: str
    macs: int | None
    macs_source: str
    params: int | None = None
    xnnpack: bool = True


@dataclass(frozen=True)
class PoolModel:
    id: str
    path: str
    sha256: str
    resolution: int
    input_dtype: str
    macs: int | None
    macs_source: str
    params: int | None
    xnnpack: bool
    val_accuracy: float
    test_accuracy: float
    preprocess_ms: float  # per frame: a recorded frame to this model's input tensor
    latency: dict[int, BatchLatency]
    val_probabilities: np.ndarray = field(repr=False)
    test_probabilities: np.ndarray = field(repr=False)

    def invoke_ms(self, batch: int = 1) -> float | None:
        entry = self.latency.get(batch)
        return entry.per_frame_ms if entry is not None and entry.supported else None

    def latency_ms(self, batch: int = 1) -> float | None:
        """Per-frame serving cost at ``batch``: invoke + preprocessing; None when the batch is unsupported."""
        invoke = self.invoke_ms(batch)
        return None if invoke is None else invoke + self.preprocess_ms

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "sha256": self.sha256, "resolution": self.resolution,
                "input_dtype": self.input_dtype, "macs": self.macs, "macs_source": self.macs_source,
                "params": self.params, "xnnpack": self.xnnpack, "val_accuracy": self.val_accuracy,
                "test_accuracy": self.test_accuracy, "preprocess_ms": self.preprocess_ms,
                "latency": [self.latency[b].to_json() for b in sorted(self.latency)]}


@dataclass(frozen=True)
class Pool:
    """Every pool model's outputs and costs, with the labels and split they were measured on."""

    name: str
    source: str
    models: tuple[PoolModel, ...]
    val_labels: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    num_classes: int
    split: dict[str, Any]  # how val/test were drawn: method, seed, sizes
    preprocessing: dict[str, Any]  # the PreprocessingSpec's JSON
    timing: dict[str, Any]  # TimingSettings, backend, host

    def __post_init__(self) -> None:
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise DataError(f"pool {self.name}: model ids repeat ({ids}); expected unique ids")

    def model(self, model_id: str) -> PoolModel:
        for m in self.models:
            if m.id == model_id:
                return m
        raise DataError(f"pool {self.name} has no model {model_id!r}; it has {[m.id for m in self.models]}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "num_classes": self.num_classes, "split": self.split,
                "preprocessing": self.preprocessing, "timing": self.timing, "outputs_file": OUTPUTS_FILE,
                "models": [m.to_json() for m in self.models]}

    def save(self, directory: str | Path) -> Path:
        """Writes ``pool.json`` and ``pool_outputs.npz`` into ``directory`` (created); returns pool.json's path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"labels_val": self.val_labels, "labels_test": self.test_labels}
        for m in self.models:
            arrays[f"{m.id}__val"] = m.val_probabilities.astype(np.float32)
            arrays[f"{m.id}__test"] = m.test_probabilities.astype(np.float32)
        np.savez_compressed(directory / OUTPUTS_FILE, **arrays)
        path = directory / POOL_FILE
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        return path


def load_pool(directory: str | Path) -> Pool:
    """A pool written by :meth:`Pool.save`."""
    directory = Path(directory)
    try:
        doc = json.loads((directory / POOL_FILE).read_text(encoding="utf-8"))
        outputs = np.load(directory / OUTPUTS_FILE)
    except (OSError, ValueError) as e:
        raise DataError(f"{directory}: not a saved pool ({POOL_FILE} + {OUTPUTS_FILE}): {e}") from e
    models = tuple(
        PoolModel(id=m["id"], path=m["path"], sha256=m["sha256"], resolution=m["resolution"], input_dtype=m["input_dtype"],
                  macs=m["macs"], macs_source=m["macs_source"], params=m["params"], xnnpack=m["xnnpack"],
                  val_accuracy=m["val_accuracy"], test_accuracy=m["test_accuracy"], preprocess_ms=m["preprocess_ms"],
                  latency={int(b["batch"]): BatchLatency.from_json(b) for b in m["latency"]},
                  val_probabilities=outputs[f"{m['id']}__val"], test_probabilities=outputs[f"{m['id']}__test"])
        for m in doc["models"])
    return Pool(doc["name"], doc["source"], models, outputs["labels_val"], outputs["labels_test"], doc["num_classes"],
                doc["split"], doc["preprocessing"], doc["timing"])


# --- measuring ------------------------------------------------------------------------------------------


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels)) if labels.size else float("nan")


class _Timer:
    """One model at one batch size: an interpreter with its input resized and filled, ready to invoke."""

    def __init__(self, classifier: TFLiteClassifier, inputs: np.ndarray, batch: int, threads: int) -> None:
        self.batch = batch
        if batch == 1:
            self.interpreter = load_interpreter(classifier.path, num_threads=threads, use_xnnpack=classifier.use_xnnpack)
        else:
            self.interpreter = load_interpreter(classifier.path, num_threads=threads, use_xnnpack=classifier.use_xnnpack)
            detail = self.interpreter.get_input_details()[0]
            try:
                self.interpreter.resize_tensor_input(detail["index"], [batch, *classifier.input_shape], strict=False)
                self.interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise ModelError(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from e
        detail = self.interpreter.get_input_details()[0]
        reps = -(-batch // inputs.shape[0])
        self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(np.concatenate([inputs] * reps)[:batch]))
        try:
            self.interpreter.invoke()
        except (ValueError, RuntimeError) as e:
            raise ModelError(str(e).strip().splitlines()[0]) from e

    def time_pass(self, settings: TimingSettings) -> tuple[float, int]:
        """Median per-frame ms of one pass, and the invokes it timed."""
        invoke = self.interpreter.invoke
        for _ in range(settings.warmup):
            invoke()
        times: list[float] = []
        budget_end = time.perf_counter() + settings.pass_seconds
        while len(times) < settings.runs:
            start = time.perf_counter()
            invoke()
            end = time.perf_counter()
            times.append(end - start)
            if len(times) >= settings.min_runs and end > budget_end:
                break
        return float(np.median(times)) * 1000.0 / self.batch, len(times)


def _preprocess_ms(frames: np.ndarray, spec: PreprocessingSpec, classifier: TFLiteClassifier, count: int) -> float:
    """Median per-frame time of the runtime's path from a recorded frame to the model's input tensor."""
    resolution = classifier.input_shape[0]
    times = []
    for frame in frames[:count]:
        start = time.perf_counter()
        model_input(frame, spec, resolution, classifier, {})
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000.0 if times else 0.0


def evaluate_pool(name: str, source: str, entries: Sequence[PoolEntry], frames: dict[str, np.ndarray],
                  labels: dict[str, np.ndarray], spec: PreprocessingSpec, num_classes: int, split: dict[str, Any],
                  *, timing: TimingSettings | None = None, progress: Progress | None = None) -> Pool:
    """Runs every entry on the val and test frames (uint8 ``(N, H, W, C)`` in ``spec``'s frame shape) and
    times it (module doc). Raises ModelError for a model that does not take these frames or give
    ``num_classes`` outputs."""
    timing = timing or TimingSettings()
    say = progress or (lambda message: None)
    if not entries:
        raise DataError(f"pool {name}: no models to evaluate")
    for split_name in ("val", "test"):
        if frames[split_name].shape[0] != labels[split_name].shape[0]:
            raise DataError(f"pool {name}: {frames[split_name].shape[0]} {split_name} frames but "
                            f"{labels[split_name].shape[0]} labels")
    if frames["val"].shape[0] == 0:
        raise DataError(f"pool {name}: the val split is empty; the pair search fits its thresholds there")
    classifiers, outputs, inputs = {}, {}, {}
    for i, entry in enumerate(entries, 1):
        classifier = TFLiteClassifier(entry.path, num_threads=timing.threads, use_xnnpack=entry.xnnpack)
        height, width, channels = classifier.input_shape
        if height != width or channels != spec.frame_shape[2]:
            raise ModelError(f"{entry.path}: input {list(classifier.input_shape)}; expected a square input with "
                             f"{spec.frame_shape[2]} channels")
        if classifier.num_classes != num_classes:
            raise ModelError(f"{entry.path}: {classifier.num_classes} outputs; the pool's labels have {num_classes}")
        started = time.perf_counter()
        outputs[entry.id] = {s: classifier.predict(preprocess(frames[s], spec, height)) for s in ("val", "test")}
        inputs[entry.id] = classifier.prepare_input(preprocess(frames["val"][: max(timing.batches)], spec, height))
        classifiers[entry.id] = classifier
        say(f"[{i}/{len(entries)}] {entry.id}: outputs on {frames['val'].shape[0]} val + {frames['test'].shape[0]} "
            f"test frames in {time.perf_counter() - started:.1f} s, val accuracy "
            f"{100 * _accuracy(outputs[entry.id]['val'], labels['val']):.1f}%")
    # Timers for every (model, batch), then passes round robin over them.
    timers: dict[tuple[str, int], _Timer] = {}
    latency: dict[str, dict[int, BatchLatency]] = {e.id: {} for e in entries}
    for entry in entries:
        for batch in timing.batches:
            try:
                timers[(entry.id, batch)] = _Timer(classifiers[entry.id], inputs[entry.id], batch, timing.threads)
            except ModelError as e:
                if batch == 1:
                    raise ModelError(f"{entry.path}: cannot be timed at batch 1: {e}") from e
                latency[entry.id][batch] = BatchLatency(batch, False, note=f"LiteRT cannot resize the input to "
                                                        f"batch {batch}: {e}")
    passes: dict[tuple[str, int], list[tuple[float, int]]] = {key: [] for key in timers}
    for p in range(timing.passes):
        started = time.perf_counter()
        for key, timer in timers.items():
            passes[key].append(timer.time_pass(timing))
        say(f"latency pass {p + 1}/{timing.passes}: {len(timers)} model x batch timings in "
            f"{time.perf_counter() - started:.1f} s")
    for (model_id, batch), rows in passes.items():
        medians = tuple(float(ms) for ms, _ in rows)
        latency[model_id][batch] = BatchLatency(batch, True, float(np.median(medians)), medians, min(r for _, r in rows))
    models = []
    for entry in entries:
        classifier = classifiers[entry.id]
        models.append(PoolModel(
            id=entry.id, path=str(entry.path), sha256=sha256_file(entry.path), resolution=classifier.input_shape[0],
            input_dtype=str(classifier.input_dtype), macs=entry.macs, macs_source=entry.macs_source, params=entry.params,
            xnnpack=entry.xnnpack, val_accuracy=_accuracy(outputs[entry.id]["val"], labels["val"]),
            test_accuracy=_accuracy(outputs[entry.id]["test"], labels["test"]),
            preprocess_ms=_preprocess_ms(frames["val"], spec, classifier, timing.preprocess_frames),
            latency=dict(sorted(latency[entry.id].items())),
            val_probabilities=outputs[entry.id]["val"], test_probabilities=outputs[entry.id]["test"]))
    host = {"backend": interpreter_backend(), "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    return Pool(name, source, tuple(models), np.asarray(labels["val"]), np.asarray(labels["test"]), num_classes, split,
                spec.to_json(), {**timing.to_json(), **host})


# --- the two pools ----------------------------------------------------------------------------------------


def bundle_pool(bundle_dir: str | Path, *, timing: TimingSettings | None = None, progress: Progress | None = None,
                models: Sequence[str] | None = None, one_per_variant: bool = False) -> Pool:
    """A bundle's shipped models (or the ``models`` named) on its recorded val/test splits; MACs from its manifest.

    ``one_per_variant`` keeps one precision of each variant (a bundle ships float32, float16 and int8
    copies of one network, whose outputs barely differ: as a little/big pair they are one network
    twice): the one with the lowest median host latency the manifest recorded at build time."""
    bundle = load_bundle(bundle_dir)
    shipped = [r for r in bundle.models if r.shipped]
    if one_per_variant:
        fastest: dict[str, Any] = {}
        for r in shipped:
            recorded = (r.host_latency_ms or {}).get("median", float("inf"))
            best = fastest.get(r.variant)
            if best is None or recorded < (best.host_latency_ms or {}).get("median", float("inf")):
                fastest[r.variant] = r
        shipped = [r for r in shipped if fastest[r.variant] is r]
    if models is not None:
        unknown = sorted(set(models) - {r.id for r in shipped})
        if unknown:
            raise DataError(f"bundle {bundle_dir}: no shipped model {unknown}; it ships {[r.id for r in shipped]}")
        shipped = [r for r in shipped if r.id in models]
    entries = [PoolEntry(r.id, str(bundle.model_path(r.id)), int(r.macs), "bundle manifest (counted at build time, "
                         "eq. 5.1-5.4)", int(r.params), bool(r.metrics.get("xnnpack", True))) for r in shipped]
    splits = {name: bundle.load_split(name) for name in ("val", "test")}
    split = {"method": "the bundle's recorded split", "seed": bundle.manifest["dataset"].get("split_seed"),
             "val": int(splits["val"][1].size), "test": int(splits["test"][1].size)}
    return evaluate_pool(bundle.name, f"bundle:{Path(bundle_dir)}", entries, {s: f for s, (f, _) in splits.items()},
                         {s: y for s, (_, y) in splits.items()}, bundle.preprocessing, bundle.num_classes, split,
                         timing=timing, progress=progress)


@contextlib.contextmanager
def _data_root(root: str | Path | None) -> Iterator[None]:
    """``$MMNET_SHARED_DATA`` set to ``root`` while a config is read (its paths name the data root so)."""
    if root is None:
        yield
        return
    before = os.environ.get("MMNET_SHARED_DATA")
    os.environ["MMNET_SHARED_DATA"] = str(Path(root).absolute())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MMNET_SHARED_DATA", None)
        else:
            os.environ["MMNET_SHARED_DATA"] = before


def config_pool(config_path: str | Path, *, data_root: str | Path | None = None, seed: int | None = None,
                limit: int | None = None, timing: TimingSettings | None = None,
                progress: Progress | None = None) -> Pool:
    """The imported master and minions of a build config (no training: ``.tflite`` imports only) on its
    dataset, split into val/test by the config's method with ``seed`` (default: the config's), every
    model's MACs counted from its file. ``data_root`` sets ``$MMNET_SHARED_DATA`` for the config's
    paths; ``limit`` keeps the first ``limit`` frames of each split (for quick runs and tests)."""
    from mmnet.pipeline.config import load_config
    from mmnet.pipeline.datasets.loaders import load_dataset
    from mmnet.pipeline.datasets.split import split_dataset
    from mmnet.pipeline.prepare import preprocessing_from_train
    from mmnet.pipeline.zoo.costs import tflite_model_costs

    say = progress or (lambda message: None)
    with _data_root(data_root):
        config = load_config(config_path)
    if config.trains or config.master.import_path is None:
        raise ConfigError(f"{config_path}: trains models; a config pool takes imported .tflite models only "
                          "(master.import and minions.imported, minions.families: [])")
    paths = [("master", str(config.master.import_path))] + [(m.name, str(m.path)) for m in config.minions.imported]
    for name, path in paths:
        if not path.endswith(".tflite"):
            raise ConfigError(f"{config_path}: model {name} is {path}; a config pool takes .tflite files")
        if not Path(path).is_file():
            raise ConfigError(f"{config_path}: model {name}: {path} does not exist")
    seed = config.dataset.seed if seed is None else seed
    started = time.perf_counter()
    dataset = load_dataset(config.dataset)
    splits = split_dataset(dataset, val_fraction=config.dataset.val_fraction, test_fraction=config.dataset.test_fraction,
                           seed=seed, method=config.dataset.split, train=False)
    say(f"loaded {len(dataset)} frames from {config.dataset.source} in {time.perf_counter() - started:.1f} s; "
        f"{splits.method} split, seed {seed}: {len(splits.val)} val / {len(splits.test)} test")
    spec = preprocessing_from_train(splits, config)
    entries = []
    for name, path in paths:
        costs = tflite_model_costs(path)
        entries.append(PoolEntry(Path(path).stem if name == "master" else name, path, costs.macs,
                                 "counted from the .tflite operator list (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED; "
                                 "eq. 5.1-5.4)", costs.params))
    keep = slice(None) if limit is None else slice(0, limit)
    frames = {"val": splits.val.frames[keep], "test": splits.test.frames[keep]}
    labels = {"val": splits.val.labels[keep], "test": splits.test.labels[keep]}
    split = {"method": f"{splits.method} split", "seed": seed, "val": int(labels["val"].size), "test": int(labels["test"].size),
             "val_indices": [int(i) for i in splits.indices["val"][keep]],
             "test_indices": [int(i) for i in splits.indices["test"][keep]]}
    return evaluate_pool(config.name, config.dataset.source, entries, frames, labels, spec, dataset.num_classes, split,
                         timing=timing, progress=progress)
