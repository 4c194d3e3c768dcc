"""``mmnet bench``'s readable outputs: ``results.md`` (tables, agreement, paper comparison, verdict) and plots.

Everything here reads the results document (``results.json``) only, so a report can be made again
from a saved document.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import sqrt
from pathlib import Path
from statistics import median
from typing import Any

__all__ = [
    "AGREEMENT_LIMIT",
    "NOISE_LIMIT",
    "PAPER",
    "TABLE_5_5",
    "FIG_5_6",
    "normalised_rows",
    "agreement_rows",
    "minion_ms",
    "minion_ms_elsewhere",
    "noise_ms",
    "expected_ms",
    "choice_sentence",
    "verdict_rows",
    "to_markdown",
    "write_plots",
]

AGREEMENT_LIMIT = 0.25  # measured vs analytical mean latency: differences beyond 25% are explained
NOISE_LIMIT = 1.3  # a run's minions this many times slower than the same minions elsewhere: the host was slow, not them
NOISE_SIGMAS = 2.0  # a difference of means within this many standard errors is inside the noise
VERDICT_MODES = ("normal", "power-saving")  # the modes whose hybrid competes with both baselines
_ZOOM_SHARE = 0.05  # bars under 5% of the tallest get a zoomed panel of their own

# ../shared/papers/README.md, headline results "with 100% of baseline accuracy", vs cloud-only.
PAPER = {
    "M&MNet": {"latency_speedup": {"lte": 3.9, "wifi": 1.9}, "energy_change": {"lte": -0.535, "wifi": -0.395}},
    "SIEVE": {"latency_speedup": {"3g": 12.3, "lte": 2.8, "wifi": 2.0},
              "energy_change": {"3g": -0.91, "lte": -0.57, "wifi": -0.26}},
}
# Table 5.5 of the dissertation: quantised benchmarks (name, top-1 accuracy, latency ms on its phone, input side).
TABLE_5_5 = (("Mobilenet_V1_quant", 0.700, 13, 224), ("Inception_V1_quant", 0.701, 39, 224),
             ("Inception_V2_quant", 0.735, 59, 299), ("Inception_V3_quant", 0.775, 148, 299),
             ("Inception_V4_quant", 0.795, 268, 299))
# Fig 5.6 and §5.4.4: quantised M&MNet on LTE, normalised to cloud-only. The figure's bars did not survive the text
# extraction; the text gives the average further latency reduction against each baseline and the exception.
FIG_5_6 = {"profile": "lte", "reduction_vs_cloud": 0.838, "reduction_vs_mobile": 0.095, "master_alone": "Mobilenet_V1_quant"}
_PLOT_SYSTEMS = (("mobile-only", "analytical"), ("cloud-only", "analytical"), ("cloud-only", "measured"),
                 ("hybrid", "analytical"), ("hybrid", "measured"), ("hybrid-device", "analytical"),
                 ("hybrid-cloud", "analytical"), ("hybrid-cloud", "measured"))
_NO_NETWORK = ("mobile-only", "hybrid-device")  # one run serves both paths
_SYSTEMS = ("mobile-only", "cloud-only", "hybrid", "hybrid-device", "hybrid-cloud")
_COLORS = {"minion": "#4c72b0", "master": "#dd8452", "transfer": "#55a868", "overhead": "#8c8c8c"}


def _find(records: Iterable[dict], **keys: str) -> dict | None:
    for record in records:
        if all(record[k] == v for k, v in keys.items()):
            return record
    return None


def _profiles(doc: dict) -> list[str]:
    return list(doc["network"]["profiles"])


def _modes(records: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["mode"] for r in records))


# --------------------------------------------------------------------------------------------
# Tables as data (tested)


def normalised_rows(records: list[dict], path: str) -> list[dict[str, Any]]:
    """Per profile and mode: every system's mean latency and energy, and each relative to cloud-only.

    ``latency_norm`` / ``energy_norm`` are system / cloud-only (the paper's normalised bars);
    ``speedup`` is cloud-only / system latency and ``energy_change`` system / cloud-only - 1. Where
    cloud-only is not applicable (private mode) the ratios are None.
    """
    rows = []
    for profile in dict.fromkeys(r["profile"] for r in records):
        for mode in _modes(records):
            cloud = _find(records, system="cloud-only", profile=profile, mode=mode, path=path)
            cloud_ok = cloud is not None and cloud["applicable"]
            systems = {}
            for system in _SYSTEMS:
                record = _find(records, system=system, profile=profile, mode=mode, path=path)
                if record is None or not record["applicable"]:
                    systems[system] = None
                    continue
                latency, energy = record["latency_ms"]["mean"], record["energy_mj_per_frame"]
                entry = {"latency_ms": latency, "energy_mj": energy, "accuracy": record["accuracy"],
                         "latency_norm": None, "speedup": None, "energy_norm": None, "energy_change": None}
                if cloud_ok:
                    c_lat, c_mj = cloud["latency_ms"]["mean"], cloud["energy_mj_per_frame"]
                    entry.update(latency_norm=latency / c_lat, speedup=c_lat / latency if latency > 0 else None,
                                 energy_norm=energy / c_mj if c_mj > 0 else None,
                                 energy_change=energy / c_mj - 1.0 if c_mj > 0 else None)
                systems[system] = entry
            rows.append({"profile": profile, "mode": mode, "path": path, "systems": systems,
                         "cloud_reason": None if cloud_ok else (cloud["reason"] if cloud else "no cloud-only record")})
    return rows


def agreement_rows(doc: dict) -> list[dict[str, Any]]:
    """Measured vs analytical mean latency, per profile, for cloud-only and the hybrid (normal mode).

    Rows whose runs sent frames to the cloud get the difference of their median request times split
    with the run's own numbers (medians throughout, so the host's load spikes stay out): ``bytes_ms`` is
    the transfer time of the bytes the link really
    carried minus that of the config's ``upload.bytes`` / ``reply_bytes``; ``stack_ms`` what HTTP,
    PNG/JSON coding and the server framework add on this host (an unshaped loopback request minus
    the bare master compute); ``proxy_ms`` the proxy hop itself (the same request through an
    unshaped link, minus the direct one); ``shaper_ms`` the link's own lateness (twice the mean
    lateness of its deliveries, ``ShapedLink.stats``: a request waits for its last piece up and its
    last piece down); ``rest_ms`` the remainder (scheduling on a shared host, the client and server
    processes waiting for a core). Only those rows are held to the 25% limit (``flagged``):
    a run without cloud requests does the same on-device work on both paths.
    """
    records = doc["records"]
    upload = doc["network"]["upload"]
    server = doc["server"]
    stack_ms = server["loopback_request_ms"]["p50"] - server["master_compute_ms"]
    proxy_ms = server["proxy_request_ms"]["p50"] - server["loopback_request_ms"]["p50"]
    rows = []
    for profile in _profiles(doc):
        link = doc["network"]["profiles"][profile]
        for system in ("cloud-only", "hybrid", "hybrid-cloud"):
            a = _find(records, system=system, profile=profile, mode="normal", path="analytical")
            m = _find(records, system=system, profile=profile, mode="normal", path="measured")
            if a is None or m is None or not (a["applicable"] and m["applicable"]):
                continue
            a_req, m_req = a["cloud_requests"], m["cloud_requests"]
            analytical, measured = a["latency_ms"]["mean"], m["latency_ms"]["mean"]
            row = {"profile": profile, "system": system, "analytical_ms": analytical, "measured_ms": measured,
                   "analytical_p50_ms": a["latency_ms"]["p50"], "measured_p50_ms": m["latency_ms"]["p50"],
                   "difference": measured / analytical - 1.0 if analytical > 0 else None,
                   "cloud_requests": {"analytical": a_req["count"], "measured": m_req["count"]},
                   "bytes": None, "request_ms": None, "bytes_ms": None, "stack_ms": None, "proxy_ms": None,
                   "shaper_ms": None, "rest_ms": None}
            if a_req["duration_ms_mean"] is not None and m_req["duration_ms_mean"] is not None:
                up, down = m_req["up_bytes_mean"], m_req["down_bytes_mean"]
                bytes_ms = ((up - upload["bytes"]) * 8 / (link["uplink_mbps"] * 1e3)
                            + (down - upload["reply_bytes"]) * 8 / (link["downlink_mbps"] * 1e3))
                gap = m_req["duration_ms_p50"] - a_req["duration_ms_p50"]  # medians: the host's load spikes left out
                # A request waits for its last piece up and then its last piece down: two late deliveries.
                shaper_ms = 2.0 * doc["links"][profile]["lateness_ms_mean"]
                row.update(bytes={"config_up": upload["bytes"], "config_down": upload["reply_bytes"],
                                  "measured_up": up, "measured_down": down},
                           request_ms={"analytical": a_req["duration_ms_p50"], "measured": m_req["duration_ms_p50"]},
                           bytes_ms=bytes_ms, stack_ms=stack_ms, proxy_ms=proxy_ms, shaper_ms=shaper_ms,
                           rest_ms=gap - bytes_ms - stack_ms - proxy_ms - shaper_ms)
            row["flagged"] = (row["request_ms"] is not None and row["difference"] is not None
                              and abs(row["difference"]) > AGREEMENT_LIMIT)
            rows.append(row)
    return rows


def minion_ms(record: dict) -> float | None:
    """A run's minion time (ms) per frame that ran minions (preprocessing included); None if no frame did."""
    ran = sum(record["minion_systems"].values())
    return record["breakdown"]["latency_ms"]["minion"] * record["frames"] / ran if ran else None


def minion_ms_elsewhere(records: list[dict], record: dict) -> tuple[float | None, int]:
    """The median of :func:`minion_ms` over the other runs that ran the same minion systems as ``record``'s run,
    and how many they are ((None, 0) if none)."""
    systems = record["minion_systems"].keys()
    if not systems:
        return None, 0
    others = {r["run"]: r for r in records  # a run fills several records: once each
              if r["applicable"] and r["run"] != record["run"] and r["minion_systems"].keys() == systems}
    values = [minion_ms(r) for r in others.values()]
    return (float(median(values)) if values else None), len(values)


def _path_shares(record: dict) -> dict[str, float]:
    """Which share of a run's frames took each path (runs over different frame counts compare alike)."""
    return {path: count / record["frames"] for path, count in record["path_counts"].items() if count}


def noise_ms(a: dict, b: dict) -> float:
    """How far apart two runs' mean latencies may be by timing noise alone (ms).

    The larger of :data:`NOISE_SIGMAS` standard errors of the difference of the means over the frames
    (``latency_ms.sd``) and half the larger pass ``spread`` of either run times the larger mean (a
    slow spell of the host that moved a whole pass, which the frames' own spread does not see).
    """
    se = sqrt(sum(r["latency_ms"]["sd"] ** 2 / r["frames"] for r in (a, b)))
    spread = max(r["passes"]["spread"] or 0.0 for r in (a, b))
    return max(NOISE_SIGMAS * se, spread / 2.0 * max(a["latency_ms"]["mean"], b["latency_ms"]["mean"]))


def _system_name(system: str) -> str:
    return system.removeprefix("pair:")


def expected_ms(view: dict) -> float:
    """The selector's expected latency per frame for its decision in ``view`` (a ``selection`` entry)."""
    return view["best"]["expected_ms"] if view["runs_minions"] else view["master_ms"]


def choice_sentence(view: dict) -> str:
    """Why the selector chose what it did, in plain words from the bundle's numbers (a ``selection`` view)."""
    where = "on the device" if view["placement"] == "device" else "in the cloud"
    if view["placement_asked"] == "auto":
        compare = "<" if view["placement"] == "cloud" else ">="
        placed = (f"master {where}: L_t {view['L_t']:.1f} ms (cloud request) {compare} L_m {view['L_m']:.1f} ms "
                  "(master on the device)")
    else:
        placed = f"master forced {where} (L_t {view['L_t']:.1f} ms, L_m {view['L_m']:.1f} ms)"
    best = view["best"]
    if best is None:
        return f"master alone {where} ({placed}); the mode runs no minions"
    recovery = "cloud request" if view["placement"] == "cloud" else "master"
    pair = (f"best pair {_system_name(best['system'])} expects {best['expected_ms']:.1f} ms per frame (minions "
            f"{best['minion_ms']:.1f} + detector-triggered {recovery} {best['recovery_rate']:.0%} × "
            f"{best['recovery_ms']:.1f} = {best['recovery_rate'] * best['recovery_ms']:.1f})")
    alone = f"master alone {where} {view['master_ms']:.1f} ms"
    if view["runs_minions"]:
        return f"runs {_system_name(view['system'])}: {pair} < {alone}; {placed}"
    work = "cloud-only" if view["placement"] == "cloud" else "mobile-only"
    return f"runs the master alone ({work} work): {pair} >= {alone}; {placed}"


def verdict_rows(doc: dict, modes: tuple[str, ...] = VERDICT_MODES) -> list[dict[str, Any]]:
    """Per path, profile and mode: is the hybrid's mean latency at most the better of mobile-only and cloud-only?

    ``status``: "tie" when the hybrid did the baseline's work (the same paths in the same shares of frames:
    whatever the clock said, neither system was faster) or their means are within the noise (:func:`noise_ms`);
    otherwise "faster" or "slower". ``ok`` unless slower. Each row also holds the selector's choice and
    expectation (``choice``, ``expected_ms``), the hybrid with the master forced onto the device and into the
    cloud, and, to tell a slow host from a slow
    system, the hybrid run's minion time per frame that ran them (``minion_ms``) beside the same minions'
    median in the other runs (``minion_ms_elsewhere``, over ``minion_runs_elsewhere`` runs) and its passes'
    ``spread``.
    """
    records = doc["records"]
    rows = []
    for path in ("analytical", "measured"):
        for profile in _profiles(doc):
            for mode in modes:
                found = {system: _find(records, system=system, profile=profile, mode=mode, path=path)
                         for system in ("hybrid", "mobile-only", "cloud-only", "hybrid-device", "hybrid-cloud")}
                hybrid, mobile = found["hybrid"], found["mobile-only"]
                if hybrid is None or mobile is None or not hybrid["applicable"]:
                    continue
                baselines = [r for r in (mobile, found["cloud-only"]) if r is not None and r["applicable"]]
                best = min(baselines, key=lambda r: r["latency_ms"]["mean"])
                h, best_ms = hybrid["latency_ms"]["mean"], best["latency_ms"]["mean"]
                noise = noise_ms(hybrid, best)
                same_work = _path_shares(hybrid) == _path_shares(best)
                if same_work or abs(h - best_ms) <= noise:
                    status = "tie"
                else:
                    status = "faster" if h < best_ms else "slower"
                view = doc["selection"][profile][mode]["auto"]
                elsewhere, runs = minion_ms_elsewhere(records, hybrid)
                cloud = found["cloud-only"]

                def mean(record):
                    return record["latency_ms"]["mean"] if record is not None and record["applicable"] else None

                rows.append({
                    "path": path, "profile": profile, "mode": mode, "hybrid_ms": h, "mobile_ms": mean(mobile),
                    "cloud_ms": mean(cloud), "hybrid_device_ms": mean(found["hybrid-device"]),
                    "hybrid_cloud_ms": mean(found["hybrid-cloud"]), "best": best["system"], "best_ms": best_ms,
                    "difference_ms": h - best_ms, "noise_ms": noise, "same_work": same_work, "status": status,
                    "ok": status != "slower", "beats_mobile": h < mean(mobile), "beats_cloud": cloud is None
                    or not cloud["applicable"] or h < mean(cloud), "choice": choice_sentence(view),
                    "expected_ms": expected_ms(view), "path_counts": hybrid["path_counts"],
                    "accuracy": hybrid["accuracy"], "master_accuracy": hybrid["master_accuracy"],
                    "recovery_rate": hybrid["recovery_rate"], "breakdown": hybrid["breakdown"]["latency_ms"],
                    "mobile_breakdown": mobile["breakdown"]["latency_ms"], "minion_ms": minion_ms(hybrid),
                    "minion_ms_elsewhere": elsewhere, "minion_runs_elsewhere": runs, "spread": hybrid["passes"]["spread"]})
    return rows


# --------------------------------------------------------------------------------------------
# Markdown


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.2f}%"


def _short(text: str, limit: int = 110) -> str:
    """A table cell's text, cut at ``limit`` characters (the JSON keeps it whole)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _x(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:.2f}" if value < 100 else f"{value:.0f}")


def _normalised_section(doc: dict) -> list[str]:
    lines = ["## Latency and energy normalised to cloud-only", "",
             "Mean per frame; `norm` = system / cloud-only of the same profile, mode and path (the paper's "
             "normalised bars: lower is better), `×` = cloud-only / system (speedup). Energy is the phone's: "
             "device compute + radio.", ""]
    reasons: dict[str, str] = {}
    for path in ("analytical", "measured"):
        lines += [f"### {path.capitalize()} network path", "",
                  "| profile | mode | cloud-only ms | mobile-only ms (norm, ×) | hybrid ms (norm, ×) | hybrid on device ms "
                  "(norm, ×) | hybrid in cloud ms (norm, ×) | cloud-only mJ | mobile-only mJ (norm, Δ) | hybrid mJ (norm, Δ) | "
                  "hybrid on device mJ (norm, Δ) | hybrid in cloud mJ (norm, Δ) |", "|---" * 12 + "|"]
        for row in normalised_rows(doc["records"], path):
            s = row["systems"]
            cloud, mobile, hybrid = s["cloud-only"], s["mobile-only"], s["hybrid"]
            on_device, in_cloud = s["hybrid-device"], s["hybrid-cloud"]

            def lat(e):
                return "n/a" if e is None else f"{_ms(e['latency_ms'])} ({_x(e['latency_norm'])}, {_x(e['speedup'])}×)"

            def mj(e):
                return "n/a" if e is None else f"{_ms(e['energy_mj'])} ({_x(e['energy_norm'])}, {_pct(e['energy_change'], True)})"

            cloud_cell = _ms(cloud["latency_ms"]) if cloud else "n/a¹"
            if not cloud:
                reasons[row["mode"]] = row["cloud_reason"]
            lines.append(f"| {row['profile']} | {row['mode']} | {cloud_cell} | {lat(mobile)} | {lat(hybrid)} | "
                         f"{lat(on_device)} | {lat(in_cloud)} | {_ms(cloud['energy_mj']) if cloud else 'n/a¹'} | "
                         f"{mj(mobile)} | {mj(hybrid)} | {mj(on_device)} | {mj(in_cloud)} |")
        lines.append("")
    lines += [f"¹ cloud-only in {mode}: {reason}." for mode, reason in reasons.items()]
    return lines + [""]


def _accuracy_section(doc: dict) -> list[str]:
    lines = ["## Accuracy, recovery and path mix", "",
             f"Test split, {doc['network']['frames']['analytical']} frames (measured path: "
             f"{doc['network']['frames']['measured']}). The master's accuracy is on the same frames. One row per run: "
             "mobile-only serves every profile, mode and path; cloud-only every mode that may leave the device; a "
             "hybrid mode that never leaves the device both paths. `passes`: the passes the run made (each frame counts "
             "with its median pass); `spread`: (max − min) / median of the passes' mean latencies, the run's noise (a large "
             "one beside a usual mean: a slow spell of the host hit one pass, and the medians left it out).", "",
             "| system | profile | mode | path | accuracy | master | recovery | paths | fallbacks | passes | spread |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    seen = set()
    for r in doc["records"]:
        if not r["applicable"] or r["run"] in seen:
            continue
        seen.add(r["run"])
        shared_path = r["system"] in _NO_NETWORK or r["run"].endswith("/no-network")
        paths = ", ".join(f"{k} {v}" for k, v in sorted(r["path_counts"].items()))
        lines.append(f"| {r['system']} | {'any' if r['system'] in _NO_NETWORK else r['profile']} | "
                     f"{r['mode'] if r['system'].startswith('hybrid') else 'any'} | {'both' if shared_path else r['path']} | "
                     f"{_pct(r['accuracy'])} | {_pct(r['master_accuracy'])} | {_pct(r['recovery_rate'])} | {paths} | "
                     f"{sum(r['fallbacks'].values())} | {r['passes']['count']} | {_pct(r['passes']['spread'])} |")
    return lines + [""]


def _breakdown_section(doc: dict) -> list[str]:
    lines = ["## Where the time and energy go (normal mode)", "",
             "| profile | system | path | minion ms | master ms | transfer ms | overhead ms | minion mJ | master mJ | radio mJ |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for profile in _profiles(doc):
        for system, path in _PLOT_SYSTEMS:
            r = _find(doc["records"], system=system, profile=profile, mode="normal", path=path)
            if r is None or not r["applicable"]:
                continue
            lat, mj = r["breakdown"]["latency_ms"], r["breakdown"]["energy_mj"]
            lines.append(f"| {profile} | {system} | {path if system not in _NO_NETWORK else 'any'} | "
                         + " | ".join(_ms(lat[p]) for p in ("minion", "master", "transfer", "overhead")) + " | "
                         + " | ".join(f"{mj[p]:.4g}" for p in ("minion", "master", "transfer")) + " |")
    server = doc["server"]
    server_ms = doc["network"]["upload"]["server_ms"]
    return lines + ["", f"Cloud requests: the server's compute counts as upload.server_ms = {server_ms:g} ms on both paths "
                        f"(the paper's GPU server); this host's own {server['master_compute_ms']:.3f} ms (median, the "
                        "server's single-threaded interpreter) is taken out of every measured request. The rest of a request "
                        "(shaped link, HTTP, frame/JSON coding) is transfer. `hybrid-device` / `hybrid-cloud`: the hybrid "
                        "with the master's place forced.", ""]


def _agreement_section(doc: dict) -> list[str]:
    server = doc["server"]
    direct, proxied = server["loopback_request_ms"], server["proxy_request_ms"]
    lines = ["## Measured vs analytical", "",
             f"Shaper: {doc['shaper']}. The measured path sends every cloud request through it to `mmnet serve` "
             f"(a child process, one interpreter). Without shaping, a request takes {direct['p50']:.2f} ms straight to the "
             f"server (p50; mean {direct['mean']:.2f}, p95 {direct['p95']:.2f}) and {proxied['p50']:.2f} ms through the proxy "
             f"(p50; mean {proxied['mean']:.2f}); the master's compute in it is {server['master_compute_ms']:.3f} ms. The model "
             "charges none of that: only bytes / rate + RTT. The columns after `within 25%` split the difference of the "
             "median request times.",
             "", "| profile | system | analytical ms (p50) | measured ms (p50) | difference | within 25% | "
             "bytes up/down (config → link) | Δ bytes ms | HTTP stack ms | proxy hop ms | shaper late ms | rest ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = agreement_rows(doc)
    for row in rows:
        b = row["bytes"]
        if b is None:
            within = "n/a: no cloud requests"
            bytes_cell = "—"
        else:
            within = "**no**" if row["flagged"] else "yes"
            bytes_cell = f"{b['config_up']}/{b['config_down']} → {b['measured_up']:.0f}/{b['measured_down']:.0f}"
        lines.append(f"| {row['profile']} | {row['system']} | {_ms(row['analytical_ms'])} ({_ms(row['analytical_p50_ms'])}) | "
                     f"{_ms(row['measured_ms'])} ({_ms(row['measured_p50_ms'])}) | {_pct(row['difference'], True)} | {within} | "
                     f"{bytes_cell} | {_ms(row['bytes_ms'])} | {_ms(row['stack_ms'])} | {_ms(row['proxy_ms'])} | "
                     f"{_ms(row['shaper_ms'])} | {_ms(row['rest_ms'])} |")
    lines.append("")
    checked = [r for r in rows if r["request_ms"] is not None]
    flagged = [r for r in checked if r["flagged"]]
    if not checked:
        lines.append("No run sent frames to the cloud on both paths: nothing of the network model to compare.")
    elif not flagged:
        lines.append("Every profile agrees within 25% where frames crossed the link.")
    for r in flagged:
        lines.append(_explain_gap(r))
    unchecked = [r for r in rows if r["request_ms"] is None]
    if unchecked:
        lines.append("- Rows without cloud requests ran the same on-device work on both paths: their difference is "
                     "host timing noise (compare the p50s), not the network model.")
    lines += ["", "The measured request also differs from the model by the bytes HTTP really carries: the config's "
                  "`upload.bytes` / `reply_bytes` are estimates with 512 / 256 bytes of assumed headers."]
    return lines + [""]


def _explain_gap(row: dict) -> str:
    text = (f"- **{row['profile']} {row['system']}** differs by {_pct(row['difference'], True)} "
            f"({_ms(row['analytical_ms'])} → {_ms(row['measured_ms'])} ms). ")
    if row["cloud_requests"]["analytical"] != row["cloud_requests"]["measured"]:
        text += (f"The runs sent different numbers of frames to the cloud (analytical {row['cloud_requests']['analytical']}, "
                 f"measured {row['cloud_requests']['measured']}): the selector reacted to the measured round trips. ")
    parts = {"the bytes HTTP really carries": row["bytes_ms"],
             "HTTP/PNG/JSON and the server framework on this host": row["stack_ms"],
             "the proxy hop": row["proxy_ms"], "the shaper's deliveries running late": row["shaper_ms"],
             "the rest (processes waiting for a core on a shared 2-core host)": row["rest_ms"]}
    cause, amount = max(parts.items(), key=lambda kv: abs(kv[1]))
    text += (f"Per request (medians): {_ms(row['request_ms']['analytical'])} ms modelled vs "
             f"{_ms(row['request_ms']['measured'])} ms measured; "
             + ", ".join(f"{k} {v:+.2f} ms" for k, v in parts.items()) + f". The largest term is {cause} ({amount:+.2f} ms). "
             "These costs are fixed per request, so they weigh most where the modelled request is shortest.")
    return text


def _paper_headline(doc: dict) -> list[str]:
    lines = ["### Headline numbers (hybrid vs cloud-only, normal mode)", "",
             "Paper: ../shared/papers/README.md (dissertation, \"with 100% of baseline accuracy\"; M&MNet Fig 5.4 / 5.5, "
             "SIEVE chapter 4).", "",
             "| profile | path | latency × here | M&MNet paper | SIEVE paper | energy Δ here | M&MNet paper | SIEVE paper | "
             "accuracy here (master) |", "|---|---|---|---|---|---|---|---|---|"]
    for path in ("analytical", "measured"):
        for row in normalised_rows(doc["records"], path):
            if row["mode"] != "normal" or row["systems"]["hybrid"] is None:
                continue
            h, p = row["systems"]["hybrid"], row["profile"]
            record = _find(doc["records"], system="hybrid", profile=p, mode="normal", path=path)

            def paper(name, key, fmt, p=p):
                value = PAPER[name][key].get(p)
                return "—" if value is None else fmt(value)

            lines.append(f"| {p} | {path} | {_x(h['speedup'])}× | {paper('M&MNet', 'latency_speedup', lambda v: f'{v}×')} | "
                         f"{paper('SIEVE', 'latency_speedup', lambda v: f'{v}×')} | {_pct(h['energy_change'], True)} | "
                         f"{paper('M&MNet', 'energy_change', lambda v: f'{100 * v:+.1f}%')} | "
                         f"{paper('SIEVE', 'energy_change', lambda v: f'{100 * v:+.0f}%')} | "
                         f"{_pct(record['accuracy'])} ({_pct(record['master_accuracy'])}) |")
    return lines + [""]


def _table_5_5(doc: dict) -> list[str]:
    lines = ["### Beside Table 5.5 (quantised benchmarks)", "",
             "The paper's quantised masters (8-bit weights; latency on its phone) and this bundle's models (latency: the "
             "runtime config's device time, preprocessing included; accuracy: the manifest's test split).", "",
             "| network | accuracy | latency ms | input | source |", "|---|---|---|---|---|"]
    for name, accuracy, ms, size in TABLE_5_5:
        lines.append(f"| {name} | {_pct(accuracy)} | {ms:g} | {size}×{size} | paper, Table 5.5 |")
    for model, entry in sorted(doc["bundle"]["models"].items(), key=lambda kv: (kv[1]["role"] != "master", kv[0])):
        lines.append(f"| {model} ({entry['role']}) | {_pct(entry['test_accuracy'])} | {_ms(entry['total_ms'])} | "
                     f"{entry['resolution']}×"
                     f"{entry['resolution']} | here ({doc['bundle']['frame_shape']} frames) |")
    return lines + [""]


def _fig_5_6(doc: dict) -> list[str]:
    profile = FIG_5_6["profile"]
    lines = [f"### Beside Fig 5.6 (quantised M&MNet vs mobile-only, {profile}, normalised to cloud-only)", "",
             f"Paper (§5.4.4): partitioning the quantised networks' computation cuts latency by a further "
             f"{_pct(FIG_5_6['reduction_vs_cloud'])} against cloud-only and {_pct(FIG_5_6['reduction_vs_mobile'])} against "
             f"mobile-only on average, for every benchmark except {FIG_5_6['master_alone']} (the smallest, "
             f"{TABLE_5_5[0][2]} ms), where the selector runs the master alone, as mobile-only does. Here, normal mode:", "",
             "| path | system | latency / cloud-only | reduction vs cloud-only | latency / mobile-only | paper |",
             "|---|---|---|---|---|---|"]
    if profile not in doc["network"]["profiles"]:
        return lines[:2] + [f"No {profile} profile in the runtime config: nothing to set beside it.", ""]
    paper = (f"on average {_pct(FIG_5_6['reduction_vs_cloud'])} reduction vs cloud-only and "
             f"{_x(1 - FIG_5_6['reduction_vs_mobile'])} × mobile-only; {FIG_5_6['master_alone']}: 1.00 × mobile-only "
             "(master alone)")
    for path in ("analytical", "measured"):
        [row] = [r for r in normalised_rows(doc["records"], path) if r["profile"] == profile and r["mode"] == "normal"]
        systems = row["systems"]
        mobile, cloud = systems["mobile-only"], systems["cloud-only"]
        for system in ("mobile-only", "hybrid", "hybrid-device", "hybrid-cloud"):
            entry = systems.get(system)
            if entry is None or cloud is None:
                continue
            lines.append(f"| {path} | {system} | {_x(entry['latency_norm'])} | {_pct(1 - entry['latency_norm'])} | "
                         f"{_x(entry['latency_ms'] / mobile['latency_ms'])} | "
                         f"{paper if system == 'hybrid' else '—'} |")
    same = [system for system in ("hybrid", "hybrid-device")
            if _path_shares(_find(doc["records"], system=system, profile=profile, mode="normal", path="analytical"))
            == _path_shares(_find(doc["records"], system="mobile-only", profile=profile, mode="normal", path="analytical"))]
    if same:
        lines += ["", f"Here {' and '.join(same)} ran the master alone on the device for every frame, mobile-only's work, as "
                      f"the paper's selector does for {FIG_5_6['master_alone']}: their ratio to mobile-only is 1 in work, and "
                      "its distance from 1.00 above is timing noise between runs (see the verdict's noise column)."]
    return lines + [""]


def _paper_section(doc: dict) -> list[str]:
    lines = ["## Beside the paper", ""]
    lines += _paper_headline(doc) + _table_5_5(doc) + _fig_5_6(doc)
    bundle, upload = doc["bundle"], doc["network"]["upload"]
    master_ms = bundle["models"][bundle["master"]]["total_ms"]
    device = bundle["device_profile"]
    profiles = doc["network"]["profiles"]
    lines += ["### Why the numbers differ from the paper's", ""]
    lines.append(_models_bullet(doc, master_ms))
    lines.append(_wire_bullet(upload, profiles))
    lines += [f"- **Host as phone.** The device is this host (device profile `{device.get('name')}`, "
              f"{device.get('kind')}; {device.get('source', '')[:160]}); compute energy is the profile's "
              f"{device.get('compute_power_w')} W × time "
              f"({'measured' if device.get('power_measured') else 'assumed, not measured'}). "
              "A phone's CPU is several times slower, which would shift the balance toward offloading and toward minions "
              "that save a larger share of the master's time.",
              "- **Loopback server.** The measured path's server is on the same host behind a shaped loopback link: no "
              "real radio, no WAN jitter, no radio promotion or tail energy (Huang et al.'s tail is not charged, as in "
              f"Neurosurgeon); its compute is modelled as upload.server_ms = {upload['server_ms']:g} ms (the paper's GPU "
              "server, whose time it neglects), not this host's. Energy counts the phone only.",
              "- **Energy model.** Radio power is Huang et al.'s linear model at the profile's rates over each request's "
              "duration; device energy is the device profile's per-model figure. The paper measured a phone's power.", ""]
    return lines


def _models_bullet(doc: dict, master_ms: float) -> str:
    """The master's device time against a cloud request on each profile, and what the selector made of it."""
    bundle = doc["bundle"]
    requests = ", ".join(f"{p} {view['normal']['auto']['L_t']:.1f} ms ({view['normal']['auto']['L_t'] / master_ms:.1f}×)"
                         for p, view in doc["selection"].items())
    text = (f"- **Models and data.** Here the master is `{bundle['master']}` on {bundle['frame_shape']} frames "
            f"({bundle['dataset']}); it takes {_ms(master_ms)} ms on the device, and a cloud request is modelled at "
            f"{requests} of that. The paper's quantised masters take {TABLE_5_5[0][2]}–{TABLE_5_5[-1][2]} ms on its phone "
            "(Table 5.5). ")
    device_views = {p: view["normal"]["device"] for p, view in doc["selection"].items()}
    device = next(iter(device_views.values()))
    best = device["best"]
    if best is not None and not device["runs_minions"]:
        text += (f"With the master on the device the best minion pair, {_system_name(best['system'])}, expects "
                 f"{best['expected_ms']:.1f} ms per frame (minions {best['minion_ms']:.1f} + detector-triggered master "
                 f"{best['recovery_rate']:.0%} × {best['recovery_ms']:.1f}) against the master's {device['master_ms']:.1f} ms: "
                 "minions cheap enough to pay off are too weak to spare most recoveries, so the selector runs the master "
                 f"alone, as the paper's selector does for {FIG_5_6['master_alone']}. ")
    elif best is not None:
        text += (f"With the master on the device the pair {_system_name(device['system'])} expects "
                 f"{best['expected_ms']:.1f} ms per frame against the master's {device['master_ms']:.1f} ms. ")
    cheaper = [p for p, view in doc["selection"].items() if view["normal"]["auto"]["placement"] == "cloud"]
    text += ("The cloud is cheaper than the device master on " + ", ".join(cheaper) + "." if cheaper else
             "No profile's cloud request is cheaper than the device master, so the hybrid keeps the master on the device "
             "and its gain over cloud-only is mobile-only's; the hybrid with the master forced into the cloud shows what "
             "the minions save there.")
    return text


def _wire_bullet(upload: dict, profiles: dict) -> str:
    """What one frame's upload costs on each profile: bandwidth or round trip."""
    parts = []
    for name, link in profiles.items():
        up_ms = upload["bytes"] * 8 / (link["uplink_mbps"] * 1e3)
        down_ms = upload["reply_bytes"] * 8 / (link["downlink_mbps"] * 1e3)
        parts.append(f"{name} {up_ms:.0f} + {down_ms:.0f} ms of transfer vs {link['rtt_ms']:g} ms RTT")
    kinds = {"bandwidth" if upload["bytes"] * 8 / (link["uplink_mbps"] * 1e3) > link["rtt_ms"] else "RTT"
             for link in profiles.values()}
    dominant = ("transfer time, not the round trip, dominates every request" if kinds == {"bandwidth"} else
                "the round trip dominates every request" if kinds == {"RTT"} else
                "bandwidth dominates on the slow links and the round trip on the fast ones")
    return (f"- **Frames on the wire.** A frame uploads as {upload['bytes']} bytes ({upload['encoding']}) and its reply "
            f"takes {upload['reply_bytes']} bytes: {'; '.join(parts)}, so {dominant}.")


def _verdict_section(doc: dict) -> list[str]:
    targets = doc["bundle"]["targets"]
    aims = ", ".join(f"{mode} targets {100 * targets[key]:.0f}%" for mode in VERDICT_MODES
                     if (key := mode.replace("-", "_")) in targets)
    lines = ["## Verdict: is the hybrid never slower than the better of mobile-only and cloud-only?", "",
             f"Per profile, mode ({aims} of the master's validation accuracy) and path: the hybrid (the master where "
             "the selector places it) against the faster baseline. `noise`: how far two mean latencies may differ by "
             "timing alone, the larger of "
             f"{NOISE_SIGMAS:g} standard errors of the difference over the frames and half the larger pass spread of the two "
             "runs; a difference within it is a tie, and so is a hybrid that took the same path as the baseline for every "
             "frame (the same work). Hybrid on device / in cloud: the master's place forced.", "",
             "| profile | mode | path | hybrid ms | mobile-only ms | cloud-only ms | hybrid on device ms | hybrid in cloud ms | "
             "hybrid − best ms | noise ms | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = verdict_rows(doc)
    for row in rows:
        verdict = {"faster": "faster", "tie": "tie (same work)" if row["same_work"] else "tie (inside the noise)",
                   "slower": "**SLOWER**"}[row["status"]]
        lines.append(f"| {row['profile']} | {row['mode']} | {row['path']} | {_ms(row['hybrid_ms'])} | {_ms(row['mobile_ms'])} | "
                     f"{_ms(row['cloud_ms'])} | {_ms(row['hybrid_device_ms'])} | {_ms(row['hybrid_cloud_ms'])} | "
                     f"{row['difference_ms']:+.2f} | {row['noise_ms']:.2f} | {verdict} |")
    lines.append("")
    for row in rows:
        b, mb = row["breakdown"], row["mobile_breakdown"]
        answer = "yes" if row["ok"] else "NO"
        line = (f"- **{row['profile']}, {row['mode']}, {row['path']}: {answer}.** Hybrid {_ms(row['hybrid_ms'])} ms vs "
                f"{row['best']} {_ms(row['best_ms'])} ms (the faster baseline; {row['difference_ms']:+.2f} ms, noise "
                f"±{row['noise_ms']:.2f} ms); accuracy {_pct(row['accuracy'])} beside the master's "
                f"{_pct(row['master_accuracy'])} on the same frames, recovery rate {_pct(row['recovery_rate'])}. "
                f"Why: the selector {row['choice']}; it expected {_ms(row['expected_ms'])} ms per frame.")
        if not row["ok"]:
            line += (f" Why not faster: the hybrid spends {_ms(b['minion'])} ms in its minions, {_ms(b['master'])} ms in "
                     f"the master, {_ms(b['transfer'])} ms in transfers and {_ms(b['overhead'])} ms of runtime overhead per "
                     f"frame, against the selector's {_ms(row['expected_ms'])} ms; the master alone on the device takes "
                     f"{_ms(mb['master'])} ms.")
            mine, elsewhere = row["minion_ms"], row["minion_ms_elsewhere"]
            if mine is not None and elsewhere is not None and mine >= NOISE_LIMIT * elsewhere:
                line += (f" But in this run the minions took {_ms(mine)} ms per frame that ran them, {mine / elsewhere:.1f}× "
                         f"the {_ms(elsewhere)} ms the same minions took (median) in the {row['minion_runs_elsewhere']} other "
                         f"runs that ran them (pass spread {_pct(row['spread'])}): the host was slow while this run was "
                         "measured, so this NO is measurement noise rather than the system. Run the bench again.")
        lines.append(line)
    if not rows:
        lines.append("No hybrid record in a mode that competes with both baselines: no verdict.")
    else:
        slower = [r for r in rows if not r["ok"]]
        lines += ["", f"**Overall: {'yes' if not slower else 'no'}** — " + (
            "the hybrid is never slower than the better baseline beyond the noise." if not slower else
            "slower beyond the noise in " + ", ".join(f"{r['profile']} {r['mode']} {r['path']}" for r in slower)
            + "; see the lines marked NO above for why.")]
    return lines + [""]


def _selection_section(doc: dict) -> list[str]:
    lines = ["## What the selector chose, and why", "",
             "The runtime's selector on each profile's nominal link (the runtime config's numbers: device latencies, "
             "validation recovery rates at the mode's thresholds, the network model), for the hybrid as configured and "
             "with the master's place forced. The build's own choice (runtime_config `selection`) is beside it.", "",
             "| profile | mode | master | choice and why | build's choice |", "|---|---|---|---|---|"]
    labels = {"auto": "where it is faster", "device": "forced on device", "cloud": "forced in cloud"}
    for profile, modes in doc["selection"].items():
        for mode in VERDICT_MODES:
            if mode not in modes:
                continue
            built = modes[mode]["built"]
            for placement in ("auto", "device", "cloud"):
                if placement not in modes[mode]:
                    continue
                build = f"{_system_name(built['system'])}, master on {built['placement']}" if placement == "auto" else ""
                lines.append(f"| {profile} | {mode} | {labels[placement]} | the selector "
                             f"{choice_sentence(modes[mode][placement])} | {build} |")
    return lines + [""]


def _precision_section(doc: dict) -> list[str]:
    if doc["precisions"] is None:
        return ["## int8 vs float16 vs float32", "", f"Not measured: {doc['extras_note']}.", ""]
    lines = ["## int8 vs float16 vs float32", "",
             "Latency: median invoke on this host, every shipped model timed in turn in one run (round robin). "
             "Size and accuracy: the bundle's manifest (every exported artifact, rejected ones included).", "",
             "| variant | role | precision | KiB | test acc. | val acc. | latency ms | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["precisions"]:
        lines.append(f"| {r['variant']} | {r['role']} | {r['precision']} | {r['bytes'] / 1024:.1f} | "
                     f"{_pct(r['test_accuracy'])} | "
                     f"{_pct(r['val_accuracy'])} | {_ms(r['latency_ms']) if r['latency_ms'] is not None else 'n/a'} | "
                     f"{_short(r['note']) if r['note'] else ('blessed' if r['blessed'] else 'not blessed')} |")
    return lines + [""]


def _overhead_section(doc: dict) -> list[str]:
    o = doc["overhead"]
    if o is None:
        return ["## Runtime decision overhead", "", f"Not measured: {doc['extras_note']}.", ""]
    return ["## Runtime decision overhead", "",
            f"benchmarks/runtime_overhead.py over {o['frames']} frames (system {o['system']}): "
            f"p50 {o['overhead_us']['p50']:.1f} µs, "
            f"mean {o['overhead_us']['mean']:.1f} µs, p95 {o['overhead_us']['p95']:.1f} µs per frame (target ≤ "
            f"{o['target_us']:.0f} µs: {'met' if o['meets_target'] else 'NOT met'}); "
            + ", ".join(f"{k} {v:.1f} µs" for k, v in o["parts_us"].items())
            + f"; one invoke of {o['minion_invoke']['model']} {o['minion_invoke']['median_us']:.1f} µs.", ""]


def _fanout_section(doc: dict) -> list[str]:
    f = doc["fanout"]
    if f is None:
        return ["## Pipeline fan-out", "", f"Not measured: {doc['fanout_note']}.", ""]
    config = f["config"]
    lines = ["## Pipeline fan-out: 1 vs 2 Beam workers", "",
             f"`mmnet build` internals (mmnet.pipeline.build.run_build, DirectRunner) on a tiny grid: master "
             f"{config['master']['family']} α{config['master']['alpha']} r{config['master']['resolution']}, minions "
             f"{'/'.join(config['minions']['families'])} α{config['minions']['alphas']} r{config['minions']['resolutions']}, "
             f"{config['training']['epochs']} epochs, precisions {config['export']['precisions']}.", "",
             "| workers | wall s | speedup | train s | export s | evaluate s | failures |", "|---|---|---|---|---|---|---|"]
    for b in f["builds"]:
        s = b["stage_seconds"]
        lines.append(f"| {b['workers']} | {b['wall_s']:.1f} | {_x(b['speedup'])}× | {s.get('train', 0):.1f} | "
                     f"{s.get('export', 0):.1f} | {s.get('evaluate', 0):.1f} | {b['failures']} |")
    last = f["builds"][-1]
    speedup, workers = last["speedup"], last["workers"]
    if speedup is not None and speedup >= 1.1:
        why = (f"{workers} workers finish {speedup:.2f}× faster: the variants train in parallel, which outweighs each "
               "worker process importing TensorFlow and running on a share of the cores.")
    elif speedup is not None and speedup > 0.9:
        why = (f"{workers} workers take about as long ({_x(speedup)}×): on a grid this small the parallel training and each "
               "worker process's start-up (importing TensorFlow, a share of the cores) cancel out.")
    else:
        why = (f"{workers} workers are slower ({_x(speedup)}×): on a grid this small each worker process's start-up "
               "(importing TensorFlow, a share of the cores) outweighs the parallel training.")
    lines += ["", f"Stage seconds are summed over tasks (so they grow when tasks share cores). {why} One build each: on a "
                  "host shared with other work the ratio moves by tens of percent from run to run.", ""]
    return lines


def _round_s(seconds: list[float]) -> str:
    low, high = min(seconds), max(seconds)
    return f"{low:.1f} s" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f} s"


def to_markdown(doc: dict) -> str:
    machine, git = doc["machine"], doc["git"]
    head = [f"# mmnet bench: {doc['bundle']['name']} ({doc['bundle']['path']})", "",
            f"{doc['created_utc']}; {machine['cores']} cores ({machine['cpu_model']}), Python {machine['python']}, "
            f"LiteRT {machine['litert']['backend']} {machine['litert']['version']}; git {git['commit'] or 'n/a'}"
            f"{' (dirty)' if git['dirty'] else ''}. Wall time {doc['wall_time_s']:.0f} s.", "",
            f"Analytical path: the runtime config's network model (transfer of upload.bytes / reply_bytes + RTT), "
            f"compute timed for real. Measured path: {doc['shaper']} on loopback to a real master server; "
            f"{doc['network']['frames']['measured_note']} Method: {doc['method']['rule']} "
            f"({doc['method']['passes']} passes, {doc['method']['pass_budget_s']:g} s, {doc['method']['warmup_frames']} warm-up "
            f"frames; {doc['method']['rounds']} rounds of {_round_s(doc['method']['round_s'])}); frames are "
            f"{doc['method']['frame_interval_s']:g} s apart.", ""]
    sections = (_verdict_section, _selection_section, _normalised_section, _accuracy_section, _breakdown_section,
                _agreement_section, _paper_section, _precision_section, _overhead_section, _fanout_section)
    lines = head
    for section in sections:
        lines += section(doc)
    plots = doc.get("plots") or []
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots


def _stacked(ax, labels: list[str], values: list[dict[str, float]], parts: tuple[str, ...], unit: str) -> None:
    import numpy as np

    bottom = np.zeros(len(labels))
    for part in parts:
        heights = np.array([v[part] for v in values])
        ax.bar(labels, heights, bottom=bottom, color=_COLORS[part], label=part)
        bottom += heights
    for x, total in enumerate(bottom):
        ax.annotate(f"{total:.3g}", (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, max(bottom.max(), 1e-9) * 1.12)  # room for the labels
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelsize=8)


def write_plots(doc: dict, out: Path) -> list[str]:
    """One PNG per profile (normal mode): stacked latency and energy bars per system and path; and
    ``normalised.png``: mobile-only, the hybrid and the hybrid with the master in the cloud relative to cloud-only
    (log scale). Returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for profile in _profiles(doc):
        bars = []
        for system, path in _PLOT_SYSTEMS:
            r = _find(doc["records"], system=system, profile=profile, mode="normal", path=path)
            if r is not None and r["applicable"]:
                bars.append((system if system in _NO_NETWORK else f"{system}\n{path}", r["breakdown"]))
        if not bars:
            continue
        metrics = (("latency_ms", ("minion", "master", "transfer", "overhead"), "latency per frame (ms)"),
                   ("energy_mj", ("minion", "master", "transfer"), "energy per frame (mJ)"))
        small = {key: [b for b in bars if sum(b[1][key].values()) < _ZOOM_SHARE * max(sum(x[1][key].values()) for x in bars)]
                 for key, _, _ in metrics}
        zoom = any(small.values())
        fig, axes = plt.subplots(2, 2 if zoom else 1, figsize=(16 if zoom else 10, 8), squeeze=False)
        for row, (key, parts, unit) in enumerate(metrics):
            _stacked(axes[row][0], [b[0] for b in bars], [b[1][key] for b in bars], parts, unit)
            axes[row][0].set_title(f"{profile}: {unit.split(' per')[0]} (normal mode)")
            if zoom:
                if small[key]:
                    _stacked(axes[row][1], [b[0] for b in small[key]], [b[1][key] for b in small[key]], parts, unit)
                    axes[row][1].set_title(f"zoom: bars under {_ZOOM_SHARE:.0%} of the tallest")
                else:
                    axes[row][1].axis("off")
        axes[0][0].legend(fontsize=8, title="part")
        fig.tight_layout()
        name = f"bench_{profile}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    profiles = _profiles(doc)
    series = [(system, path) for system in ("mobile-only", "hybrid", "hybrid-cloud") for path in ("analytical", "measured")]
    width = 0.8 / len(series)
    for ax, key, title in ((axes[0], "latency_norm", "latency / cloud-only"), (axes[1], "energy_norm", "energy / cloud-only")):
        for i, (system, path) in enumerate(series):
            rows = {r["profile"]: r for r in normalised_rows(doc["records"], path) if r["mode"] == "normal"}
            values = [((rows.get(p) or {}).get("systems", {}).get(system) or {}).get(key) for p in profiles]
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(profiles))]
            ax.bar([x for x, v in zip(xs, values) if v], [v for v in values if v], width, label=f"{system} ({path})")
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_yscale("log")
        ax.set_xticks(range(len(profiles)), profiles)
        ax.set_title(f"{title} (normal mode; cloud-only = 1, lower is better)", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "normalised.png", dpi=110)
    plt.close(fig)
    return names + ["normalised.png"]
