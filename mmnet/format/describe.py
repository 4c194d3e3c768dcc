"""Human-readable summary of a loaded bundle (``mmnet inspect``)."""

from __future__ import annotations

from collections.abc import Sequence

from mmnet.format.bundle import Bundle, ModelRecord
from mmnet.format.multi_dsnn import MultiDsnnSystem

__all__ = ["format_bundle_summary", "format_runtime_config", "format_multi_dsnn"]

_MODEL_HEADERS = (
    "id", "role", "precision", "KB", "params", "MMACs", "val %", "test %", "host ms", "blessed"
)
# Text columns are left-aligned, numbers right-aligned; the last column is free text.
_MODEL_ALIGN = ("<", "<", "<", ">", ">", ">", ">", ">", ">", "<")


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]
) -> list[str]:
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [
            cell if i == len(row) - 1 else f"{cell:{align[i]}{widths[i]}}"
            for i, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}"


def _model_row(model: ModelRecord) -> list[str]:
    latency = model.host_latency_ms
    return [
        model.id,
        model.role,
        model.precision,
        f"{model.bytes / 1024:.1f}",
        str(model.params),
        f"{model.macs / 1e6:.2f}",
        _percent(model.val_accuracy),
        _percent(model.test_accuracy),
        "-" if latency is None else f"{latency['median']:.2f}",
        f"{'✓' if model.blessed else '✗'} {model.reason}",
    ]


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def format_bundle_summary(bundle: Bundle) -> str:
    """Plain-text summary: dataset, preprocessing, models (master first, then by MACs),
    failures, runtime config and what was verified."""
    m = bundle.manifest
    dataset = m["dataset"]
    splits = dataset["splits"]
    spec = bundle.preprocessing
    fingerprint = dataset["fingerprint"]
    lines = [
        f"Bundle {m['name']}  ({bundle.path})",
        f"  schema {m['schema_version']}, mmnet {m['mmnet_version']}, created {m['created_utc']}",
        f"Dataset: {dataset['source']}, fingerprint {fingerprint[:len('sha256:') + 12]}..., "
        f"{dataset['num_classes']} classes, frames {_shape(dataset['frame_shape'])}",
        f"  splits: train {splits['train']}, val {splits['val']}, test {splits['test']} "
        f"(split seed {dataset['split_seed']})",
        f"Preprocessing: frames {_shape(spec.frame_shape)} uint8, "
        f"mean {[round(v, 3) for v in spec.mean]}, std {[round(v, 3) for v in spec.std]}, "
        f"resize {spec.resize_method}",
    ]
    models = sorted(bundle.models, key=lambda r: (r.role != "master", r.macs, r.id))
    shipped = sum(1 for r in models if r.shipped)
    lines.append(f"Models ({len(models)}, {shipped} shipped):")
    if models:
        lines += _table(_MODEL_HEADERS, [_model_row(r) for r in models], _MODEL_ALIGN)
    else:
        lines.append("  none")
    failures = m["failures"]
    lines.append(f"Failures ({len(failures)}):")
    if failures:
        lines += _table(
            ("variant", "stage", "error"),
            [(f["variant"], f["stage"], f["error"]) for f in failures],
            ("<", "<", "<"),
        )
    else:
        lines.append("  none")
    runtime = m["runtime_config"]
    if runtime is None or bundle.runtime_config is None:
        lines.append("Runtime config: not present")
    else:
        lines.append(f"Runtime config: {runtime['file']} ({runtime['bytes']} bytes)")
        lines += format_runtime_config(bundle.runtime_config.document)
    if bundle.multi_dsnn is not None:
        lines += format_multi_dsnn(bundle.multi_dsnn)
    if "report" in m:
        lines.append(f"Report: {m['report']['index']['file']}, model card: {m['report']['model_card']['file']}")
    signature = "" if bundle.signed_by is None else f", signature by trusted key {bundle.signed_by}"
    lines.append(f"verified: schema OK, {len(bundle.checksummed_files)} files checksummed{signature}")
    return "\n".join(lines)


def format_runtime_config(doc: dict) -> list[str]:
    """The chosen system per network profile and mode, where the master runs, and why."""
    master = doc["master"]
    agreement = doc["reference"] == "master"
    measure = "agreement with the master" if agreement else "accuracy"
    lines = [
        f"  master {master['model']}: val {_percent(master['val_accuracy'])}%, test {_percent(master['test_accuracy'])}%"
        + ("  (unlabeled calibration: accuracies are agreement with the master)" if agreement else ""),
        f"  targets: normal {_percent(doc['targets']['normal'])}%, power-saving {_percent(doc['targets']['power_saving'])}% "
        f"of the master's {measure}; minions run {doc['minion_execution']}ly; "
        f"device: {doc['device_profile']['name']} ({doc['device_profile']['kind']})",
    ]
    rows = []
    for profile, modes in doc["selection"].items():
        placement = doc["placement"][profile]
        for mode, chosen in modes.items():
            expected = chosen["expected"]
            rows.append([
                profile, mode, chosen["system"], chosen["placement"], f"{expected['latency_ms']:.3f}",
                f"{expected['energy_mj']:.3f}", _percent(expected["recovery_rate"]), _percent(expected["accuracy"]),
                _percent(expected["test_recovery_rate"]), _percent(expected["test_accuracy"]), chosen["why"],
            ])
        lines.append(f"  {profile}: master on device {placement['device_ms']:.3f} ms vs cloud {placement['cloud_ms']:.2f} ms"
                     f" -> {placement['choice']}")
    headers = ("profile", "mode", "system", "master", "ms", "mJ", "P_r %", "val %", "test P_r %", "test %", "why")
    lines += _table(headers, rows, ("<", "<", "<", "<", ">", ">", ">", ">", ">", ">", "<"))
    return lines


def format_multi_dsnn(system: MultiDsnnSystem) -> list[str]:
    """The multi-dsNN: its case, the selector tree, each part's dsNN and the build-time measurements."""
    doc = system.document
    tree = system.selector
    metrics = doc["metrics"]
    pre = doc["preprocessor"]
    lines = [
        f"multi-dsNN ({doc['case'].upper()} case) replacing {doc['monolithic']}: "
        f"{doc['features']['count']} features from the {doc['features']['source']}"
        + (f" ({pre['file']}, {pre['macs'] / 1e6:.3f} MMACs)" if pre else ""),
        f"  selector {doc['selector']['file']}: depth {tree.depth}, {tree.leaf_count} leaves, parts {list(tree.parts)}",
    ]
    rows = [[d["part"], str(d["hidden"]), str(d["macs"]), str(d["params"]), d["file"]] for d in doc["dsnns"]]
    lines += _table(("part", "hidden", "MACs", "params", "file"), rows, ("<", "<", ">", ">", "<"))
    if "test_accuracy" in metrics and "mean_macs" in metrics:
        lines.append(f"  build: test accuracy {_percent(metrics['test_accuracy'])}% (monolithic "
                     f"{_percent(metrics.get('monolithic_test_accuracy'))}%), mean MACs {metrics['mean_macs']:.0f} "
                     f"({_percent(metrics.get('macs_normalized'))}% of the monolithic network)")
    return lines
