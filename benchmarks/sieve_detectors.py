"""The SIEVE systems' test accuracy against the recovery master's, per way of fitting the detector.

Configures a built bundle again from its own TFLite outputs (``build_configuration``, nothing is
rebuilt or rewritten) once per variant and prints, per SIEVE system of normal mode, the test
accuracy, the difference to the master, P_r and the detector's false negatives:

- the detector frames: the val frames the format search did not choose formats on (what ships), or
  all val frames (the search's own frames included, as before ``sieve.search_fraction``);
- the detector: both members in point mode (the default), per-class confidence or logistic alone,
  Learn-then-Test (``guaranteed``) at ε = 0.3% and 1%;
- the recovery master: the one the configure step picks, or the float32 master the search started from.

    .venv/bin/python -m mmnet.benchmarks.sieve_detectors bundles/digits-sieve --out results/sieve-detectors
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

from mmnet.benchmarks.logged import run_logged
from mmnet.format.errors import BundleError

__all__ = ["main", "VARIANTS"]

log = logging.getLogger("mmnet.benchmarks.sieve_detectors")

# name -> runtime.detector settings
VARIANTS = {
    "point, both members": {},
    "point, per-class confidence": {"members": ("per_class_confidence",)},
    "point, logistic": {"members": ("logistic",)},
    "guaranteed, ε 0.3%": {"threshold_mode": "guaranteed"},
    "guaranteed, ε 1%": {"threshold_mode": "guaranteed", "epsilon": {"normal": 0.01, "power_saving": 0.02}},
}


def _manifest(manifest: dict, *, all_val: bool, float_master: bool) -> dict:
    out = copy.deepcopy(manifest)
    for record in out["models"]:
        if all_val and record.get("sieve"):
            record["sieve"].pop("search_val_frames", None)
        if float_master and record["role"] == "master" and record["precision"] != "float32":
            record["blessed"] = False
    return out


def _rows(bundle_dir: Path) -> list[dict]:
    from mmnet.format.bundle import load_bundle
    from mmnet.pipeline.bundle import bundle_probabilities
    from mmnet.pipeline.config import DetectorConfig, EpsilonConfig, RuntimeSettings
    from mmnet.pipeline.configure import build_configuration
    from mmnet.pipeline.sieve.compare import sieve_comparison

    bundle = load_bundle(bundle_dir)
    if not any(m.sieve for m in bundle.models):
        raise BundleError(f"bundle {bundle_dir} has no SIEVE model; expected one built with sieve.enabled")
    probabilities, splits = bundle_probabilities(bundle)
    rows = []
    for all_val in (False, True):
        for float_master in (False, True):
            manifest = _manifest(bundle.manifest, all_val=all_val, float_master=float_master)
            for name, detector in VARIANTS.items():
                settings = dict(detector)
                if "epsilon" in settings:
                    settings["epsilon"] = EpsilonConfig(**settings["epsilon"])
                runtime = RuntimeSettings(single_minion_systems=True, detector=DetectorConfig(**settings))
                configuration = build_configuration(runtime, manifest, probabilities, splits, latency_model=None)
                doc = sieve_comparison(manifest, configuration.runtime_config, list(configuration.systems))
                master = doc["master"]
                reached = {r["system"]: r for r in doc["systems"] if r["kind"] == "sieve"}
                for model in sorted(m["id"] for m in manifest["models"] if m.get("sieve") and m["blessed"]):
                    # a SIEVE system no detector reached (or certified) is absent: the master answers every frame
                    rows.append({"detector frames": "all val" if all_val else "not searched",
                                 "master": master["id"], "detector": name, "system": f"single:{model}",
                                 "master_test": master["test_accuracy"], "row": reached.get(f"single:{model}")})
                log.info("configured: %s, %s, %s", "all val" if all_val else "held out", master["id"], name)
    return rows


def _markdown(rows: list[dict], bundle_dir: Path) -> str:
    lines = [f"# SIEVE systems vs the recovery master ({bundle_dir}; normal mode, test split)", "",
             "| detector frames | master | detector | system | test acc | vs master | P_r | FN |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        row = r["row"]
        if row is None:
            cells = "not certified / not reached: the master answers every frame | — | 100% | —"
        else:
            fn = row["false_negative_rate_test"]
            cells = (f"{100 * row['test_accuracy']:.2f}% | {100 * (row['test_accuracy'] - r['master_test']):+.2f} pt | "
                     f"{100 * row['test_recovery_rate']:.1f}% | {'—' if fn is None else f'{100 * fn:.1f}%'}")
        lines.append(f"| {r['detector frames']} | {r['master']} ({100 * r['master_test']:.2f}%) | {r['detector']} | "
                     f"{r['system']} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.sieve_detectors", description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="a bundle built with sieve.enabled")
    parser.add_argument("--out", type=Path, default=Path("results/sieve-detectors"))
    args = parser.parse_args(argv)

    def work() -> None:
        text = _markdown(_rows(args.bundle), args.bundle)
        (args.out / "sieve_detectors.md").write_text(text, encoding="utf-8")
        print(text)

    return run_logged("sieve_detectors", args.out, work)


if __name__ == "__main__":
    sys.exit(main())
