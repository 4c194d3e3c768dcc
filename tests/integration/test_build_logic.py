"""The build's decision logic in modules that import Beam or TensorFlow: the parity gate, the fan-out order,
distillation targets, Beam's failure lines, the work directory; and the build's console capture in a
child process.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mmnet.format.errors import ConfigError
from mmnet.pipeline.build import (
    CACHE_DIR,
    BuildError,
    BuildLockedError,
    TrainTask,
    _relative_cost,
    balanced_order,
    beam_args,
    build_lock,
    clear_run_state,
    collect_results,
    pipeline_failure,
    run_build,
    work_dir_for,
)
from mmnet.pipeline.buildlog import BUILD_LOG
from mmnet.pipeline.config import config_from_mapping
from mmnet.pipeline.evaluate import parity_gate
from mmnet.pipeline.train import soft_labels, variant_seed
from mmnet.pipeline.zoo.spec import VariantSpec


def test_parity_gate_rejects_a_drop_beyond_the_margin():
    decision = parity_gate(0.950, 0.975, 1.0)  # 2.5 points below
    assert not decision.blessed
    assert "rejected" in decision.reason and "2.50 points below" in decision.reason


def test_parity_gate_blesses_within_and_at_the_margin():
    assert parity_gate(0.970, 0.975, 1.0).blessed  # 0.5 points
    assert parity_gate(0.965, 0.975, 1.0).blessed  # exactly 1.0 point
    assert parity_gate(0.99, 0.975, 1.0).blessed  # TFLite better than Keras


def test_parity_gate_without_reference_or_margin_still_records_numbers():
    no_margin = parity_gate(0.5, 0.9, None)
    assert no_margin.blessed and "no parity gate configured" in no_margin.reason and "50.00%" in no_margin.reason
    imported = parity_gate(0.8, None, 1.0)
    assert imported.blessed and "imported" in imported.reason


def _config():
    return config_from_mapping({"name": "t", "dataset": {"source": "builtin:digits"}})


def _deal(order, workers):
    return [order[w::workers] for w in range(workers)]


def test_balanced_order_deals_similar_costs_to_each_worker():
    config = _config()
    tasks = [TrainTask(VariantSpec("resnet", 1.0, 16), "master")] + [
        TrainTask(VariantSpec(f, a, r), "minion") for f in ("mobilenet_v1", "mobilenet_v2") for a in (0.25, 0.5) for r in (8, 12)
    ]
    order = balanced_order(tasks, 2, config)
    assert sorted(t.name for t in order) == sorted(t.name for t in tasks)
    loads = [sum(_relative_cost(t, config) for t in group) for group in _deal(order, 2)]
    naive = [sum(_relative_cost(t, config) for t in group) for group in _deal(tasks, 2)]
    costs = [_relative_cost(t, config) for t in tasks]
    # No deal can beat the larger of the heaviest task and an even split; greedy stays within one task of it.
    lower_bound = max(max(costs), sum(costs) / 2)
    assert max(loads) <= lower_bound + sorted(costs)[-2]
    assert max(loads) < max(naive)


def test_balanced_order_with_one_worker_keeps_order():
    config = _config()
    tasks = [TrainTask(VariantSpec("mobilenet_v1", 0.5, 8), "minion"), TrainTask(VariantSpec("resnet", 1.0, 16), "master")]
    assert balanced_order(tasks, 1, config) == tasks


def test_soft_labels_soften_and_stay_distributions():
    p = np.array([[0.9, 0.09, 0.01]], dtype=np.float32)
    soft = soft_labels(p, 4.0)
    assert soft.sum() == pytest.approx(1.0, abs=1e-6)
    assert soft[0, 0] < 0.9 and soft[0, 2] > 0.01  # flatter than the teacher
    np.testing.assert_allclose(soft_labels(p, 1.0), p / p.sum(), atol=1e-6)


def test_variant_seed_is_stable_and_distinct():
    assert variant_seed(0, "a") == variant_seed(0, "a")
    assert variant_seed(0, "a") != variant_seed(0, "b")
    assert variant_seed(0, "a") != variant_seed(1, "a")


def test_pipeline_failure_names_the_transform_and_the_error():
    beam_line = ("mmnet.format.errors.DataError: npz:/d/x.npz: class '2' (label 2) has 1 example(s); "
                 "a stratified train/val/test split needs at least 3 per class [while running 'Prepare data']")
    assert pipeline_failure(beam_line) == ("'Prepare data' failed: DataError: npz:/d/x.npz: class '2' (label 2) has 1 "
                                           "example(s); a stratified train/val/test split needs at least 3 per class")
    assert pipeline_failure("RuntimeError: boom [while running 'Write bundle']") == "'Write bundle' failed: RuntimeError: boom"


def test_pipeline_failure_without_a_transform_keeps_the_message():
    assert pipeline_failure("Worker subprocess exited with return code 1") == (
        "the Beam pipeline failed: Worker subprocess exited with return code 1")
    assert pipeline_failure("  OSError: disk full \n") == "the Beam pipeline failed: OSError: disk full"


def test_work_dir_sits_beside_the_bundle_unless_given(tmp_path):
    assert work_dir_for(tmp_path / "bundles" / "digits") == tmp_path / "bundles" / ".digits.work"
    assert work_dir_for(tmp_path / "b", tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_clear_run_state_keeps_the_build_log_and_the_stage_cache(tmp_path):
    work = tmp_path / ".b.work"
    (work / "events").mkdir(parents=True)
    (work / CACHE_DIR / "train" / "k").mkdir(parents=True)
    (work / "teacher.npz").write_bytes(b"old")
    (work / BUILD_LOG).write_text("this build so far\n")
    (tmp_path / "outside").mkdir()
    (work / "link").symlink_to(tmp_path / "outside")
    clear_run_state(work)
    assert sorted(p.name for p in work.iterdir()) == sorted([BUILD_LOG, CACHE_DIR])
    assert (work / CACHE_DIR / "train" / "k").is_dir()
    assert (work / BUILD_LOG).read_text() == "this build so far\n"
    assert (tmp_path / "outside").is_dir()  # a symlink is removed, not followed
    clear_run_state(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


_CAPTURE_SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from pathlib import Path
    from mmnet.pipeline.buildlog import ConsoleCapture

    print("before", file=sys.stderr, flush=True)
    with ConsoleCapture() as capture:
        os.write(2, b"native before the log\\n")
        print("python stdout before the log")
        print("progress line", file=capture.console)
        capture.log_to(Path(sys.argv[1]))
        subprocess.run([sys.executable, "-c", "import sys; print('child stderr', file=sys.stderr); print('child stdout')"],
                       check=True)
        print("python stderr in the log", file=sys.stderr)
    print("after", file=sys.stderr)
    print("stdout after")
""")


def test_console_capture_sends_this_and_child_processes_output_to_the_log(tmp_path):
    """In a subprocess: the capture rewires descriptors 1 and 2, which pytest's own capture also uses."""
    log = tmp_path / "work" / BUILD_LOG
    log.parent.mkdir()
    log.write_text("an earlier build's log\n")
    done = subprocess.run([sys.executable, "-c", _CAPTURE_SCRIPT, str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["before", "progress line", "after"]
    assert done.stdout.splitlines() == ["stdout after"]
    assert log.read_text().splitlines() == ["native before the log", "python stdout before the log", "child stderr",
                                            "child stdout", "python stderr in the log"]


def _evaluated(item: str) -> dict:
    return {"kind": "evaluated", "key": f"k-{item}", "item": item, "value": {"record": {"id": item}}}


def _failed(item: str, stage: str) -> dict:
    return {"kind": "failed", "key": None, "item": item, "value": {"variant": item, "stage": stage, "error": "E: x"}}


def test_collect_results_keeps_each_item_once_and_a_retried_success():
    """A recomputing runner (Dask) can deliver an item twice, or a failed attempt beside a good one."""
    collected = collect_results([None, _evaluated("b"), _evaluated("a"), _evaluated("b"), _failed("a", "evaluate"),
                                 _failed("c", "train"), _failed("c", "train")])
    assert [e["item"] for e in collected["evaluated"]] == ["a", "b"]
    assert collected["failures"] == [_failed("c", "train")["value"]]
    assert collect_results([None]) == {"evaluated": [], "failures": []}
    with pytest.raises(BuildError, match="'trained'"):
        collect_results([{"kind": "trained", "key": "k", "item": "m", "value": {}}])


def test_dask_runner_gets_one_task_per_partition_unless_told_otherwise():
    config = config_from_mapping({"name": "d", "dataset": {"source": "builtin:digits"}})
    dask = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"
    assert beam_args(config, [dask])[-1] == "--dask_partition_size=1"
    assert "--dask_partition_size=1" not in beam_args(config, [dask, "--dask_npartitions=4"])
    assert not any(a.startswith("--dask") for a in beam_args(config))


def test_a_second_build_of_the_same_out_dir_is_refused(tmp_path):
    out = tmp_path / "bundle"
    with build_lock(out):
        with pytest.raises(BuildLockedError, match="another build is writing this bundle") as refused:
            with build_lock(out):
                pass
        assert f"pid {os.getpid()}" in str(refused.value)
    with build_lock(out):  # released
        pass


def test_force_names_a_known_stage(tmp_path):
    config = config_from_mapping({"name": "d", "dataset": {"source": "builtin:digits"}})
    with pytest.raises(ConfigError, match="--force: unknown stage 'training'"):
        run_build(config, tmp_path / "b", force=["training"])
