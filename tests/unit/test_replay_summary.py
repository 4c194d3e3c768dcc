"""The run summary's oracle recovery rate: what a perfect misspeculation detector would recover."""

from types import SimpleNamespace

import numpy as np

from mmnet.runtime.replay import oracle_recovery_rate


def _frame(index: int, minion_answer: int | None) -> SimpleNamespace:
    return SimpleNamespace(index=index, minion_answer=minion_answer)


def test_counts_frames_a_minion_got_wrong_and_the_master_right():
    labels = np.array([0, 1, 2, 3, 4])
    master = np.array([0, 1, 2, 9, 4])
    results = [
        _frame(0, 0),     # minion right: nothing to recover
        _frame(1, 7),     # minion wrong, master right: the oracle recovers it
        _frame(2, None),  # the minions did not run (master path)
        _frame(3, 8),     # both wrong: recovering it gains nothing
        _frame(4, 5),     # minion wrong, master right
    ]
    assert oracle_recovery_rate(results, labels, master) == 2 / 5


def test_uses_each_frames_own_index():
    labels = np.array([3, 3, 3])
    master = np.array([3, 0, 3])
    # Frame 1 was lost, so the results skip it: index 2's master answer must be read, not index 1's.
    results = [_frame(0, 3), _frame(2, 1)]
    assert oracle_recovery_rate(results, labels, master) == 1 / 2


def test_no_frames_gives_zero():
    assert oracle_recovery_rate([], np.array([1]), np.array([1])) == 0.0
