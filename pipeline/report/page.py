"""The bundle's report page: ``report/index.html``, one static HTML page beside its PNG plots.

The page has inline CSS and no JavaScript, web fonts or external stylesheet, so it reads offline
from the bundle folder. Every string taken from the report data is HTML-escaped. When
``data["reference"] == "master"`` (unlabeled calibration mode) the master's own answers are the
reference, and every "accuracy" in the data means *agreement with the master*; the page says so
and never calls it accuracy.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmnet.format.checks import is_real
from mmnet.format.runtime_config import MASTER_ONLY
from mmnet.pipeline.report.data import validate_report_data
from mmnet.pipeline.report.files import write_text_atomic
from mmnet.pipeline.report.plots import draw_plots
from mmnet.pipeline.report.presentation import (
    Words,
    mj,
    mode_name,
    ms,
    num,
    ordered_modes,
    pct,
    points,
    profiles,
    ratio,
)

__all__ = ["render_page", "write_report"]

log = logging.getLogger(__name__)


def _master_alone(data: Mapping, profile: str, placement: str | None) -> Mapping | None:
    """The master-only candidate to compare a profile's normal-mode choice with: the master alone
    where the placement decision puts it, else where the selection puts it, else the fastest."""
    rows = [c for c in data["candidates"]
            if c["system"] == MASTER_ONLY and c["profile"] == profile]
    normal = [c for c in rows if c["mode"] == "normal"] or rows
    if not normal:
        return None
    for wanted in (data["placement"].get(profile, {}).get("choice"), placement):
        for row in normal:
            if row["placement"] == wanted:
                return row
    return min(normal, key=lambda c: c["expected_latency_ms"])


class _Safe(str):
    """A string that is already HTML (built here from escaped parts)."""


def _e(value: Any) -> str:
    return value if isinstance(value, _Safe) else html.escape(str(value), quote=True)


def _h(template: str, *values: Any) -> _Safe:
    """``template`` (trusted HTML with ``{}`` slots) filled with escaped ``values``."""
    return _Safe(template.format(*(_e(v) for v in values)))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = ()) -> _Safe:
    if not rows:
        return _Safe('<p class="muted">(none)</p>')
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return _Safe(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _figure_html(plots: Mapping[str, str], key: str, alt: str, caption: str) -> _Safe:
    name = plots[key]
    return _h('<figure><a href="{}"><img src="{}" alt="{}"></a><figcaption>{}</figcaption></figure>',
              name, name, alt, caption)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1100px;padding:1rem 1.5rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.summary{background:#eef6ee;border:1px solid #8bb98b;border-radius:6px;padding:.6rem 1.2rem}
.banner{background:#fff4d6;border:2px solid #d9a400;border-radius:6px;padding:.6rem 1.2rem;font-weight:600}
.warn{color:#8a4b00}.muted{color:#666}code{font-size:.9em}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#444}
nav a{margin-right:.8rem}dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
""".strip()


def _header(data: Mapping, words: Words) -> list[str]:
    bundle = data["bundle"]
    dataset = bundle["dataset"]
    splits = dataset["splits"]
    labels = bundle["labels"]
    shown = ", ".join(labels[:30]) + (f", ... ({len(labels) - 30} more)" if len(labels) > 30 else "")
    master_val = data["master"]["val_accuracy"]
    targets = "; ".join(
        f"{mode_name(mode)}: at least {pct(fraction, 1)} of the master's {words.short} "
        f"(val: {pct(fraction * master_val)})"
        for mode, fraction in data["targets"].items()
    )
    reference = ("the master's own answers (unlabeled calibration mode)" if words.unlabeled
                 else "ground-truth labels")
    parts = [
        _h("<h1>mmnet bundle report: {}</h1>", bundle["name"]),
        '<dl class="meta">',
        _h("<dt>created</dt><dd>{}</dd>", bundle["created_utc"]),
        _h("<dt>dataset</dt><dd>{}, {} classes, frames {}</dd>", dataset["source"], dataset["num_classes"],
           "x".join(str(v) for v in dataset["frame_shape"])),
        _h("<dt>splits</dt><dd>train {}, val {}, test {}</dd>", num(splits["train"]), num(splits["val"]),
           num(splits["test"])),
        _h("<dt>fingerprint</dt><dd><code>{}</code></dd>", dataset["fingerprint"]),
        _h("<dt>labels</dt><dd>{}</dd>", shown),
        _h("<dt>reference</dt><dd>{}</dd>", reference),
        _h("<dt>master</dt><dd><code>{}</code>: val {} {}, test {}</dd>", data["master"]["id"], words.short,
           pct(master_val), pct(data["master"]["test_accuracy"])),
        _h("<dt>targets</dt><dd>{}</dd>", targets),
        "</dl>",
    ]
    if words.unlabeled:
        parts.append(_h(
            '<p class="banner">Unlabeled calibration mode: no ground-truth labels were used. The master\'s '
            "own answers are the reference, so every number called {} here is <em>agreement with the "
            "master</em>, not accuracy. The master agrees with itself by construction, and an "
            "&ldquo;uncorrectable&rdquo; output (minion and master both wrong) cannot be observed. How "
            "often the master itself is right is not measured by this report.</p>", words.short))
    return parts


def _summary(data: Mapping, words: Words) -> list[str]:
    items: list[str] = []
    selection = data["selection"]
    for profile in profiles(data):
        normal = selection.get(profile, {}).get("normal")
        placement = data["placement"].get(profile)
        where = (_h(" Master placement: <b>{}</b> (device {} vs cloud {}).", placement["choice"],
                    ms(placement["device_ms"]), ms(placement["cloud_ms"])) if placement else "")
        if normal is None:
            items.append(_h("<li><b>{}</b>: no normal-mode selection in the data.{}</li>", profile, _Safe(where)))
            continue
        expected = normal["expected"]
        if normal["system"] == MASTER_ONLY:
            items.append(_h(
                "<li><b>{}</b>: <b>master only</b> ({}) &mdash; no minion system beats the master alone "
                "here. Expected {} and {} per input.{}</li>", profile, normal["placement"],
                ms(expected["latency_ms"]), mj(expected["energy_mj"]), _Safe(where)))
            continue
        alone = _master_alone(data, profile, normal["placement"])
        versus = (_h(" vs {} and {} for the master alone ({}: {} latency, {} energy)",
                     ms(alone["expected_latency_ms"]), mj(alone["expected_energy_mj"]), alone["placement"],
                     ratio(alone["expected_latency_ms"], expected["latency_ms"]),
                     ratio(alone["expected_energy_mj"], expected["energy_mj"]))
                  if alone else _Safe(" (no master-only candidate to compare with)"))
        items.append(_h(
            "<li><b>{}</b>: <code>{}</code>, master on the {}; expected {} and {} per input{}; "
            "val P_r {} at {} {}.{}</li>", profile, normal["system"], normal["placement"],
            ms(expected["latency_ms"]), mj(expected["energy_mj"]), versus, pct(expected["recovery_rate"]),
            words.short, pct(expected["accuracy"]), _Safe(where)))

    parts = ['<section class="summary" id="summary"><h2>Summary</h2>',
             "<p>Normal mode, per network profile:</p>", "<ul>", *items, "</ul>"]
    chosen = data["chosen"]
    if chosen is None:
        normal = [modes.get("normal") for modes in selection.values()]
        if all(entry is None or entry["system"] == MASTER_ONLY for entry in normal):
            parts.append(
                "<p><b>Master-only was chosen for every network profile: no minion system beats the master "
                "alone here.</b> There is no chosen minion system, so its accuracy-vs-recovery and "
                "confidence plots are omitted.</p>")
        else:
            parts.append(
                '<p class="warn">The report data has no chosen-system details (chosen is null) although a '
                "minion system is selected above; its accuracy-vs-recovery and confidence plots are "
                "omitted.</p>")
        parts.append("</section>")
        return parts

    master_test = data["master"]["test_accuracy"]
    achieved = chosen["achieved_test"]
    oracle = chosen["oracle_recovery_rate_test"]
    parts.append(_h("<p>Chosen system for profile <b>{}</b>: <code>{}</code>. On <b>test</b>:</p><ul>",
                    chosen["profile"], chosen["system"]))
    parts.append(_h("<li>the system's {} is <b>{}</b> vs the master's <b>{}</b> ({}).</li>", words.metric,
                    pct(achieved["accuracy"]), pct(master_test), points(achieved["accuracy"] - master_test)))
    gap = achieved["recovery_rate"] - oracle
    direction = "more" if gap >= 0 else "fewer"
    parts.append(_h(
        "<li>oracle recovery rate (minion wrong, master right) <b>{}</b>; achieved P_r <b>{}</b> at {} {}: "
        "the detector sends {} points {} inputs to the master than the oracle would.</li>", pct(oracle),
        pct(achieved["recovery_rate"]), words.short, pct(achieved["accuracy"]), f"{abs(100 * gap):.2f}",
        direction))
    parts.append("</ul>")
    parts += _per_class_vs_single(chosen, words)
    parts.append("</section>")
    return parts


def _per_class_vs_single(chosen: Mapping, words: Words) -> list[str]:
    versus = chosen["per_class_vs_single"]
    lines = ["<p>Per-class thresholds vs one single threshold:</p><ul>"]
    for split in ("val", "test"):
        per_class = versus[split]["per_class"]
        single = versus[split]["single"]
        if single is None:
            lines.append(_h("<li>{}: per-class P_r <b>{}</b> at {} {}; no single threshold reaches the target.</li>",
                            split, pct(per_class["recovery_rate"]), words.short, pct(per_class["accuracy"])))
            continue
        gap = per_class["recovery_rate"] - single["recovery_rate"]
        accuracy_gap = per_class["accuracy"] - single["accuracy"]
        if abs(gap) < 5e-5:
            effect = "the same share of inputs"
        else:
            effect = f"{abs(100 * gap):.2f} points {'fewer' if gap < 0 else 'more'} inputs"
        caveat = (f" (the {words.short} values differ by {abs(100 * accuracy_gap):.2f} points, so this is not "
                  f"at equal {words.short})"
                  if abs(accuracy_gap) >= 0.001 else "")
        lines.append(_h(
            "<li>{}: per-class P_r <b>{}</b> at {} {}; single threshold P_r <b>{}</b> at {} {} &rarr; "
            "per-class sends {} to the master{}.</li>", split, pct(per_class["recovery_rate"]), words.short,
            pct(per_class["accuracy"]), pct(single["recovery_rate"]), words.short, pct(single["accuracy"]),
            effect, caveat))
    lines.append(_h("<li>verdict: {}</li></ul>", versus["verdict"]))
    return lines


def _chosen_section(data: Mapping, words: Words, plots: Mapping[str, str]) -> list[str]:
    chosen = data["chosen"]
    parts = ['<h2 id="chosen">Chosen system</h2>']
    if chosen is None:
        parts.append("<p>Master-only was chosen everywhere: no minion system beats the master alone here, "
                     "so there is no recovery curve or confidence histogram to show.</p>")
        return parts
    parts.append(_h("<p><code>{}</code> (minions: {}), chosen for normal mode under network profile "
                    "<b>{}</b>.</p>", chosen["system"], ", ".join(chosen["minions"]) or "none", chosen["profile"]))
    parts.append(_figure_html(
        plots, "curve", f"{words.metric} vs recovery rate",
        f"{words.short_capitalized} vs recovery rate P_r (share of inputs sent to the master) when one confidence "
        "threshold is swept, on val and test; markers are the configured operating points (filled: "
        "per-class thresholds, hollow: single threshold; circle: normal, square: power-saving), the star "
        "is the configured system on test; horizontal lines: the master alone; vertical line: the oracle "
        "P_r (recover exactly the inputs where the minion is wrong and the master right)."))
    rows = [[mode_name(p["mode"]), p["kind"].replace("_", "-"), p["split"], pct(p["recovery_rate"]),
             pct(p["accuracy"]), "per class" if p["threshold"] is None else f"{p['threshold']:.4f}"]
            for p in chosen["operating_points"]]
    parts.append("<h3>Operating points</h3>")
    parts.append(_table(["mode", "thresholds", "split", "P_r", words.short, "threshold"], rows,
                        numeric=(3, 4, 5)))
    confidence = chosen["confidence"]
    parts.append(_figure_html(
        plots, "confidence", "confidence histograms",
        "Test split: the minions' calibrated confidence (the lower of the pair) for outputs that are correct, "
        "wrong but correctable (the master is right) and wrong and uncorrectable (the master is wrong too). "
        f"Counts: correct {len(confidence['correct'])}, correctable {len(confidence['correctable'])}, "
        f"uncorrectable {len(confidence['uncorrectable'])}. A good detector threshold sits where correctable "
        "outputs are common and correct ones rare."))
    return parts


_MEMBER_NAMES = {"per_class_confidence": "per-class confidence", "logistic": "logistic regression"}
_CONNECTIONS = {"3g": "3G", "lte": "LTE", "wifi": "Wi-Fi"}


def _member_name(kind: str) -> str:
    return _MEMBER_NAMES.get(kind, kind.replace("_", " "))


def _efficiency(value: Any) -> str:
    return f"{value:.2f}" if is_real(value) else "n/a"


def _span(values: Sequence[float]) -> str:
    """A list of fractions as one percentage or a range ("0.56%" or "0.00–1.67%")."""
    if not values:
        return "n/a"
    low, high = min(values), max(values)
    return pct(low) if abs(high - low) < 5e-7 else f"{100 * low:.2f}\u2013{pct(high)}"


def _detectors_settings(detectors: Mapping) -> _Safe:
    settings = detectors["settings"]
    if settings["threshold_mode"] == "guaranteed":
        mode = ("<b>guaranteed</b> rule (Learn-then-Test: at most &epsilon; extra errors per frame with probability "
                "at least 1&minus;&delta;, or no speculation)")
    else:
        mode = ("<b>point</b> rule (the paper's: the kept right answers reach the mode's target on the "
                "cross-fitted val scores)")
    epsilon = "; ".join(f"{mode_name(m)} {pct(v)}" for m, v in settings["epsilon"].items())
    window = (_h(", over windows of {} served frames", num(settings["window_frames"])) if settings["window_frames"]
              else _Safe(", as a long-run rate"))
    return _h(
        "<p>Per shipped system and tuned mode the build fits every detector member ({}) on val, cross-fitted over "
        "{} folds (each val frame is scored by a detector fitted without it), sets each member's threshold by the "
        "{}, and ships the member that recovers the fewest frames. Risk: &delta; = {}, "
        "&epsilon; (extra errors per frame) {}{}. Per-class thresholds shrink toward the global one with a "
        "prior of {} frames.</p>",
        ", ".join(_member_name(k) + (" (the paper's rule)" if k == "per_class_confidence" else "")
                  for k in settings["members"]), num(settings["folds"]), _Safe(mode),
        num(settings["delta"]), epsilon, window, num(settings["prior_frames"]))


def _member_rows(row: Mapping) -> list[list[str]]:
    rows = []
    for kind, member in row["members"].items():
        cert = member["certification"]
        certifiable = ("yes" if cert["can_certify"]
                       else f"needs {cert['frames_to_certify']:,} frames (has {cert['frames']:,})")
        name = _member_name(kind) + (" (shipped)" if kind == row["chosen"] else "")
        if not member["reached"]:
            rows.append([name, "no", "-", "-", "-", "-", "-", "-", "-", certifiable])
            continue
        bound = f"{pct(cert['extra_error_upper_bound'])} ({cert['extra_errors']:,} in {cert['frames']:,})"
        rows.append([name, "yes", pct(member["val"]["recovery_rate"]), pct(member["val"]["accuracy"]),
                     pct(member["test"]["recovery_rate"]), pct(member["test"]["accuracy"]),
                     pct(member["false_negative_rate_test"]), pct(member["false_positive_rate_test"]), bound,
                     certifiable])
    return rows


def _detectors_section(data: Mapping, words: Words, plots: Mapping[str, str]) -> list[str]:
    detectors = data.get("detectors")
    if detectors is None:
        return []
    parts = ['<h2 id="detectors">Misspeculation detectors</h2>', _detectors_settings(detectors)]
    systems = detectors["systems"]
    rows = [[r["system"], mode_name(r["tuning"]), _member_name(r["chosen"]), pct(r["achieved_recovery_rate_test"]),
             pct(r["oracle_recovery_rate_test"]), _efficiency(r["efficiency"]), pct(r["accuracy_test"])]
            for r in systems]
    parts.append(_table(["system", "mode", "detector shipped", "test P_r", "oracle P_r", "efficiency",
                         f"test {words.short}"], rows, numeric=(3, 4, 5, 6)))
    parts.append("<p>Oracle P_r: the test frames whose speculative answer is wrong and the master's right, the "
                 "fewest a perfect detector would recover. Efficiency: oracle over achieved P_r (1.00 is "
                 "perfect; lower means more frames go to the master than need to).</p>")

    sieve = detectors["sieve"]
    shipped = [r["members"].get(r["chosen"]) for r in systems]
    shipped = [m for m in shipped if m is not None and m["reached"]]
    fn = " / ".join(pct(v) for v in sieve["false_negative_rate"].values())
    where = " / ".join(_CONNECTIONS.get(k, k) for k in sieve["false_negative_rate"])
    ours = (_h("ours (shipped detectors, test, per frame, over {} system-mode rows): FN {}, FP {}", len(shipped),
               _span([m["false_negative_rate_test"] for m in shipped]),
               _span([m["false_positive_rate_test"] for m in shipped]))
            if shipped else _Safe("ours: no shipped detector in this data"))
    parts.append(_h(
        "<p>Compared with SIEVE's misspeculation detector: FN {} ({}), FP &lt; {}; {}. A false negative is a "
        "frame the speculative answer gets wrong and the master right that is not recovered (an extra error), "
        "a false positive a frame recovered although the speculative answer was right. <span class=\"muted\">"
        "Source: {}.</span></p>", fn, where, pct(sieve["false_positive_rate_below"]), ours, sieve["source"]))

    if "detector_risk_coverage" in plots:
        parts.append(_figure_html(
            plots, "detector_risk_coverage", "detector risk-coverage curves",
            "Risk-coverage per shipped system and mode: the share of frames recovered (sent to the master) vs "
            "the extra errors per frame (accepted speculative answers that are wrong where the master is "
            "right) as each member's threshold is swept; dashed: cross-fitted val, solid: test. The star is the "
            "shipped member on test (its false negatives per frame are its extra errors), the vertical dotted line "
            "the oracle recovery rate, the horizontal dotted line the mode's \u03b5. Each panel's x axis is "
            "zoomed to the operating region (four times the larger of the oracle and shipped recovery rates, at "
            "least 20%)."))

    headers = ["member", "reached", "val P_r", f"val {words.short}", "test P_r", f"test {words.short}",
               "FN (test)", "FP (test)", f"extra errors/frame, {pct(1 - detectors['settings']['delta'], 0)} upper bound (val)",
               "certifiable"]
    for row in systems:
        parts.append(_h("<h3>{}, {}</h3>", row["system"], mode_name(row["tuning"])))
        parts.append(_table(headers, _member_rows(row), numeric=(2, 3, 4, 5, 6, 7, 8)))
    parts.append("<p>Val figures are cross-fitted (out of fold). FN and FP are shares of all test frames. The "
                 "bound is the one-sided Clopper&ndash;Pearson (1&minus;&delta;) upper bound on the extra-error "
                 "rate from the extra errors seen on val; certifiable says whether the val frames could certify "
                 "&epsilon; at all (with no extra error seen), after splitting &delta; over the members.</p>")
    return parts


def _selection_section(data: Mapping, words: Words, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="selection">Selection per network profile and mode</h2>']
    rows = []
    for profile in profiles(data):
        modes = data["selection"].get(profile, {})
        for mode in ordered_modes(modes):
            entry = modes[mode]
            expected = entry["expected"]
            rows.append([profile, mode_name(mode), entry["system"], entry["placement"], ms(expected["latency_ms"]),
                         mj(expected["energy_mj"]), pct(expected["recovery_rate"]), pct(expected["accuracy"]),
                         ", ".join(entry["runner_ups"]) or "-", entry["why"]])
    parts.append(_table(["profile", "mode", "system", "master on", "latency", "energy", "P_r", f"val {words.short}",
                         "runner-ups", "why"], rows, numeric=(4, 5, 6, 7)))
    if "pareto" in plots:
        parts.append(_figure_html(
            plots, "pareto", "expected latency vs accuracy per network profile",
            f"Every candidate (val): expected latency per input vs {words.metric}, one panel per network "
            "profile; colour is the mode, hollow dots miss their target, the black line is the Pareto front "
            "(no candidate is both faster and better), the star is the master alone, red rings are the "
            "chosen systems; dotted lines are the mode targets."))
    rows = [[c["system"], c["profile"], mode_name(c["mode"]), c["placement"], ms(c["expected_latency_ms"]),
             mj(c["expected_energy_mj"]), pct(c["accuracy"]), pct(c["recovery_rate"]),
             "yes" if c["meets_target"] else "no", "yes" if c["chosen"] else ""] for c in data["candidates"]]
    parts.append(_h("<details><summary>All {} candidates (val)</summary>", len(rows)))
    parts.append(_table(["system", "profile", "mode", "master on", "latency", "energy", words.short, "P_r",
                         "meets target", "chosen"], rows, numeric=(4, 5, 6, 7)))
    parts.append("</details>")

    parts.append('<h2 id="placement">Master placement</h2>')
    rows = [[profile, ms(p["device_ms"]), ms(p["cloud_ms"]), p["choice"]]
            for profile, p in data["placement"].items()]
    parts.append(_table(["profile", "master on device", "master in the cloud", "choice"], rows, numeric=(1, 2)))
    return parts


def _outcomes_section(data: Mapping, words: Words) -> list[str]:
    parts = ['<h2 id="outcomes">Minion outcomes</h2>',
             _h("<p>correct: the minion answer is right; correctable: wrong and the master right; "
                "uncorrectable: wrong and the master wrong too; odd correct: the minion right and the master "
                "wrong. {}</p>",
                "Here &ldquo;right&rdquo; means agreeing with the master, so uncorrectable and odd-correct "
                "outputs cannot occur." if words.unlabeled else "")]
    rows = []
    for o in data["outcomes"]:
        total = o["total"]

        def share(n: int, total: int = total) -> str:
            return f"{n:,} ({pct(n / total, 1)})" if total else f"{n:,}"

        rows.append([o["system"], o["split"], f"{total:,}", share(o["correct"]), share(o["correctable"]),
                     share(o["uncorrectable"]), share(o["odd_correct"])])
    parts.append(_table(["system", "split", "inputs", "correct", "correctable", "uncorrectable", "odd correct"],
                        rows, numeric=(2, 3, 4, 5, 6)))
    return parts


def _calibration_section(data: Mapping, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="calibration">Calibration (temperature scaling)</h2>']
    rows = [[m["id"], f"{m['calibration']['temperature']:.3f}", pct(m["calibration"]["ece_before"]),
             pct(m["calibration"]["ece_after"]), pct(m["calibration"]["test_ece_before"]),
             pct(m["calibration"]["test_ece_after"])]
            for m in data["models"] if m.get("calibration")]
    parts.append(_table(["minion", "temperature", "val ECE before", "val ECE after", "test ECE before",
                         "test ECE after"], rows, numeric=(1, 2, 3, 4, 5)))
    if "reliability" in plots:
        parts.append(_figure_html(
            plots, "reliability", "reliability diagrams",
            "Reliability diagrams on val, one panel per minion: mean confidence vs observed accuracy per "
            "confidence bin before (red) and after (blue) temperature scaling; the dashed diagonal is "
            "perfect calibration. Empty bins are left out."))
    else:
        parts.append('<p class="muted">No reliability diagrams in the data.</p>')
    return parts


def _models_section(data: Mapping, words: Words) -> list[str]:
    rows = []
    for m in data["models"]:
        metrics = m["metrics"]
        extra = ", ".join(f"{k}={num(v)}" for k, v in metrics.items()
                          if k not in ("val_accuracy", "test_accuracy") and (is_real(v) or isinstance(v, str)))
        rows.append([m["id"], m["role"], m["family"], num(m["alpha"]), num(m["resolution"]), m["precision"],
                     f"{m['bytes'] / 1024:.1f}", num(m["params"]), f"{m['macs'] / 1e6:.3f}",
                     pct(metrics.get("val_accuracy")), pct(metrics.get("test_accuracy")),
                     ms(m.get("latency_ms")), "yes" if m["blessed"] else "no", m["reason"], extra or "-"])
    return ['<h2 id="models">Models</h2>',
            "<p>Latency is the device estimate per input including preprocessing.</p>",
            _table(["id", "role", "family", "alpha", "res", "precision", "KB", "params", "MMACs",
                    f"val {words.short}", f"test {words.short}", "latency", "blessed", "reason", "other metrics"],
                   rows, numeric=(3, 4, 6, 7, 8, 9, 10, 11))]


def _pruning_section(data: Mapping, words: Words) -> list[str]:
    """The compression stage's results: what was removed and the accuracy before and after, per pruned model."""
    pruned = [m for m in data["models"] if m.get("pruning")]
    if not pruned:
        return []
    rows = []
    for m in pruned:
        p = m["pruning"]
        level = (f"{pct(p['sparsity'])} of weights (target {pct(p['target_sparsity'])})" if "target_sparsity" in p
                 else f"{pct(p.get('channel_keep'))} of channels kept, {pct(p['sparsity'])} of weights removed")
        rows.append([m["id"], f"{p['method']} ({p['metric']})", level, num(p.get("retrain_epochs")),
                     pct(p.get("dense_keras_val_accuracy")), pct(m["metrics"].get("keras_val_accuracy")),
                     pct(m["metrics"].get("val_accuracy")), pct(p.get("dense_keras_test_accuracy")),
                     pct(m["metrics"].get("keras_test_accuracy")), pct(m["metrics"].get("test_accuracy")),
                     f"{num(p.get('dense_params'))} → {num(m['params'])}", f"{m['bytes'] / 1024:.1f}",
                     f"{p['gzip_bytes'] / 1024:.1f}" if "gzip_bytes" in p else "n/a",
                     ms(m.get("latency_ms")), "yes" if m["blessed"] else "no"])
    return ['<h2 id="pruning">Pruning</h2>',
            "<p>Models the build's compression stage pruned and retrained before export. Dense: the trained "
            "model before pruning (Keras); pruned: the retrained Keras model; TFLite: the deployed artifact, "
            "which the parity gate compared with the pruned Keras model. Unstructured sparsity keeps every "
            "kernel's shape, so the file and latency stay the dense model's and only the gzipped size shrinks; "
            "channel pruning makes all three smaller.</p>",
            _table(["id", "method", "removed", "retrain epochs", f"dense val {words.short}",
                    f"pruned val {words.short}", f"TFLite val {words.short}", f"dense test {words.short}",
                    f"pruned test {words.short}", f"TFLite test {words.short}", "params", "KB", "KB gzip",
                    "latency", "blessed"], rows, numeric=(3, 4, 5, 6, 7, 8, 9, 11, 12, 13)),
            *_pruning_comparison(pruned, words)]


# Double-shot (weighted movement) over SNIP at equal sparsity, in normalised accuracy points, averaged
# over the dissertation's seven networks (line 1760, Fig. 7.9).
PAPER_DOUBLE_SHOT_OVER_SNIP = 0.79


def _mean_spread(values: Sequence[float], *, signed: bool = False) -> str:
    """Percent: the mean, ± the sample standard deviation when there is more than one value."""
    mean = sum(values) / len(values)
    text = f"{100 * mean:+.2f}" if signed else f"{100 * mean:.2f}"
    if len(values) == 1:
        return text
    spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{text} ± {100 * spread:.2f}"


def _pruning_comparison(pruned: Sequence[Mapping], words: Words) -> list[str]:
    """Double-shot against the baselines the compression stage also ran: test accuracy per method and
    the gain in normalised points (accuracy / the dense model's), paired by seed."""
    rows = []
    shown = set()
    for m in pruned:
        comparison = m["pruning"].get("comparison")
        dense = m["pruning"].get("dense_keras_test_accuracy")
        variant = m["id"].rsplit("-", 1)[0]  # the Keras models compared are the same for every precision
        if not comparison or not dense or variant in shown:
            continue
        shown.add(variant)
        by_method: dict[str, dict[int, Mapping]] = {}
        for run in comparison["runs"]:
            by_method.setdefault(run["method"], {})[run["seed_index"]] = run
        shot = by_method.get("double_shot", {})
        for method, runs in by_method.items():
            tests = [r["test_accuracy"] for r in runs.values()]
            paired = [(shot[i]["test_accuracy"] - r["test_accuracy"]) / dense for i, r in runs.items() if i in shot]
            gain = "-" if method == "double_shot" or not paired else _mean_spread(paired, signed=True) + " points"
            paper = f"+{PAPER_DOUBLE_SHOT_OVER_SNIP:.2f} points" if method == "snip" else "-"
            epochs = m["pruning"]["retrain_epochs"] if method == "double_shot" else comparison["baseline_epochs"]
            rows.append([variant, method, str(len(runs)), str(epochs), _mean_spread(tests) + "%", gain, paper])
    if not rows:
        return []
    return ["<p>Double-shot against the baselines at the same sparsity (Keras models, every precision "
            "exported from them): the baselines train from the initial weights for as many epochs as "
            "double-shot's dense training and retraining together, double-shot retrains from the dense "
            "weights; the shipped model is the first seed's double-shot one. Gain: double-shot minus the "
            "method in normalised test points (accuracy divided by the dense model's), paired by seed, "
            "mean ± standard deviation over the seeds; the paper's gain over SNIP is the mean of seven "
            "networks.</p>",
            _table(["model", "method", "seeds", "epochs", f"test {words.short} (mean ± sd)", "double-shot gain",
                    "paper's gain"], rows, numeric=(2, 3, 4, 5, 6))]


def _environment_section(data: Mapping, plots: Mapping[str, str]) -> list[str]:
    parts = ['<h2 id="network">Network profiles</h2>']
    rows = []
    for name, p in data["network_profiles"].items():
        extra = ", ".join(f"{k}={num(v)}" for k, v in p.items()
                          if k not in ("uplink_mbps", "downlink_mbps", "rtt_ms", "source"))
        rows.append([name, num(p["uplink_mbps"]), num(p["downlink_mbps"]), ms(p["rtt_ms"]), extra or "-",
                     p["source"]])
    parts.append(_table(["profile", "uplink Mbit/s", "downlink Mbit/s", "RTT", "other", "source"], rows,
                        numeric=(1, 2, 3)))

    device = data["device_profile"]
    parts.append('<h2 id="device">Device profile</h2>')
    power = (_h("{} W (measured)", num(device["compute_power_w"])) if device["power_measured"]
             else _h('<span class="warn">{} W, assumed, not measured: every energy number above scales '
                     "with this assumption</span>", num(device["compute_power_w"])))
    parts.append(_h('<dl class="meta"><dt>name</dt><dd>{}</dd><dt>kind</dt><dd>{}</dd><dt>compute power</dt>'
                    "<dd>{}</dd><dt>source</dt><dd>{}</dd></dl>", device["name"], device["kind"], power,
                    device["source"]))

    parts.append('<h2 id="latency-model">Latency model</h2>')
    model = data.get("latency_model")
    if not model:
        parts.append("<p>No latency regression in this bundle: model latencies are measured directly, not "
                     "predicted.</p>")
        return parts
    parts.append(_h("<p>Per-layer latency regression fitted on {} layer samples in {} s: MAPE <b>{}</b>, "
                    "median APE {} over {} models.</p>", num(model["layer_samples"]), f"{model['seconds']:.1f}",
                    f"{model['mape_pct']:.1f}%", f"{model['median_ape_pct']:.1f}%", len(model["models"])))
    if "latency_model" in plots:
        parts.append(_figure_html(plots, "latency_model", "predicted vs measured latency",
                                  "Predicted vs measured latency per model; the dashed line is y = x."))
    rows = [[r["model"], ms(r["measured_ms"]), ms(r["predicted_ms"]), f"{r['error_pct']:+.1f}%"]
            for r in model["models"]]
    parts.append(_table(["model", "measured", "predicted", "error"], rows, numeric=(1, 2, 3)))
    return parts


def _test_check_section(data: Mapping, words: Words) -> list[str]:
    check = data["test_check"]
    master_test = check.get("master_test_accuracy", data["master"]["test_accuracy"])
    rows = []
    for mode in ordered_modes(k for k in check if k != "master_test_accuracy"):
        entry = check[mode]
        if entry is None:
            continue
        fraction = data["targets"].get(mode)
        target = fraction * master_test if fraction is not None else None
        meets = "n/a" if target is None else ("yes" if entry["accuracy"] >= target - 1e-12 else "no")
        rows.append([mode_name(mode), pct(entry["accuracy"]), pct(entry["recovery_rate"]), pct(target), meets])
    return ['<h2 id="test-check">Test-split check</h2>',
            _h("<p>The configured systems re-run on the held-out test split (thresholds were set on val). "
               "Master alone on test: {}.</p>", pct(master_test)),
            _table(["mode", f"test {words.short}", "test P_r", "target on test", "meets target"], rows,
                   numeric=(1, 2, 3))]


def render_page(data: Mapping, plots: Mapping[str, str]) -> str:
    """The page's HTML for validated report data and the plots drawn ({key: file name}, as :func:`draw_plots` returns)."""
    words = Words.for_reference(data["reference"])
    nav = [("summary", "summary"), ("chosen", "chosen system"),
           *([("detectors", "detectors")] if data.get("detectors") is not None else []), ("selection", "selection"),
           ("placement", "placement"), ("outcomes", "outcomes"), ("calibration", "calibration"),
           ("models", "models"), *([("pruning", "pruning")] if any(m.get("pruning") for m in data["models"]) else []),
           ("network", "network"), ("device", "device"),
           ("latency-model", "latency model"), ("test-check", "test check"), ("notes", "notes")]
    notes = data.get("notes") or []
    body = [
        *_header(data, words),
        "<nav>" + "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in nav) + "</nav>",
        *_summary(data, words),
        *_chosen_section(data, words, plots),
        *_detectors_section(data, words, plots),
        *_selection_section(data, words, plots),
        *_outcomes_section(data, words),
        *_calibration_section(data, plots),
        *_models_section(data, words),
        *_pruning_section(data, words),
        *_environment_section(data, plots),
        *_test_check_section(data, words),
        '<h2 id="notes">Notes</h2>',
        ("<ul>" + "".join(_h("<li>{}</li>", n) for n in notes) + "</ul>") if notes
        else '<p class="muted">(none)</p>',
    ]
    title = _e(f"mmnet report: {data['bundle']['name']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def write_report(data: dict, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and its PNG plots from the report data; return the index path.

    The data's layout is ``schemas/report_data.schema.json``. Optional: ``chosen`` may be null
    (master-only everywhere: the curve and confidence plots are skipped and the page says so),
    ``latency_model`` may be null or absent, a model's ``calibration`` and ``latency_ms`` may be
    null, ``notes`` may be absent, ``calibration`` and ``candidates`` may be empty. The plots are
    written first and ``index.html`` last (atomically), so an index on disk always has its images.
    Raises :class:`~mmnet.format.errors.BundleError` (a ``ValueError``) naming the field when the
    data is malformed, before anything is written.
    """
    document = validate_report_data(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = draw_plots(document, out_dir)
    index = out_dir / "index.html"
    write_text_atomic(index, render_page(document, plots))
    log.info("report written to %s (%d plots)", index, len(plots))
    return index
