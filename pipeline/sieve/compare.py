"""SIEVE beside the other speculative models of a bundle, and the dissertation's numbers beside ours.

TF-free: reads the manifest, the runtime config and the report's ``systems.json`` (every candidate
system's outcomes, recovery rates and detector errors on test, computed by ``mmnet configure`` from the
deployed TFLite files). A system's *kind* comes from its minions' manifest records: ``sieve`` when its
one minion is a SIEVE model (record ``sieve``), ``int8-ptq`` for a one-minion int8 copy, else ``mmnet``.

Per system and network profile, the paper's comparison (§4.5): against cloud-only, the speculative
model on the device and the master in the cloud for the frames the detector sends there,
``L = L_spec + P_r × L_t`` and ``E = E_spec + P_r × E_t`` (``L_t``, ``E_t``: the runtime config's
cloud latency and energy for the profile), speed-up ``L_t / L`` and energy change ``E / E_t − 1``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER", "system_kind", "sieve_comparison", "comparison_markdown"]

MODEL_ORDER = ("exact", "accurate", "approximate")

# Dissertation ch. 4 (§4.5): SIEVE vs cloud-only at 100% of baseline accuracy, and the detector's
# false negatives per network (§4.5.5; false positives below 0.5%).
PAPER = {
    "speedup_vs_cloud": {"3g": 12.3, "lte": 2.8, "wifi": 2.0},
    "energy_change_vs_cloud": {"3g": -0.91, "lte": -0.57, "wifi": -0.26},
    "false_negative_rate": {"3g": 0.007, "lte": 0.008, "wifi": 0.004},
    "false_positive_rate_below": 0.005,
}


def system_kind(minions: list[str], records: dict[str, dict]) -> str:
    """``sieve``, ``int8-ptq`` or ``mmnet`` (module docstring)."""
    if len(minions) == 1 and records[minions[0]].get("sieve"):
        return "sieve"
    if len(minions) == 1 and records[minions[0]]["precision"] == "int8":
        return "int8-ptq"
    return "mmnet"


def _minion_row(record: dict) -> dict[str, Any]:
    packing = record.get("packing")
    sieve = record.get("sieve")
    return {
        "id": record["id"], "family": record["family"], "precision": record["precision"],
        "shipped_bytes": record["bytes"], "tflite_bytes": packing["tflite_bytes"] if packing else record["bytes"],
        "gzip_bytes": packing["gzip_bytes"] if packing else None,
        "bits_per_weight": sieve["avg_bits_per_weight"] if sieve else None,
        "bits_per_activation": sieve["avg_bits_per_activation"] if sieve else None,
        "sieve_model": sieve["model"] if sieve else None,
    }


def sieve_comparison(manifest: dict, runtime_config: dict, systems: list[dict], mode: str = "normal") -> dict[str, Any]:
    """Every candidate system of ``mode`` with its kind, accuracy, P_r, detector errors, bytes and
    expected latency and energy per profile vs cloud-only (module docstring)."""
    records = {m["id"]: m for m in manifest["models"]}
    latency = runtime_config["latency"]
    placement = runtime_config["placement"]
    master_id = runtime_config["master"]["model"]
    rows = []
    for system in systems:
        tuned = system["modes"].get(mode)
        if tuned is None or any(m not in latency for m in system["minions"]):
            continue
        chosen = tuned["members"]["chosen"]
        member = tuned["members"][chosen]
        recovery = tuned["test"]["recovery_rate"]
        spec_ms = sum(latency[m]["total_ms"] for m in system["minions"])
        spec_mj = sum(latency[m]["energy_mj"] for m in system["minions"])
        profiles = {}
        for profile, place in placement.items():
            total_ms = spec_ms + recovery * place["cloud_ms"]
            total_mj = spec_mj + recovery * place["cloud_mj"]
            profiles[profile] = {"latency_ms": total_ms, "energy_mj": total_mj,
                                 "speedup_vs_cloud": place["cloud_ms"] / total_ms if total_ms > 0 else None,
                                 "energy_change_vs_cloud": total_mj / place["cloud_mj"] - 1 if place["cloud_mj"] > 0 else None}
        rows.append({
            "system": system["system"], "kind": system_kind(system["minions"], records),
            "minions": [_minion_row(records[m]) for m in system["minions"]],
            "val_accuracy": tuned["val"]["accuracy"], "test_accuracy": tuned["test"]["accuracy"],
            "test_recovery_rate": recovery, "detector": chosen,
            "false_negative_rate_test": member.get("false_negative_rate_test"),
            "false_positive_rate_test": member.get("false_positive_rate_test"),
            "speculation_ms": spec_ms, "speculation_mj": spec_mj, "profiles": profiles,
        })
    master = records[master_id]
    sieve_models = sorted((r for r in manifest["models"] if r.get("sieve") and r["id"] in latency),
                          key=lambda r: (MODEL_ORDER.index(r["sieve"]["model"]) if r["sieve"]["model"] in MODEL_ORDER
                                         else len(MODEL_ORDER), r["id"]))
    return {
        "formats": {r["id"]: {"model": r["sieve"]["model"], "formats": dict(r["sieve"].get("formats", {})),
                              "search_val_frames": len(r["sieve"].get("search_val_frames", ()))} for r in sieve_models},
        "mode": mode,
        "master": {"id": master_id, "test_accuracy": master["metrics"]["test_accuracy"], "bytes": master["bytes"],
                   "device_ms": latency[master_id]["total_ms"], "device_mj": latency[master_id]["energy_mj"]},
        "cloud": {p: {"latency_ms": v["cloud_ms"], "energy_mj": v["cloud_mj"]} for p, v in placement.items()},
        "systems": sorted(rows, key=lambda r: (r["kind"] != "sieve", r["system"])),
        "paper": PAPER,
    }


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def comparison_markdown(doc: dict[str, Any]) -> str:
    """The comparison as Markdown tables (ours, then the paper's beside per profile)."""
    master = doc["master"]
    profiles = list(doc["cloud"])
    lines = [
        f"## SIEVE vs the other speculative models ({doc['mode']} mode; test split)", "",
        f"Master {master['id']}: test accuracy {_pct(master['test_accuracy'], 2)}, {master['bytes']} bytes, "
        f"{master['device_ms']:.3f} ms on the device. Cloud-only per profile: "
        + ", ".join(f"{p} {v['latency_ms']:.1f} ms / {v['energy_mj']:.1f} mJ" for p, v in doc["cloud"].items()) + ".",
        "",
        "| system | kind | test acc | vs master | P_r | FN | FP | shipped bytes | TFLite bytes | gzip | bits/weight "
        "| bits/activation | L_spec ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["systems"]:
        minions = row["minions"]
        shipped = sum(m["shipped_bytes"] for m in minions)
        tflite = sum(m["tflite_bytes"] for m in minions)
        gzip = [m["gzip_bytes"] for m in minions]
        bits = [m["bits_per_weight"] for m in minions]
        activation_bits = [m["bits_per_activation"] for m in minions]
        lines.append(
            f"| {row['system']} | {row['kind']} | {_pct(row['test_accuracy'], 2)} | "
            f"{100 * (row['test_accuracy'] - master['test_accuracy']):+.2f} pt | {_pct(row['test_recovery_rate'])} | "
            f"{_pct(row['false_negative_rate_test'])} | {_pct(row['false_positive_rate_test'])} | {shipped} | {tflite} | "
            f"{sum(gzip) if None not in gzip else '—'} | {bits[0] if len(bits) == 1 and bits[0] else '—'} | "
            f"{activation_bits[0] if len(activation_bits) == 1 and activation_bits[0] else '—'} | "
            f"{row['speculation_ms']:.3f} |")
    paper = doc["paper"]
    lines += ["", "Against cloud-only: speed-up L_t / (L_spec + P_r × L_t) and energy change, the paper's SIEVE beside.",
              "", "| system | kind | " + " | ".join(f"{p} speed-up | {p} energy" for p in profiles) + " |",
              "|---|---|" + "---|---|" * len(profiles)]
    for row in doc["systems"]:
        cells = []
        for p in profiles:
            values = row["profiles"][p]
            cells.append(f"{values['speedup_vs_cloud']:.1f}×" if values["speedup_vs_cloud"] else "—")
            cells.append(f"{100 * values['energy_change_vs_cloud']:+.0f}%" if values["energy_change_vs_cloud"] is not None
                         else "—")
        lines.append(f"| {row['system']} | {row['kind']} | " + " | ".join(cells) + " |")
    speedup, energy = paper["speedup_vs_cloud"], paper["energy_change_vs_cloud"]
    lines.append("| paper: SIEVE (ch. 4) | sieve | " + " | ".join(
        f"{speedup[p]:.1f}× | {100 * energy[p]:+.0f}%" if p in speedup else "— | —" for p in profiles) + " |")
    lines += ["", "Paper's detector false negatives (§4.5.5): " + ", ".join(
        f"{p} {_pct(v)}" for p, v in paper["false_negative_rate"].items())
        + f"; false positives below {_pct(paper['false_positive_rate_below'])}.", ""]
    lines += _formats_markdown(doc.get("formats", {}))
    return "\n".join(lines)


def _formats_markdown(models: dict[str, dict]) -> list[str]:
    """Per tensor, each SIEVE model's stored format (the content of the paper's Fig 4.7 for every layer)."""
    if not models:
        return []
    tensors = list(dict.fromkeys(t for m in models.values() for t in m["formats"]))
    searched = {m["search_val_frames"] for m in models.values()}
    lines = ["## Per-tensor formats of the SIEVE models (Fig 4.7; float32 where none)", ""]
    if searched != {0}:
        lines += [f"Formats chosen on {', '.join(str(n) for n in sorted(searched))} val frames; the SIEVE systems' "
                  "detectors were fitted on the other val frames.", ""]
    lines += ["| tensor | " + " | ".join(m["model"] for m in models.values()) + " |",
              "|---|" + "---|" * len(models)]
    lines += [f"| `{t}` | " + " | ".join(f"`{m['formats'].get(t, 'float32')}`" for m in models.values()) + " |"
              for t in tensors]
    return lines + [""]
