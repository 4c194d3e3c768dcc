"""The runtime's memory on a long audited stream: RSS while ``--frames`` frames run at ``--audit-rate``.

Frames are the bundle's test split, cycled, one second apart (independent stills, so every frame is
detected). The frames' master runs on the device; the audits go to a stand-in cloud master (a
``master_client``) that answers after ``--master-ms``, slower than the stream, so audits pile up:
at most ``--max-in-flight`` wait and the rest are counted as skipped. The process's resident memory
(``VmRSS``) is sampled every ``--every`` frames and should stay flat after the first sample.
Writes ``audit_memory.json`` and ``.md`` into ``--out``.

    .venv/bin/python -m mmnet.benchmarks.audit_memory bundles/digits --out results/runtime
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.format.checks import check_int, check_number
from mmnet.runtime.remote import RemoteResult
from mmnet.runtime.runtime import MAX_AUDITS_IN_FLIGHT, Runtime


def rss_mb() -> float:
    """The process's resident set size now (Linux ``/proc``), else its peak (``getrusage``), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class SlowMaster:
    """A cloud master that answers class 0 after ``delay_s``: it keeps audits in flight."""

    def __init__(self, num_classes: int, delay_s: float) -> None:
        self.probabilities = np.eye(num_classes, dtype=np.float32)[0]
        self.delay_s = delay_s

    def predict(self, frame: np.ndarray) -> RemoteResult:
        time.sleep(self.delay_s)
        return RemoteResult(probabilities=self.probabilities, rtt_ms=1000.0 * self.delay_s, attempts=1)

    def close(self) -> None:
        pass


def measure(bundle_dir: Path, *, frames: int = 100_000, audit_rate: float = 0.05, every: int = 12_500,
            master_ms: float = 20.0, max_in_flight: int = MAX_AUDITS_IN_FLIGHT) -> dict:
    """RSS and audit counters every ``every`` frames of a stream of ``frames`` frames."""
    check_int("--frames", frames, low=1)
    check_int("--every", every, low=1)
    check_number("--audit-rate", audit_rate, high=1.0)
    check_number("--master-ms", master_ms)
    bundle = load_bundle(bundle_dir)
    split, _ = bundle.load_split("test")
    master = SlowMaster(bundle.num_classes, master_ms / 1000.0)
    samples = [{"frames": 0, "rss_mb": rss_mb()}]
    started = time.perf_counter()
    with Runtime(bundle, mode="normal", placement="device", master_client=master, audit_rate=audit_rate,
                 max_audits_in_flight=max_in_flight) as runtime:
        for i in range(frames):
            runtime.classify(split[i % len(split)], timestamp_s=float(i))
            if (i + 1) % every == 0 or i + 1 == frames:
                samples.append({"frames": i + 1, "rss_mb": rss_mb(), "audits": runtime.stats()["audits"]})
        runtime.wait_for_audits(timeout_s=60.0 + max_in_flight * master_ms / 1000.0)
        audits = runtime.stats()["audits"]
    first = samples[1]["rss_mb"]
    return {
        "bundle": str(bundle_dir), "frames": frames, "audit_rate": audit_rate, "master_ms": master_ms,
        "max_audits_in_flight": max_in_flight, "seconds": time.perf_counter() - started, "samples": samples,
        "audits": audits, "rss_growth_after_first_sample_mb": max(s["rss_mb"] for s in samples[1:]) - first,
    }


def to_markdown(result: dict) -> str:
    a = result["audits"]
    lines = [
        f"# Memory on an audited stream: {result['bundle']}",
        "",
        f"{result['frames']} frames in {result['seconds']:.0f} s, audit rate {result['audit_rate']:g}, a master answering "
        f"in {result['master_ms']:g} ms, at most {result['max_audits_in_flight']} audits in flight.",
        "",
        "| frames | RSS (MB) | audits requested | sent | skipped | in flight |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result["samples"]:
        counts = s.get("audits")
        cells = ["-"] * 4 if counts is None else [counts[k] for k in ("requested", "sent", "skipped", "in_flight")]
        lines.append(f"| {s['frames']} | {s['rss_mb']:.1f} | " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", f"RSS growth after the first sample: {result['rss_growth_after_first_sample_mb']:+.1f} MB. "
              f"Audits at the end: {a['requested']} requested = {a['done']} done + {a['failed']} failed + "
              f"{a['skipped']} skipped."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/runtime"))
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--audit-rate", type=float, default=0.05)
    parser.add_argument("--every", type=int, default=12_500, help="frames between RSS samples")
    parser.add_argument("--master-ms", type=float, default=20.0, help="the stand-in cloud master's answer time")
    parser.add_argument("--max-in-flight", type=int, default=MAX_AUDITS_IN_FLIGHT)
    args = parser.parse_args(argv)
    result = measure(args.bundle, frames=args.frames, audit_rate=args.audit_rate, every=args.every,
                     master_ms=args.master_ms, max_in_flight=args.max_in_flight)
    write_results(args.out, "audit_memory", result, to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
