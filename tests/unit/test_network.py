"""Network and radio-energy models (mmnet.runtime.network)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mmnet.format.errors import ConfigError, DataError, DependencyError
from mmnet.runtime.network import (
    DEFAULT_PROFILES,
    REPLY_OVERHEAD_BYTES,
    REQUEST_OVERHEAD_BYTES,
    NetworkProfile,
    RadioPowerModel,
    cloud_latency_ms,
    load_network_profiles,
    reply_bytes,
    transfer_energy_mj,
    transfer_latency_ms,
    upload_bytes,
)
from mmnet.runtime.remote import jpeg_bytes, png_bytes, request_body


def _profile(**overrides) -> NetworkProfile:
    """8 Mbps up, 16 Mbps down, 50 ms RTT; P_up = 100*8 + 200 = 1000 mW, P_down = 50*16 + 200."""
    fields = {
        "name": "test-net",
        "uplink_mbps": 8.0,
        "downlink_mbps": 16.0,
        "rtt_ms": 50.0,
        "power": RadioPowerModel(100.0, 50.0, 200.0),
        "source": "hand-made for tests",
    }
    fields.update(overrides)
    return NetworkProfile(**fields)


# --- latency and energy, hand-computed -----------------------------------------------------------


def test_transfer_latency_hand_computed():
    # 1,000,000 B = 8,000,000 bit at 8 Mbps = 1000 ms;
    # 500,000 B = 4,000,000 bit at 16 Mbps = 250 ms.
    assert transfer_latency_ms(_profile(), 1_000_000, 500_000) == pytest.approx(1000 + 50 + 250)
    assert transfer_latency_ms(_profile(), 1_000_000, 500_000, server_ms=7.5) == pytest.approx(
        1307.5
    )


def test_transfer_latency_of_empty_request_is_rtt_plus_server():
    assert transfer_latency_ms(_profile(rtt_ms=42.0), 0, 0, server_ms=3.0) == pytest.approx(45.0)


def test_cloud_latency_is_l_t_from_kbit_and_mbps():
    # 8000 kbit at 8 Mbps = 1000 ms, 4000 kbit at 16 Mbps = 250 ms, plus RTT 50 and server 7.5.
    assert cloud_latency_ms(8000.0, 8.0, 50.0, 4000.0, 16.0, 7.5) == 1307.5
    assert cloud_latency_ms(0.0, 8.0, 50.0, 0.0, 16.0, 0.0) == 50.0


def test_transfer_latency_is_the_cloud_latency_of_the_profile():
    """One formula: the profile form gives the bits of cloud_latency_ms at bytes x 8 / 1000 kbit."""
    profile = _profile(uplink_mbps=5.85, downlink_mbps=12.73, rtt_ms=70.0)
    for up, down, server in ((634, 515, 0.7), (1_000_003, 17, 0.0), (0, 0, 3.0)):
        assert transfer_latency_ms(profile, up, down, server) == cloud_latency_ms(
            up * 8 / 1e3, 5.85, 70.0, down * 8 / 1e3, 12.73, server)


def test_transfer_energy_hand_computed():
    # Upload: 1000 mW x 1 s = 1000 mJ. Download: (50*16 + 200) mW x 0.25 s = 250 mJ.
    assert transfer_energy_mj(_profile(), 1_000_000, 500_000) == pytest.approx(1250.0)
    # Waiting 100 ms costs beta: 200 mW x 0.1 s = 20 mJ.
    assert transfer_energy_mj(_profile(), 1_000_000, 500_000, wait_ms=100.0) == pytest.approx(
        1270.0
    )


def test_radio_power_model_is_linear_per_direction():
    power = RadioPowerModel(alpha_up_mw_per_mbps=10.0, alpha_down_mw_per_mbps=2.0, beta_mw=5.0)
    assert power.uplink_power_mw(3.0) == pytest.approx(35.0)
    assert power.downlink_power_mw(3.0) == pytest.approx(11.0)
    assert power.uplink_power_mw(0.0) == pytest.approx(5.0)


def test_lte_default_power_matches_the_cited_table():
    # Huang et al. via Neurosurgeon Table 3: P_up = 438.39 t_u + 1288.04 at t_u = 5.85 Mbps.
    lte = DEFAULT_PROFILES["lte"]
    assert lte.power.uplink_power_mw(lte.uplink_mbps) == pytest.approx(3852.6215)
    # P_down = 51.97 t_d + 1288.04 at t_d = 12.73 Mbps.
    assert lte.power.downlink_power_mw(lte.downlink_mbps) == pytest.approx(1949.6181)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: transfer_latency_ms(_profile(), -1, 0), "upload_bytes is -1"),
        (lambda: transfer_latency_ms(_profile(), 1.5, 0), "upload_bytes is 1.5"),
        (lambda: transfer_latency_ms(_profile(), 0, True), "download_bytes is True"),
        (lambda: transfer_latency_ms(_profile(), 0, 0, server_ms=-1.0), "server_ms is -1.0"),
        (lambda: transfer_energy_mj(_profile(), 0, 0, wait_ms=float("nan")), "wait_ms is nan"),
        (lambda: transfer_latency_ms({"uplink_mbps": 1}, 0, 0), "expected a NetworkProfile"),
    ],
)
def test_transfer_rejects_bad_arguments(call, fragment):
    with pytest.raises(ConfigError, match=fragment):
        call()


# --- profiles ------------------------------------------------------------------------------------


def test_default_profiles_order_wifi_faster_and_cheaper_than_lte_than_3g():
    frame = np.full((224, 224, 3), 128, np.uint8)
    up, down = upload_bytes(frame, "raw"), reply_bytes(1000)
    latency = {n: transfer_latency_ms(p, up, down) for n, p in DEFAULT_PROFILES.items()}
    energy = {
        n: transfer_energy_mj(p, up, down, wait_ms=p.rtt_ms) for n, p in DEFAULT_PROFILES.items()
    }
    assert set(DEFAULT_PROFILES) == {"3g", "lte", "wifi"}
    assert latency["wifi"] < latency["lte"] < latency["3g"]
    assert energy["wifi"] < energy["lte"] < energy["3g"]


@pytest.mark.parametrize("name", sorted(DEFAULT_PROFILES))
def test_default_profile_sources_state_their_numbers(name):
    profile = DEFAULT_PROFILES[name]
    assert profile.name == name
    numbers = (
        profile.uplink_mbps,
        profile.downlink_mbps,
        profile.rtt_ms,
        profile.power.alpha_up_mw_per_mbps,
        profile.power.alpha_down_mw_per_mbps,
        profile.power.beta_mw,
    )
    for number in numbers:
        assert f"{number:g}" in profile.source, f"{number:g} is not cited in {name}'s source"
    assert "assumed" in profile.source  # the RTTs could not be verified


def test_profile_json_round_trip():
    profile = DEFAULT_PROFILES["wifi"]
    doc = json.loads(json.dumps(profile.to_json()))
    assert NetworkProfile.from_json(doc) == profile
    # runtime_config.json requires these keys in each network_profiles entry.
    assert {"uplink_mbps", "downlink_mbps", "rtt_ms", "source"} <= set(doc)


def test_profile_from_json_names_missing_and_unknown_keys():
    doc = DEFAULT_PROFILES["lte"].to_json()
    del doc["rtt_ms"]
    doc["rtt"] = 70
    with pytest.raises(ConfigError, match=r"missing keys \['rtt_ms'\], unknown keys \['rtt'\]"):
        NetworkProfile.from_json(doc)
    doc = DEFAULT_PROFILES["lte"].to_json()
    del doc["power"]["beta_mw"]
    with pytest.raises(ConfigError, match=r"\$\.power: missing keys \['beta_mw'\]"):
        NetworkProfile.from_json(doc)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"uplink_mbps": 0.0}, "uplink_mbps is 0.0; expected a finite number > 0"),
        ({"downlink_mbps": float("inf")}, "downlink_mbps is inf"),
        ({"rtt_ms": -5.0}, "rtt_ms is -5.0; expected a finite number >= 0"),
        ({"source": "  "}, "source is '  '"),
        ({"name": "my net"}, "NetworkProfile.name is 'my net'"),
        ({"power": {"beta_mw": 1.0}}, "power is a dict; expected a RadioPowerModel"),
    ],
)
def test_profile_validates_itself(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        _profile(**overrides)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), True, "5"])
def test_power_model_rejects_bad_coefficients(bad):
    with pytest.raises(ConfigError, match="RadioPowerModel.beta_mw is"):
        RadioPowerModel(1.0, 1.0, bad)


# --- request and reply sizes ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["raw", "png", "jpeg"])
def test_the_upload_costed_is_the_body_the_client_sends(encoding):
    frame = np.random.default_rng(2).integers(0, 256, (32, 24, 3), dtype=np.uint8)
    body = request_body(frame, encoding, 80)
    assert upload_bytes(frame, encoding, 80) == len(body) + REQUEST_OVERHEAD_BYTES
    instance = json.loads(body)["instances"][0]
    if encoding == "raw":  # TF Serving's REST form of the tensor: JSON numbers
        assert np.array_equal(np.array(instance, np.uint8), frame)
    else:  # base64 of the client's own encoder (PNG at its fast compression level)
        encoded = png_bytes(frame) if encoding == "png" else jpeg_bytes(frame, 80)
        assert base64.b64decode(instance["b64"]) == encoded


def test_png_of_flat_frame_is_much_smaller_than_raw():
    frame = np.zeros((224, 224, 3), np.uint8)
    raw = upload_bytes(frame, "raw")
    png = upload_bytes(frame, "png")
    assert png - REQUEST_OVERHEAD_BYTES < (raw - REQUEST_OVERHEAD_BYTES) / 50


def test_png_of_noise_is_about_as_large_as_raw():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    flat = np.zeros_like(noise)
    noise_png = upload_bytes(noise, "png") - REQUEST_OVERHEAD_BYTES
    assert noise_png > 0.9 * noise.nbytes * 4 / 3  # noise does not compress (and base64 adds a third)
    assert noise_png > 10 * (upload_bytes(flat, "png") - REQUEST_OVERHEAD_BYTES)


def test_png_accepts_grayscale_with_or_without_channel_axis():
    gray = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
    assert upload_bytes(gray, "png") == upload_bytes(gray[:, :, None], "png")
    assert upload_bytes(gray, "raw") == upload_bytes(gray[:, :, None], "raw")


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 2), np.uint8),
        np.zeros((1, 8, 8, 3), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
    ],
)
def test_upload_rejects_bad_frames(frame):
    with pytest.raises(DataError, match=r"frame is .*; expected a non-empty uint8"):
        upload_bytes(frame, "raw")


def test_upload_rejects_unknown_encoding():
    with pytest.raises(ConfigError, match=r"encoding is 'webp'; expected one of \['raw', 'png', 'jpeg'\]"):
        upload_bytes(np.zeros((4, 4, 3), np.uint8), "webp")


def test_png_without_pillow_is_a_clear_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    frame = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(DependencyError, match="PNG encoding needs Pillow"):
        upload_bytes(frame, "png")
    assert upload_bytes(frame, "raw") == len(request_body(frame, "raw")) + REQUEST_OVERHEAD_BYTES  # raw still works


@pytest.mark.parametrize("num_classes", [2, 10, 1000])
def test_reply_bytes_bounds_real_json_replies(num_classes):
    rng = np.random.default_rng(num_classes)
    logits = rng.normal(0, 8, num_classes)  # wide logits: many tiny probabilities
    probs = np.exp(logits - logits.max())
    probs = (probs / probs.sum()).astype(np.float32)
    body = json.dumps({"predictions": [probs.tolist()]}).encode("utf-8")
    estimate = reply_bytes(num_classes)
    assert len(body) + REPLY_OVERHEAD_BYTES <= estimate
    assert estimate < 2 * len(body) + REPLY_OVERHEAD_BYTES  # a bound, not a wild overestimate


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_reply_bytes_rejects_bad_class_counts(bad):
    with pytest.raises(ConfigError, match="num_classes is"):
        reply_bytes(bad)


# --- user profile files --------------------------------------------------------------------------


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "networks.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _entry(**overrides) -> dict:
    entry = _profile().to_json()
    del entry["name"]
    entry.update(overrides)
    return entry


def test_load_network_profiles_adds_and_replaces(tmp_path):
    path = _write(
        tmp_path,
        {"network_profiles": {"5g": _entry(uplink_mbps=50.0), "lte": _entry(rtt_ms=35.0)}},
    )
    profiles = load_network_profiles(path)
    assert list(profiles) == ["3g", "lte", "wifi", "5g"]
    assert profiles["5g"].uplink_mbps == 50.0 and profiles["5g"].name == "5g"
    assert profiles["lte"].rtt_ms == 35.0
    assert profiles["lte"].source == "hand-made for tests"  # replaced as a whole
    assert profiles["wifi"] == DEFAULT_PROFILES["wifi"]
    assert DEFAULT_PROFILES["lte"].rtt_ms != 35.0  # the defaults are untouched


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ({"profiles": {}}, r"\$ holds \['profiles'\]; expected an object with the single key"),
        ([], r"\$ holds list"),
        ({"network_profiles": {}}, r"\$\.network_profiles is \{\}; expected a non-empty object"),
        ({"network_profiles": {"lte": 5}}, r"\$\.network_profiles\['lte'\] is a int"),
        (
            {"network_profiles": {"lte": _entry(uplink_mpbs=3.0)}},
            r"\$\.network_profiles\['lte'\]: missing keys \[\], unknown keys \['uplink_mpbs'\]",
        ),
        (
            {"network_profiles": {"lte": _entry(downlink_mbps=-2.0)}},
            r"\$\.network_profiles\['lte'\]: .*downlink_mbps is -2\.0; expected a finite number",
        ),
        (
            {"network_profiles": {"lte": _entry(power={"alpha_up_mw_per_mbps": 1.0})}},
            r"\$\.network_profiles\['lte'\]\.power: missing keys",
        ),
        (
            {"network_profiles": {"lte": _entry(name="wifi")}},
            r"\$\.network_profiles\['lte'\]\.name is 'wifi'; expected its key 'lte'",
        ),
    ],
)
def test_load_network_profiles_errors_name_file_and_path(tmp_path, content, fragment):
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_network_profiles(path)
    assert str(path) in str(info.value)


def test_load_network_profiles_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="network profiles file .*nope.json does not exist"):
        load_network_profiles(tmp_path / "nope.json")
