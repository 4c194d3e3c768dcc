"""The build pipeline as Apache Beam transforms, and :func:`run_build` that runs it.

Graph (each box a labelled transform; one chain, no side inputs)::

    Tasks ─► Train models ─► Import models ─► Compress ─► Export TFLite ─► Evaluate TFLite ─┐
    Start ──────────────────────────────────────────────────────────────────────────────────┴─► Collect results
        ─► Measure host latency ─► Fit latency model ─► Write bundle

The build is shaped for runners that recompute or retry (Beam's Dask runner recomputes a collection
for every side input that reads it; any runner may retry a bundle):

- **Every stage task is idempotent.** Its output is an entry of the content-addressed stage cache
  (:mod:`mmnet.pipeline.stage_cache`) under a key made of the stage's code, its config section and
  its inputs' keys; a recomputed or retried task finds the entry and reuses it, and a rerun of the
  build skips every task whose key is unchanged (a changed minion grid trains only the new variants);
  when every fan-out task is cached, no Beam graph starts at all (:func:`replay_from_cache`).
- **No singleton side inputs.** The data split is prepared (a cached stage) before the graph runs and
  travels inside the tasks; with distillation the master and its soft labels are built by a first,
  one-task graph, so the minion tasks carry their teacher's path. Everything the bundle needs meets in
  one ``GroupByKey`` on a single key, and the results are deduplicated by item there.
- **One stream.** Every element is ``{"kind", "key", "item", "value"}``; a stage handles its own
  kinds and passes the others (and dead letters, kind ``failed``) through unchanged, so no transform
  has tagged outputs (which the Dask runner does not split).

Write bundle also configures the runtime (:mod:`mmnet.pipeline.configure`: calibration, thresholds,
pairing) and writes ``runtime_config.json``, ``report/`` and ``model_card.md`` into the bundle.

SIEVE models (off unless ``sieve.enabled``) runs the per-layer format search on the master and adds
its exact / accurate / approximate models as float32 minions of family ``sieve`` to the models
exported and gated (:mod:`mmnet.pipeline.sieve.stage`); the bundle ships their kernels packed.

Compress (only with ``compression.enabled``) prunes the trained models the ``compression`` section
selects and passes the others through, so export, the parity gate and the bundle see the pruned
model in place of the dense one.

Every stage task that raises becomes a dead-letter record (``failures`` in the manifest) and a Beam
counter; the other variants go on. Host latency is measured in one serial stage after all training
has finished, so the numbers are taken on a quiet machine and are comparable with each other.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from mmnet.format.compare import COMPARE_JSON, BundleSnapshot, Tolerances, read_snapshot
from mmnet.format.documents import read_json
from mmnet.format.errors import BundleError, ConfigError, MmnetError
from mmnet.format.signing import load_private_key
from mmnet.pipeline.buildlog import BUILD_LOG
from mmnet.pipeline.bundle import COMPARE_DIR, BuildError, assemble_bundle
from mmnet.pipeline.config import BuildConfig
from mmnet.pipeline.datasets.config import parse_source
from mmnet.pipeline.evaluate import evaluate_artifact
from mmnet.pipeline.export import ExportedArtifact, export_artifact
from mmnet.pipeline.imports import ImportTask, import_model
from mmnet.pipeline.latency import measure_host_latency
from mmnet.pipeline.prepare import PreparedData, load_prepared_splits, prepare_data
from mmnet.pipeline.progress import ProgressMonitor, read_events, stage_task
from mmnet.pipeline.stage_cache import StageCache, code_version, path_fingerprint, stage_key
from mmnet.pipeline.train import TrainedModel, load_keras_model, model_inputs, train_variant
from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["STAGES", "BuildError", "BuildLockedError", "BuildResult", "TrainTask", "balanced_order", "beam_args", "build_graph",
           "build_lock", "cache_statistics", "check_inputs_exist", "clear_run_state", "collect_results", "pipeline_failure",
           "run_build", "work_dir_for"]

log = logging.getLogger(__name__)

FAILED = "failed"
_COLLECT_KEY = "build"

# The cached stages in build order; ``--force STAGE`` re-runs that stage and every one after it.
STAGES = ("prepare", "train", "teacher", "import", "compress", "sieve", "export", "evaluate", "host_latency",
          "latency_model")

# The code each stage's outputs depend on: editing one of these modules changes the stage's keys. This
# module is part of every stage's code (it shapes the records), so editing it re-runs the whole build.
_STAGE_CODE = {
    "prepare": ("mmnet.pipeline.prepare", "mmnet.pipeline.datasets"),
    "train": ("mmnet.pipeline.train", "mmnet.pipeline.zoo", "mmnet.runtime.preprocessing"),
    "teacher": ("mmnet.pipeline.train",),
    "import": ("mmnet.pipeline.imports",),
    "compress": ("mmnet.pipeline.pruning",),
    "sieve": ("mmnet.pipeline.sieve", "mmnet.format.custom_float"),
    "export": ("mmnet.pipeline.export", "mmnet.pipeline.sieve.native_litert"),  # a native SIEVE model is quantised there
    "evaluate": ("mmnet.pipeline.evaluate", "mmnet.runtime.interpreter", "mmnet.runtime.preprocessing"),
    "host_latency": ("mmnet.pipeline.latency", "mmnet.runtime.interpreter"),
    "latency_model": ("mmnet.pipeline.latency_model",),
}


class BuildLockedError(BundleError):
    """Another build is writing the same bundle directory."""


@dataclass(frozen=True)
class BuildContext:
    """What every stage task needs; small and picklable (it travels to the Beam workers)."""

    config: BuildConfig
    work_dir: str
    cache_root: str
    prepared: dict  # the PreparedData record
    prepared_key: str
    code: dict  # stage -> code version, computed once by the launcher
    signing_key: str | None = None  # an Ed25519 private key PEM the bundle is signed with
    baseline: BundleSnapshot | None = None  # `--compare`: the previous bundle the new one is gated against
    tolerances: Tolerances | None = None

    @property
    def events_dir(self) -> str:
        return os.path.join(self.work_dir, "events")

    def cache(self) -> StageCache:
        return StageCache(self.cache_root)

    def key(self, stage: str, config: Any, inputs: Any) -> str:
        return stage_key(stage, self.code[stage], config, inputs)


@dataclass(frozen=True)
class TrainTask:
    spec: VariantSpec
    role: str
    teacher_key: str | None = None  # distilled minions: the soft labels' cache key and file
    teacher_path: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class BuildResult:
    bundle_dir: Path
    manifest: dict
    failures: list[dict]
    duration_s: float
    counters: dict[str, int]  # the Beam "mmnet" counters: <stage>_completed, <stage>_failures (not every runner reports them)
    stage_seconds: dict[str, float]  # the Beam "mmnet" <stage>_ms distributions, summed
    cache: dict[str, dict[str, int]] = field(default_factory=dict)  # per stage: items, "hits", "misses" (runs), from its events
    comparison: dict | None = None  # `--compare`: the regression gate's report (compare_report.schema.json)
    comparison_dir: Path | None = None  # where its compare.json and compare.md are


def _mmnet_metrics(result) -> tuple[dict[str, int], dict[str, float]]:
    """The pipeline's own counters and timings, from whichever runner ran it."""
    try:
        queried = result.metrics().query(beam.metrics.MetricsFilter().with_namespace("mmnet"))
    except (AttributeError, NotImplementedError) as e:  # not every runner reports metrics (Dask does not)
        log.warning("runner reported no metrics: %s", e)
        return {}, {}
    counters = {}
    for counter in queried["counters"]:
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
    seconds = {}
    for distribution in queried["distributions"]:
        name = distribution.key.metric.name.removesuffix("_ms")
        seconds[name] = seconds.get(name, 0.0) + distribution.committed.sum / 1000.0
    return counters, seconds


def _relative_cost(task: TrainTask, config: BuildConfig) -> float:
    """A rough training cost for ordering: α² · ρ² · epochs (MACs scale so, eq. 5.3)."""
    epochs = config.training.master_epochs if task.role == "master" else config.training.epochs
    weight = 8.0 if task.role == "master" else 1.0  # the master's architecture is far deeper
    return weight * task.spec.alpha**2 * task.spec.resolution**2 * epochs


def balanced_order(tasks: list[TrainTask], workers: int, config: BuildConfig) -> list[TrainTask]:
    """Orders tasks so that a round-robin deal to ``workers`` gives each a similar total cost.

    The DirectRunner deals a Create's elements round-robin across its worker processes; here the
    tasks are first assigned greedily (largest first, to the least-loaded worker that still has room
    for its share of the count) and then interleaved, so the deal reproduces that assignment. On other
    runners the order is harmless.
    """
    if workers <= 1 or len(tasks) <= 1:
        return list(tasks)
    ordered = sorted(tasks, key=lambda t: (-_relative_cost(t, config), t.name))
    capacity = -(-len(tasks) // workers)
    groups: list[list[TrainTask]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for task in ordered:
        candidates = [w for w in range(workers) if len(groups[w]) < capacity]
        target = min(candidates, key=lambda w: (loads[w], w))
        groups[target].append(task)
        loads[target] += _relative_cost(task, config)
    groups.sort(key=len, reverse=True)  # the deal gives the extra elements to the first workers
    return [groups[w][i] for i in range(capacity) for w in range(workers) if i < len(groups[w])]


def _section(section: Any) -> dict:
    """A config section as the JSON its cache keys hash."""
    return json.loads(json.dumps(asdict(section), default=str))


def _element(kind: str, key: str | None, item: str, value: Any) -> dict:
    return {"kind": kind, "key": key, "item": item, "value": value}


class _StageDoFn(beam.DoFn):
    """Runs one cached stage task per element of its kinds; passes other elements through.

    An exception becomes a dead-letter element (kind ``failed``), not a crash.
    """

    stage = "stage"
    kinds: tuple[str, ...] = ()

    def __init__(self, context: BuildContext):
        self.context = context
        self.failures = Metrics.counter("mmnet", f"{self.stage}_failures")
        self.completed = Metrics.counter("mmnet", f"{self.stage}_completed")
        self.cache_hits = Metrics.counter("mmnet", f"{self.stage}_cache_hits")
        self.milliseconds = Metrics.distribution("mmnet", f"{self.stage}_ms")

    def setup(self) -> None:
        workers = self.context.config.beam.workers()
        if workers > 1:
            from mmnet.pipeline._tf import limit_threads

            threads = max(1, (os.cpu_count() or 1) // workers)
            if not limit_threads(threads):
                log.warning("TensorFlow was already running in worker %d; its thread pools stay unlimited", os.getpid())

    def handles(self, element: dict) -> bool:
        return element["kind"] in self.kinds

    def tasks(self, element: dict) -> Iterable[tuple[str, str, Any]]:
        """(item name, cache key, task) for each task the element asks for; one by default."""
        raise NotImplementedError

    def compute(self, task: Any, directory: Path, prepared: PreparedData, info: dict) -> Any:
        """Runs the task, writing its files into ``directory``; returns its JSON record."""
        raise NotImplementedError

    def output(self, task: Any, key: str, item: str, record: Any) -> dict:
        raise NotImplementedError

    def summary(self, record: Any) -> str:
        return ""

    def replay(self, element: dict) -> list[tuple[str, str, dict]] | None:
        """(item, key, output) of every task ``element`` asks for, all from the cache; None on any miss."""
        if not self.handles(element):
            return [("", "", element)]
        cache = self.context.cache()
        outputs = []
        for item, key, task in self.tasks(element):
            entry = cache.lookup(self.stage, key)
            if entry is None:
                return None
            outputs.append((item, key, self.output(task, key, item, entry.record)))
        return outputs

    def process(self, element: dict):
        if not self.handles(element):
            yield element
            return
        prepared = PreparedData.from_json(self.context.prepared)
        cache = self.context.cache()
        for item, key, task in self.tasks(element):
            started = time.monotonic()
            try:
                with stage_task(self.context.events_dir, self.stage, item) as info:
                    entry = cache.get_or_compute(self.stage, key,
                                                 lambda directory, task=task: self.compute(task, directory, prepared, info))
                    info["cached"] = entry.hit
                    info["key"] = key
                    info["summary"] = self.summary(entry.record)
            except Exception as e:  # dead letter: recorded in the manifest, counted, logged
                self.failures.inc()
                log.error("%s failed for %s: %s: %s", self.stage, item, type(e).__name__, e)
                yield _element(FAILED, None, item, {"variant": item, "stage": self.stage, "error": f"{type(e).__name__}: {e}"})
                continue
            self.completed.inc()
            if entry.hit:
                self.cache_hits.inc()
            self.milliseconds.update(int(1000 * (time.monotonic() - started)))
            yield self.output(task, key, item, entry.record)


def _train_inputs(task: TrainTask, context: BuildContext) -> dict:
    return {"prepared": context.prepared_key, "variant": task.spec.name, "role": task.role, "teacher": task.teacher_key,
            "keep_initial": context.config.compression.applies_to(task.name, task.role)}


def train_key(task: TrainTask, context: BuildContext) -> str:
    return context.key("train", _section(context.config.training), _train_inputs(task, context))


class TrainDoFn(_StageDoFn):
    stage = "train"
    kinds = ("train_task",)

    def tasks(self, element: dict):
        task: TrainTask = element["value"]
        yield task.name, train_key(task, self.context), task

    def compute(self, task: TrainTask, directory: Path, prepared: PreparedData, info: dict) -> dict:
        teacher = None
        if task.role == "minion" and task.teacher_path:
            with np.load(task.teacher_path) as data:
                teacher = {name: data[name] for name in ("train", "val")}
        trained = train_variant(
            task.spec,
            role=task.role,
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            config=self.context.config.training,
            out_dir=directory,
            teacher=teacher,
            keep_initial=self.context.config.compression.applies_to(task.name, task.role),
        )
        return trained.to_json()

    def summary(self, record: dict) -> str:
        return f"val {100 * record['keras_val_accuracy']:.1f}% after {record['epochs_run']} epochs"

    def output(self, task: TrainTask, key: str, item: str, record: dict) -> dict:
        return _element("trained", key, item, record)


class TeacherDoFn(_StageDoFn):
    """The master's probabilities on train and val frames, saved for distillation."""

    stage = "teacher"
    kinds = ("trained",)

    def tasks(self, element: dict):
        yield element["item"], teacher_key(element["key"], self.context), element["value"]

    def compute(self, trained_json: dict, directory: Path, prepared: PreparedData, info: dict) -> dict:
        trained = TrainedModel.from_json(trained_json)
        splits = load_prepared_splits(prepared)
        spec = prepared.spec()
        model = load_keras_model(trained.keras_path)
        mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
        outputs = {}
        for name in ("train", "val"):
            x = (model_inputs(getattr(splits, name).frames, spec, trained.resolution) - mean) / std
            outputs[name] = model.predict(x, batch_size=256, verbose=0)
        path = directory / "teacher.npz"
        np.savez(path, **outputs)
        return {"path": str(path)}

    def output(self, task: dict, key: str, item: str, record: dict) -> dict:
        return _element("teacher", key, item, record)


def teacher_key(master_key: str, context: BuildContext) -> str:
    return context.key("teacher", None, {"master": master_key})


class CompressDoFn(_StageDoFn):
    stage = "compress"
    kinds = ("trained",)

    def handles(self, element: dict) -> bool:  # models trained here; imported ones ship as they came
        trained = element["value"]
        return element["kind"] == "trained" and trained["source"] == "trained" and _compressed(trained, self.context.config)

    def tasks(self, element: dict):
        config = self.context.config
        key = self.context.key("compress", {"compression": _section(config.compression), "seed": config.training.seed},
                               {"trained": element["key"]})
        yield element["item"], key, element["value"]

    def compute(self, trained: dict, directory: Path, prepared: PreparedData, info: dict) -> dict:
        from mmnet.pipeline.pruning.compress import compress_trained

        config = self.context.config
        compressed = compress_trained(
            TrainedModel.from_json(trained),
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            config=config.compression,
            seed=config.training.seed,
            out_dir=directory,
        )
        return compressed.to_json()

    def summary(self, record: dict) -> str:
        return (f"{self.context.config.compression.method}: {100 * record['compression']['sparsity']:.1f}% of kernel "
                f"weights removed, val {100 * record['keras_val_accuracy']:.1f}%")

    def output(self, task: dict, key: str, item: str, record: dict) -> dict:
        return _element("trained", key, item, record)


def _compressed(trained: dict, config: BuildConfig) -> bool:
    return config.compression.applies_to(trained["variant"], trained["role"])


class SieveDoFn(_StageDoFn):
    """The master's SIEVE models: one task per master, whose output (kind ``sieve_models``) export
    turns into one float32 artifact per model. The master itself goes on to export as well."""

    stage = "sieve"
    kinds = ("trained",)

    def handles(self, element: dict) -> bool:
        return element["kind"] == "trained" and element["value"]["role"] == "master"

    def tasks(self, element: dict):
        key = self.context.key("sieve", _section(self.context.config.sieve),
                               {"master": element["key"], "prepared": self.context.prepared_key})
        yield element["item"], key, element["value"]

    def compute(self, master: dict, directory: Path, prepared: PreparedData, info: dict) -> dict:
        from mmnet.pipeline.sieve.stage import build_sieve_models

        made = build_sieve_models(TrainedModel.from_json(master), splits=load_prepared_splits(prepared),
                                  preprocessing=prepared.spec(), config=self.context.config.sieve, out_dir=directory)
        return {"models": [model.to_json() for model in made]}

    def summary(self, record: dict) -> str:
        return ", ".join(f"{m['sieve']['model']} {m['sieve']['avg_bits_per_weight']:.2f} bits/weight "
                         f"val {100 * m['keras_val_accuracy']:.1f}%" for m in record["models"])

    def output(self, master: dict, key: str, item: str, record: dict) -> dict:
        return _element("sieve_models", key, item, record["models"])

    def replay(self, element: dict):
        outputs = super().replay(element)
        if outputs is None or not self.handles(element):
            return outputs
        return [("", "", element), *outputs]

    def process(self, element: dict):
        if self.handles(element):
            yield element
        yield from super().process(element)


class ImportDoFn(_StageDoFn):
    stage = "import"
    kinds = ("import_task",)

    def tasks(self, element: dict):
        task: ImportTask = element["value"]
        key = self.context.key("import", None, {"prepared": self.context.prepared_key, "name": task.name, "role": task.role,
                                                "model": path_fingerprint(task.path)})
        yield task.name, key, task

    def compute(self, task: ImportTask, directory: Path, prepared: PreparedData, info: dict) -> dict:
        return import_model(task, splits=load_prepared_splits(prepared), preprocessing=prepared.spec(), out_dir=directory)

    def summary(self, record: dict) -> str:
        return f"as {record['kind']}"

    def output(self, task: ImportTask, key: str, item: str, record: dict) -> dict:
        kind = "trained" if record["kind"] == "keras" else "artifact"  # a .tflite import goes straight to evaluation
        return _element(kind, key, item, record["record"])


class ExportDoFn(_StageDoFn):
    stage = "export"
    kinds = ("trained", "sieve_models")

    def tasks(self, element: dict):
        config = self.context.config
        sections = {"export": _section(config.export), "training": _section(config.training)}
        if element["kind"] == "sieve_models":
            # A SIEVE model only as float32: its values are already in their formats, which float16 or
            # int8 would round again.
            for model in element["value"]:
                key = self.context.key("export", sections, {"sieve": element["key"], "model": model["variant"],
                                                            "precision": "float32"})
                yield f"{model['variant']}-float32", key, (model, "float32")
            return
        for precision in config.export.precisions:
            key = self.context.key("export", sections, {"trained": element["key"], "precision": precision})
            yield f"{element['item']}-{precision}", key, (element["value"], precision)

    def compute(self, task: tuple[dict, str], directory: Path, prepared: PreparedData, info: dict) -> dict:
        trained, precision = task
        artifact = export_artifact(
            TrainedModel.from_json(trained),
            precision,
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            export=self.context.config.export,
            training=self.context.config.training,
            out_dir=directory,
        )
        return artifact.to_json()

    def summary(self, record: dict) -> str:
        return f"{record['bytes'] / 1024:.0f} KiB"

    def output(self, task: tuple[dict, str], key: str, item: str, record: dict) -> dict:
        # The trained model's record as this build found it (its paths are this machine's).
        return _element("artifact", key, record["artifact_id"], {**record, "trained": task[0]})


class EvaluateDoFn(_StageDoFn):
    stage = "evaluate"
    kinds = ("artifact",)

    def tasks(self, element: dict):
        key = self.context.key("evaluate", _section(self.context.config.export),
                               {"artifact": element["key"], "prepared": self.context.prepared_key})
        yield element["value"]["artifact_id"], key, element["value"]

    def compute(self, artifact: dict, directory: Path, prepared: PreparedData, info: dict) -> dict:
        record = evaluate_artifact(
            ExportedArtifact.from_json(artifact),
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            export=self.context.config.export,
            out_dir=directory,
        )
        return {"record": record, "probabilities_path": str(directory / f"{artifact['artifact_id']}.npz")}

    def summary(self, record: dict) -> str:
        evaluated = record["record"]
        return f"val {100 * evaluated['metrics']['val_accuracy']:.1f}% {'blessed' if evaluated['blessed'] else 'REJECTED'}"

    def output(self, artifact: dict, key: str, item: str, record: dict) -> dict:
        # the Keras model it was exported from (None for an imported .tflite): SIEVE packing reads its kernels
        keras_path = artifact["trained"]["keras_path"] if "trained" in artifact else None
        return _element("evaluated", key, item, {**record, "artifact_path": artifact["path"], "keras_path": keras_path})


def collect_results(elements: Iterable[dict | None]) -> dict:
    """The evaluated artifacts and the dead letters, each item once (a recomputing runner may repeat them).

    An item that failed in one attempt and succeeded in another counts as succeeded.
    """
    evaluated: dict[str, dict] = {}
    failures: dict[tuple[str, str], dict] = {}
    for element in elements:
        if element is None:  # the start marker: there is always one group, even with nothing to collect
            continue
        if element["kind"] == "evaluated":
            evaluated.setdefault(element["item"], element)
        elif element["kind"] == FAILED:
            failures.setdefault((element["value"]["stage"], element["item"]), element["value"])
        else:
            raise BuildError(f"collect: an element of kind {element['kind']!r} ({element['item']}) reached the end of the build")
    succeeded = set(evaluated)
    kept = [f for (stage, item), f in sorted(failures.items()) if not (stage == "evaluate" and item in succeeded)]
    return {"evaluated": [evaluated[k] for k in sorted(evaluated)], "failures": kept}


def _cached_whole_build_stage(context: BuildContext, stage: str, item: str, config: Any, inputs: Any, compute) -> Any:
    cache = context.cache()
    with stage_task(context.events_dir, stage, item) as info:
        entry = cache.get_or_compute(stage, context.key(stage, config, inputs), compute)
        info["cached"] = entry.hit
        info["key"] = entry.key
    return entry.record


def measure_stage(collected: dict, context: BuildContext) -> dict:
    """Host latency of every evaluated artifact, serially, once per set of artifacts."""
    keys = sorted(e["key"] for e in collected["evaluated"])
    items = [e["value"] for e in collected["evaluated"]]
    export = context.config.export

    def measure(directory: Path) -> dict:
        return {item["record"]["id"]: item["record"]["host_latency_ms"] for item in measure_host_latency(items, export)}

    settings = {"runs": export.latency_runs, "warmup": export.latency_warmup}
    item_name = f"{len(items)} artifacts"
    latency = _cached_whole_build_stage(context, "host_latency", item_name, settings, {"evaluated": keys}, measure)
    measured = [{**item, "record": {**item["record"], "host_latency_ms": latency[item["record"]["id"]]}} for item in items]
    return {**collected, "evaluated": measured, "evaluated_keys": keys}


def fit_latency_model(measured: dict, context: BuildContext) -> dict:
    """The per-layer latency regression, evaluated on the build's whole models (never fitted on them).

    Runs serially after host latency so its single-layer timings see the same quiet machine. A
    failure is a dead letter: the bundle is still written, without the regression's report.
    """
    if not context.config.runtime.latency_model:
        return {**measured, "latency_model": None}
    from mmnet.pipeline.latency_model.config import LatencyModelConfig
    from mmnet.pipeline.latency_model.stage import build_latency_model

    held_out = [
        (item["record"]["id"], item["artifact_path"], item["record"]["host_latency_ms"]["median"])
        for item in measured["evaluated"]
        if item["record"]["blessed"] and item["record"]["host_latency_ms"]["xnnpack"]
    ]
    try:
        result = _cached_whole_build_stage(
            context, "latency_model", "per-layer regression", None, {"evaluated": measured["evaluated_keys"]},
            lambda directory: build_latency_model(LatencyModelConfig(), directory, held_out))
    except Exception as e:  # dead letter, like any other stage task
        log.error("latency model failed: %s: %s", type(e).__name__, e)
        failure = {"variant": "latency_model", "stage": "latency_model", "error": f"{type(e).__name__}: {e}"}
        return {**measured, "latency_model": None, "failures": measured["failures"] + [failure]}
    return {**measured, "latency_model": result}


def write_bundle(fitted: dict, context: BuildContext, build_info: dict) -> str:
    return str(assemble_bundle(
        config=context.config, work_dir=Path(context.work_dir), prepared=PreparedData.from_json(context.prepared),
        evaluated=fitted["evaluated"], failures=fitted["failures"], build_info=build_info,
        latency_model=fitted["latency_model"], signing_key=context.signing_key, baseline=context.baseline,
        tolerances=context.tolerances))


def _train_tasks(config: BuildConfig) -> tuple[list[TrainTask], list[TrainTask]]:
    masters = [] if config.master.import_path else [TrainTask(config.master.variant(), "master")]
    minions = [TrainTask(spec, "minion") for spec in config.minions.variants()]
    return masters, minions


def _import_tasks(config: BuildConfig) -> list[ImportTask]:
    tasks = [ImportTask(path=m.path, name=m.name, role="minion") for m in config.minions.imported]
    if config.master.import_path:
        tasks.insert(0, ImportTask(path=config.master.import_path, name="master-imported", role="master"))
    return tasks


def build_teacher_graph(pipeline: beam.Pipeline, context: BuildContext, master: TrainTask) -> None:
    """Distillation's first graph: the master, then its soft labels (both cached stages)."""
    (
        pipeline
        | "Master task" >> beam.Create([_element("train_task", None, master.name, master)])
        | "Train master" >> beam.ParDo(TrainDoFn(context))
        | "Teacher soft labels" >> beam.ParDo(TeacherDoFn(context))
    )


def _stage_fns(context: BuildContext) -> list[_StageDoFn]:
    """The graph's stage transforms, in order."""
    stages = [TrainDoFn(context), ImportDoFn(context)]
    if context.config.compression.enabled:
        stages.append(CompressDoFn(context))
    if context.config.sieve.enabled:
        stages.append(SieveDoFn(context))
    return stages + [ExportDoFn(context), EvaluateDoFn(context)]


def _first_elements(context: BuildContext, train_tasks: list[TrainTask]) -> list[dict]:
    return ([_element("train_task", None, t.name, t) for t in train_tasks]
            + [_element("import_task", None, t.name, t) for t in _import_tasks(context.config)])


def replay_from_cache(context: BuildContext, train_tasks: list[TrainTask]) -> list[dict] | None:
    """The fan-out stages' results when every one of their tasks is cached (each recorded as a hit); else None.

    A rebuild with nothing changed then starts no Beam graph (whose workers take longer to start
    than the lookups take) and only runs the serial tail: host latency, latency model (both cached)
    and the bundle.
    """
    elements = _first_elements(context, train_tasks)
    hits = []
    for stage in _stage_fns(context):
        replayed = [stage.replay(element) for element in elements]
        if any(r is None for r in replayed):
            return None
        hits += [(stage.stage, item, key) for outputs in replayed for item, key, _ in outputs if key]
        elements = [output for outputs in replayed for _, _, output in outputs]
    for stage, item, key in hits:
        with stage_task(context.events_dir, stage, item) as info:
            info.update(cached=True, key=key)
    return elements


def build_tail(elements: list[dict], context: BuildContext, build_info: dict) -> str:
    """The serial end of the build on results found in the cache (no Beam graph)."""
    measured = measure_stage(collect_results(elements), context)
    return write_bundle(fit_latency_model(measured, context), context, build_info)


def build_graph(pipeline: beam.Pipeline, context: BuildContext, build_info: dict, train_tasks: list[TrainTask]) -> None:
    """Adds the whole build to ``pipeline``; the last transform writes the bundle."""
    config = context.config
    tasks = _first_elements(context, train_tasks)
    results = (
        pipeline
        | "Tasks" >> beam.Create(tasks)
        | "Train models" >> beam.ParDo(TrainDoFn(context))
        | "Import models" >> beam.ParDo(ImportDoFn(context))
    )
    if config.compression.enabled:
        results = results | "Compress" >> beam.ParDo(CompressDoFn(context))
    if config.sieve.enabled:
        results = results | "SIEVE models" >> beam.ParDo(SieveDoFn(context))
    results = (
        results
        | "Export TFLite" >> beam.ParDo(ExportDoFn(context))
        | "Evaluate TFLite" >> beam.ParDo(EvaluateDoFn(context))
        | "Key results" >> beam.Map(lambda element: (_COLLECT_KEY, element))
    )
    start = pipeline | "Start" >> beam.Create([(_COLLECT_KEY, None)])
    (
        (start, results)
        | "All results" >> beam.Flatten()
        | "Collect results" >> beam.GroupByKey()
        | "Deduplicate" >> beam.MapTuple(lambda _, elements: collect_results(elements))
        | "Measure host latency" >> beam.Map(measure_stage, context=context)
        | "Fit latency model" >> beam.Map(fit_latency_model, context=context)
        | "Write bundle" >> beam.Map(write_bundle, context=context, build_info=build_info)
    )


def _effective_runner(args: list[str]) -> str:
    runners = [a.split("=", 1)[1] for a in args if a.startswith("--runner=")]
    return runners[-1] if runners else "DirectRunner"


def beam_args(config: BuildConfig, extra_args: Iterable[str] = ()) -> list[str]:
    """Beam flags: the runner, DirectRunner parallelism, then config and command-line pass-through.

    On the Dask runner each task is a partition of its own (``--dask_partition_size=1``) unless the
    flags say otherwise: its default packs up to 128 elements into one partition, which would train
    the whole grid on one worker.
    """
    args = [f"--runner={config.beam.runner}"]
    if config.beam.runner in ("DirectRunner", "direct"):
        workers = config.beam.workers()
        mode = "multi_processing" if workers > 1 else "in_memory"
        # Worker processes log every gRPC channel at INFO; their warnings and errors go to the build log.
        args += [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}", "--default_sdk_harness_log_level=WARNING"]
    args += list(config.beam.options) + list(extra_args)
    partitioned = any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in args)
    if _effective_runner(args).endswith("DaskRunner") and not partitioned:
        args.append("--dask_partition_size=1")
    return args


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "apache-beam", "ai-edge-litert", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def work_dir_for(out_dir: Path, work_dir: Path | None = None) -> Path:
    """The build's work dir: ``work_dir`` if given, else ``<out parent>/.<out name>.work``."""
    out_dir = Path(out_dir).resolve()
    return Path(work_dir).resolve() if work_dir else out_dir.parent / f".{out_dir.name}.work"


# The stage cache's folder inside the work dir (the default cache root).
CACHE_DIR = "stages"


def clear_run_state(work_dir: Path) -> None:
    """Removes an earlier run's progress events and loose files; the stage cache and the build log stay."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for entry in work_dir.iterdir():
        if entry.name in (BUILD_LOG, CACHE_DIR):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def build_lock(out_dir: Path) -> Iterator[None]:
    """One build at a time per bundle directory: a second one is refused, not interleaved.

    The lock is an ``flock`` on ``<out parent>/.<out name>.lock``, so the kernel releases it when the
    holder dies (kill -9 included) and a rerun never finds a stale lock.
    """
    path = out_dir.parent / f".{out_dir.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BuildLockedError(f"{out_dir}: another build is writing this bundle ({holder}); "
                                   f"wait for it to finish or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {platform.node()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(config: BuildConfig, work_dir: Path, cache: StageCache, code: dict) -> tuple[dict, str]:
    """The data split, as a cached stage run by the launcher: every task then carries its record."""
    scheme, target = parse_source(config.dataset.source)
    on_disk = target if scheme not in ("builtin", "tfds") else None  # a folder, .npz or TFRecord: its files are inputs
    sources = [p for p in (on_disk, config.master.import_path) if p and Path(str(p)).exists()]
    key = stage_key("prepare", code["prepare"], {"dataset": _section(config.dataset),
                                                  "preprocessing": _section(config.preprocessing),
                                                  "trains": config.trains, "master_import": config.master.import_path},
                    {"files": [path_fingerprint(p) for p in sources]})
    try:
        with stage_task(work_dir / "events", "prepare", config.dataset.source) as info:
            entry = cache.get_or_compute("prepare", key, lambda directory: prepare_data(config, directory).to_json())
            info["cached"] = entry.hit
            info["key"] = key
            info["summary"] = f"{sum(entry.record['sizes'].values())} frames, fingerprint {entry.record['fingerprint'][:12]}"
    except MmnetError as e:  # the same error, saying which step met it
        raise type(e)(f"'Prepare data' failed: {type(e).__name__}: {e}") from e
    return entry.record, key


def _run_pipeline(args: list[str], add_graph):
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    add_graph(pipeline)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except MmnetError:
        raise
    except Exception as e:
        log.error("the Beam pipeline failed", exc_info=True)
        raise BuildError(pipeline_failure(_root_message(e))) from e
    return result


def cache_statistics(events_dir: Path) -> dict[str, dict[str, int]]:
    """Per stage: distinct items done, cache hits, and runs (tasks computed, duplicates included)."""
    stats: dict[str, dict] = {}
    for event in read_events(events_dir):
        if event["state"] != "done" or "cached" not in event:
            continue
        stage = stats.setdefault(event["stage"], {"items": set(), "hits": 0, "misses": 0})
        stage["items"].add(event["item"])
        stage["hits" if event["cached"] else "misses"] += 1
    order = sorted(stats, key=lambda name: (STAGES.index(name) if name in STAGES else len(STAGES), name))
    return {name: {"items": len(stats[name]["items"]), "hits": stats[name]["hits"], "misses": stats[name]["misses"]}
            for name in order}


def run_build(
    config: BuildConfig,
    out_dir: Path,
    *,
    work_dir: Path | None = None,
    cache_root: str | None = None,
    force: Iterable[str] = (),
    extra_beam_args: Iterable[str] = (),
    progress: bool = True,
    console: TextIO | None = None,
    signing_key: str | Path | None = None,
    compare_to: str | Path | None = None,
    tolerances: Tolerances | None = None,
) -> BuildResult:
    """Runs the whole pipeline and returns the published bundle's manifest, signed with
    ``signing_key`` (an Ed25519 private key PEM, ``mmnet keygen``) when given.

    ``work_dir`` (see :func:`work_dir_for`) holds the progress events and the build log;
    ``cache_root`` (a local path or an fsspec URL every worker can reach; default ``<work>/stages``)
    holds the stage outputs, reused by key across runs. ``force`` names stages (:data:`STAGES`) to
    re-run with every stage after them. Progress lines go to ``console`` (default stderr). With
    ``compare_to`` (a previous bundle, read before anything is built: it may be ``out_dir`` itself) the
    new bundle is gated against it with ``tolerances`` (default :class:`Tolerances`) once it verifies;
    the result's ``comparison`` holds the report, which the bundle's report folder holds too.
    """
    started = time.monotonic()
    check_inputs_exist(config)
    force = tuple(force)
    for stage in force:
        if stage not in STAGES:
            raise ConfigError(f"--force: unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    if signing_key is not None:
        load_private_key(signing_key)  # a bad key fails before any work, not after it
        signing_key = str(Path(signing_key).resolve())
    out_dir = Path(out_dir).resolve()
    work_dir = work_dir_for(out_dir, work_dir)
    with build_lock(out_dir):
        clear_run_state(work_dir)
        cache = StageCache(cache_root or work_dir / CACHE_DIR)
        if force:
            first = min(STAGES.index(stage) for stage in force)
            removed = cache.forget(STAGES[first:])
            log.info("--force %s: removed %d cached entries of %s", ",".join(force), removed, ", ".join(STAGES[first:]))
        removed = cache.remove_temporaries()
        for staging in out_dir.parent.glob(f".{out_dir.name}.staging-*"):  # a bundle whose build was killed
            shutil.rmtree(staging, ignore_errors=True)
            removed += 1
        if removed:
            log.info("removed %d half-written outputs of an earlier, interrupted build", removed)
        baseline = None if compare_to is None else read_snapshot(compare_to, "--compare: the previous bundle")
        gate = (baseline, tolerances or Tolerances()) if baseline is not None else (None, None)
        return _run_build(config, out_dir, work_dir, cache, extra_beam_args, progress, console, signing_key, gate,
                          started)


def _run_build(config, out_dir, work_dir, cache, extra_beam_args, progress, console, signing_key, gate,
               started) -> BuildResult:
    code = {stage: code_version(__name__, *modules) for stage, modules in _STAGE_CODE.items()}
    events_dir = work_dir / "events"
    args = beam_args(config, extra_beam_args)
    masters, minions = _train_tasks(config)
    imports = _import_tasks(config)
    tflite_imports = sum(1 for t in imports if t.path.endswith(".tflite"))
    exports = (len(masters) + len(minions) + len(imports) - tflite_imports) * len(config.export.precisions)
    totals = {"prepare": 1, "train": len(masters) + len(minions), "import": len(imports), "export": exports,
              "evaluate": exports + tflite_imports, "host_latency": 1,
              "latency_model": int(config.runtime.latency_model), "configure": 1}
    distilled = config.training.distillation.enabled and bool(masters)
    if distilled:
        totals["teacher"] = 1
    if config.compression.enabled:
        totals["compress"] = sum(config.compression.applies_to(t.name, t.role) for t in masters + minions)
    if config.sieve.enabled:
        totals["sieve"] = 1
        totals["export"] += len(config.sieve.models)
        totals["evaluate"] += len(config.sieve.models)

    prepared, prepared_key = _prepare(config, work_dir, cache, code)
    context = BuildContext(config=config, work_dir=str(work_dir), cache_root=cache.root, prepared=prepared,
                           prepared_key=prepared_key, code=code, signing_key=signing_key, baseline=gate[0],
                           tolerances=gate[1])
    build_info = {
        "config": config.to_json(),
        "git_commit": _git_commit(),
        "runner": _effective_runner(args),
        "beam_args": args,
        "tool_versions": _tool_versions(),
        "out_dir": str(out_dir),
        "started_unix": time.time(),
    }
    with ProgressMonitor(events_dir, totals, stream=console) if progress else nullcontext():
        if distilled:
            # The minions learn from the master's soft labels: a first graph trains the master and saves them,
            # unless they are cached already.
            labels_key = teacher_key(train_key(masters[0], context), context)
            teacher = cache.lookup("teacher", labels_key)
            if teacher is None:
                _run_pipeline(args, lambda p: build_teacher_graph(p, context, masters[0]))
                teacher = cache.lookup("teacher", labels_key)
            else:
                with stage_task(events_dir, "teacher", masters[0].name) as info:
                    info.update(cached=True, key=labels_key)
            if teacher is None:
                failures = [e for e in read_events(events_dir) if e["state"] == "failed"]
                why = f"{failures[-1]['stage']} failed: {failures[-1]['error']}" if failures else "see the build log"
                raise BuildError(f"distillation: the master's soft labels were not produced ({why})")
            minions = [replace(t, teacher_key=teacher.key, teacher_path=teacher.record["path"]) for t in minions]
        tasks = balanced_order(masters + minions, config.beam.workers(), config)
        cached = replay_from_cache(context, tasks)
        if cached is None:
            result = _run_pipeline(args, lambda p: build_graph(p, context, build_info, tasks))
        else:
            build_tail(cached, context, build_info)
            result = None
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise BuildError(f"the pipeline finished but wrote no bundle at {out_dir}; see {work_dir}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    counters, stage_seconds = _mmnet_metrics(result) if result is not None else ({}, {})
    return BuildResult(bundle_dir=out_dir, manifest=manifest, failures=manifest["failures"],
                       duration_s=round(time.monotonic() - started, 1), counters=counters, stage_seconds=stage_seconds,
                       cache=cache_statistics(events_dir), **_comparison(out_dir, manifest, work_dir, gate[0]))


def _comparison(out_dir: Path, manifest: dict, work_dir: Path, baseline: BundleSnapshot | None) -> dict:
    """The regression gate's report of the bundle just built (:func:`mmnet.pipeline.bundle.gate_bundle`) and its folder."""
    if baseline is None:
        return {}
    if "report" in manifest:
        folder = out_dir / Path(manifest["report"]["index"]["file"]).parent
    else:
        folder = work_dir / COMPARE_DIR
    return {"comparison": read_json(folder / COMPARE_JSON, "the regression gate's report", BuildError),
            "comparison_dir": folder}


def check_inputs_exist(config: BuildConfig) -> None:
    """Fails before any worker starts when a dataset or model path is missing."""
    config.dataset.check_paths()
    config.runtime.check_paths()
    for task in _import_tasks(config):
        if not Path(task.path).exists():
            field = "master.import" if task.role == "master" else f"minions.imported ({task.name})"
            raise ConfigError(f"{field}: path does not exist: {task.path}")


_MESSAGE_LIMIT = 300  # a worker's message can hold whole records; the console gets its start, the log all of it


def _root_message(error: BaseException) -> str:
    """Beam wraps worker exceptions in layers; the innermost message's last line is the useful one."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    line = text[-1] if text else type(error).__name__
    if not text or not _WORKER_ERROR.match(line.strip()):
        line = f"{type(error).__name__}: {line}"
    return line if len(line) <= _MESSAGE_LIMIT else line[:_MESSAGE_LIMIT] + " … (the rest in the build log)"


# A worker's error as Beam reports it: "package.module.DataError: what [while running 'Prepare data']".
_WORKER_ERROR = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?P<type>[A-Za-z_]\w*): (?P<what>.*?)"
                           r"(?: \[while running '(?P<stage>[^']+)'\])?$")


def pipeline_failure(message: str) -> str:
    """One readable line from a Beam worker's last error line: the transform, the error type, what."""
    match = _WORKER_ERROR.match(message.strip())
    if match is None:
        return f"the Beam pipeline failed: {message.strip()}"
    where = f"'{match['stage']}'" if match["stage"] else "the Beam pipeline"
    return f"{where} failed: {match['type']}: {match['what']}"
