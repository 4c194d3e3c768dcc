"""The unit layer guards itself (``tests/support/unit_guard.py``): every unit test runs with processes and
sockets refused, and the whole unit run with TensorFlow, Keras and Beam unimportable."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

from tests.support.layers import HOW_TO_RUN, layers_of_args, mixes_unit_with_others
from tests.support.unit_guard import HeavyImportBlocker, already_imported, fail_skip_on_blocked_import, no_processes_or_sockets

UNIT_DIR = Path(__file__).resolve().parent
BLOCKER = pytest.StashKey[HeavyImportBlocker]()


def pytest_configure(config: pytest.Config) -> None:
    if mixes_unit_with_others(layers_of_args(config.args, config.invocation_params.dir)):
        return  # only collecting (tests/conftest.py refuses to run such a mix): nothing to guard
    loaded = already_imported(list(sys.modules))
    if loaded:
        raise pytest.UsageError(f"{', '.join(loaded)} is imported before the unit tests start, so their import blocker "
                                f"would be moot; {HOW_TO_RUN}")
    # The stdlib asks `uname -p` once for the processor's name and caches it; the host device profile
    # reads it, so it is asked here, before processes are refused.
    platform.processor()
    blocker = HeavyImportBlocker()
    sys.meta_path.insert(0, blocker)
    config.stash[BLOCKER] = blocker


def pytest_unconfigure(config: pytest.Config) -> None:
    blocker = config.stash.get(BLOCKER, None)
    if blocker is not None:
        sys.meta_path.remove(blocker)


def guarded(item: pytest.Item) -> bool:
    return BLOCKER in item.config.stash and item.path.is_relative_to(UNIT_DIR)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if not guarded(item):
        return (yield)
    with no_processes_or_sockets():  # around setup, call and teardown: module fixtures included
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    fail_skip_on_blocked_import(item.config.stash.get(BLOCKER, None), report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    fail_skip_on_blocked_import(collector.config.stash.get(BLOCKER, None), report)
    return report
