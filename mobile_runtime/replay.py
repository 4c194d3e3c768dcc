"""Streams frames through a :class:`~mmnet.runtime.runtime.Runtime` and summarises the run (``mmnet run``).

Frames are replayed at a fixed interval (``frame_interval_ms``): 1000 ms by default, so frames of a
dataset count as independent stills; ~33 ms emulates a 30 fps camera, where the speculation
history rules apply to consecutive frames.

A frame no path could answer is lost: the replay goes on, counts it by cause (``frames_lost``,
``lost_by_cause``) and writes its error to the trace; ``mmnet run`` then exits non-zero.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TextIO

import numpy as np
from tqdm import tqdm

from mmnet.format.errors import DataError
from mmnet.runtime.interpreter import TFLiteClassifier, check_model_file
from mmnet.runtime.preprocessing import conform_frame, preprocess
from mmnet.runtime.runtime import FrameLostError, FrameResult, Runtime

__all__ = ["SUMMARY_KEYS", "format_summary", "load_frames", "master_answers", "oracle_recovery_rate", "replay", "summarise",
           "write_summary"]

SUMMARY_KEYS = ("frames", "frames_lost", "lost_by_cause", "accuracy", "master_accuracy", "recovery_rate",
                "oracle_recovery_rate", "latency_ms", "energy_mj_per_frame", "fallbacks", "path_counts")


def master_answers(runtime: Runtime, frames: np.ndarray) -> np.ndarray:
    """The master's answers on every frame, off the timed path (for "accuracy beside the master's")."""
    bundle = runtime.bundle
    master = bundle.model(runtime.config.master_model)
    classifier = TFLiteClassifier(bundle.model_path(master.id), use_xnnpack=master.metrics.get("xnnpack", True))
    check_model_file(classifier, master.id, resolution=master.resolution, channels=bundle.preprocessing.channels,
                     num_classes=bundle.num_classes)
    spec = bundle.preprocessing
    height, width, _ = spec.frame_shape
    if frames.shape[1:3] != (height, width):  # conformed as Runtime.classify conforms each frame
        frames = np.stack([conform_frame(frame, height, width, spec.resize_policy) for frame in frames])
    return classifier.predict(preprocess(frames, spec, master.resolution)).argmax(axis=1)


def replay(
    runtime: Runtime,
    frames: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    frame_interval_ms: float = 1000.0,
    trace: TextIO | None = None,
    progress: bool = True,
) -> dict:
    """Classifies every frame in order and returns the summary; writes one JSON line per frame to ``trace``."""
    if frame_interval_ms < 0:
        raise DataError(f"frame interval is {frame_interval_ms} ms; expected >= 0")
    results: list[FrameResult] = []
    lost: Counter = Counter()  # by cause
    for i, frame in enumerate(tqdm(frames, desc="frames", unit="frame", disable=not progress, leave=False)):
        try:
            result = runtime.classify(frame, timestamp_s=i * frame_interval_ms / 1000.0, index=i)
        except DataError as e:
            raise DataError(f"frame {i}: {e}") from e
        except Exception as e:  # lost: FrameLostError (no path could answer), or a fault outside the paths
            cause = e.cause if isinstance(e, FrameLostError) else type(e).__name__
            lost[cause] += 1
            if trace is not None:
                trace.write(json.dumps({"index": i, "lost": True, "cause": cause, "error": f"{type(e).__name__}: {e}",
                                        "fallbacks": list(getattr(e, "fallbacks", ()))}) + "\n")
            continue
        results.append(result)
        if trace is not None:
            row = result.to_json()
            if labels is not None:
                row["true_label"] = int(labels[i])
            trace.write(json.dumps(row) + "\n")
    runtime.wait_for_audits()
    return summarise(runtime, results, labels, lost, master_answers(runtime, frames) if labels is not None else None)


def oracle_recovery_rate(results: list[FrameResult], labels: np.ndarray, master: np.ndarray) -> float:
    """The share of frames a perfect detector would send to the master: the minions ran and answered
    wrong, and the master answers right. Frames the minions did not run on count as not recovered,
    as in the achieved recovery rate."""
    needed = sum(1 for r in results
                 if r.minion_answer is not None and r.minion_answer != labels[r.index] and master[r.index] == labels[r.index])
    return needed / max(len(results), 1)


def summarise(runtime: Runtime, results: list[FrameResult], labels: np.ndarray | None, lost: Counter,
              master: np.ndarray | None) -> dict:
    """The run's summary (:data:`SUMMARY_KEYS` and more); ``lost`` counts the lost frames by cause.

    ``master`` holds the master's answer on every frame (needed, with ``labels``, for the master's
    accuracy and the oracle recovery rate; both are None without them)."""
    master_accuracy = oracle = None
    if labels is not None and master is not None:
        master_accuracy, oracle = float(np.mean(master == labels)), oracle_recovery_rate(results, labels, master)
    stats = runtime.stats()
    latency = np.array([r.timings_ms["total"] for r in results]) if results else np.zeros(1)
    overhead = np.array([r.timings_ms["overhead"] for r in results]) if results else np.zeros(1)
    answered = np.array([r.label for r in results])
    indices = np.array([r.index for r in results], dtype=int)
    summary = {
        "frames": len(results) + sum(lost.values()),
        "frames_lost": sum(lost.values()),
        "lost_by_cause": dict(lost),
        "mode": runtime.mode,
        "network": runtime.profile,
        "accuracy": None if labels is None or not results else float(np.mean(answered == labels[indices])),
        "master_accuracy": master_accuracy,
        "recovery_rate": stats["recovered"] / max(len(results), 1),
        "oracle_recovery_rate": oracle,
        "latency_ms": {"mean": float(latency.mean()), "p50": float(np.percentile(latency, 50)),
                       "p95": float(np.percentile(latency, 95))},
        "overhead_us": {"p50": float(1000 * np.percentile(overhead, 50)), "mean": float(1000 * overhead.mean())},
        "energy_mj_per_frame": float(np.mean([r.energy_mj for r in results])) if results else 0.0,
        "fallbacks": stats["fallbacks"],
        "fallbacks_total": stats["fallbacks_total"],
        "unverified": stats["unverified"],
        "path_counts": stats["path_counts"],
        "audits": stats["audits"],
    }
    return summary


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _causes(lost_by_cause: dict[str, int]) -> str:
    return (": " + ", ".join(f"{cause} {n}" for cause, n in sorted(lost_by_cause.items()))) if lost_by_cause else ""


def format_summary(summary: dict) -> str:
    latency = summary["latency_ms"]
    audits = summary["audits"]
    lines = [
        f"{summary['frames']} frames ({summary['frames_lost']} lost{_causes(summary['lost_by_cause'])}), "
        f"mode {summary['mode']}, network {summary['network']}",
        f"  accuracy {_pct(summary['accuracy'])} (master alone on the same frames: {_pct(summary['master_accuracy'])})",
        f"  recovery rate {_pct(summary['recovery_rate'])} (oracle {_pct(summary['oracle_recovery_rate'])}: "
        "the frames a minion answered wrong and the master right); paths: "
        + ", ".join(f"{path} {count}" for path, count in sorted(summary["path_counts"].items())),
        f"  latency mean {latency['mean']:.3f} ms, p50 {latency['p50']:.3f} ms, p95 {latency['p95']:.3f} ms; "
        f"runtime overhead p50 {summary['overhead_us']['p50']:.1f} µs",
        f"  energy (estimated) {summary['energy_mj_per_frame']:.4f} mJ per frame",
        f"  fallbacks {summary['fallbacks_total']}"
        + (": " + ", ".join(f"{k} {v}" for k, v in sorted(summary["fallbacks"].items()))
           if summary["fallbacks"] else "")
        + (f"; {summary['unverified']} answers unverified" if summary["unverified"] else ""),
        f"  audits: {audits['sent']} sent, {audits['done']} done, {audits['disagree']} disagreed with the master"
        + (f" (live miss rate {_pct(audits['live_miss_rate'])})" if audits["live_miss_rate"] is not None else "")
        + (f"; {audits['skipped']} skipped" if audits["skipped"] else ""),
    ]
    return "\n".join(lines)


def write_summary(summary: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def load_frames(runtime: Runtime, *, split: str | None = None, frames: np.ndarray | None = None,
                labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The frames to replay and their labels: the bundle's recorded ``split``, or ``frames`` (and
    optional ``labels``) read elsewhere: uint8 ``(N, H, W, C)`` with the bundle's channels and any
    H and W (the runtime conforms each frame to the bundle's frame shape, timed as preprocessing).

    Reading other datasets is the caller's job (``mmnet run --input`` reads them with the
    pipeline's loaders), so the runtime depends on nothing beyond the bundle.
    """
    if (split is None) == (frames is None):
        raise DataError("load_frames takes exactly one of split (the bundle's val or test) or frames")
    if split is not None:
        return runtime.bundle.load_split(split)
    shape = runtime.bundle.preprocessing.frame_shape
    if (not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4
            or frames.shape[3] != shape[2] or 0 in frames.shape[1:3]):
        found = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise DataError(f"frames are {found}; the bundle expects uint8 (N, {', '.join(map(str, shape))}), or "
                        f"(N, H, W, {shape[2]}) of any H, W >= 1 (conformed to that frame shape)")
    if labels is not None and (not isinstance(labels, np.ndarray) or labels.shape != frames.shape[:1]):
        what = labels.shape if isinstance(labels, np.ndarray) else type(labels).__name__
        raise DataError(f"labels are {what}; expected one per frame, shape ({len(frames)},)")
    return frames, labels
