"""Bundle stage: assemble the manifest and publish the bundle atomically.

Everything is written into a staging directory beside the destination, validated by the runtime's
own loader (schema and checksums), signed when a key is given, then swapped into place — a crash
never leaves a half bundle that looks complete. Only blessed artifacts are shipped; rejected ones
keep their record (``file: null``) with the numbers that rejected them. Every file the manifest
references, the report's plots included, carries its sha256.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from mmnet.format.bundle import (
    MANIFEST_SCHEMA_VERSION,
    Bundle,
    load_bundle,
    publish_bundle,
    sha256_file,
    sign_bundle,
    write_manifest,
)
from mmnet.format.compare import BundleSnapshot, Tolerances, compare_snapshots, read_snapshot, write_comparison
from mmnet.format.errors import BundleError, MmnetError
from mmnet.format.signing import SIGNATURE_FILE, load_private_key
from mmnet.format.version import __version__
from mmnet.pipeline.config import BuildConfig, RuntimeSettings
from mmnet.pipeline.configure import build_configuration, write_configuration
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.prepare import PreparedData, load_prepared_splits
from mmnet.pipeline.progress import stage_task
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess

__all__ = ["COMPARE_DIR", "BuildError", "assemble_bundle", "attach_configuration", "agreement", "bundle_probabilities",
           "gate_bundle", "reconfigure_bundle"]

logger = logging.getLogger(__name__)

_PRECISION_ORDER = {"float32": 0, "float16": 1, "int8": 2}
# Where the regression gate's report goes when the bundle has no report folder (its runtime config failed).
COMPARE_DIR = "compare"


class BuildError(MmnetError, RuntimeError):
    """The build could not produce a usable bundle (e.g. the master failed)."""


def agreement(probabilities: np.ndarray, reference: np.ndarray) -> float:
    """Share of inputs on which two models give the same top-1 class."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.argmax(reference, axis=1)))


def _write_split(staging: Path, name: str, frames: np.ndarray, labels: np.ndarray) -> dict:
    path = staging / "data" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, frames=frames, labels=labels)
    return {"file": f"data/{name}.npz", "sha256": sha256_file(path), "bytes": path.stat().st_size, "count": int(len(labels))}


def _load_probabilities(records: list[dict], paths: dict[str, Path]) -> dict[str, dict[str, np.ndarray]]:
    """Every artifact's TFLite probabilities on val and test, from the Evaluate stage's files (read once)."""
    probabilities = {}
    for record in records:
        with np.load(paths[record["id"]]) as arrays:
            probabilities[record["id"]] = {name: arrays[f"{name}_probabilities"] for name in ("val", "test")}
    return probabilities


def _add_agreement(records: list[dict], probabilities: dict[str, dict[str, np.ndarray]]) -> None:
    """Minion–master agreement on test, against the master's float32 artifact (else its first)."""
    masters = sorted((r for r in records if r["role"] == "master"), key=lambda r: _PRECISION_ORDER[r["precision"]])
    if not masters:
        return
    reference = probabilities[masters[0]["id"]]["test"]
    for record in records:
        record["metrics"]["agreement_with_master_test"] = agreement(probabilities[record["id"]]["test"], reference)


def assemble_bundle(
    *,
    config: BuildConfig,
    work_dir: Path,
    prepared: PreparedData,
    evaluated: list[dict],
    failures: list[dict],
    build_info: dict,
    latency_model: dict | None = None,
    signing_key: str | Path | None = None,
    baseline: BundleSnapshot | None = None,
    tolerances: Tolerances | None = None,
) -> Path:
    """Writes and publishes the bundle at ``build_info['out_dir']``; returns its path.

    The runtime config, report and model card are made here, inside the staging directory, so
    they are validated with the rest. If configuring fails, the bundle is still written, without a
    runtime config, and the failure is a dead letter of stage ``configure``. With ``signing_key``
    (an Ed25519 private key PEM) the manifest is signed before the bundle is published. With
    ``baseline`` (a previous bundle) the verified new bundle is compared with it (:func:`gate_bundle`).
    """
    if signing_key is not None:
        load_private_key(signing_key)  # a bad key fails now, not after the work
    out_dir = Path(build_info["out_dir"])
    records = [dict(item["record"]) for item in evaluated]
    paths = {item["record"]["id"]: Path(item["artifact_path"]) for item in evaluated}
    keras_paths = {item["record"]["id"]: item.get("keras_path") for item in evaluated}
    if not any(r["role"] == "master" for r in records):
        reasons = "; ".join(f"{f['stage']} {f['variant']}: {f['error']}" for f in failures) or "no master configured"
        raise BuildError(f"no master artifact was produced, so no bundle was written ({reasons})")
    if not any(r["role"] == "minion" for r in records):
        reasons = "; ".join(f"{f['stage']} {f['variant']}: {f['error']}" for f in failures)
        raise BuildError(f"no minion artifact was produced, so no bundle was written ({reasons})")
    probabilities = _load_probabilities(
        records, {item["record"]["id"]: Path(item["probabilities_path"]) for item in evaluated})
    _add_agreement(records, probabilities)
    records.sort(key=lambda r: (r["role"] != "master", r["macs"], r["variant"], _PRECISION_ORDER[r["precision"]]))

    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "models").mkdir(parents=True)
    try:
        failures = list(failures)
        for record in records:
            if record["blessed"]:
                relative = f"models/{record['id']}.tflite"
                if record.get("sieve") and "native" not in record["sieve"] and config.sieve.pack_weights:
                    relative = _ship_packed(record, paths[record["id"]], keras_paths[record["id"]], staging,
                                            failures) or relative
                if not (staging / relative).exists():
                    shutil.copyfile(paths[record["id"]], staging / relative)
                record["file"] = relative
        labels = list(prepared.class_names)
        (staging / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
        splits: Splits = load_prepared_splits(prepared)
        data = {name: _write_split(staging, name, getattr(splits, name).frames, getattr(splits, name).labels)
                for name in ("val", "test")}
        info = {k: v for k, v in build_info.items() if k not in ("out_dir", "started_unix")}
        info["config_sha256"] = _config_digest(info["config"])
        info["duration_s"] = round(time.time() - build_info["started_unix"], 1)
        info["latency_model"] = latency_model
        info["data"] = {"split_method": prepared.split_method, "labels_from": prepared.labels_from}
        info["counts"] = {
            "artifacts": len(records),
            "blessed": sum(r["blessed"] for r in records),
            "rejected": sum(not r["blessed"] for r in records),
            "failures": len(failures),
        }
        manifest = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "name": config.name,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "mmnet_version": __version__,
            "dataset": {
                "source": prepared.source,
                "fingerprint": prepared.fingerprint,
                "num_classes": len(labels),
                "frame_shape": list(prepared.frame_shape),
                "splits": dict(prepared.sizes),
                "split_seed": prepared.seed,
            },
            "preprocessing": prepared.preprocessing,
            "labels": labels,
            "labels_file": "labels.txt",
            "data": data,
            "models": records,
            "failures": sorted(failures, key=lambda f: (f["stage"], f["variant"])),
            "runtime_config": None,
            "build": info,
        }
        try:
            with stage_task(work_dir / "events", "configure", "runtime config + report") as progress:
                configuration = build_configuration(
                    config.runtime, manifest, {r["id"]: probabilities[r["id"]] for r in records if r["blessed"]},
                    {name: (getattr(splits, name).frames, getattr(splits, name).labels) for name in ("val", "test")},
                    latency_model=latency_model,
                )
                attach_configuration(manifest, staging, configuration)
                chosen = configuration.runtime_config["selection"][config.runtime.default_profile]["normal"]
                progress["summary"] = (f"{config.runtime.default_profile} normal: {chosen['system']}, "
                                       f"P_r {100 * chosen['expected']['recovery_rate']:.1f}%")
        except Exception as e:  # dead letter: the models are still worth shipping
            logger.error("configuring the runtime failed: %s: %s", type(e).__name__, e)
            manifest["failures"].append({"variant": "runtime_config", "stage": "configure", "error": f"{type(e).__name__}: {e}"})
            info["counts"]["failures"] += 1
        write_manifest(manifest, staging / "manifest.json")
        if baseline is not None:
            gate_bundle(staging, out_dir, manifest, baseline, tolerances or Tolerances(), work_dir)
        if signing_key is not None:
            sign_bundle(staging, signing_key)
        return publish_bundle(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def gate_bundle(staging: Path, out_dir: Path, manifest: dict, baseline: BundleSnapshot, tolerances: Tolerances,
                work_dir: Path) -> None:
    """The regression gate on the staged bundle, once it verifies: the comparison with ``baseline``
    goes into the bundle's report folder, checksummed by the manifest (so it is signed and published
    with the rest), or into ``<work dir>/compare/`` when the bundle has no report."""
    candidate = dataclasses.replace(read_snapshot(staging, "the new bundle"), path=str(out_dir))
    comparison = compare_snapshots(baseline, candidate, tolerances)
    if "report" not in manifest:
        (work_dir / COMPARE_DIR).mkdir(parents=True, exist_ok=True)
        write_comparison(comparison, work_dir / COMPARE_DIR)
    else:
        folder = Path(manifest["report"]["index"]["file"]).parent
        written = write_comparison(comparison, staging / folder)
        added = [_file_ref(staging, (folder / path.name).as_posix()) for path in written]
        manifest["report"]["files"] = sorted(manifest["report"]["files"] + added, key=lambda entry: entry["file"])
        write_manifest(manifest, staging / "manifest.json")
    logger.info("regression gate against %s: %s (%s)", baseline.path, comparison["verdict"],
                ", ".join(f"{n} {status}" for status, n in comparison["counts"].items()))


def _ship_packed(record: dict, tflite_path: Path, keras_path: str | None, staging: Path, failures: list[dict]) -> str | None:
    """Writes a SIEVE model's kernels packed at their widths (``models/<id>.packed``) and points its
    record at it; on failure (logged, a dead letter of stage ``pack``) returns None: the plain TFLite ships."""
    from mmnet.pipeline.sieve.stage import pack_sieve_artifact

    relative = f"models/{record['id']}.packed"
    try:
        if keras_path is None:
            raise OSError(f"no Keras model recorded for {record['id']}")
        container, spec = pack_sieve_artifact(tflite_path, keras_path, record["sieve"])
    except (MmnetError, OSError, ValueError) as e:
        logger.error("packing %s failed, shipping it unpacked: %s: %s", record["id"], type(e).__name__, e)
        failures.append({"variant": record["id"], "stage": "pack", "error": f"{type(e).__name__}: {e}"})
        return None
    (staging / relative).write_bytes(container)
    record.update(sha256=sha256_file(staging / relative), bytes=len(container), packing=spec)
    return relative


def _file_ref(root: Path, relative: str) -> dict:
    path = root / relative
    return {"file": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def attach_configuration(manifest: dict, bundle_dir: Path, configuration) -> None:
    """Writes runtime config, report and model card into ``bundle_dir`` and references them, each
    file of the report's folder (its plots too) with its sha256."""
    files = write_configuration(configuration, bundle_dir)
    if any(m.get("sieve") for m in manifest["models"]):
        from mmnet.pipeline.sieve.compare import comparison_markdown, sieve_comparison
        from mmnet.pipeline.sieve.report import pareto_from_manifest, plot_pareto

        comparison = sieve_comparison(manifest, configuration.runtime_config, list(configuration.systems))
        folder = (bundle_dir / files["index"]).parent
        page = comparison_markdown(comparison)
        for i, (doc, test_accuracy) in enumerate(pareto_from_manifest(manifest)):  # Fig 4.9 per master
            plot = plot_pareto(doc, folder / f"sieve_pareto{'' if i == 0 else f'_{i}'}.png", test_accuracy)
            page += f"\n![SIEVE models of {doc['model']}: stored bits vs accuracy (Fig 4.9)]({plot.name})\n"
        folder.joinpath("sieve_compare.md").write_text(page, encoding="utf-8")
    manifest["runtime_config"] = _file_ref(bundle_dir, files["runtime_config"])
    report = {name: _file_ref(bundle_dir, files[name]) for name in ("index", "model_card", "systems")}
    named = {files["index"], files["systems"]}
    folder = (bundle_dir / files["index"]).parent
    plots = sorted(p.relative_to(bundle_dir).as_posix() for p in folder.rglob("*") if p.is_file())
    report["files"] = [_file_ref(bundle_dir, relative) for relative in plots if relative not in named]
    manifest["report"] = report


def bundle_probabilities(bundle: Bundle) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Every shipped model's TFLite probabilities on the bundle's recorded val and test splits."""
    splits = {name: bundle.load_split(name) for name in ("val", "test")}
    probabilities = {}
    for record in bundle.models:
        if not record.shipped:
            continue
        xnnpack = record.metrics.get("xnnpack", True)
        classifier = TFLiteClassifier(bundle.model_path(record.id), num_threads=1, use_xnnpack=xnnpack)
        probabilities[record.id] = {name: classifier.predict(preprocess(frames, bundle.preprocessing, record.resolution))
                                    for name, (frames, _) in splits.items()}
    return probabilities, splits


def _refuse_links(bundle_dir: Path) -> None:
    """BundleError on a symbolic link anywhere in the bundle: republishing copies files, so a link
    would carry whatever it points at (outside the bundle too) into the shipped artifact."""
    for folder, dirs, files in os.walk(bundle_dir):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                raise BundleError(f"bundle {bundle_dir}: {path.relative_to(bundle_dir)} is a symbolic link (to "
                                  f"{os.readlink(path)}); expected regular files only")


def reconfigure_bundle(bundle_dir: str | Path, settings: RuntimeSettings, *, signing_key: str | Path | None = None) -> Path:
    """Re-runs calibration, thresholds and pairing on an existing bundle (e.g. with a phone's device
    profile) and republishes it atomically with the new runtime config and report.

    The new manifest invalidates the old signature, which is never carried over: the bundle is
    signed again with ``signing_key`` (an Ed25519 private key PEM), else published unsigned.
    """
    if signing_key is not None:
        load_private_key(signing_key)  # a bad key fails now, not after calibrating
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir, runtime_config=False)  # the old one may predate the current schema
    _refuse_links(bundle_dir)
    probabilities, splits = bundle_probabilities(bundle)
    manifest = json.loads(json.dumps(bundle.manifest))
    latency_model = manifest["build"].get("latency_model")
    configuration = build_configuration(settings, manifest, probabilities, splits, latency_model=latency_model)
    staging = bundle_dir.parent / f".{bundle_dir.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(bundle_dir, staging)
    try:
        for stale in ("report", "runtime_config.json", "model_card.md", SIGNATURE_FILE):
            target = staging / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        attach_configuration(manifest, staging, configuration)
        manifest["failures"] = [f for f in manifest["failures"] if f["stage"] != "configure"]
        if "counts" in manifest["build"]:  # the schema leaves `build` free-form; bundles built here have counts
            manifest["build"]["counts"]["failures"] = len(manifest["failures"])
        manifest["build"]["reconfigured_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        manifest["build"]["runtime_settings"] = _to_json(settings)
        write_manifest(manifest, staging / "manifest.json")
        if signing_key is not None:
            sign_bundle(staging, signing_key)
        return publish_bundle(staging, bundle_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _to_json(settings: RuntimeSettings) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(settings)))


def _config_digest(config_json: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(config_json, sort_keys=True).encode()).hexdigest()
