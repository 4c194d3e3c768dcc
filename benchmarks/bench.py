"""``mmnet bench BUNDLE --out DIR``: hybrid vs mobile-only vs cloud-only over 3G / LTE / Wi-Fi.

For every network profile of the bundle's runtime config and every user mode, the bundle's test
split runs through the systems (mobile-only, cloud-only, the hybrid with the master where the selector
places it, on the device, and in the cloud) on two network paths (:mod:`mmnet.benchmarks.bench_systems`): the
config's network model (``analytical``), and real sockets through a link shaped to the profile into
a real master server (``measured``). Then the extras (:mod:`mmnet.benchmarks.bench_extras`): every
model at int8 / float16 / float32, the runtime's decision overhead and the build pipeline's fan-out
with 1 vs 2 Beam workers (``extras`` and ``fanout`` leave them out). Writes into DIR:

- ``results.json``: versioned, validated against ``benchmarks/schemas/bench_results.schema.json``;
  machine and git info, one record per system x profile x mode x path;
- ``results.md``: the tables, measured-vs-analytical agreement, the paper comparison (headline
  numbers, Table 5.5, Fig 5.6), the verdict per profile and mode and why the selector chose what it
  did (:mod:`mmnet.benchmarks.bench_report`);
- ``bench_<profile>.png`` (stacked latency and energy bars) and ``normalised.png``.

A multi-dsNN bundle (no runtime config, a ``multi_dsnn`` system) is measured beside its monolithic
network instead (:mod:`mmnet.benchmarks.bench_multi_dsnn`).

"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from mmnet.format.documents import validate_document
from mmnet.format.errors import BundleError, ConfigError, DependencyError, MmnetError

__all__ = ["RESULTS_SCHEMA_VERSION", "ResultsError", "run_bench", "validate_results",
           "machine_info", "git_info"]

RESULTS_SCHEMA_VERSION = "1.2"
_LOOPBACK_REQUESTS = 50


class ResultsError(MmnetError, ValueError):
    """A bench results document does not follow its JSON Schema."""


def validate_results(doc: Any, source: str = "results") -> None:
    """Checks ``doc`` against the bench results schema; ResultsError naming the JSON path otherwise."""
    validate_document(doc, "bench_results", source=source, package="mmnet.benchmarks", error=ResultsError)


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, Python and the LiteRT interpreter's backend and version."""
    from mmnet.runtime.interpreter import interpreter_backend

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    backend = interpreter_backend()
    package = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(backend, "tensorflow")
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"cores": os.cpu_count() or 1, "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "litert": {"backend": backend, "version": version}}


def git_info() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None/None outside git)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit.strip() if commit else None, "dirty": None if status is None else bool(status.strip())}


def _request_ms(url: str, bundle, frames) -> dict[str, float]:
    """Request times (ms) to the master server at ``url``, on a kept-alive connection, frames in the config's encoding."""
    import numpy as np

    from mmnet.runtime.remote import RemoteMaster

    upload = bundle.runtime_config.document["upload"]
    with RemoteMaster(url, bundle.name, timeout_s=10.0, num_classes=bundle.num_classes, encoding=upload["encoding"],
                      jpeg_quality=upload.get("jpeg_quality", 90)) as remote:
        for frame in frames[:3]:
            remote.predict(frame)  # connection and first-request costs
        times = np.array([remote.predict(frames[i % len(frames)]).rtt_ms for i in range(_LOOPBACK_REQUESTS)])
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "mean": float(times.mean()),
            "requests": _LOOPBACK_REQUESTS}


def _check_count(flag: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{flag} is {value!r}; expected an int >= 1")


def _frames_note(test: int, analytical: int, measured: int) -> str:
    if analytical == measured == test:
        return f"all {test} test frames on both paths."
    if analytical == measured:
        return f"the first {analytical} of the {test} test frames on both paths (--frames)."
    head = f"the first {analytical} of the {test} test frames (--frames)" if analytical < test else f"all {test} test frames"
    return (f"the measured path runs the first {measured} of the {test} test frames (--measured-frames); the analytical "
            f"path runs {head}.")


def _selection(bundle) -> dict[str, Any]:
    """Per profile and mode: the build's choice (runtime_config ``selection``) and what the runtime's selector decides on
    the profile's nominal link with the master where it likes (auto), on the device, and in the cloud."""
    from mmnet.benchmarks import bench_systems as bs
    from mmnet.runtime.selector import SelectorTables

    doc = bundle.runtime_config.document
    tables = SelectorTables.from_config(bundle.runtime_config)
    views: dict[str, Any] = {}
    for profile in doc["network_profiles"]:
        views[profile] = {}
        for mode, spec in doc["modes"].items():
            built = doc["selection"][profile][mode]
            placements = ("auto", "device", "cloud") if spec["cloud"] else ("auto", "device")
            views[profile][bs.MODE_NAMES[mode]] = {
                "built": {"system": built["system"], "placement": built["placement"],
                          "expected_ms": built["expected"]["latency_ms"], "why": built["why"]},
                **{p: bs.selector_view(tables, profile, mode, p) for p in placements}}
    return views


def _write_sieve_comparison(bundle, out: Path) -> None:
    """``sieve_compare.{json,md}``: the bundle's SIEVE systems beside its other speculative models and the
    paper, printed after the results."""
    import json

    from mmnet.pipeline.sieve.compare import comparison_markdown, sieve_comparison

    systems = json.loads((bundle.path / bundle.manifest["report"]["systems"]["file"]).read_text(encoding="utf-8"))
    doc = sieve_comparison(bundle.manifest, bundle.runtime_config.document, systems)
    (out / "sieve_compare.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    markdown = comparison_markdown(doc)
    (out / "sieve_compare.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def run_bench(bundle_dir: str | Path, out: str | Path, *, fanout: bool = True, extras: bool = True,
              frames: int | None = None, measured_frames: int | None = None, passes: int | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Runs the whole benchmark and writes ``out``; returns the results document.

    ``frames`` / ``measured_frames``: only the first N test frames on both paths / on the measured
    path; ``passes``: at most N passes per run (default :data:`bench_systems.PASSES`); ``extras``:
    the precision sweep and the decision overhead; ``fanout``: the pipeline's fan-out.
    """
    started = time.monotonic()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    _check_count("--frames", frames)
    _check_count("--measured-frames", measured_frames)
    _check_count("--passes", passes)
    from mmnet.format.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    if bundle.runtime_config is None and bundle.multi_dsnn is not None:
        from mmnet.benchmarks.bench_multi_dsnn import run_multi_dsnn_bench

        return run_multi_dsnn_bench(bundle, out, frames=frames, passes=passes, progress=progress)
    if bundle.runtime_config is None:
        raise BundleError(f"bundle {bundle.path} has no runtime_config.json; run `mmnet configure {bundle.path}`")
    try:
        from tqdm import tqdm

        from mmnet.benchmarks import bench_extras, bench_report
        from mmnet.benchmarks import bench_systems as bs
        from mmnet.benchmarks.results import write_results
        from mmnet.benchmarks.shaped_link import LinkShape, ShapedLink
        from mmnet.runtime.replay import master_answers
        from mmnet.runtime.runtime import Runtime
        from mmnet.server.launch import running_server_process
    except ImportError as e:
        raise DependencyError(f"`mmnet bench` needs the serve and pipeline extras: "
                              f"pip install 'mmnet[serve,pipeline]' ({e})") from e
    doc = bundle.runtime_config.document
    test_frames, test_labels = bundle.load_split("test")
    options = {"fanout": fanout, "extras": extras, "frames": frames, "measured_frames": measured_frames, "passes": passes}
    frame_count = len(test_frames) if frames is None else min(frames, len(test_frames))
    frames, labels = test_frames[:frame_count], test_labels[:frame_count]
    with Runtime(bundle, mode="mission_critical") as runtime:
        master_labels = master_answers(runtime, frames)
    measured_n = len(frames) if measured_frames is None else min(measured_frames, len(frames))
    max_passes = bs.PASSES if passes is None else passes

    slots = bs.plan_runs(doc)
    runs = list(dict.fromkeys(slot.run for slot in slots if slot.run is not None))
    # Mobile-only, then per profile its analytical runs and its measured ones: the runs a record compares are
    # close together in every round.
    order = [None, *doc["network_profiles"]]
    runs.sort(key=lambda r: (order.index(None if r.system in ("mobile-only", "hybrid-device") else r.profile),
                             r.path == "measured"))
    measured_profiles = list(dict.fromkeys(r.profile for r in runs if r.path == "measured"))
    extra_steps = 2 * int(extras) + int(fanout)  # precisions, overhead, fan-out
    with tqdm(total=1 + max_passes * len(runs) + extra_steps, desc="mmnet bench", unit="step",
              disable=not progress) as bar:
        def step(what: str) -> None:
            bar.set_postfix_str(what)

        # The server is up for every run, so all of them see the same host (its process idles on device-only runs).
        step("master server")
        unshaped = LinkShape(up_mbps=1e5, down_mbps=1e5, one_way_delay_ms=0.0)  # the proxy hop alone
        host_compute_ms = bs.master_compute_ms(bundle, frames)
        with running_server_process(bundle.path, threads=1) as url:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            # What the HTTP stack and the proxy hop cost by themselves: direct, and through an unshaped link.
            loopback = _request_ms(url, bundle, frames)
            with ShapedLink(host, int(port), unshaped) as link:
                proxied = _request_ms(link.url(), bundle, frames)
            bar.update()
            # Every run's runtime stays open, and every profile's shaped link up, while their passes go round robin.
            with ExitStack() as stack:
                links = {p: stack.enter_context(ShapedLink(host, int(port),
                                                           LinkShape.from_profile(bs.network_profile(doc, p))))
                         for p in measured_profiles}
                measurements = []
                for run in runs:
                    if run.path == "measured":
                        cloud, n = (bs.MeasuredCloud(links[run.profile], host_compute_ms, doc["upload"], bundle.name,
                                                     bundle.num_classes), measured_n)
                    elif run.path is None:
                        cloud, n = None, len(frames)
                    else:
                        cloud, n = bs.AnalyticalCloud(bundle, bs.network_profile(doc, run.profile)), len(frames)
                    measurements.append(stack.enter_context(bs.RunPasses(
                        run, bundle, frames[:n], labels[:n], master_labels[:n], cloud=cloud, progress=progress)))

                def make_pass(measurement) -> float:
                    step(f"{measurement.run.key} pass {measurement.passes_made + 1}")
                    seconds = measurement.make_pass()
                    bar.update()
                    return seconds

                round_s = bs.interleave(measurements, make_pass, passes=max_passes)
                bar.total = bar.n + extra_steps  # runs that fit fewer passes leave steps of the estimate unused
                bar.refresh()
                outcomes = {m.run: m.summary() for m in measurements}
        link_stats = {p: link.stats() for p, link in links.items()}  # after the runtimes and links closed
        shaper = ShapedLink.shaper

        precisions = overhead = None
        if extras:
            step("precisions")
            precisions = bench_extras.compare_precisions(bundle)
            bar.update()
            step("decision overhead")
            overhead = bench_extras.measure_overhead(bundle)
            bar.update()
        fanout_result = None
        if fanout:
            step("pipeline fan-out (1 vs 2 Beam workers)")
            fanout_result = bench_extras.measure_fanout()
            bar.update()

    records = []
    for slot in slots:
        record = {"system": slot.system, "profile": slot.profile, "mode": bs.MODE_NAMES[slot.mode], "path": slot.path,
                  "applicable": slot.run is not None}
        if slot.run is None:
            record["reason"] = slot.note
        else:
            record.update(outcomes[slot.run])
            record["note"] = slot.note or None
        records.append(record)

    result = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "options": options,
        "method": {**bs.METHOD, "passes": max_passes, "rounds": len(round_s), "round_s": [round(r, 2) for r in round_s]},
        "machine": machine_info(),
        "git": git_info(),
        "bundle": {"name": bundle.name, "path": str(bundle.path), "master": doc["master"]["model"],
                   "dataset": bundle.manifest["dataset"]["source"],
                   "frame_shape": "x".join(str(d) for d in bundle.preprocessing.frame_shape),
                   "test_frames": len(test_frames), "targets": doc["targets"], "device_profile": doc["device_profile"],
                   "models": {m: {"role": "master" if m == doc["master"]["model"] else "minion",
                                  "test_accuracy": bundle.model(m).test_accuracy,
                                  **{k: v[k] for k in ("total_ms", "energy_mj", "resolution")}}
                              for m, v in doc["latency"].items()}},
        "selection": _selection(bundle),
        "shaper": shaper,
        "network": {
            "profiles": {p: {k: v for k, v in doc["network_profiles"][p].items() if k != "source"}
                         for p in doc["network_profiles"]},
            "upload": doc["upload"],
            "frames": {"analytical": len(frames), "measured": measured_n, "measured_note": _frames_note(
                len(test_frames), len(frames), measured_n)},
        },
        "server": {"how": "mmnet serve (mmnet.server.launch.serve) in a child process, 1 interpreter, loopback",
                   "master_compute_ms": host_compute_ms, "loopback_request_ms": loopback, "proxy_request_ms": proxied},
        "links": link_stats,
        "records": records,
        "precisions": precisions,
        "overhead": overhead,
        "extras_note": None if extras else "skipped (--no-extras)",
        "fanout": fanout_result,
        "fanout_note": None if fanout else "skipped (--no-fanout)",
        "plots": [],
        "wall_time_s": 0.0,
    }
    out.mkdir(parents=True, exist_ok=True)
    result["plots"] = bench_report.write_plots(result, out)
    result["wall_time_s"] = round(time.monotonic() - started, 1)
    validate_results(result, f"{out / 'results.json'} (about to be written)")
    write_results(out, "results", result, bench_report.to_markdown(result))
    if any(m.sieve for m in bundle.models):
        _write_sieve_comparison(bundle, out)
    print(f"mmnet bench: wrote {out / 'results.json'}, {out / 'results.md'} and {len(result['plots'])} plots "
          f"in {result['wall_time_s']:.0f} s")
    return result
