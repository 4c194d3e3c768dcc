"""The unit layer's guard is on: inside a unit test, processes, sockets and TensorFlow are refused."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.layers import LAYERS, TESTS_DIR, layer_of, layers_of_args, mixes_unit_with_others
from tests.support.unit_guard import (
    BLOCKED_MODULES,
    BlockedImportError,
    HeavyImportBlocker,
    UnitLayerViolation,
    already_imported,
    fail_skip_on_blocked_import,
)

ROOT = TESTS_DIR.parent


@pytest.mark.parametrize("start", [
    lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
    lambda: subprocess.Popen(["true"]),
    lambda: os.system("true"),
    lambda: os.fork(),
    lambda: os.posix_spawn("/bin/true", ["true"], dict(os.environ)),
], ids=["subprocess.run", "Popen", "os.system", "os.fork", "os.posix_spawn"])
def test_starting_a_process_raises(start):
    with pytest.raises(UnitLayerViolation, match=r"^unit tests start no processes; move this test to tests/integration$"):
        start()


def test_connecting_or_binding_a_socket_raises():
    with pytest.raises(UnitLayerViolation, match=r"^unit tests open no sockets \(loopback included\)"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    for method, address in (("bind", ("127.0.0.1", 0)), ("connect", ("127.0.0.1", 9)), ("connect_ex", ("127.0.0.1", 9))):
        with socket.socket() as sock, pytest.raises(UnitLayerViolation, match="open no sockets"):
            getattr(sock, method)(address)


@pytest.mark.parametrize("name", sorted(BLOCKED_MODULES) + ["tensorflow.lite", "apache_beam.runners"])
def test_importing_tensorflow_keras_or_beam_raises(name):
    top = name.split(".")[0]  # a submodule's import starts with its package's
    with pytest.raises(BlockedImportError, match=rf"^unit tests import no {top} \(imported '{top}'\); move this test"):
        importlib.import_module(name)
    assert already_imported(list(sys.modules)) == []


def test_the_blocker_comes_first_and_nothing_blocked_is_loaded():
    assert isinstance(sys.meta_path[0], HeavyImportBlocker)
    assert already_imported(list(sys.modules)) == []


def test_already_imported_names_each_blocked_package_once():
    assert already_imported(["numpy", "tensorflow", "tensorflow.python.framework", "keras.src", "kerasx"]) == [
        "keras", "tensorflow"]


def test_a_skip_after_a_refused_import_becomes_a_failure():
    blocker = HeavyImportBlocker()
    with pytest.raises(BlockedImportError):
        blocker.find_spec("tensorflow_datasets.core", None)
    skipped = SimpleNamespace(skipped=True, outcome="skipped", longrepr="could not import", nodeid="tests/unit/test_x.py::t")
    fail_skip_on_blocked_import(blocker, skipped)
    assert skipped.outcome == "failed"
    assert skipped.longrepr == ("tests/unit/test_x.py::t skipped because it imports tensorflow_datasets.core; "
                                "move this test to tests/integration")
    assert blocker.refused == []
    later = SimpleNamespace(skipped=True, outcome="skipped", longrepr="no IPv6", nodeid="tests/unit/test_y.py::t")
    fail_skip_on_blocked_import(blocker, later)  # nothing refused since: a skip stays a skip
    assert later.outcome == "skipped"


def test_layers_of_pytest_arguments():
    assert layer_of(TESTS_DIR / "unit" / "test_bundle.py") == "unit"
    assert layer_of(TESTS_DIR / "support" / "fake_adb.py") is None and layer_of(ROOT / "README.md") is None
    assert layers_of_args(["tests/unit/test_bundle.py::test_x"], ROOT) == {"unit"}
    assert layers_of_args(["unit", "e2e/test_pipeline_e2e.py"], TESTS_DIR) == {"unit", "e2e"}
    assert layers_of_args(["tests"], ROOT) == layers_of_args(["."], ROOT) == set(LAYERS)
    assert layers_of_args(["tests/support"], ROOT) == set()
    assert mixes_unit_with_others(frozenset({"unit", "integration"}))
    assert not mixes_unit_with_others(frozenset({"unit"})) and not mixes_unit_with_others(frozenset({"integration", "e2e"}))


def test_this_file_is_in_the_unit_layer(request):
    assert request.node.get_closest_marker("unit") is not None
    assert Path(request.node.path).parent == TESTS_DIR / "unit"
