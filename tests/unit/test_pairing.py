"""Pairing under a latency budget, master placement, and the never-slower-than-the-master rule."""

import pytest

from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import MASTER_ONLY
from mmnet.pipeline.pairing import Candidate, Cost, choose_placement, choose_system, expected_cost

COSTS = {"a": Cost(1.0, 2.0), "b": Cost(2.0, 3.0), "c": Cost(6.0, 9.0), "d": Cost(0.5, 1.0)}
MASTER = Cost(10.0, 20.0)


def _candidate(name, minions, recovery, meets=True, accuracy=0.99):
    return Candidate(name, minions, meets, recovery, accuracy, recovery, accuracy)


def _choose(candidates, master=MASTER, execution="serial"):
    return choose_system(candidates, COSTS, master, placement="device", execution=execution,
                         master_accuracy=(0.99, 0.98), target=1.0)


def test_expected_cost_follows_the_paper_formula():
    cost = expected_cost([COSTS["a"], COSTS["b"]], 0.2, MASTER, "serial")
    assert cost.latency_ms == pytest.approx(1.0 + 2.0 + 0.2 * 10.0)
    assert cost.energy_mj == pytest.approx(2.0 + 3.0 + 0.2 * 20.0)
    parallel = expected_cost([COSTS["a"], COSTS["b"]], 0.2, MASTER, "parallel")
    assert parallel.latency_ms == pytest.approx(2.0 + 0.2 * 10.0)
    assert parallel.energy_mj == pytest.approx(cost.energy_mj)  # both minions still run
    with pytest.raises(ConfigError, match="serial"):
        expected_cost([COSTS["a"]], 0.2, MASTER, "sometimes")


def test_lowest_expected_latency_wins_and_runner_ups_follow():
    choice = _choose([
        _candidate("pair:a+b", ("a", "b"), 0.10),  # 3 + 1 = 4
        _candidate("pair:a+d", ("a", "d"), 0.30),  # 1.5 + 3 = 4.5
        _candidate("single:d", ("d",), 0.50),  # 0.5 + 5 = 5.5
    ])
    assert choice.system == "pair:a+b"
    assert choice.latency_ms == pytest.approx(4.0)
    assert choice.runner_ups == ("pair:a+d", "single:d")
    assert "pair:a+b" in choice.why and "< master alone 10.00 ms" in choice.why


def test_candidates_missing_the_target_or_the_budget_are_not_chosen():
    choice = _choose([
        _candidate("pair:a+d", ("a", "d"), 0.01, meets=False),  # fastest but misses the target
        _candidate("pair:b+c", ("b", "c"), 0.0),  # minions alone take 8 ms: within the 10 ms budget
        _candidate("pair:c+c2", ("c", "c"), 0.0),  # 12 ms of minions > the master's 10 ms: never a candidate
    ])
    assert choice.system == "pair:b+c"
    rows = {row["system"]: row for row in choice.evaluated}
    assert rows["pair:c+c2"]["minions_faster_than_master"] is False
    assert rows["pair:a+d"]["meets_target"] is False
    assert rows[MASTER_ONLY]["chosen"] is False and rows["pair:b+c"]["chosen"] is True


def test_master_alone_when_no_hybrid_is_faster():
    # 3 ms of minions + 80% of 10 ms = 11 ms > 10 ms: a hybrid slower than the master is never shipped.
    choice = _choose([_candidate("pair:a+b", ("a", "b"), 0.8)])
    assert choice.system == MASTER_ONLY
    assert choice.latency_ms == 10.0 and choice.recovery_rate == 1.0
    assert "no faster" in choice.why
    assert choice.runner_ups == ("pair:a+b",)


def test_master_alone_when_nothing_reaches_the_target():
    choice = _choose([_candidate("pair:a+b", ("a", "b"), 0.1, meets=False)])
    assert choice.system == MASTER_ONLY
    assert "no minion system reaches" in choice.why


def test_parallel_execution_can_change_the_choice():
    candidates = [_candidate("pair:a+b", ("a", "b"), 0.05), _candidate("single:a", ("a",), 0.20)]
    assert _choose(candidates, execution="serial").system == "single:a"  # 3.0 ms vs 3.5 ms
    assert _choose(candidates, execution="parallel").system == "pair:a+b"  # 2.5 ms vs 3.0 ms


def test_equal_latency_is_broken_by_energy():
    candidates = [_candidate("single:a", ("a",), 0.25), _candidate("pair:a+b", ("a", "b"), 0.05)]
    choice = _choose(candidates)  # both 3.5 ms; the pair 6 mJ, the single 7 mJ
    assert choice.system == "pair:a+b"


def test_placement_picks_the_faster_side_unless_the_mode_is_private():
    device, cloud = Cost(30.0, 60.0), Cost(12.0, 40.0)
    assert choose_placement(device, cloud, cloud_allowed=True)[0] == "cloud"
    assert choose_placement(device, Cost(45.0, 10.0), cloud_allowed=True)[0] == "device"
    assert choose_placement(device, cloud, cloud_allowed=False) == ("device", "this mode never leaves the device")
