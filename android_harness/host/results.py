"""From the app's result.json to (a) the harness result document and (b) a device profile.

The harness result (schema ``harness_result``, version 1.0) follows MLPerf Mobile's result layout —
``meta``, ``build_info``, ``environment_info``, one ``results`` entry per model with its
``backend_settings`` and ``performance_run`` — and adds what M&MNet needs: energy per inference and
where it comes from, preprocessing time, thermal state, and system statistics (hybrid vs
mobile-only vs cloud-only). The device profile (``mmnet.format.device_profile``) is what
``mmnet configure --device-profile`` pairs and places from. Pure functions over plain dicts.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.device_profile import (
    DEFAULT_HOST_POWER_W,
    ComputePower,
    DeviceInfo,
    DeviceProfile,
    ModelTiming,
    ProfileSource,
)
from mmnet.format.documents import write_json_atomic
from mmnet.format.errors import ConfigError
from mmnet.harness.errors import ResultError
from mmnet.harness.protocol import PROTOCOL_VERSION, RunRequest, check_app_result, validate_host_document

__all__ = [
    "HARNESS_RESULT_SCHEMA_VERSION",
    "TOOL",
    "RunContext",
    "latency_stats",
    "harness_result",
    "write_harness_result",
    "device_profile_from_result",
    "format_harness_table",
]

HARNESS_RESULT_SCHEMA_VERSION = "1.0"
TOOL = "mmnet harness (mmnet.harness)"


@dataclass(frozen=True)
class RunContext:
    """What the host knows about a run beyond result.json.

    ``request`` is None when converting a result without its request; ``serial`` and
    ``host_power_source`` are None offline. ``trace_root`` is the folder the result's ``traces/``
    paths are relative to (the pulled run folder); ``out_dir`` is where the harness result goes.
    """

    bundle_id: str
    manifest_sha256: str
    source: str
    trace_root: Path
    out_dir: Path
    request: RunRequest | None = None
    serial: str | None = None
    host_power_source: str | None = None


def latency_stats(samples: Iterable[float]) -> dict[str, Any] | None:
    """count, mean, median, p90, p99, min, max, std (ms) of ``samples``; None when there are none.

    Percentiles interpolate linearly between samples; std is the sample standard deviation (0 for one).
    """
    values = np.asarray(list(samples), dtype=np.float64)
    if values.size == 0:
        return None
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "median": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "min": float(values.min()),
        "max": float(values.max()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
    }


def _utc(text: str | None) -> str | None:
    """An ISO-8601 time as ``YYYY-MM-DDTHH:MM:SS(.fff)Z`` in UTC; None when it cannot be read."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _records(manifest: dict[str, Any], app_result: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """The manifest record of every model in the result; ResultError for a model the bundle does not ship."""
    by_id = {m["id"]: m for m in manifest["models"]}
    records = {}
    for i, model in enumerate(app_result["models"]):
        record = by_id.get(model["model_id"])
        if record is None or record.get("file") is None:
            shipped = sorted(m["id"] for m in manifest["models"] if m.get("file"))
            raise ResultError(f"{source}: $.models[{i}].model_id {model['model_id']!r} is not a model bundle "
                              f"{manifest['name']!r} ships; expected one of {shipped}")
        records[model["model_id"]] = record
    return records


def _system_stats(entry: dict[str, Any] | None, context: RunContext, warnings: list[str]) -> dict[str, Any] | None:
    if entry is None:
        return None
    trace = None
    if entry["trace"] is not None:
        pulled = context.trace_root / entry["trace"]
        if pulled.is_file():
            trace = Path(os.path.relpath(pulled, context.out_dir)).as_posix()
        else:
            warnings.append(f"trace {entry['trace']} named by the result was not found at {pulled}")
    return {
        "frames": entry["frames"],
        "accuracy": entry["accuracy"],
        "recovery_rate": entry["recovery_rate"],
        "latency_ms": latency_stats(entry["latency_ms"]),
        "path_counts": dict(entry["path_counts"]),
        "trace": trace,
    }


def _settings_json(request: RunRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    doc = request.to_json()
    return {key: doc[key] for key in ("models", "delegate", "threads", "warmup_runs", "runs", "duration_s",
                                      "frame_interval_ms", "energy", "thermal")}


def harness_result(
    app_result: dict[str, Any],
    manifest: dict[str, Any],
    context: RunContext,
    *,
    creation_date: str | None = None,
    run_uuid: str | None = None,
) -> dict[str, Any]:
    """The harness result document of ``app_result`` (checked against the protocol first)."""
    check_app_result(app_result, source=context.source,
                     run_id=None if context.request is None else context.request.run_id)
    records = _records(manifest, app_result, context.source)
    env = app_result["environment"]
    warnings = list(env["warnings"])
    if env["charging"]:
        warnings.append("the phone was charging during the run: the fuel gauge's current includes the charge current, "
                        "so fuel-gauge energies are unreliable (run on battery, e.g. adb over Wi-Fi)")
    if context.host_power_source not in (None, "battery"):
        warnings.append(f"before the run the phone was powered over {context.host_power_source} (dumpsys battery): "
                        "fuel-gauge energies include the charge current; power-monitor rails are unaffected")
    limit = None if context.request is None else context.request.settings.thermal.max_status
    requested = () if context.request is None else context.request.settings.models
    missing = [m for m in requested if m not in records]
    if missing:
        warnings.append(f"the app returned no result for requested models {missing}")

    results, statuses, over_limit, cooldown = [], [], [], 0.0
    for model in app_result["models"]:
        model_id = model["model_id"]
        record = records[model_id]
        matches = None if model["sha256"] is None else model["sha256"] == record["sha256"]
        if matches is False:
            warnings.append(f"model {model_id}: the app ran a file with sha256 {model['sha256'][:12]}…, but the bundle "
                            f"ships {record['sha256'][:12]}… (a stale push?); its numbers are not this bundle's")
        # A packed SIEVE model runs as the flatbuffer the app unpacked: its packing spec names that one's sha256.
        tflite_sha256 = model.get("tflite_sha256")
        packing = record.get("packing")
        expected_tflite = record["sha256"] if packing is None else packing["tflite_sha256"]
        if tflite_sha256 is not None and tflite_sha256 != expected_tflite:
            warnings.append(f"model {model_id}: the app ran a flatbuffer with sha256 {tflite_sha256[:12]}…, but the "
                            f"bundle's {'packing spec' if packing else 'file'} says {expected_tflite[:12]}…; its numbers "
                            "are not this bundle's")
        energy = dict(model["energy"])
        measured = energy["mj_per_inference"] is not None and energy["source"] is not None
        if not measured:
            note = f" ({energy['note']})" if energy["note"] else ""
            warnings.append(f"model {model_id}: energy not measured{note}")
        thermal = model["thermal"]
        statuses += [s for s in (thermal["status_before"], thermal["status_after"]) if s is not None]
        cooldown += thermal["cooldown_waited_s"]
        if limit is not None and thermal["status_after"] is not None and thermal["status_after"] > limit:
            over_limit.append(model_id)
            warnings.append(f"model {model_id}: thermal status {thermal['status_after']} at the end, above the limit "
                            f"{limit}: the phone may have throttled")
        stats = latency_stats(model["latencies_ms"])
        results.append({
            "model_id": model_id,
            "role": record["role"],
            "variant": record["variant"],
            "resolution": record["resolution"],
            "precision": record["precision"],
            "sha256": model["sha256"],
            "sha256_matches_bundle": matches,
            "tflite_sha256": tflite_sha256,
            "backend_settings": {"delegate": model["delegate"], "threads": model["threads"]},
            "performance_run": {
                "latency_ms": stats,
                "throughput_ips": 1000.0 / stats["mean"] if stats["mean"] > 0 else None,
                "start_datetime": model["started_utc"],
                "end_datetime": model["ended_utc"],
            },
            "preprocessing_ms": latency_stats(model["preprocessing_ms"]),
            "energy": {"measured": measured, **energy},
            "thermal": dict(thermal),
        })

    system = None
    if app_result["system"] is not None:
        sys_doc = app_result["system"]
        requested_system = None if context.request is None else context.request.system
        system = {
            "network": None if requested_system is None else requested_system.network,
            "master_url": None if requested_system is None else requested_system.master_url,
            "frame_interval_ms": None if requested_system is None else requested_system.frame_interval_ms,
            "hybrid": {mode: _system_stats(entry, context, warnings) for mode, entry in sys_doc["modes"].items()},
            "mobile_only": _system_stats(sys_doc["mobile_only"], context, warnings),
            "cloud_only": _system_stats(sys_doc["cloud_only"], context, warnings),
        }

    device, app = app_result["device"], app_result["app"]
    doc = {
        "schema_version": HARNESS_RESULT_SCHEMA_VERSION,
        "meta": {
            "uuid": run_uuid or str(uuid_module.uuid4()),
            "run_id": app_result["run_id"],
            "kind": app_result["kind"],
            "creation_date": creation_date or _now_utc(),
            "protocol_version": PROTOCOL_VERSION,
            "tool": TOOL,
            "source": context.source,
        },
        "bundle": {"name": manifest["name"], "bundle_id": context.bundle_id, "manifest_sha256": context.manifest_sha256},
        "build_info": {
            "mmnet_version": _mmnet_version(),
            "app_version_name": app["version_name"],
            "app_version_code": app["version_code"],
            "litert_version": app["litert_version"],
        },
        "environment_info": {
            "platform": "android",
            "device": {**{k: device[k] for k in ("manufacturer", "model", "device", "sdk_int", "release",
                                                 "soc_manufacturer", "soc_model", "abis", "cpu_cores", "fingerprint")},
                       "serial": context.serial},
            "battery": {"charging": env["charging"], "level": env["battery_level"], "temp_c": env["battery_temp_c"],
                        "host_power_source": context.host_power_source},
            "warnings": warnings,
        },
        "settings": _settings_json(context.request),
        "results": results,
        "thermal": {"max_status": max(statuses) if statuses else None, "cooldown_waited_s": cooldown,
                    "models_over_limit": over_limit},
        "system": system,
    }
    validate_host_document(doc, "harness_result", source="harness result")
    return doc


def _mmnet_version() -> str:
    from mmnet.format.version import __version__

    return __version__


def write_harness_result(doc: dict[str, Any], path: str | Path) -> Path:
    """Validate ``doc`` and write it atomically to ``path``; nothing is written when it is invalid."""
    path = Path(path)
    validate_host_document(doc, "harness_result", source=str(path))
    return write_json_atomic(doc, path)


def _device_name(device: dict[str, Any]) -> str:
    manufacturer, model = device["manufacturer"], device["model"]
    return model if model.lower().startswith(manufacturer.lower()) else f"{manufacturer} {model}"


def device_profile_from_result(doc: dict[str, Any], *, created_utc: str | None = None) -> DeviceProfile:
    """The device profile of a harness result document (from :func:`harness_result`).

    Models are keyed by their bundle ids and carry the sha256 of the file the app ran. A model's
    energy is ``measured`` when the phone measured it; ``compute_power_w`` is the median over models
    of active minus idle-baseline power when the phone measured both, else the assumed default.
    Preprocessing time per input resolution is the median over that resolution's models.
    """
    if not doc["results"]:
        raise ResultError(f"run {doc['meta']['run_id']} measured no model, so it gives no device profile")
    device = doc["environment_info"]["device"]
    models, powers, sources, prep = {}, [], set(), {}
    for result in doc["results"]:
        stats, energy = result["performance_run"]["latency_ms"], result["energy"]
        try:
            models[result["model_id"]] = ModelTiming(
                median_ms=stats["median"], p90_ms=stats["p90"], mean_ms=stats["mean"], runs=stats["count"],
                min_ms=stats["min"],
                energy_mj=energy["mj_per_inference"] if energy["measured"] else None,
                energy_source="measured" if energy["measured"] else None,
                sha256=result["sha256"], delegate=result["backend_settings"]["delegate"],
                threads=result["backend_settings"]["threads"],
            )
        except ConfigError as e:
            raise ResultError(f"model {result['model_id']}: {e}") from e
        if energy["active_mw"] is not None and energy["idle_baseline_mw"] is not None:
            if energy["active_mw"] > energy["idle_baseline_mw"]:
                powers.append((energy["active_mw"] - energy["idle_baseline_mw"]) / 1000.0)
                sources.add(energy["source"] or "unnamed source")
        if result["preprocessing_ms"] is not None:
            prep.setdefault(result["resolution"], []).append(result["preprocessing_ms"]["median"])
    name = _device_name(device)
    if powers:
        power = ComputePower(
            value_w=float(np.median(powers)), measured=True,
            source=(f"measured on {name}: median over {len(powers)} models of active minus idle-baseline power "
                    f"({', '.join(sorted(sources))})"),
        )
    else:
        power = ComputePower(
            value_w=DEFAULT_HOST_POWER_W, measured=False,
            source=(f"assumed, not measured: {DEFAULT_HOST_POWER_W:g} W, a typical active power of a phone's big CPU "
                    f"cores; {name} reported no active and idle power for any model"),
        )
    soc = " ".join(p for p in (device["soc_manufacturer"], device["soc_model"]) if p) or None
    settings = doc["settings"]
    run = f"run {doc['meta']['run_id']} of bundle {doc['bundle']['name']} ({doc['bundle']['bundle_id']})"
    if settings is not None:
        amount = f"{settings['runs']} runs" if settings["runs"] is not None else f"{settings['duration_s']:g} s"
        pace = "" if settings["frame_interval_ms"] is None else f", one run every {settings['frame_interval_ms']:g} ms"
        run += f", {settings['delegate']} x{settings['threads']} threads, {amount} after {settings['warmup_runs']} warm-up{pace}"
    notes = f"{run}; app {doc['build_info']['app_version_name']}, LiteRT {doc['build_info']['litert_version'] or '?'}"
    warnings = doc["environment_info"]["warnings"]
    if warnings:
        notes += "; warnings: " + " | ".join(warnings)
    ended = sorted(filter(None, (_utc(r["performance_run"]["end_datetime"]) for r in doc["results"])))
    return DeviceProfile(
        device=DeviceInfo(
            name=name, kind="android", manufacturer=device["manufacturer"], model=device["model"],
            os=f"Android {device['release'] or '?'} (SDK {device['sdk_int']})", soc=soc, cpu_cores=device["cpu_cores"],
        ),
        source=ProfileSource(tool=TOOL, created_utc=created_utc or (ended[-1] if ended else _now_utc()), notes=notes),
        compute_power=power,
        models=models,
        preprocessing={res: float(np.median(values)) for res, values in prep.items()},
    )


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _pct(fraction: float | None, spec: str) -> str:
    return "-" if fraction is None else f"{100 * fraction:{spec}}%"


def format_harness_table(doc: dict[str, Any]) -> str:
    """A readable summary: device, settings, per-model latency/energy/thermal, system runs, warnings."""
    device = doc["environment_info"]["device"]
    soc = " ".join(p for p in (device["soc_manufacturer"], device["soc_model"]) if p) or "SoC ?"
    lines = [f"{_device_name(device)} ({soc}, Android {device['release'] or '?'} / SDK {device['sdk_int']}) — "
             f"{doc['meta']['kind']} run {doc['meta']['run_id']} of {doc['bundle']['name']}"]
    if doc["results"]:
        width = max(len("model"), *(len(r["model_id"]) for r in doc["results"]))
        lines.append(f"{'model':<{width}}  {'role':<6} {'res':>4} {'backend':<11} {'runs':>5} {'median':>8} {'p90':>8} "
                     f"{'p99':>8} {'std':>7} {'prep':>6} {'mJ/inf':>8} {'energy':<13} thermal")
        for r in doc["results"]:
            s, e, t = r["performance_run"]["latency_ms"], r["energy"], r["thermal"]
            backend = f"{r['backend_settings']['delegate']} x{r['backend_settings']['threads']}"
            prep = None if r["preprocessing_ms"] is None else r["preprocessing_ms"]["median"]
            thermal = f"{_fmt(t['status_before'], 'd')}->{_fmt(t['status_after'], 'd')}"
            lines.append(f"{r['model_id']:<{width}}  {r['role']:<6} {r['resolution']:>4} {backend:<11} {s['count']:>5} "
                         f"{s['median']:>8.3f} {s['p90']:>8.3f} {s['p99']:>8.3f} {s['std']:>7.3f} {_fmt(prep, '.3f'):>6} "
                         f"{_fmt(e['mj_per_inference'], '.3f'):>8} {e['source'] or 'not measured':<13} {thermal}")
        lines.append("latency in ms per inference (batch 1); prep: frame preprocessing median ms")
    if doc["system"] is not None:
        system = doc["system"]
        lines.append(f"system runs (network {system['network'] or '?'}"
                     + (f", master {system['master_url']}" if system["master_url"] else "") + "):")
        lines.append(f"  {'system':<22} {'frames':>6} {'accuracy':>9} {'P_r':>7} {'median':>8} {'p90':>8}  paths")
        rows = [(f"hybrid {mode}", stats) for mode, stats in system["hybrid"].items()]
        rows += [(name.replace("_", "-"), system[name]) for name in ("mobile_only", "cloud_only") if system[name]]
        for name, stats in rows:
            latency = stats["latency_ms"] or {}
            paths = ", ".join(f"{k} {v}" for k, v in sorted(stats["path_counts"].items()))
            lines.append(f"  {name:<22} {stats['frames']:>6} {_pct(stats['accuracy'], '.2f'):>9} "
                         f"{_pct(stats['recovery_rate'], '.1f'):>7} "
                         f"{_fmt(latency.get('median'), '.2f'):>8} {_fmt(latency.get('p90'), '.2f'):>8}  {paths}")
    thermal = doc["thermal"]
    lines.append(f"thermal: max status {_fmt(thermal['max_status'], 'd')}, waited {thermal['cooldown_waited_s']:.0f} s "
                 "to cool down")
    for warning in doc["environment_info"]["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
