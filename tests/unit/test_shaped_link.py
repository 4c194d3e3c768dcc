"""The shaped link's arguments (benchmarks/shaped_link.py): the shape and the link's checks.

The link itself on loopback (delay, rate, loss, teardown) is tested in tests/integration/test_shaped_link.py.
"""

from __future__ import annotations

import pytest

from mmnet.benchmarks.shaped_link import LinkShape, ShapedLink
from mmnet.format.errors import ConfigError
from mmnet.runtime.network import DEFAULT_PROFILES


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"up_mbps": 0}, "LinkShape.up_mbps is 0; expected a finite number > 0"),
        ({"down_mbps": -2.0}, "LinkShape.down_mbps is -2.0; expected a finite number > 0"),
        ({"down_mbps": float("inf")}, "LinkShape.down_mbps is inf; expected a finite number > 0"),
        ({"one_way_delay_ms": -1}, "LinkShape.one_way_delay_ms is -1; expected a finite number >= 0"),
        ({"one_way_delay_ms": True}, "LinkShape.one_way_delay_ms is True; expected a finite number >= 0"),
        ({"loss": 1.0}, "LinkShape.loss is 1.0; expected a probability per segment, 0 <= loss < 1"),
        ({"loss": -0.1}, "LinkShape.loss is -0.1; expected a probability per segment, 0 <= loss < 1"),
        ({"loss": "0.1"}, "LinkShape.loss is '0.1'; expected a probability per segment, 0 <= loss < 1"),
    ],
)
def test_bad_shapes_say_which_field_and_what_was_expected(kwargs: dict, message: str) -> None:
    fields = {"up_mbps": 1.0, "down_mbps": 2.0, "one_way_delay_ms": 10.0, **kwargs}
    with pytest.raises(ConfigError) as info:
        LinkShape(**fields)
    assert str(info.value) == message


def test_shape_from_profile_takes_bandwidths_and_half_the_rtt() -> None:
    shape = LinkShape.from_profile(DEFAULT_PROFILES["lte"], loss=0.01)
    assert shape == LinkShape(up_mbps=5.85, down_mbps=12.73, one_way_delay_ms=35.0, loss=0.01)
    assert shape.rtt_ms == 70.0
    assert shape.retransmission_timeout_ms == 200.0  # max(200 ms, 2 x 70 ms)
    assert LinkShape(1, 1, 60.0).retransmission_timeout_ms == 240.0  # 2 x RTT beyond 200 ms
    with pytest.raises(ConfigError, match="profile is a dict; expected a mmnet.runtime.network.NetworkProfile"):
        LinkShape.from_profile({"uplink_mbps": 1.0})


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", 80), {}, "ShapedLink upstream_host is ''; expected a host name or IP address"),
        (("127.0.0.1", 0), {}, "ShapedLink upstream_port is 0; expected an int in [1, 65535]"),
        (("127.0.0.1", 80), {"listen_port": 70000}, "ShapedLink listen_port is 70000; expected an int in [0, 65535]"),
        (("127.0.0.1", 80), {"listen_host": "localhost"},
         "ShapedLink listen_host is 'localhost'; expected an IP address such as '127.0.0.1'"),
        (("127.0.0.1", 80), {"seed": 1.5}, "ShapedLink seed is 1.5; expected an int"),
        (("127.0.0.1", 80), {"stop_timeout_s": 0}, "ShapedLink stop_timeout_s is 0; expected a finite number > 0"),
    ],
)
def test_bad_link_arguments_are_config_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ShapedLink(*args, LinkShape(1, 1, 0), **kwargs)
    assert str(info.value) == message
    with pytest.raises(ConfigError, match="ShapedLink shape is a dict; expected a LinkShape"):
        ShapedLink("127.0.0.1", 80, {"up_mbps": 1})  # type: ignore[arg-type]
