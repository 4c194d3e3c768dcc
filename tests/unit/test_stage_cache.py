"""The content-addressed stage cache: keys, atomic publication, races, remote roots, progress counts."""

import io
import json
import os

import pytest

from mmnet.pipeline.progress import ProgressMonitor, record_event
from mmnet.pipeline.stage_cache import ENTRY, ENTRY_RECORD, StageCache, code_version, path_fingerprint, stage_key


def _write_model(directory, text="weights"):
    (directory / "model.bin").write_text(text)
    return {"path": str(directory / "model.bin"), "accuracy": 0.9}


def test_key_changes_with_code_config_and_inputs_only():
    base = stage_key("train", "code1", {"epochs": 2}, {"variant": "a"})
    assert base == stage_key("train", "code1", {"epochs": 2}, {"variant": "a"})
    assert len({base, stage_key("train", "code2", {"epochs": 2}, {"variant": "a"}),
                stage_key("train", "code1", {"epochs": 3}, {"variant": "a"}),
                stage_key("train", "code1", {"epochs": 2}, {"variant": "b"}),
                stage_key("export", "code1", {"epochs": 2}, {"variant": "a"})}) == 5
    assert stage_key("s", "c", {"a": 1, "b": 2}, None) == stage_key("s", "c", {"b": 2, "a": 1}, None)  # canonical JSON


def test_code_version_hashes_module_sources():
    assert code_version("mmnet.pipeline.stage_cache") != code_version("mmnet.pipeline.progress")
    assert code_version("mmnet.pipeline.datasets") == code_version("mmnet.pipeline.datasets")  # a package: all its files
    with pytest.raises(ValueError, match="no source"):
        code_version("mmnet.pipeline.no_such_module")


def test_path_fingerprint_sees_a_changed_file(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    before = path_fingerprint(tmp_path)
    (tmp_path / "a.txt").write_text("three")
    assert path_fingerprint(tmp_path) != before
    assert path_fingerprint(tmp_path / "missing") == [str(tmp_path / "missing"), None]


def test_miss_then_hit_with_paths_inside_the_entry(tmp_path):
    cache = StageCache(tmp_path / "stages")
    calls = []
    first = cache.get_or_compute("train", "k1", lambda d: calls.append(d) or _write_model(d))
    assert not first.hit and len(calls) == 1
    assert first.directory == tmp_path / "stages" / "train" / "k1"
    assert first.record["path"] == str(first.directory / "model.bin")
    stored = json.loads((first.directory / ENTRY_RECORD).read_text())
    assert stored["record"]["path"] == f"{ENTRY}/model.bin" and stored["files"] == {"model.bin": 7}
    second = cache.get_or_compute("train", "k1", lambda d: calls.append(d) or _write_model(d))
    assert second.hit and len(calls) == 1 and second.record == first.record


def test_a_failed_task_leaves_no_entry_and_no_temporary(tmp_path):
    cache = StageCache(tmp_path)

    def crash(directory):
        _write_model(directory)
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get_or_compute("train", "k", crash)
    assert cache.lookup("train", "k") is None
    assert list((tmp_path / "train").iterdir()) == []


def test_a_killed_task_is_never_found_and_its_temporary_is_removed(tmp_path):
    """kill -9 mid-task leaves a temporary directory (no entry.json); it is not an entry."""
    cache = StageCache(tmp_path)
    half = tmp_path / "train" / f".k.tmp-{os.getpid()}-dead"
    half.mkdir(parents=True)
    _write_model(half)
    assert cache.lookup("train", "k") is None
    assert cache.remove_temporaries() == 1 and not half.exists()
    assert not cache.get_or_compute("train", "k", _write_model).hit


def test_an_entry_with_a_truncated_file_is_not_a_hit(tmp_path):
    cache = StageCache(tmp_path)
    entry = cache.get_or_compute("export", "k", _write_model)
    (entry.directory / "model.bin").write_text("w")
    assert cache.lookup("export", "k") is None


def test_the_loser_of_a_race_reuses_the_winner_s_entry(tmp_path):
    """A twin (recomputed or retried task) publishes while this one computes: this one's output is dropped."""
    cache = StageCache(tmp_path)

    def compute_while_twin_finishes(directory):
        twin = StageCache(tmp_path).get_or_compute("train", "k", lambda d: _write_model(d, "twin"))
        assert not twin.hit
        return _write_model(directory, "mine")

    entry = cache.get_or_compute("train", "k", compute_while_twin_finishes)
    assert entry.hit  # found, not published
    assert (entry.directory / "model.bin").read_text() == "twin"
    assert [p.name for p in (tmp_path / "train").iterdir()] == ["k"]


def test_forget_removes_the_named_stages(tmp_path):
    cache = StageCache(tmp_path)
    cache.get_or_compute("train", "a", _write_model)
    cache.get_or_compute("export", "b", _write_model)
    assert cache.forget(["export", "evaluate"]) == 1
    assert cache.lookup("export", "b") is None and cache.lookup("train", "a") is not None


def test_a_remote_root_uploads_then_commits_and_readers_mirror(tmp_path):
    """Any fsspec URL (here fsspec's in-memory filesystem): entry.json last, a local mirror for readers."""
    root = f"memory://stage-cache-test-{os.getpid()}"
    writer = StageCache(root, mirror=tmp_path / "writer")
    entry = writer.get_or_compute("train", "k", _write_model)
    assert not entry.hit and entry.directory == tmp_path / "writer" / "train" / "k"
    assert (entry.directory / "model.bin").read_text() == "weights"
    reader = StageCache(root, mirror=tmp_path / "reader")
    found = reader.lookup("train", "k")
    assert found.hit and found.record["path"] == str(tmp_path / "reader" / "train" / "k" / "model.bin")
    assert (tmp_path / "reader" / "train" / "k" / "model.bin").read_text() == "weights"
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{root}/train/k/model.bin".removeprefix("memory://"), b"part")  # a half-written upload
    assert StageCache(root, mirror=tmp_path / "third").lookup("train", "k") is None
    fs.rm(root.removeprefix("memory://"), recursive=True)


def test_progress_counts_each_item_once_and_never_exceeds_its_total(tmp_path):
    """A recomputing runner repeats tasks: "train 17/9" must not happen."""
    events = tmp_path / "events"
    for _ in range(3):
        for item in ("a", "b"):
            record_event(events, stage="train", item=item, state="done", seconds=1.0, cached=False)
    stream = io.StringIO()
    with ProgressMonitor(events, {"train": 2}, stream=stream, interval_s=60):
        pass
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "1/2" in lines[0] and "2/2" in lines[1]
