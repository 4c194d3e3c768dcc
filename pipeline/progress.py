"""Console progress for a pipeline whose work runs in other processes.

Beam's DirectRunner (multi_processing) executes DoFns in worker processes, whose counters the main
process only sees at the end. So every stage task appends a JSON line to
``<work>/events/<pid>.jsonl`` when it starts and ends, and a :class:`ProgressMonitor` thread in the
main process tails those files and draws one progress bar per stage. A task that a recomputing or
retrying runner runs again counts once: the counts are of distinct items and never exceed the total.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

__all__ = ["record_event", "stage_task", "ProgressMonitor", "read_events"]


def record_event(events_dir: str | Path, **event) -> None:
    """Appends one event line; a line is written with a single ``write`` so readers never see halves."""
    directory = Path(events_dir)
    directory.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": time.time(), "pid": os.getpid(), **event}) + "\n"
    with open(directory / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
        f.write(line)


@contextmanager
def stage_task(events_dir: str | Path, stage: str, item: str) -> Iterator[dict]:
    """Records ``start`` then ``done`` (or ``failed`` with the error) around one task.

    The yielded dict may be filled with a short ``summary`` shown when the task is done, and a cached
    stage's ``cached`` (a cache hit) and ``key``.
    """
    record_event(events_dir, stage=stage, item=item, state="start")
    info: dict = {}
    started = time.monotonic()
    try:
        yield info
    except Exception as e:
        record_event(events_dir, stage=stage, item=item, state="failed", error=f"{type(e).__name__}: {e}",
                     seconds=round(time.monotonic() - started, 2))
        raise
    extra = {name: info[name] for name in ("cached", "key") if name in info}
    record_event(events_dir, stage=stage, item=item, state="done", summary=info.get("summary", ""),
                 seconds=round(time.monotonic() - started, 2), **extra)


def read_events(events_dir: str | Path) -> list[dict]:
    events = []
    for path in sorted(Path(events_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):
                events.append(json.loads(line))
    return sorted(events, key=lambda e: e["time"])


class ProgressMonitor:
    """Logs each finished task as a line and, on a terminal, keeps one bar over all tasks."""

    def __init__(self, events_dir: Path, totals: dict[str, int], *, stream: TextIO | None = None, interval_s: float = 0.5):
        self._events_dir = Path(events_dir)
        self._totals = totals
        self._stream = stream or sys.stderr
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mmnet-progress", daemon=True)
        self._seen = 0
        self._done = {stage: 0 for stage in totals}
        self._finished: dict[str, set[str]] = {}  # stage -> items done or failed
        self._stage_width = max(map(len, totals), default=8)  # the stage column lines up
        self._bar: tqdm | None = None
        self._started = time.monotonic()

    def __enter__(self) -> ProgressMonitor:
        if self._stream.isatty():
            self._bar = tqdm(total=sum(self._totals.values()), desc="build", unit="task", file=self._stream,
                             dynamic_ncols=True, mininterval=0.5)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        if self._bar is not None:
            self._bar.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._poll()

    def _write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self._stream)
        else:
            print(message, file=self._stream, flush=True)

    def _poll(self) -> None:
        if not self._events_dir.exists():
            return
        events = read_events(self._events_dir)
        for event in events[self._seen:]:
            stage = event["stage"]
            if event["state"] == "start":
                if self._bar is not None:
                    self._bar.set_postfix_str(f"{stage} {event['item']}", refresh=False)
                continue
            finished = self._finished.setdefault(stage, set())
            if event["item"] in finished:  # a recomputed or retried task: counted once
                continue
            finished.add(event["item"])
            self._done[stage] = len(finished)
            count = f"{self._done[stage]}/{self._totals.get(stage, '?')}"
            elapsed = time.monotonic() - self._started
            if event["state"] == "done" and event.get("cached"):
                detail = f"cached {event.get('summary', '')}".rstrip()
            elif event["state"] == "done":
                detail = f"done in {event['seconds']:.0f}s {event.get('summary', '')}".rstrip()
            else:
                detail = f"FAILED: {event['error']}"
            self._write(f"[{elapsed:5.0f}s] {stage:<{self._stage_width}} {count:>5}  {event['item']}  {detail}")
            if self._bar is not None:
                self._bar.update(1)
        self._seen = len(events)
