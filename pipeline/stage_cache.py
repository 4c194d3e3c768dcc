"""Content-addressed, retry-safe stage outputs.

Every stage task's output lives in ``<root>/<stage>/<key>/``, where the key is a hash of the stage's
code version, its config section and its inputs' keys (:func:`stage_key`). A task first looks its key
up; only on a miss does it compute, into a fresh temporary directory that is published whole:

- local roots (the default): the directory is renamed onto its key, atomically. A task that loses a
  race with a twin (a recomputing or retrying runner) finds the winner's entry and discards its own.
- any other fsspec URL (``gs://``, ``s3://``, …): the files are uploaded, then ``entry.json`` last;
  an entry counts only once its ``entry.json`` exists and every file it lists has its recorded size.
  A reader on another machine mirrors the entry into a local directory before use.

So a task killed half-way leaves only a temporary directory, never an entry that looks complete, and
a rerun (or a runner recomputing a collection for a second consumer) reuses what is there.

An entry's record is the stage's JSON output with its own directory written as ``${ENTRY}``, so the
same entry serves any machine that mounts or mirrors the root elsewhere.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import fsspec

from mmnet.format.errors import BundleError

__all__ = ["ENTRY", "ENTRY_RECORD", "CacheEntry", "StageCache", "code_version", "path_fingerprint", "stage_key"]

ENTRY = "${ENTRY}"  # an entry's own directory, inside its record
ENTRY_RECORD = "entry.json"  # written last: its presence (and the sizes it lists) commits the entry
_TEMP_MARK = ".tmp-"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stage_key(stage: str, code: str, config: Any, inputs: Any) -> str:
    """The cache key of one stage task: the same code, config section and inputs give the same key."""
    text = _canonical({"stage": stage, "code": code, "config": config, "inputs": inputs})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def code_version(*modules: str) -> str:
    """A hash of the named modules' (or packages') source files: editing a stage's code changes its keys."""
    digest = hashlib.sha256()
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ValueError(f"code_version: no source for module {module!r}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(path.as_posix().rsplit("/", 1)[-1].encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def path_fingerprint(path: str | Path) -> list:
    """Names, sizes and modification times under ``path``: a changed input file changes the key."""
    path = Path(path)
    if not path.exists():
        return [str(path), None]
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [str(path)] + [[p.relative_to(path).as_posix() if p != path else p.name, p.stat().st_size, p.stat().st_mtime_ns]
                          for p in files]


def _substitute(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_substitute(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, old, new) for k, v in value.items()}
    return value


class CacheEntry:
    """A found or freshly published entry: its record (paths resolved) and whether it was a hit."""

    def __init__(self, stage: str, key: str, directory: Path, record: Any, hit: bool):
        self.stage, self.key, self.directory, self.record, self.hit = stage, key, directory, record, hit


class StageCache:
    """The stage outputs under ``root`` (a local path or an fsspec URL); small and picklable."""

    def __init__(self, root: str | os.PathLike, mirror: str | os.PathLike | None = None):
        self.root = str(root)
        fs, path = fsspec.core.url_to_fs(self.root)
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        self._base = path.rstrip("/")
        default_mirror = Path(tempfile.gettempdir()) / "mmnet-stage-mirror" / hashlib.sha256(self.root.encode()).hexdigest()[:12]
        self.mirror = Path(mirror) if mirror is not None else default_mirror

    def _fs(self):
        return fsspec.core.url_to_fs(self.root)[0]

    def _url(self, stage: str, key: str) -> str:
        return f"{self._base}/{stage}/{key}"

    def local_dir(self, stage: str, key: str) -> Path:
        """Where the entry's files are on this machine (the root itself when it is local)."""
        return Path(self._url(stage, key)) if self._local else self.mirror / stage / key

    def lookup(self, stage: str, key: str) -> CacheEntry | None:
        """The committed entry for ``key``, or None (also for one whose files are incomplete)."""
        fs = self._fs()
        url = self._url(stage, key)
        try:
            manifest = json.loads(fs.cat_file(f"{url}/{ENTRY_RECORD}"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        for name, size in manifest["files"].items():
            try:
                if fs.size(f"{url}/{name}") != size:
                    return None
            except FileNotFoundError:
                return None
        directory = self.local_dir(stage, key)
        if not self._local:
            self._mirror(fs, url, directory, manifest["files"])
        return CacheEntry(stage, key, directory, _substitute(manifest["record"], ENTRY, str(directory)), hit=True)

    def _mirror(self, fs, url: str, directory: Path, files: dict[str, int]) -> None:
        def present(name: str, size: int) -> bool:
            return (directory / name).is_file() and (directory / name).stat().st_size == size

        if directory.is_dir() and all(present(n, s) for n, s in files.items()):
            return
        temp = directory.parent / f"{directory.name}{_TEMP_MARK}{uuid.uuid4().hex}"
        for name in files:
            (temp / name).parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{url}/{name}", str(temp / name))
        self._publish_local_dir(temp, directory)

    @staticmethod
    def _publish_local_dir(temp: Path, directory: Path) -> bool:
        """Renames ``temp`` onto ``directory``; False (and ``temp`` removed) when a twin got there first."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(temp, directory)
            return True
        except OSError:
            if not directory.is_dir():
                raise
            shutil.rmtree(temp, ignore_errors=True)
            return False

    def get_or_compute(self, stage: str, key: str, compute: Callable[[Path], Any]) -> CacheEntry:
        """The entry for ``key``: found, or computed by ``compute(directory)`` and published atomically.

        ``compute`` writes its files into the (temporary) directory it is given and returns a JSON
        record; paths in the record under that directory are stored relative to the entry.
        """
        found = self.lookup(stage, key)
        if found is not None:
            return found
        if self._local:
            final = Path(self._url(stage, key))
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.parent / f".{key}{_TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        else:
            temp = Path(tempfile.mkdtemp(prefix=f"mmnet-{stage}-"))
        temp.mkdir(parents=True, exist_ok=True)
        try:
            record = compute(temp)
            stored = _substitute(record, str(temp), ENTRY)
            files = {p.relative_to(temp).as_posix(): p.stat().st_size for p in sorted(temp.rglob("*")) if p.is_file()}
            manifest = {"stage": stage, "key": key, "created_unix": time.time(), "files": files, "record": stored}
            if self._local:
                (temp / ENTRY_RECORD).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
                if not self._publish_local_dir(temp, final):
                    found = self.lookup(stage, key)
                    if found is None:
                        raise BundleError(f"stage cache: {final} exists but holds no complete entry")
                    return found
                return CacheEntry(stage, key, final, _substitute(stored, ENTRY, str(final)), hit=False)
            fs = self._fs()
            url = self._url(stage, key)
            for name in files:
                fs.makedirs(f"{url}/{name}".rsplit("/", 1)[0], exist_ok=True)
                fs.put_file(str(temp / name), f"{url}/{name}")
            fs.pipe_file(f"{url}/{ENTRY_RECORD}", json.dumps(manifest, indent=1).encode())
        finally:
            if temp.exists():  # a failed task's or an uploaded copy's files; a published one was renamed away
                shutil.rmtree(temp, ignore_errors=True)
        found = self.lookup(stage, key)
        if found is None:
            raise BundleError(f"stage cache: the entry just written to {self._url(stage, key)} cannot be read back")
        found.hit = False
        return found

    def forget(self, stages: Iterable[str]) -> int:
        """Removes every entry of ``stages`` (``--force``); returns how many were removed."""
        fs = self._fs()
        removed = 0
        for stage in stages:
            url = f"{self._base}/{stage}"
            if fs.exists(url):
                removed += len(fs.ls(url))
                fs.rm(url, recursive=True)
        return removed

    def remove_temporaries(self) -> int:
        """Deletes the temporary directories of tasks that died before publishing (local roots)."""
        if not self._local or not Path(self._base).is_dir():
            return 0
        stale = [p for p in Path(self._base).glob(f"*/.*{_TEMP_MARK}*") if p.is_dir()]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)
