"""The CLI in process: `mmnet run`'s input and frame checks, and the one line an error becomes.

The commands as a user runs them, in a child process, are tested in tests/integration/test_cli.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def configured_bundle(tmp_path_factory):
    from tests.support import tflite_fixtures as tfx

    return tfx.write_configured_fixture_bundle(tmp_path_factory.mktemp("cli") / "bundle")


def test_run_input_conforms_a_dataset_to_the_bundles_frames(configured_bundle, tmp_path, capsys):
    from mmnet.cli.main import main

    # 16x16 colour frames; the bundle records 8x8 grayscale: --input resizes and converts them as the build did.
    frames = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "colour.npz", x=frames, y=np.array([0, 1, 2, 0, 1, 2, 0]))
    summary = tmp_path / "summary.json"
    code = main(["run", str(configured_bundle), "--input", f"npz:{tmp_path / 'colour.npz'}", "--quiet",
                 "--limit", "6", "--summary-json", str(summary)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.startswith("6 frames (0 lost)")
    assert json.loads(summary.read_text())["accuracy"] is not None  # the npz labels came along


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--input", "foo:x"], "mmnet run: error: --input: dataset.source is 'foo:x'; expected one of builtin:digits"),
        (["--input", "npz:no/such.npz"], "mmnet run: error: --input: dataset.source: path does not exist: no/such.npz"),
        (["--split", "test", "--limit", "0"], "mmnet run: error: --limit is 0; expected an int >= 1"),
    ],
)
def test_run_input_errors_are_one_line(configured_bundle, capsys, argv, message):
    from mmnet.cli.main import main

    assert main(["run", str(configured_bundle), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_run_checks_given_frames_against_the_bundle(configured_bundle):
    from mmnet.format.errors import DataError
    from mmnet.runtime.replay import load_frames
    from mmnet.runtime.runtime import Runtime

    with Runtime(configured_bundle) as runtime:
        frames, labels = load_frames(runtime, split="val")
        assert frames.shape[1:] == (8, 8, 1) and len(labels) == len(frames)
        assert load_frames(runtime, frames=frames, labels=None)[1] is None
        with pytest.raises(DataError, match=r"frames are uint8 \(6, 8, 8, 3\); the bundle expects uint8 \(N, 8, 8, 1\)"):
            load_frames(runtime, frames=np.repeat(frames, 3, axis=-1))
        with pytest.raises(DataError, match=r"labels are \(5,\); expected one per frame, shape \(6,\)"):
            load_frames(runtime, frames=frames, labels=labels[:5])
        with pytest.raises(DataError, match="exactly one of split"):
            load_frames(runtime, split="val", frames=frames)


def test_error_line_names_the_log_instead_of_asking_for_debug():
    from mmnet.cli.main import EXIT_INTERNAL, EXIT_USAGE, _error_line
    from mmnet.pipeline.bundle import BuildError

    log = Path("/w/.b.work/build.log")
    assert _error_line("build", BuildError("'Write bundle' failed: x"), log) == (
        "mmnet build: error: 'Write bundle' failed: x (details: /w/.b.work/build.log)", EXIT_USAGE)
    assert _error_line("build", KeyError("k"), log) == (
        "mmnet build: internal error: KeyError: 'k' (details: /w/.b.work/build.log)",
                                                        EXIT_INTERNAL)
    assert _error_line("run", KeyError("k"), None) == (
        "mmnet run: internal error: KeyError: 'k' (rerun with --debug for the traceback)", EXIT_INTERNAL)
    assert _error_line("build", KeyboardInterrupt(), log) == ("mmnet build: interrupted", 130)


def test_the_token_file_holds_one_word_and_should_be_private(tmp_path, caplog):
    from mmnet.cli.main import _token_from_file
    from mmnet.format.errors import ConfigError

    token = tmp_path / "token"
    token.write_text("  abc123\n")
    token.chmod(0o600)
    with caplog.at_level("WARNING", logger="mmnet.cli.main"):
        assert _token_from_file(str(token)) == "abc123"
    assert not caplog.records
    token.chmod(0o644)
    with caplog.at_level("WARNING", logger="mmnet.cli.main"):
        assert _token_from_file(str(token)) == "abc123"
    assert [r.getMessage() for r in caplog.records] == [f"token file {token} is readable by every user; chmod 600 it"]
    token.write_text("two words\n")
    with pytest.raises(ConfigError, match=r"expected a file holding the bearer token: one word, no spaces; it holds "
                                          r"spaces or several lines$"):
        _token_from_file(str(token))
    token.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"expected a readable UTF-8 file holding the bearer token \(.*codec"):
        _token_from_file(str(token))
    assert _token_from_file(None) is None
