"""``mmnet bench BUNDLE --out DIR``: hybrid vs mobile-only vs cloud-only over 3G / LTE / Wi-Fi.

For every network profile of the bundle's runtime config and every user mode, the bundle's test
split runs through the three systems on two network paths (:mod:`mmnet.benchmarks.bench_systems`): the
config's network model (``analytical``), and real sockets through a link shaped to the profile into
a real master server (``measured``). Then the extras (:mod:`mmnet.benchmarks.bench_extras`): every
model at int8 / float16 / float32, the runtime's decision overhead and the build pipeline's fan-out
with 1 vs 2 Beam workers. Writes into DIR:

- ``results.json``: versioned, validated against ``benchmarks/schemas/bench_results.schema.json``;
  machine and git info, one record per system x profile x mode x path;
- ``results.md``: the tables, measured-vs-analytical agreement, the paper comparison and the verdict
  (:mod:`mmnet.benchmarks.bench_report`);
- ``bench_<profile>.png`` (stacked latency and energy bars) and ``normalised.png``.

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

RESULTS_SCHEMA_VERSION = "1.1"
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
    """Request times (ms) to the master server at ``url``, on a kept-alive connection."""
    import numpy as np

    from mmnet.runtime.remote import RemoteMaster

    with RemoteMaster(url, bundle.name, timeout_s=10.0, num_classes=bundle.num_classes) as remote:
        for frame in frames[:3]:
            remote.predict(frame)  # connection and first-request costs
        times = np.array([remote.predict(frames[i % len(frames)]).rtt_ms for i in range(_LOOPBACK_REQUESTS)])
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "mean": float(times.mean()),
            "requests": _LOOPBACK_REQUESTS}


def run_bench(bundle_dir: str | Path, out: str | Path, *, fanout: bool = True, measured_frames: int | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Runs the whole benchmark and writes ``out``; returns the results document."""
    started = time.monotonic()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    if measured_frames is not None and (isinstance(measured_frames, bool) or not isinstance(measured_frames, int)
                                        or measured_frames < 1):
        raise ConfigError(f"--measured-frames is {measured_frames!r}; expected an int >= 1")
    from mmnet.format.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
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
    frames, labels = bundle.load_split("test")
    with Runtime(bundle, mode="mission_critical") as runtime:
        master_labels = master_answers(runtime, frames)
    measured_n = len(frames) if measured_frames is None else min(measured_frames, len(frames))

    slots = bs.plan_runs(doc)
    runs = list(dict.fromkeys(slot.run for slot in slots if slot.run is not None))
    # Mobile-only, then per profile its analytical runs and its measured ones: the runs a record compares are
    # close together in every round.
    order = [None, *doc["network_profiles"]]
    runs.sort(key=lambda r: (order.index(None if r.system == "mobile-only" else r.profile), r.path == "measured"))
    measured_profiles = list(dict.fromkeys(r.profile for r in runs if r.path == "measured"))
    extras = 2 + int(fanout)  # precisions, overhead, fan-out
    with tqdm(total=1 + bs.PASSES * len(runs) + extras, desc="mmnet bench", unit="step", disable=not progress) as bar:
        def step(what: str) -> None:
            bar.set_postfix_str(what)

        # The server is up for every run, so all of them see the same host (its process idles on device-only runs).
        step("master server")
        unshaped = LinkShape(up_mbps=1e5, down_mbps=1e5, one_way_delay_ms=0.0)  # the proxy hop alone
        host_compute_ms = bs.master_compute_ms(bundle, frames)
        server_ms = float(doc["upload"]["server_ms"])
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
                        cloud, n = (bs.MeasuredCloud(links[run.profile], host_compute_ms, server_ms, bundle.name,
                                                     bundle.num_classes), measured_n)
                    elif run.system == "mobile-only":
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

                round_s = bs.interleave(measurements, make_pass)
                bar.total = bar.n + extras  # runs that fit fewer passes leave steps of the estimate unused
                bar.refresh()
                outcomes = {m.run: m.summary() for m in measurements}
        link_stats = {p: link.stats() for p, link in links.items()}  # after the runtimes and links closed
        shaper = ShapedLink.shaper

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
        "options": {"fanout": fanout, "measured_frames": measured_frames},
        "method": {**bs.METHOD, "rounds": len(round_s), "round_s": [round(r, 2) for r in round_s]},
        "machine": machine_info(),
        "git": git_info(),
        "bundle": {"name": bundle.name, "path": str(bundle.path), "master": doc["master"]["model"],
                   "dataset": bundle.manifest["dataset"]["source"],
                   "frame_shape": "x".join(str(d) for d in bundle.preprocessing.frame_shape),
                   "test_frames": len(frames), "targets": doc["targets"], "device_profile": doc["device_profile"]},
        "shaper": shaper,
        "network": {
            "profiles": {p: {k: v for k, v in doc["network_profiles"][p].items() if k != "source"}
                         for p in doc["network_profiles"]},
            "upload": doc["upload"],
            "frames": {"analytical": len(frames), "measured": measured_n,
                       "measured_note": (f"all {len(frames)} test frames on both paths." if measured_n == len(frames) else
                                         f"the measured path runs the first {measured_n} of the {len(frames)} test frames "
                                         "(--measured-frames); the analytical path runs all.")},
        },
        "server": {"how": "mmnet serve (mmnet.server.launch.serve) in a child process, 1 interpreter, loopback",
                   "master_compute_ms": host_compute_ms, "loopback_request_ms": loopback, "proxy_request_ms": proxied},
        "links": link_stats,
        "records": records,
        "precisions": precisions,
        "overhead": overhead,
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
    print(f"mmnet bench: wrote {out / 'results.json'}, {out / 'results.md'} and {len(result['plots'])} plots "
          f"in {result['wall_time_s']:.0f} s")
    return result
