"""The master server's parts, in process: request decoding, its configuration, the master's choice,
the interpreter pool, the child's command line and the client's argument checks.

The server on loopback sockets and in child processes is tested in tests/integration/test_serving.py.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmnet.cli.main import main as mmnet_main
from mmnet.format.bundle import load_bundle
from mmnet.format.errors import BundleError, ConfigError, DataError
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import preprocess
from mmnet.runtime.remote import TOKEN_ENV, RemoteMaster
from mmnet.server.__main__ import build_parser as server_parser
from mmnet.server.app import ServerConfig, create_app
from mmnet.server.connections import ConnectionGuard
from mmnet.server.decoding import SHOWN_CHARS, cut, parse_predict_body, shown
from mmnet.server.launch import child_command, running_server_process
from mmnet.server.master import InterpretersBusy, MasterPool, select_master
from tests.support import tflite_fixtures as tfx
from tests.support.serving import (
    FRAME,
    MAX_INSTANCES,
    RGB,
    b64_png,
    configured_with_int8_master,
    encoded,
    image_b64,
    with_constant,
)

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("serving") / "bundle")


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def frames(bundle) -> np.ndarray:
    val, _ = bundle.load_split("val")
    test, _ = bundle.load_split("test")
    return np.concatenate([val, test])  # 11 distinct uint8 (8, 8, 1) frames


def parse(body):
    return parse_predict_body(encoded(body), tfx.FRAME_SHAPE, MAX_INSTANCES)


# --- validation ----------------------------------------------------------------------------------



@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "the request body is not valid JSON: Expecting property name"),
        (b"\xff\xfe", "the request body is not valid JSON"),
        ([1, 2], "the request body is an array; expected an object"),
        ({"frames": []}, "unknown request keys ['frames']; expected only ['instances', 'inputs', 'signature_name']"),
        ({}, 'exactly one of "instances" (row format) and "inputs" (columnar format)'),
        ({"instances": [], "inputs": []}, 'exactly one of "instances"'),
        ({"instances": FRAME.tolist(), "signature_name": "classify"}, "signature_name is 'classify'"),
        ({"instances": {"b64": "AAAA"}}, "instances is an object; expected a list of frames"),
        ({"instances": []}, "instances is empty; expected 1..8 frames"),
        ({"instances": [FRAME.tolist()] * (MAX_INSTANCES + 1)}, "instances holds 9 frames; expected at most 8 per request"),
        ({"instances": [[FRAME.tolist()]]},
         "instances[0] has shape (1, 8, 8, 1); expected a uint8 frame of shape (H, W, 1) or (H, W) with H, W >= 1"),
        ({"instances": [RGB.tolist()]}, "instances[0] has shape (8, 8, 3); expected a uint8 frame of shape (H, W, 1)"),
        ({"instances": [FRAME.tolist(), FRAME[0, 0].tolist()]}, "instances[1] has shape (1,); expected"),
        ({"instances": [[[], []]]}, "instances[0] has shape (2, 0); expected"),
        ({"instances": [(FRAME + 0.5).tolist()]}, "instances[0] holds non-integer numbers; expected integers 0..255"),
        ({"instances": [[[str(v) for v in row] for row in FRAME[:, :, 0].tolist()]]}, "instances[0] holds strings"),
        ({"instances": [(FRAME > 9).tolist()]}, "instances[0] holds booleans"),
        ({"instances": [(FRAME.astype(int) + 200).tolist()]}, "instances[0] has values 200..263; expected 0..255"),
        ({"instances": [(FRAME.astype(int) - 1).tolist()]}, "instances[0] has values -1..62; expected 0..255"),
        ({"instances": [[[1, 2], [3]]]}, "instances[0] is not a rectangular array of integers"),
        ({"instances": [7]}, "instances[0] is a number; expected nested lists"),
        ({"instances": [{"b64": "@@@"}]}, "instances[0].b64 is not valid base64"),
        ({"instances": [{"b64": 5}]}, "instances[0].b64 is a number; expected a base64 string"),
        ({"instances": [{"b64": base64.b64encode(b"GIF89a....").decode()}]},
         "instances[0].b64 cannot be decoded as a PNG or JPEG image"),
        ({"instances": [image_b64(RGB)]},
         "instances[0].b64 is a PNG image in mode 'RGB' (3 bands); expected mode 'L' (1 channel, 8 bits)"),
        ({"instances": [{"b64": "AAAA", "extra": 1}]}, "instances[0] is an object with keys ['b64', 'extra']"),
        ({"inputs": {"frames": [[1]]}}, "inputs.frames[0] has shape (1,); expected"),
    ],
)
def test_bad_bodies_are_data_errors_naming_what_is_wrong(body, fragment):
    with pytest.raises(DataError) as info:
        parse(body)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * (8 * 1024 * 1024), "the request body nests too deeply to parse"),
        (b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", "the request body nests too deeply to parse"),
        (b'{"instances": [[[' + b"9" * 5000 + b"]]]}", "the request body holds an integer of more than 4300 digits"),
        ({"instances": [[[2**64] * 8] * 8]}, "instances[0] holds values of dtype object; expected integers 0..255"),
        ({"instances": [{"a": {"b": FRAME.tolist()}}]}, "instances[0].a is an object with keys ['b']"),
        ({"instances": [{"a": {"b64": "AAAA"}, "c": 1}]}, "instances[0] is an object with keys ['a', 'c']"),
    ],
    ids=["8MB-of-brackets", "5000-deep", "5000-digits", "int-beyond-64-bits", "nested-named-inputs", "two-keys"],
)
def test_hostile_bodies_are_data_errors(body, fragment):
    with pytest.raises(DataError) as info:
        parse(body)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"instances": [FRAME.tolist()], "signature_name": "s" * 4_000_000},
         f"signature_name is {'s' * SHOWN_CHARS!r}... (4000000 characters); this model has one signature, "
         "'serving_default'"),
        ({"instances": [FRAME.tolist()], "signature_name": ["s" * 1000]},
         "signature_name is an array; expected a string, 'serving_default'"),
        ({"instances": [FRAME[0, :, 0].tolist() * 1000]}, "instances[0] has shape (8000,); expected"),
        ({"instances": [], **{f"k{i}": 0 for i in range(1000)}},
         "unknown request keys ['k0', 'k1', 'k10', 'k100', 'k101', ... (1000 keys)]; expected only "
         "['instances', 'inputs', 'signature_name']"),
        ({"inputs": {"n" * 1000: [7]}},
         f"inputs.{'n' * 40}... (1000 characters)[0] is a number; expected nested lists"),
    ],
)
def test_messages_quote_a_bounded_part_of_the_input(body, expected):
    with pytest.raises(DataError) as info:
        parse(body)
    assert str(info.value).startswith(expected)
    assert len(str(info.value)) < 300


def test_shown_and_cut_say_how_long_a_cut_value_was():
    assert shown("abc") == "'abc'" and cut("abc") == "abc"
    assert shown("x" * 100, 10) == "'xxxxxxxxxx'... (100 characters)"
    assert cut("/p" * 50, 4) == "/p/p... (100 characters)"
    assert shown(tuple(range(40)), 12) == "(0, 1, 2, 3,... (150 characters)"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(constant):
    with pytest.raises(DataError) as info:
        parse(with_constant(constant))
    assert str(info.value) == f"the body contains {constant}, which is not valid JSON; expected finite numbers"


def test_good_bodies_decode_to_the_frames_sent():
    frame, other = FRAME, (255 - FRAME)
    raw = parse({"instances": [frame.tolist(), other[:, :, 0].tolist()]})  # (H, W) too: one channel
    assert raw.reply_key == "predictions" and raw.frames.dtype == np.uint8
    np.testing.assert_array_equal(raw.frames, np.stack([frame, other]))
    png = parse({"instances": [b64_png(other), {"frames": frame.tolist()}]})
    np.testing.assert_array_equal(png.frames, np.stack([other, frame]))
    for inputs in ([frame.tolist()], {"frames": [frame.tolist()]}):
        columnar = parse({"inputs": inputs, "signature_name": "serving_default"})
        assert columnar.reply_key == "outputs"
        np.testing.assert_array_equal(columnar.frames, frame[None])


def test_jpeg_bodies_decode_like_pillow():
    instance = image_b64(FRAME[:, :, 0], "JPEG")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(instance["b64"]))))
    assert not np.array_equal(decoded, FRAME[:, :, 0])  # lossy: the server must not re-derive the raw frame
    np.testing.assert_array_equal(parse({"instances": [instance]}).frames, decoded[None, :, :, None])


# --- which model is served -----------------------------------------------------------------------


def test_master_choice(bundle):
    assert select_master(bundle).id == tfx.FLOAT_ID  # the only blessed master
    assert select_master(configured_with_int8_master(bundle)).id == tfx.INT8_ID
    assert select_master(bundle, tfx.INT8_ID).id == tfx.INT8_ID
    with pytest.raises(BundleError, match="has no model 'nope'"):
        select_master(bundle, "nope")
    two = dataclasses.replace(bundle, models=tuple(dataclasses.replace(m, role="master") for m in bundle.models))
    with pytest.raises(BundleError, match=r"no runtime_config and 2 blessed masters"):
        select_master(two)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_body_bytes": 0}, "ServerConfig.max_body_bytes is 0; expected an int >= 1"),
        ({"threads": 0}, "ServerConfig.threads is 0; expected an int >= 1 or None"),
        ({"threads": True}, "ServerConfig.threads is True; expected an int >= 1 or None"),
        ({"max_instances": 2.0}, "ServerConfig.max_instances is 2.0; expected an int >= 1"),
        ({"token": " "}, "ServerConfig.token is ' '; expected a non-empty string or None"),
        ({"model_id": 7}, "ServerConfig.model_id is 7; expected a non-empty string or None"),
        ({"inference_timeout_s": float("nan")}, "ServerConfig.inference_timeout_s is nan; expected a finite number > 0"),
        ({"body_timeout_s": 0}, "ServerConfig.body_timeout_s is 0; expected a finite number > 0"),
        ({"header_timeout_s": 0}, "ServerConfig.header_timeout_s is 0; expected a finite number > 0"),
        ({"keep_alive_s": float("inf")}, "ServerConfig.keep_alive_s is inf; expected a finite number > 0"),
        ({"max_connections": 0}, "ServerConfig.max_connections is 0; expected an int >= 1"),
        ({"max_active_predicts": 1.5}, "ServerConfig.max_active_predicts is 1.5; expected an int >= 1"),
    ],
)
def test_server_config_is_validated(options, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        ServerConfig(**options)
    assert "s3cret" not in repr(ServerConfig(token="s3cret"))


def test_the_pool_answers_busy_when_no_interpreter_frees_up(bundle, frames, monkeypatch):
    """Two requests on a pool of one: the second waits ``acquire_timeout_s`` and gives up."""
    pool = MasterPool(bundle.model_path(tfx.FLOAT_ID), 1, acquire_timeout_s=0.05)
    batch = preprocess(frames[:1], bundle.preprocessing, bundle.model(tfx.FLOAT_ID).resolution)
    original, entered, release = TFLiteClassifier.predict, threading.Event(), threading.Event()

    def held(self, inputs):
        entered.set()
        release.wait(10)
        return original(self, inputs)

    monkeypatch.setattr(TFLiteClassifier, "predict", held)
    first: list[np.ndarray] = []
    holder = threading.Thread(target=lambda: first.append(pool.predict(batch)))
    holder.start()
    try:
        assert entered.wait(10)
        with pytest.raises(InterpretersBusy, match="no interpreter became free within 0.05 s"):
            pool.predict(batch)
    finally:
        release.set()
        holder.join(10)
    assert len(first) == 1  # the held request still got its answer
    np.testing.assert_array_equal(pool.predict(batch), first[0])  # and the interpreter went back


def test_the_pool_size_is_checked(bundle):
    with pytest.raises(ConfigError, match=r"^MasterPool.size is 0; expected an int >= 1$"):
        MasterPool(bundle.model_path(tfx.FLOAT_ID), 0, acquire_timeout_s=1.0)


def test_create_app_takes_a_bundle_directory(bundle_dir):
    app = create_app(bundle_dir, threads=1)
    assert app.state.model_names == ("tiny", tfx.FLOAT_ID)


def test_client_validates_its_arguments():
    with pytest.raises(ConfigError, match="expected an http"):
        RemoteMaster("localhost:8501", "m")
    with pytest.raises(ConfigError, match="encoding is 'webp'"):
        RemoteMaster("http://127.0.0.1:1", "m", encoding="webp")
    with pytest.raises(ConfigError, match="retries is -1"):
        RemoteMaster("http://127.0.0.1:1", "m", retries=-1)
    with RemoteMaster("http://127.0.0.1:1", "m") as client, pytest.raises(DataError, match="expected a uint8"):
        client.predict(np.zeros((8, 8), dtype=np.float32))


def test_the_child_command_carries_the_config_but_not_the_token(bundle_dir):
    config = ServerConfig(token=TOKEN, model_id=tfx.INT8_ID, threads=3, max_body_bytes=1234, max_instances=5,
                          inference_timeout_s=2.5, body_timeout_s=0.75, header_timeout_s=1.5, keep_alive_s=2.5,
                          max_connections=99, max_active_predicts=7)
    command = child_command(bundle_dir, host="127.0.0.1", port=8765, config=config)
    assert command[:4] == [sys.executable, "-m", "mmnet.server", str(bundle_dir)]
    assert not any(TOKEN in part for part in command)
    args = server_parser().parse_args(command[3:])
    assert (args.bundle, args.host, args.port) == (str(bundle_dir), "127.0.0.1", 8765)
    fields = [f.name for f in dataclasses.fields(ServerConfig) if f.name != "token"]
    parsed = ServerConfig(token=TOKEN, **{f: getattr(args, f) for f in fields})
    assert parsed == config


def test_both_commands_document_the_one_token_variable(capsys):
    assert TOKEN_ENV == "MMNET_TOKEN"  # README.md and the --help texts name it
    for command in ("run", "serve"):
        with pytest.raises(SystemExit) as info:
            mmnet_main([command, "--help"])
        assert info.value.code == 0
        assert f"${TOKEN_ENV}" in " ".join(capsys.readouterr().out.split()), command


def test_bad_options_fail_before_a_child_starts(bundle_dir):
    with pytest.raises(ConfigError, match="ServerConfig.threads is 0"), running_server_process(bundle_dir, threads=0):
        pytest.fail("the server started with 0 interpreters")


class FakeConnection:
    """What ConnectionGuard asks of a connection: to close while it waits for a request head."""

    def __init__(self, guard: ConnectionGuard, name: str) -> None:
        self.guard, self.name, self.closed_because = guard, name, None

    def close_waiting(self, why: str) -> None:
        self.closed_because = why
        self.guard.waiting.pop(self, None)


def test_at_the_cap_the_longest_waiting_connection_is_evicted_else_the_newcomer_refused():
    guard = ConnectionGuard(header_timeout_s=5, max_connections=3)
    first, second, newcomer = (FakeConnection(guard, n) for n in ("first", "second", "newcomer"))
    guard.waiting.update({first: None, second: None})
    assert guard.make_room(newcomer, open_connections=3) and first.closed_because is None  # within the cap
    assert guard.make_room(newcomer, open_connections=4)
    assert first.closed_because == "evicted: the connection cap is reached" and second.closed_because is None
    assert guard.make_room(newcomer, open_connections=4) and second.closed_because is not None
    assert not guard.make_room(newcomer, open_connections=4)  # every open connection is busy
    assert (guard.evicted, guard.refused) == (2, 1)


def test_serve_passes_the_connection_limits_through(bundle_dir, monkeypatch):
    import mmnet.server.launch

    calls = []
    monkeypatch.setattr(mmnet.server.launch, "serve", lambda *a, **kw: calls.append((a, kw)))
    assert mmnet_main(["serve", str(bundle_dir), "--header-timeout-s", "1.5", "--max-connections", "64",
                       "--keep-alive-s", "3", "--max-active-predicts", "9", "--body-timeout-s", "4"]) == 0
    (_, options), = calls
    limits = ("header_timeout_s", "keep_alive_s", "body_timeout_s", "max_connections", "max_active_predicts")
    assert {k: options[k] for k in limits} == {
        "header_timeout_s": 1.5, "keep_alive_s": 3.0, "body_timeout_s": 4.0, "max_connections": 64,
        "max_active_predicts": 9}
    calls.clear()
    assert mmnet_main(["serve", str(bundle_dir)]) == 0
    assert "header_timeout_s" not in calls[0][1]  # unset: the server's own default
