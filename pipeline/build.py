"""The build pipeline as Apache Beam transforms, and :func:`run_build` that runs it.

Graph (each box a labelled transform)::

    Prepare data ─► (side input to everything below)
    Train models ─► Compress ─┬─► Export TFLite ─► Evaluate TFLite ─┐
    Import models ────────────┴──────────────────► (tflite imports) ┴─► Collect ─► Measure host latency ─┬─► Write bundle
                                                                                    Fit latency model ◄───┘ (side input)

Write bundle also configures the runtime (:mod:`mmnet.pipeline.configure`: calibration, thresholds,
pairing) and writes ``runtime_config.json``, ``report/`` and ``model_card.md`` into the bundle.

SIEVE models (off unless ``sieve.enabled``) runs the per-layer format search on the master and adds
its exact / accurate / approximate models as float32 minions of family ``sieve`` to the models
exported and gated (:mod:`mmnet.pipeline.sieve.stage`); the bundle ships their kernels packed.

Compress (off unless ``compression.enabled``) prunes the trained models the ``compression`` section
selects and passes the others through, so export, the parity gate and the bundle see the pruned
model in place of the dense one.

Training, export and evaluation fan out over the variant grid. Every stage task that raises becomes a
dead-letter record (``failures`` in the manifest) and a Beam counter; the other variants go on. With
distillation on, the master is trained first in its own stage and its soft labels are a side input.
Host latency is measured in one serial stage after all training has finished, so the numbers are
taken on a quiet machine and are comparable with each other.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import AsSingleton, TaggedOutput

from mmnet.format.errors import ConfigError, MmnetError
from mmnet.format.signing import load_private_key
from mmnet.pipeline.buildlog import BUILD_LOG
from mmnet.pipeline.bundle import BuildError, assemble_bundle
from mmnet.pipeline.config import BuildConfig
from mmnet.pipeline.evaluate import evaluate_artifact
from mmnet.pipeline.export import ExportedArtifact, export_artifact
from mmnet.pipeline.imports import ImportTask, import_model
from mmnet.pipeline.latency import measure_host_latency
from mmnet.pipeline.prepare import PreparedData, load_prepared_splits, prepare_data
from mmnet.pipeline.progress import ProgressMonitor, stage_task
from mmnet.pipeline.train import TrainedModel, load_keras_model, model_inputs, train_variant
from mmnet.pipeline.zoo.spec import VariantSpec

__all__ = ["BuildError", "BuildResult", "TrainTask", "balanced_order", "beam_args", "build_graph", "check_inputs_exist",
           "clear_work_dir", "pipeline_failure", "run_build", "work_dir_for"]

log = logging.getLogger(__name__)

FAILED = "failed"


@dataclass(frozen=True)
class BuildContext:
    """What every stage task needs; small and picklable (it travels to the Beam workers)."""

    config: BuildConfig
    work_dir: str
    signing_key: str | None = None  # an Ed25519 private key PEM the bundle is signed with

    @property
    def events_dir(self) -> str:
        return os.path.join(self.work_dir, "events")

    def stage_dir(self, name: str) -> Path:
        return Path(self.work_dir) / name


@dataclass(frozen=True)
class TrainTask:
    spec: VariantSpec
    role: str

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class BuildResult:
    bundle_dir: Path
    manifest: dict
    failures: list[dict]
    duration_s: float
    counters: dict[str, int]  # the Beam "mmnet" counters: <stage>_completed, <stage>_failures
    stage_seconds: dict[str, float]  # the Beam "mmnet" <stage>_ms distributions, summed


def _mmnet_metrics(result) -> tuple[dict[str, int], dict[str, float]]:
    """The pipeline's own counters and timings, from whichever runner ran it."""
    try:
        queried = result.metrics().query(beam.metrics.MetricsFilter().with_namespace("mmnet"))
    except (AttributeError, NotImplementedError) as e:  # not every runner reports metrics
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


class _StageDoFn(beam.DoFn):
    """Runs one stage task per element; an exception becomes a dead-letter record, not a crash."""

    stage = "stage"

    def __init__(self, context: BuildContext):
        self.context = context
        self.failures = Metrics.counter("mmnet", f"{self.stage}_failures")
        self.completed = Metrics.counter("mmnet", f"{self.stage}_completed")
        self.milliseconds = Metrics.distribution("mmnet", f"{self.stage}_ms")

    def setup(self) -> None:
        workers = self.context.config.beam.workers()
        if workers > 1:
            from mmnet.pipeline._tf import limit_threads

            threads = max(1, (os.cpu_count() or 1) // workers)
            if not limit_threads(threads):
                log.warning("TensorFlow was already running in worker %d; its thread pools stay unlimited", os.getpid())

    def item_name(self, element) -> str:
        raise NotImplementedError

    def run(self, element, prepared: PreparedData, info: dict, *extra) -> Iterable[Any]:
        raise NotImplementedError

    def process(self, element, prepared_json: dict, *extra):
        prepared = PreparedData.from_json(prepared_json)
        item = self.item_name(element)
        started = time.monotonic()
        try:
            with stage_task(self.context.events_dir, self.stage, item) as info:
                outputs = list(self.run(element, prepared, info, *extra))
        except Exception as e:  # dead letter: recorded in the manifest, counted, logged
            self.failures.inc()
            log.error("%s failed for %s: %s: %s", self.stage, item, type(e).__name__, e)
            yield TaggedOutput(FAILED, {"variant": item, "stage": self.stage, "error": f"{type(e).__name__}: {e}"})
            return
        self.completed.inc()
        self.milliseconds.update(int(1000 * (time.monotonic() - started)))
        yield from outputs


class TrainDoFn(_StageDoFn):
    stage = "train"

    def item_name(self, task: TrainTask) -> str:
        return task.name

    def run(self, task: TrainTask, prepared: PreparedData, info: dict, teacher_path: str | None = None):
        teacher = None
        if task.role == "minion" and teacher_path:
            with np.load(teacher_path) as data:
                teacher = {name: data[name] for name in ("train", "val")}
        trained = train_variant(
            task.spec,
            role=task.role,
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            config=self.context.config.training,
            out_dir=self.context.stage_dir("trained") / task.name,
            teacher=teacher,
            keep_initial=self.context.config.compression.applies_to(task.name, task.role),
        )
        info["summary"] = f"val {100 * trained.keras_val_accuracy:.1f}% after {trained.epochs_run} epochs"
        yield trained.to_json()


class CompressDoFn(_StageDoFn):
    stage = "compress"

    def item_name(self, trained: dict) -> str:
        return trained["variant"]

    def run(self, trained: dict, prepared: PreparedData, info: dict):
        from mmnet.pipeline.pruning.compress import compress_trained

        config = self.context.config
        compressed = compress_trained(
            TrainedModel.from_json(trained),
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            config=config.compression,
            seed=config.training.seed,
            out_dir=self.context.stage_dir("pruned") / trained["variant"],
        )
        info["summary"] = (f"{config.compression.method}: {100 * compressed.compression['sparsity']:.1f}% of kernel "
                           f"weights removed, val {100 * compressed.keras_val_accuracy:.1f}%")
        yield compressed.to_json()


class SieveDoFn(_StageDoFn):
    stage = "sieve"

    def item_name(self, master: dict) -> str:
        return master["variant"]

    def run(self, master: dict, prepared: PreparedData, info: dict):
        from mmnet.pipeline.sieve.stage import build_sieve_models

        made = build_sieve_models(TrainedModel.from_json(master), splits=load_prepared_splits(prepared),
                                  preprocessing=prepared.spec(), config=self.context.config.sieve,
                                  out_dir=self.context.stage_dir("sieve"))
        info["summary"] = ", ".join(f"{m.sieve['model']} {m.sieve['avg_bits_per_weight']:.2f} bits/weight "
                                    f"val {100 * m.keras_val_accuracy:.1f}%" for m in made)
        for model in made:
            yield model.to_json()


def _export_precisions(trained: dict, precisions: tuple[str, ...]) -> list[tuple[dict, str]]:
    """Export tasks of a Keras model: every configured precision; a SIEVE model only float32 (its
    values are already in their formats; float16 or int8 would round them again)."""
    return [(trained, "float32")] if trained.get("sieve") else [(trained, p) for p in precisions]


def _compressed(trained: dict, config: BuildConfig) -> bool:
    return config.compression.applies_to(trained["variant"], trained["role"])


class ImportDoFn(_StageDoFn):
    stage = "import"

    def item_name(self, task: ImportTask) -> str:
        return task.name

    def run(self, task: ImportTask, prepared: PreparedData, info: dict):
        imported = import_model(task, splits=load_prepared_splits(prepared), preprocessing=prepared.spec(),
                                out_dir=self.context.stage_dir("imported"))
        info["summary"] = f"as {imported['kind']}"
        yield TaggedOutput(imported["kind"], imported["record"])


class ExportDoFn(_StageDoFn):
    stage = "export"

    def item_name(self, element: tuple[dict, str]) -> str:
        trained, precision = element
        return f"{trained['variant']}-{precision}"

    def run(self, element: tuple[dict, str], prepared: PreparedData, info: dict):
        trained, precision = element
        artifact = export_artifact(
            TrainedModel.from_json(trained),
            precision,
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            export=self.context.config.export,
            training=self.context.config.training,
            out_dir=self.context.stage_dir("tflite"),
        )
        info["summary"] = f"{artifact.bytes / 1024:.0f} KiB"
        yield artifact.to_json()


class EvaluateDoFn(_StageDoFn):
    stage = "evaluate"

    def item_name(self, artifact: dict) -> str:
        return artifact["artifact_id"]

    def run(self, artifact: dict, prepared: PreparedData, info: dict):
        record = evaluate_artifact(
            ExportedArtifact.from_json(artifact),
            splits=load_prepared_splits(prepared),
            preprocessing=prepared.spec(),
            export=self.context.config.export,
            out_dir=self.context.stage_dir("evaluations"),
        )
        info["summary"] = f"val {100 * record['metrics']['val_accuracy']:.1f}% {'blessed' if record['blessed'] else 'REJECTED'}"
        yield {"record": record, "artifact_path": artifact["path"]}


def _teacher_soft_labels(trained_json: dict, prepared_json: dict, work_dir: str) -> str:
    """The master's probabilities on train and val frames, saved for distillation."""
    prepared = PreparedData.from_json(prepared_json)
    trained = TrainedModel.from_json(trained_json)
    splits = load_prepared_splits(prepared)
    spec = prepared.spec()
    model = load_keras_model(trained.keras_path)
    mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
    outputs = {}
    for name in ("train", "val"):
        x = (model_inputs(getattr(splits, name).frames, spec, trained.resolution) - mean) / std
        outputs[name] = model.predict(x, batch_size=256, verbose=0)
    path = Path(work_dir) / "teacher.npz"
    np.savez(path, **outputs)
    return str(path)


def _train_tasks(config: BuildConfig) -> tuple[list[TrainTask], list[TrainTask]]:
    masters = [] if config.master.import_path else [TrainTask(config.master.variant(), "master")]
    minions = [TrainTask(spec, "minion") for spec in config.minions.variants()]
    return masters, minions


def _import_tasks(config: BuildConfig) -> list[ImportTask]:
    tasks = [ImportTask(path=m.path, name=m.name, role="minion") for m in config.minions.imported]
    if config.master.import_path:
        tasks.insert(0, ImportTask(path=config.master.import_path, name="master-imported", role="master"))
    return tasks


def build_graph(pipeline: beam.Pipeline, context: BuildContext, build_info: dict) -> None:
    """Adds the whole build to ``pipeline``; the last transform writes the bundle."""
    config = context.config
    workers = config.beam.workers()
    prepared = (
        pipeline
        | "Start" >> beam.Create([context])
        | "Prepare data" >> beam.Map(lambda ctx: prepare_data(ctx.config, Path(ctx.work_dir)).to_json())
    )
    data = AsSingleton(prepared)
    masters, minions = _train_tasks(config)
    dead_letters = []

    if config.training.distillation.enabled and masters:
        master_train = (
            pipeline
            | "Master task" >> beam.Create(masters)
            | "Train master" >> beam.ParDo(TrainDoFn(context), data).with_outputs(FAILED, main="trained")
        )
        teacher = master_train.trained | "Teacher soft labels" >> beam.Map(
            _teacher_soft_labels, prepared_json=data, work_dir=context.work_dir
        )
        minion_train = (
            pipeline
            | "Minion tasks" >> beam.Create(balanced_order(minions, workers, config))
            | "Train minions" >> beam.ParDo(TrainDoFn(context), data, AsSingleton(teacher)).with_outputs(FAILED, main="trained")
        )
        trained = (master_train.trained, minion_train.trained) | "All trained" >> beam.Flatten()
        dead_letters += [master_train[FAILED], minion_train[FAILED]]
    else:
        train = (
            pipeline
            | "Train tasks" >> beam.Create(balanced_order(masters + minions, workers, config))
            | "Train models" >> beam.ParDo(TrainDoFn(context), data).with_outputs(FAILED, main="trained")
        )
        trained = train.trained
        dead_letters.append(train[FAILED])

    if config.compression.enabled:
        to_compress = trained | "To compress" >> beam.Filter(_compressed, config=config)
        untouched = trained | "Not compressed" >> beam.Filter(lambda t, config: not _compressed(t, config), config=config)
        compressed = to_compress | "Compress" >> beam.ParDo(CompressDoFn(context), data).with_outputs(FAILED, main="trained")
        dead_letters.append(compressed[FAILED])
        trained = (untouched, compressed.trained) | "Trained or compressed" >> beam.Flatten()

    imported = (
        pipeline
        | "Import tasks" >> beam.Create(_import_tasks(config))
        | "Import models" >> beam.ParDo(ImportDoFn(context), data).with_outputs(FAILED, "keras", "tflite")
    )
    dead_letters.append(imported[FAILED])
    keras_models = (trained, imported.keras) | "Keras models" >> beam.Flatten()
    if config.sieve.enabled:
        sieve = (keras_models
                 | "Master for SIEVE" >> beam.Filter(lambda model: model["role"] == "master")
                 | "SIEVE models" >> beam.ParDo(SieveDoFn(context), data).with_outputs(FAILED, main="trained"))
        dead_letters.append(sieve[FAILED])
        keras_models = (keras_models, sieve.trained) | "With SIEVE models" >> beam.Flatten()

    exported = (
        keras_models
        | "Precisions" >> beam.FlatMap(_export_precisions, precisions=config.export.precisions)
        | "Export TFLite" >> beam.ParDo(ExportDoFn(context), data).with_outputs(FAILED, main="artifacts")
    )
    dead_letters.append(exported[FAILED])
    artifacts = (exported.artifacts, imported.tflite) | "All artifacts" >> beam.Flatten()
    evaluated = artifacts | "Evaluate TFLite" >> beam.ParDo(EvaluateDoFn(context), data).with_outputs(FAILED, main="records")
    dead_letters.append(evaluated[FAILED])

    records = evaluated.records | "Collect records" >> beam.combiners.ToList()
    failures = tuple(dead_letters) | "Dead letters" >> beam.Flatten() | "Collect failures" >> beam.combiners.ToList()
    measured = records | "Measure host latency" >> beam.Map(
        lambda evaluated, ctx: measure_host_latency(evaluated, ctx.config.export), ctx=context
    )
    latency_model = measured | "Fit latency model" >> beam.Map(fit_latency_model, ctx=context)
    (
        measured
        | "Write bundle" >> beam.Map(
            lambda evaluated, fails, prep, latency, ctx: str(assemble_bundle(
                config=ctx.config, work_dir=Path(ctx.work_dir), prepared=PreparedData.from_json(prep),
                evaluated=evaluated, failures=fails + latency["failures"], build_info=build_info,
                latency_model=latency["model"], signing_key=ctx.signing_key)),
            fails=AsSingleton(failures), prep=data, latency=AsSingleton(latency_model), ctx=context,
        )
    )


def fit_latency_model(measured: list[dict], ctx: BuildContext) -> dict:
    """The per-layer latency regression, evaluated on the build's whole models (never fitted on them).

    Runs serially after host latency so its single-layer timings see the same quiet machine. A
    failure is a dead letter: the bundle is still written, without the regression's report.
    """
    if not ctx.config.runtime.latency_model:
        return {"model": None, "failures": []}
    from mmnet.pipeline.latency_model.config import LatencyModelConfig
    from mmnet.pipeline.latency_model.stage import build_latency_model

    held_out = [
        (item["record"]["id"], item["artifact_path"], item["record"]["host_latency_ms"]["median"])
        for item in measured
        if item["record"]["blessed"] and item["record"]["host_latency_ms"]["xnnpack"]
    ]
    try:
        with stage_task(ctx.events_dir, "latency_model", "per-layer regression") as info:
            result = build_latency_model(LatencyModelConfig(), Path(ctx.work_dir) / "latency_model", held_out)
            info["summary"] = (f"{result['layer_samples']} layer timings; whole-model error "
                               f"{result['evaluation']['median_ape_pct']:.0f}% median on {len(held_out)} models")
    except Exception as e:  # dead letter, like any other stage task
        log.error("latency model failed: %s: %s", type(e).__name__, e)
        return {"model": None, "failures": [{"variant": "latency_model", "stage": "latency_model",
                                             "error": f"{type(e).__name__}: {e}"}]}
    return {"model": result, "failures": []}


def beam_args(config: BuildConfig, extra_args: Iterable[str] = ()) -> list[str]:
    """Beam flags: the runner, DirectRunner parallelism, then config and command-line pass-through."""
    args = [f"--runner={config.beam.runner}"]
    if config.beam.runner in ("DirectRunner", "direct"):
        workers = config.beam.workers()
        mode = "multi_processing" if workers > 1 else "in_memory"
        # Worker processes log every gRPC channel at INFO; their warnings and errors go to the build log.
        args += [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}", "--default_sdk_harness_log_level=WARNING"]
    return args + list(config.beam.options) + list(extra_args)


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


def clear_work_dir(work_dir: Path) -> None:
    """Removes an earlier build's artifacts; the build log, which this build may already be writing, stays."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for entry in work_dir.iterdir():
        if entry.name == BUILD_LOG:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def run_build(
    config: BuildConfig,
    out_dir: Path,
    *,
    work_dir: Path | None = None,
    extra_beam_args: Iterable[str] = (),
    progress: bool = True,
    console: TextIO | None = None,
    signing_key: str | Path | None = None,
) -> BuildResult:
    """Runs the whole pipeline and returns the published bundle's manifest, signed with
    ``signing_key`` (an Ed25519 private key PEM, ``mmnet keygen``) when given.

    ``work_dir`` (see :func:`work_dir_for`) holds the stage artifacts; it is emptied first (all but
    ``build.log``, which ``mmnet build`` writes during the build) so a build never mixes in artifacts
    of an earlier config. Progress lines go to ``console`` (default stderr).
    """
    started = time.monotonic()
    check_inputs_exist(config)
    if signing_key is not None:
        load_private_key(signing_key)  # a bad key fails before any work, not after it
        signing_key = str(Path(signing_key).resolve())
    out_dir = Path(out_dir).resolve()
    work_dir = work_dir_for(out_dir, work_dir)
    clear_work_dir(work_dir)
    context = BuildContext(config=config, work_dir=str(work_dir), signing_key=signing_key)
    args = beam_args(config, extra_beam_args)
    build_info = {
        "config": config.to_json(),
        "git_commit": _git_commit(),
        "runner": config.beam.runner,
        "beam_args": args,
        "tool_versions": _tool_versions(),
        "out_dir": str(out_dir),
        "started_unix": time.time(),
    }
    masters, minions = _train_tasks(config)
    imports = _import_tasks(config)
    tflite_imports = sum(1 for t in imports if t.path.endswith(".tflite"))
    exports = (len(masters) + len(minions) + len(imports) - tflite_imports) * len(config.export.precisions)
    totals = {"train": len(masters) + len(minions), "import": len(imports), "export": exports,
              "evaluate": exports + tflite_imports,
              "latency_model": int(config.runtime.latency_model), "configure": 1}
    if config.compression.enabled:
        totals["compress"] = sum(config.compression.applies_to(t.name, t.role) for t in masters + minions)
    if config.sieve.enabled:
        totals["sieve"] = 1
        totals["export"] += len(config.sieve.models)
        totals["evaluate"] += len(config.sieve.models)
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    build_graph(pipeline, context, build_info)
    try:
        if progress:
            with ProgressMonitor(Path(context.events_dir), totals, stream=console):
                result = pipeline.run()
                result.wait_until_finish()
        else:
            result = pipeline.run()
            result.wait_until_finish()
    except MmnetError:
        raise
    except Exception as e:
        raise BuildError(pipeline_failure(_root_message(e))) from e
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        raise BuildError(f"the pipeline finished but wrote no bundle at {out_dir}; see {work_dir}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    counters, stage_seconds = _mmnet_metrics(result)
    return BuildResult(bundle_dir=out_dir, manifest=manifest, failures=manifest["failures"],
                       duration_s=round(time.monotonic() - started, 1), counters=counters, stage_seconds=stage_seconds)


def check_inputs_exist(config: BuildConfig) -> None:
    """Fails before any worker starts when a dataset or model path is missing."""
    config.dataset.check_paths()
    config.runtime.check_paths()
    for task in _import_tasks(config):
        if not Path(task.path).exists():
            field = "master.import" if task.role == "master" else f"minions.imported ({task.name})"
            raise ConfigError(f"{field}: path does not exist: {task.path}")


def _root_message(error: BaseException) -> str:
    """Beam wraps worker exceptions in layers; the innermost message's last line is the useful one."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


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
