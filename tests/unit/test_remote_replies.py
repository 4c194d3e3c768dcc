"""The master client's reply checks (``parse_predictions``) and settings, without sockets.

A reply is used only when it is one row of ``num_classes`` probabilities; anything else is a
``RemoteMasterError`` of kind ``"malformed"`` (which the runtime counts as a fallback), never
another exception and never a row the runtime would misread. The transport (deadlines, sizes,
encodings) is tested against a misbehaving master in tests/integration/test_remote_hostile.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmnet.format.errors import ConfigError
from mmnet.runtime.remote import (
    DEFAULT_MAX_REPLY_BYTES,
    VALUE_TOLERANCE,
    RemoteMaster,
    RemoteMasterError,
    parse_predictions,
    sum_tolerance,
)
from tests.support.fuzz import FUZZ

# The longest message a refused reply may produce: the fixed words plus at most ~100 characters
# quoted from the reply.
MAX_MESSAGE = 400


def reply(row) -> bytes:
    return json.dumps({"predictions": [row]}).encode()


def refused(content: bytes, num_classes: int | None) -> RemoteMasterError:
    with pytest.raises(RemoteMasterError) as info:
        parse_predictions(content, num_classes)
    assert info.value.kind == "malformed" and info.value.status == 200
    assert len(str(info.value)) <= MAX_MESSAGE, str(info.value)[:MAX_MESSAGE + 100]
    return info.value


def test_a_row_of_probabilities_is_float32_and_clipped_into_0_1():
    got = parse_predictions(reply([0.0, 1.0 + VALUE_TOLERANCE / 2, -VALUE_TOLERANCE / 2]), 3)
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_array_equal(got, np.float32([0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(parse_predictions(b'{"predictions": [[0, 1]]}', None), np.float32([0, 1]))


@pytest.mark.parametrize(
    ("content", "num_classes", "fragment"),
    [
        (reply([0.1] * 9), 10, "the row has 9 values; expected 10 (one per class)"),
        (reply([0.1] * 11), 10, "the row has 11 values; expected 10 (one per class)"),
        (reply([1e300, 0.0, 0.0]), 3, "value 0 of the row is 1e+300; expected probabilities in [0, 1]"),
        (reply([-0.5, 0.5, 1.0]), 3, "value 0 of the row is -0.5; expected probabilities in [0, 1]"),
        (reply([10**30, 0, 0]), 3, "the integer 100000000000000000000000... is beyond the 64-bit range"),
        (b'{"predictions": [[1' + b"0" * 400 + b', 0, 0]]}', 3, "is beyond the 64-bit range"),
        (b'{"predictions": [[1' + b"0" * 5000 + b', 0, 0]]}', 3, "is beyond the 64-bit range"),
        (b'{"predictions": [[1e400, 0, 0]]}', 3, "is beyond the float range"),
        (b'{"predictions": [[1' + b"0" * 5000 + b'.0, 0, 0]]}', 3, "is beyond the float range"),
        (b'{"predictions": [[NaN, 0, 1]]}', 3, "NaN is not a JSON number"),
        (b'{"predictions": [[Infinity, 0, 0]]}', 3, "Infinity is not a JSON number"),
        (b'{"predictions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 3, "nested too deeply"),
        (b'{"predictions": ' + b"[" * 70 + b"]" * 70 + b"}", 3, "nests deeper than 64 levels"),
        (reply([0.2, 0.2, 0.2]), 3, "the row sums to 0.6; expected probabilities summing to 1"),
        (reply([1, 1, 0]), 3, "the row sums to 2; expected probabilities summing to 1"),
        (reply([0.5, True, 0.5]), 3, "value 1 of the row is True; expected a non-empty list of numbers"),
        (reply([0.5, "0.5"]), 2, "value 1 of the row is '0.5'; expected a non-empty list of numbers"),
        (reply([]), None, "the row is empty"),
        (b'{"predictions": [[0.5, 0.5], [0.5, 0.5]]}', 2, "'predictions' is a list of 2 items; expected one row"),
        (b'{"outputs": [[0.5, 0.5]]}', 2, "expected an object with 'predictions', got an object with keys 'outputs'"),
        (b"<html>" + b"x" * 10_000 + b"</html>", 2, "not valid JSON"),
        (b'{"predictions": [[0.5, 0.5]]}\xff', 2, "not UTF-8"),
    ],
)
def test_wrong_replies_are_malformed_and_say_why(content, num_classes, fragment):
    error = refused(content, num_classes)
    assert fragment in str(error), str(error)


def test_a_refused_reply_is_quoted_by_at_most_100_characters():
    error = refused(b"<" + b"x" * 5000, 2)
    assert "it starts b'<" + "x" * 39 + "'..." in str(error) and "x" * 40 not in str(error)
    error = refused(b'{"predictions": [[1' + b"0" * 5000 + b'.0]]}', 1)
    assert "is beyond the float range" in str(error) and str(error).count("0") < 100


@pytest.mark.parametrize("num_classes", [3, 10, 100, 1000])
def test_the_dequantised_output_of_an_int8_softmax_is_accepted(num_classes):
    """uint8/int8 softmax outputs are multiples of 1/256: over many classes the rounding moves the sum
    far from 1 (small probabilities round to 0), and the reply must still pass."""
    rng = np.random.default_rng(num_classes)
    for scale in (0.5, 3.0, 10.0):  # flat to peaked
        logits = rng.normal(0.0, scale, num_classes)
        softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        quantised = np.clip(np.round(softmax * 256), 0, 255) / 256
        got = parse_predictions(reply(quantised.tolist()), num_classes)
        np.testing.assert_allclose(got, quantised.astype(np.float32))


def test_sum_tolerance_grows_half_a_uint8_step_per_class():
    assert sum_tolerance(1) == pytest.approx(0.01 + 1 / 512)
    assert sum_tolerance(1000) == pytest.approx(0.01 + 1000 / 512)


# --- settings -------------------------------------------------------------------------------------


def test_reply_limit_follows_the_class_count_unless_given():
    assert RemoteMaster("http://127.0.0.1:1", "m").reply_limit() == DEFAULT_MAX_REPLY_BYTES
    assert RemoteMaster("http://127.0.0.1:1", "m", num_classes=10).reply_limit() == 64 * 1024 + 640
    assert RemoteMaster("http://127.0.0.1:1", "m", num_classes=10, max_reply_bytes=5000).reply_limit() == 5000


@pytest.mark.parametrize(
    ("url", "options", "fragment"),
    [
        ("http://user:pw@127.0.0.1:8501", {}, "without user, query or fragment"),
        ("http://127.0.0.1:8501?x=1", {}, "without user, query or fragment"),
        ("http://127.0.0.1:99999", {}, "an http(s)://host[:port] URL"),
        ("http://:8501", {}, "without user, query or fragment"),
        ("http://127.0.0.1:1/a path", {}, "an http(s):// URL of visible ASCII characters"),
        ("http://127.0.0.1:1", {"model_name": "a b"}, "RemoteMaster model_name is 'a b'; expected a bundle name"),
        ("http://127.0.0.1:1", {"model_name": "a\nb"}, "RemoteMaster model_name"),
        ("http://127.0.0.1:1", {"model_name": "x" * 256}, "RemoteMaster model_name"),
        ("http://127.0.0.1:1", {"token": "abc\r\nX-Evil: 1"}, "RemoteMaster token is empty or has spaces"),
        ("http://127.0.0.1:1", {"token": " "}, "RemoteMaster token is empty or has spaces"),
        ("http://127.0.0.1:1", {"timeout_s": 1e300}, "RemoteMaster timeout_s"),
        ("http://127.0.0.1:1", {"max_reply_bytes": 10}, "RemoteMaster max_reply_bytes"),
        ("http://127.0.0.1:1", {"num_classes": 0}, "RemoteMaster num_classes"),
    ],
)
def test_bad_settings_are_config_errors(url, options, fragment):
    options = {"model_name": "m"} | options
    with pytest.raises(ConfigError) as info:
        RemoteMaster(url, **options)
    assert fragment in str(info.value)
    assert "X-Evil" not in str(info.value)  # a token is a secret: never in a message


# --- fuzz -----------------------------------------------------------------------------------------


def assert_row_or_malformed(content: bytes, num_classes: int | None) -> np.ndarray | None:
    """The property: a float32 row of num_classes values in [0, 1], or RemoteMasterError malformed."""
    try:
        got = parse_predictions(content, num_classes)
    except RemoteMasterError as e:
        assert e.kind == "malformed" and len(str(e)) <= MAX_MESSAGE, str(e)[:MAX_MESSAGE + 100]
        return None
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.ndim == 1
    assert num_classes is None or got.shape == (num_classes,)
    assert np.all((got >= 0.0) & (got <= 1.0))
    return got


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@pytest.mark.fuzz
@FUZZ
@given(doc=json_values, wrapped=st.booleans(), num_classes=st.none() | st.integers(1, 6))
def test_fuzz_any_json_document_is_a_row_or_malformed(doc, wrapped, num_classes):
    if wrapped:
        doc = {"predictions": doc}
    assert_row_or_malformed(json.dumps(doc).encode(), num_classes)


numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(-0.01, 1.01)
    | st.integers(-(2**80), 2**80)
    | st.sampled_from([0, 1, 1e300, -1e300, 5e-324, 1 + VALUE_TOLERANCE, -VALUE_TOLERANCE])
)


@pytest.mark.fuzz
@FUZZ
@given(row=st.lists(numbers, max_size=12), num_classes=st.integers(1, 12))
def test_fuzz_a_row_is_accepted_exactly_when_it_is_probabilities(row, num_classes):
    content = json.dumps({"predictions": [row]}).encode()  # NaN/Infinity written as JSON never has them
    expected = (
        len(row) == num_classes
        and all(isinstance(v, float) and math.isfinite(v) or isinstance(v, int) and abs(v) < 2**63 for v in row)
        and all(-VALUE_TOLERANCE <= v <= 1 + VALUE_TOLERANCE for v in row)
        and abs(math.fsum(row) - 1.0) <= sum_tolerance(num_classes)
    )
    got = assert_row_or_malformed(content, num_classes)
    assert (got is not None) == expected, (row, got)


@pytest.mark.fuzz
@FUZZ
@given(weights=st.lists(st.floats(1e-6, 1.0) | st.just(0.0), min_size=1, max_size=50).filter(lambda w: sum(w) > 0))
def test_fuzz_every_probability_vector_is_accepted(weights):
    row = (np.float32(weights) / np.float32(sum(weights))).tolist()
    got = assert_row_or_malformed(reply(row), len(row))
    assert got is not None
    np.testing.assert_allclose(got, row, atol=1e-6)


@pytest.mark.fuzz
@FUZZ
@given(content=st.binary(max_size=200), num_classes=st.none() | st.integers(1, 4))
def test_fuzz_random_bytes_are_a_row_or_malformed(content, num_classes):
    assert_row_or_malformed(content, num_classes)


@pytest.mark.fuzz
@FUZZ
@given(prefix=st.sampled_from([b'{"predictions": [[', b'{"predictions": ', b"["]), tail=st.binary(max_size=100))
def test_fuzz_replies_broken_inside_the_envelope_are_a_row_or_malformed(prefix, tail):
    assert_row_or_malformed(prefix + tail, 2)
