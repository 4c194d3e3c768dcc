"""The regression gate: a bundle compared with a previous one (``mmnet compare``, ``mmnet build --compare``).

Read from each bundle's manifest and runtime config (no TensorFlow, no models run):

- ``accuracy`` (higher is better): the master's, every system's per tuned mode (val and test) and the
  expectation of every network profile and user mode's selection (val and test);
- ``recovery_rate`` P_r (lower is better: fewer frames sent to the master), per system and mode and per
  selection, val and test;
- ``latency`` and ``energy`` (lower is better): the selection's expected latency and energy per network
  profile and mode;
- ``size`` (lower is better): every shipped model's file and the bundle's shipped bytes (models and
  runtime config).

Each kind has a tolerance (:class:`Tolerances`): absolute for the fractions (accuracy, recovery rate),
relative for the rest. A value worse than its baseline by more than its tolerance is a regression; a
worse one inside it is ``within_tolerance``; better ones are ``improved``; metrics only one bundle has
are ``added`` or ``removed`` (reported, never failed). The result is a document
(``compare_report.schema.json``) and a Markdown page.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mmnet.format.bundle import load_bundle
from mmnet.format.checks import check_number
from mmnet.format.documents import validate_document, write_json_atomic
from mmnet.format.errors import BundleError, ConfigError

__all__ = [
    "COMPARE_REPORT_SCHEMA_VERSION",
    "COMPARE_JSON",
    "COMPARE_MARKDOWN",
    "KINDS",
    "BundleSnapshot",
    "Tolerances",
    "compare_snapshots",
    "comparison_markdown",
    "gate_metrics",
    "load_tolerances",
    "read_snapshot",
    "write_comparison",
]

COMPARE_REPORT_SCHEMA_VERSION = "1.0"
COMPARE_JSON = "compare.json"
COMPARE_MARKDOWN = "compare.md"

# kind -> (which direction is better, whether its tolerance is relative to the baseline)
KINDS: dict[str, tuple[str, bool]] = {
    "accuracy": ("higher", False),
    "recovery_rate": ("lower", False),
    "latency": ("lower", True),
    "energy": ("lower", True),
    "size": ("lower", True),
}


@dataclass(frozen=True)
class Tolerances:
    """How much worse than the baseline each kind of metric may get before it is a regression.

    ``accuracy`` and ``recovery_rate`` are absolute fractions (0.005 = half a point); ``latency``,
    ``energy`` and ``size`` are relative to the baseline (0.10 = 10% more). The defaults let an
    unchanged rebuild pass (cached stages reproduce every number) and a re-measured host's latency
    wobble a little; a loosened threshold or a lost point of accuracy fails.
    """

    accuracy: float = 0.005
    recovery_rate: float = 0.01
    latency: float = 0.10
    energy: float = 0.10
    size: float = 0.05

    def __post_init__(self) -> None:
        for name in KINDS:
            relative = KINDS[name][1]
            check_number(f"tolerances.{name}", getattr(self, name), low=0.0, high=10.0 if relative else 1.0)

    @classmethod
    def from_mapping(cls, mapping: Any, source: str) -> Tolerances:
        """From a mapping such as a YAML file's ``{accuracy: 0.01, latency: 0.2}``; unnamed kinds keep their default."""
        if not isinstance(mapping, dict):
            raise ConfigError(f"{source}: the tolerances are a {type(mapping).__name__}; expected a mapping of "
                              f"{', '.join(KINDS)} to numbers")
        unknown = sorted(str(k) for k in mapping if k not in KINDS)
        if unknown:
            raise ConfigError(f"{source}: unknown tolerance {unknown[0]!r}; expected some of {', '.join(KINDS)}")
        try:
            return cls(**mapping)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from e

    def overridden(self, assignments: list[str], source: str = "--tolerance") -> Tolerances:
        """With ``KIND=VALUE`` assignments (the command line's ``--tolerance latency=0.2``) applied."""
        values = asdict(self)
        for assignment in assignments:
            kind, sep, text = assignment.partition("=")
            if not sep or kind not in KINDS:
                raise ConfigError(f"{source} is {assignment!r}; expected KIND=VALUE with KIND one of {', '.join(KINDS)}")
            try:
                values[kind] = float(text)
            except ValueError as e:
                raise ConfigError(f"{source} {kind} is {text!r}; expected a number") from e
        return Tolerances.from_mapping(values, source)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {f.name: {"value": getattr(self, f.name), "relative": KINDS[f.name][1]} for f in fields(self)}


def load_tolerances(path: str | Path | None, assignments: list[str] | tuple[str, ...] = ()) -> Tolerances:
    """The defaults, then a YAML/JSON file's values (``path``), then ``KIND=VALUE`` assignments."""
    tolerances = Tolerances()
    if path is not None:
        import yaml

        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"--tolerances: cannot read {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"--tolerances: {path} is not valid YAML: {e}") from e
        tolerances = Tolerances.from_mapping(document, str(path))
    return tolerances.overridden(list(assignments)) if assignments else tolerances


@dataclass(frozen=True)
class BundleSnapshot:
    """What the gate reads of a bundle: where it was, its manifest and its runtime config (None if it has none).

    Small and picklable, so a build can read its baseline before it starts (the baseline may be the very
    directory the build replaces) and hand it to whichever worker writes the bundle.
    """

    path: str
    manifest: dict[str, Any]
    runtime_config: dict[str, Any] | None


def read_snapshot(path: str | Path, what: str = "bundle") -> BundleSnapshot:
    """A verified bundle's snapshot (schema, checksums, runtime config); BundleError naming ``what`` and the path."""
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{what} {root} is not a directory; expected a bundle directory (one holding manifest.json)")
    try:
        bundle = load_bundle(root)
    except BundleError as e:
        raise BundleError(f"{what} {root} does not verify: {e}") from e
    config = bundle.runtime_config.document if bundle.runtime_config is not None else None
    return BundleSnapshot(path=str(root), manifest=bundle.manifest, runtime_config=config)


def gate_metrics(manifest: dict[str, Any], runtime_config: dict[str, Any] | None) -> dict[str, tuple[str, float]]:
    """Every gated number of one bundle: metric name -> (kind, value)."""
    metrics: dict[str, tuple[str, float]] = {}
    shipped = 0
    for model in manifest["models"]:
        if model.get("file"):
            metrics[f"models.{model['id']}.bytes"] = ("size", model["bytes"])
            shipped += model["bytes"]
    if manifest.get("runtime_config"):
        shipped += manifest["runtime_config"]["bytes"]
    metrics["bundle.shipped_bytes"] = ("size", shipped)
    if runtime_config is None:
        return metrics
    for split in ("val", "test"):
        metrics[f"master.{split}_accuracy"] = ("accuracy", runtime_config["master"][f"{split}_accuracy"])
    for system, spec in runtime_config["systems"].items():
        for mode, tuned in spec["modes"].items():
            for split in ("val", "test"):
                metrics[f"systems.{system}.{mode}.{split}.accuracy"] = ("accuracy", tuned[split]["accuracy"])
                metrics[f"systems.{system}.{mode}.{split}.recovery_rate"] = ("recovery_rate", tuned[split]["recovery_rate"])
    for profile, modes in runtime_config["selection"].items():
        for mode, chosen in modes.items():
            expected, where = chosen["expected"], f"selection.{profile}.{mode}"
            metrics[f"{where}.latency_ms"] = ("latency", expected["latency_ms"])
            metrics[f"{where}.energy_mj"] = ("energy", expected["energy_mj"])
            metrics[f"{where}.val.accuracy"] = ("accuracy", expected["accuracy"])
            metrics[f"{where}.test.accuracy"] = ("accuracy", expected["test_accuracy"])
            metrics[f"{where}.val.recovery_rate"] = ("recovery_rate", expected["recovery_rate"])
            metrics[f"{where}.test.recovery_rate"] = ("recovery_rate", expected["test_recovery_rate"])
    return metrics


def _status(kind: str, baseline: float, candidate: float, tolerances: Tolerances) -> tuple[str, float]:
    """The metric's status and how much worse it got (negative: better), in its tolerance's unit."""
    better, relative = KINDS[kind]
    worse_by = candidate - baseline if better == "lower" else baseline - candidate
    if relative:
        worse_by = worse_by / baseline if baseline else (math.inf if worse_by > 0 else 0.0)
    if candidate == baseline:
        return "unchanged", 0.0
    if worse_by < 0:
        return "improved", worse_by
    return ("regressed" if worse_by > getattr(tolerances, kind) else "within_tolerance"), worse_by


def _selection_notes(baseline: dict[str, Any] | None, candidate: dict[str, Any] | None) -> list[str]:
    """What the gate does not score but a reader wants to know: a changed system choice or master placement."""
    if baseline is None or candidate is None:
        side = "baseline" if baseline is None else "candidate"
        return [] if baseline is candidate else [f"the {side} has no runtime config: its system metrics are not compared"]
    notes = []
    for profile, modes in candidate["selection"].items():
        for mode, chosen in modes.items():
            before = baseline["selection"].get(profile, {}).get(mode)
            if before is None:
                continue
            for field in ("system", "placement"):
                if before[field] != chosen[field]:
                    notes.append(f"selection.{profile}.{mode}.{field}: {before[field]} -> {chosen[field]}")
    return notes


def compare_snapshots(baseline: BundleSnapshot, candidate: BundleSnapshot, tolerances: Tolerances) -> dict[str, Any]:
    """The comparison document (``compare_report.schema.json``): every metric's status and the verdict."""
    before = gate_metrics(baseline.manifest, baseline.runtime_config)
    after = gate_metrics(candidate.manifest, candidate.runtime_config)
    rows = []
    for name in sorted(set(before) | set(after)):
        kind = (after.get(name) or before[name])[0]
        better, relative = KINDS[kind]
        row: dict[str, Any] = {"metric": name, "kind": kind, "better": better,
                               "baseline": before[name][1] if name in before else None,
                               "candidate": after[name][1] if name in after else None,
                               "worse_by": None, "tolerance": getattr(tolerances, kind), "relative": relative}
        if name not in before:
            row["status"] = "added"
        elif name not in after:
            row["status"] = "removed"
        else:
            row["status"], worse_by = _status(kind, row["baseline"], row["candidate"], tolerances)
            row["worse_by"] = worse_by if math.isfinite(worse_by) else None
        rows.append(row)
    counts = {status: sum(r["status"] == status for r in rows) for status in _STATUSES}
    return {
        "schema_version": COMPARE_REPORT_SCHEMA_VERSION,
        "verdict": "regression" if counts["regressed"] else "pass",
        "baseline": _describe(baseline),
        "candidate": _describe(candidate),
        "tolerances": tolerances.to_json(),
        "counts": counts,
        "regressions": [r["metric"] for r in rows if r["status"] == "regressed"],
        "notes": _selection_notes(baseline.runtime_config, candidate.runtime_config),
        "metrics": rows,
    }


_STATUSES = ("regressed", "within_tolerance", "unchanged", "improved", "added", "removed")


def _describe(snapshot: BundleSnapshot) -> dict[str, Any]:
    manifest = snapshot.manifest
    return {"path": snapshot.path, "name": manifest["name"], "created_utc": manifest["created_utc"],
            "config_sha256": manifest["build"].get("config_sha256")}


def _value(kind: str, value: float | None) -> str:
    if value is None:
        return "-"
    if kind in ("accuracy", "recovery_rate"):
        return f"{100 * value:.2f}%"
    if kind == "size":
        return f"{value:,.0f} B"
    return f"{value:.3f} {'ms' if kind == 'latency' else 'mJ'}"


def _worse_by(row: dict[str, Any]) -> str:
    if row["worse_by"] is None:
        return "-"
    if row["relative"]:
        return f"{100 * row['worse_by']:+.1f}%"
    return f"{100 * row['worse_by']:+.2f} pts"


def _tolerance(row: dict[str, Any]) -> str:
    return f"{100 * row['tolerance']:.1f}%" if row["relative"] else f"{100 * row['tolerance']:.2f} pts"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """The comparison as a Markdown page: verdict, counts, regressions first, then every other metric."""
    counts = comparison["counts"]
    lines = [
        f"# Regression gate: {comparison['verdict'].upper()}",
        "",
        f"- baseline: `{comparison['baseline']['path']}` ({comparison['baseline']['name']}, "
        f"built {comparison['baseline']['created_utc']})",
        f"- candidate: `{comparison['candidate']['path']}` ({comparison['candidate']['name']}, "
        f"built {comparison['candidate']['created_utc']})",
        "- tolerances: " + ", ".join(
            f"{kind} {100 * spec['value']:g}{'%' if spec['relative'] else ' pts'}"
            for kind, spec in comparison["tolerances"].items()),
        "- metrics: " + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()),
        "",
        "'worse by' is the change in the bad direction (negative: better); percentage points for accuracy and "
        "recovery rate, percent of the baseline for latency, energy and size.",
        "",
    ]
    if comparison["notes"]:
        lines += ["## Changed choices (not scored)", "", *(f"- {note}" for note in comparison["notes"]), ""]
    order = {status: i for i, status in enumerate(_STATUSES)}
    rows = sorted(comparison["metrics"], key=lambda r: (order[r["status"]], r["metric"]))
    lines += ["## Metrics", "", "| status | metric | baseline | candidate | worse by | tolerance |",
              "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['status'].replace('_', ' ')} | `{row['metric']}` | {_value(row['kind'], row['baseline'])} | "
                     f"{_value(row['kind'], row['candidate'])} | {_worse_by(row)} | {_tolerance(row)} |")
    return "\n".join(lines) + "\n"


def write_comparison(comparison: dict[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """Validates the comparison and writes ``compare.json`` and ``compare.md`` into ``folder``."""
    folder = Path(folder)
    validate_document(comparison, "compare_report", source=str(folder / COMPARE_JSON))
    json_path = write_json_atomic(comparison, folder / COMPARE_JSON)
    markdown_path = folder / COMPARE_MARKDOWN
    markdown_path.write_text(comparison_markdown(comparison), encoding="utf-8")
    return json_path, markdown_path
