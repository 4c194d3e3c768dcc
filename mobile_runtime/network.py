"""Network and radio-energy models for placing the master CNN (device or cloud).

M&MNet estimates the transfer latency L_t of a cloud request from the data size, the wireless
technology and its bandwidth (after Huang et al., MobiSys 2012); the cloud's compute time is
neglected or given separately as ``server_ms``. This module holds those estimates:

- ``cloud_latency_ms``: L_t, upload / uplink + RTT + download / downlink + server time, from
  sizes in kbit and rates in Mbps: the one definition of the formula, used by
  ``transfer_latency_ms`` (a profile and byte counts) and the runtime selector (live link numbers).
- ``transfer_energy_mj``: the radio energy of the same request with Huang et al.'s linear power
  model ``P = alpha * throughput + beta`` per direction (see ``transfer_energy_mj`` for what it
  leaves out).
- ``upload_bytes`` / ``reply_bytes``: how many bytes one request and its reply carry.

Units: 1 Mbps = 10**6 bit/s; 1 mW x 1 s = 1 mJ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmnet.format.checks import check_int, check_number
from mmnet.format.documents import read_json
from mmnet.format.errors import ConfigError, DataError

__all__ = [
    "ENCODINGS",
    "REQUEST_OVERHEAD_BYTES",
    "REPLY_OVERHEAD_BYTES",
    "RadioPowerModel",
    "NetworkProfile",
    "DEFAULT_PROFILES",
    "cloud_latency_ms",
    "transfer_latency_ms",
    "transfer_energy_mj",
    "upload_bytes",
    "reply_bytes",
    "load_network_profiles",
]

ENCODINGS = ("raw", "png", "jpeg")

# Assumed, not measured: an HTTP/1.1 request line and headers plus a small envelope naming the
# frame's shape and dtype take a few hundred bytes; 512 is a round upper figure.
REQUEST_OVERHEAD_BYTES = 512
# Assumed, not measured: an HTTP/1.1 status line and headers of a JSON reply.
REPLY_OVERHEAD_BYTES = 256
# A probability with the longest JSON text a serializer may give it: 17 significant digits and an
# exponent (Python's shortest round-trip repr of a double; TF Serving prints float32 shorter), so
# ``reply_bytes`` does not underestimate replies holding tiny probabilities.
_WIDEST_PROBABILITY = 1.2345678901234568e-05

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PROFILE_KEYS = ("uplink_mbps", "downlink_mbps", "rtt_ms", "source", "power")
_POWER_KEYS = ("alpha_up_mw_per_mbps", "alpha_down_mw_per_mbps", "beta_mw")


def _transfer_ms(num_bytes: int, mbps: float) -> float:
    # bytes * 8 bit / (mbps * 1e6 bit/s) * 1e3 ms/s
    return num_bytes * 8 / (mbps * 1e3)


@dataclass(frozen=True)
class RadioPowerModel:
    """Radio power while transferring: ``P (mW) = alpha (mW/Mbps) x throughput (Mbps) + beta``.

    The linear per-direction model of Huang et al. (MobiSys 2012), as used by Neurosurgeon
    (Kang et al., ASPLOS 2017). ``beta_mw`` is the radio's base power while active, shared by
    both directions.
    """

    alpha_up_mw_per_mbps: float
    alpha_down_mw_per_mbps: float
    beta_mw: float

    def __post_init__(self) -> None:
        for name in _POWER_KEYS:
            check_number(f"RadioPowerModel.{name}", getattr(self, name))

    def uplink_power_mw(self, mbps: float) -> float:
        """Radio power (mW) while sending at ``mbps``."""
        check_number("uplink throughput (Mbps)", mbps)
        return self.alpha_up_mw_per_mbps * mbps + self.beta_mw

    def downlink_power_mw(self, mbps: float) -> float:
        """Radio power (mW) while receiving at ``mbps``."""
        check_number("downlink throughput (Mbps)", mbps)
        return self.alpha_down_mw_per_mbps * mbps + self.beta_mw

    def to_json(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in _POWER_KEYS}


@dataclass(frozen=True)
class NetworkProfile:
    """One wireless network: bandwidth per direction, round-trip time and radio power model.

    ``source`` says where the numbers come from, and which of them are assumed.
    """

    name: str
    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    power: RadioPowerModel
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"NetworkProfile.name is {self.name!r}; expected letters, digits, '.', '_' or "
                "'-', starting with a letter or digit"
            )
        where = f"NetworkProfile {self.name!r}"
        check_number(f"{where}: uplink_mbps", self.uplink_mbps, positive=True)
        check_number(f"{where}: downlink_mbps", self.downlink_mbps, positive=True)
        check_number(f"{where}: rtt_ms", self.rtt_ms)
        if not isinstance(self.power, RadioPowerModel):
            raise ConfigError(
                f"{where}: power is a {type(self.power).__name__}; expected a RadioPowerModel"
            )
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(
                f"{where}: source is {self.source!r}; expected a non-empty citation text"
            )

    def to_json(self) -> dict[str, Any]:
        """A JSON object; ``runtime_config.json``'s ``network_profiles`` entries accept it."""
        return {
            "name": self.name,
            "uplink_mbps": self.uplink_mbps,
            "downlink_mbps": self.downlink_mbps,
            "rtt_ms": self.rtt_ms,
            "source": self.source,
            "power": self.power.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> NetworkProfile:
        """The inverse of ``to_json``; ConfigError naming the JSON path of a bad or missing key."""
        if not isinstance(doc, dict):
            raise ConfigError(f"$: is a {type(doc).__name__}; expected a network profile object")
        _check_keys(doc, ("name", *_PROFILE_KEYS), "$")
        power = doc["power"]
        if not isinstance(power, dict):
            raise ConfigError(f"$.power: is a {type(power).__name__}; expected an object")
        _check_keys(power, _POWER_KEYS, "$.power")
        return cls(
            name=doc["name"],
            uplink_mbps=doc["uplink_mbps"],
            downlink_mbps=doc["downlink_mbps"],
            rtt_ms=doc["rtt_ms"],
            power=RadioPowerModel(**{k: power[k] for k in _POWER_KEYS}),
            source=doc["source"],
        )


def _check_keys(doc: dict[str, Any], expected: tuple[str, ...], where: str) -> None:
    """Exactly ``expected``: a typo ('uplink_mpbs') must not silently keep a default."""
    missing = [k for k in expected if k not in doc]
    unknown = sorted(set(doc) - set(expected))
    if missing or unknown:
        raise ConfigError(
            f"{where}: missing keys {missing}, unknown keys {unknown}; expected exactly "
            f"{list(expected)}"
        )


# Neurosurgeon (Kang et al., ASPLOS 2017) Table 3 tabulates Huang et al.'s (MobiSys 2012) power
# models with its own measured average bandwidths. The tables could not be read here: the numbers
# are the commonly cited ones, and each ``source`` says so.
_UNVERIFIED = (
    "values as commonly cited from these tables, not checked against the papers here (only their "
    "abstracts could be read)"
)
DEFAULT_PROFILES: dict[str, NetworkProfile] = {
    "3g": NetworkProfile(
        name="3g",
        uplink_mbps=1.1,
        downlink_mbps=2.0,
        rtt_ms=100.0,
        power=RadioPowerModel(868.98, 122.12, 817.88),
        source=(
            "Bandwidth uplink 1.1 / downlink 2.0 Mbps: Neurosurgeon (Kang et al., ASPLOS 2017) "
            "Table 3; power P_up = 868.98 mW/Mbps x t_u + 817.88 mW, P_down = 122.12 mW/Mbps x "
            "t_d + 817.88 mW: Huang et al. (MobiSys 2012) via Neurosurgeon Table 3; "
            f"{_UNVERIFIED}. "
            "rtt_ms 100 is assumed (3G RTTs are commonly quoted as 100 ms or more), not verified."
        ),
    ),
    "lte": NetworkProfile(
        name="lte",
        uplink_mbps=5.85,
        downlink_mbps=12.73,
        rtt_ms=70.0,
        power=RadioPowerModel(438.39, 51.97, 1288.04),
        source=(
            "Bandwidth uplink 5.85 / downlink 12.73 Mbps: Neurosurgeon (Kang et al., ASPLOS 2017) "
            "Table 3; power P_up = 438.39 mW/Mbps x t_u + 1288.04 mW, P_down = 51.97 mW/Mbps x "
            "t_d + 1288.04 mW: Huang et al. (MobiSys 2012) via Neurosurgeon Table 3; "
            f"{_UNVERIFIED}. "
            "Consistent with Huang et al.'s abstract (read): LTE median throughput 13 Mbps down, "
            "6 Mbps up. rtt_ms 70 is assumed (the LTE RTT commonly attributed to Huang et al.), "
            "not verified."
        ),
    ),
    "wifi": NetworkProfile(
        name="wifi",
        uplink_mbps=18.88,
        downlink_mbps=54.97,
        rtt_ms=30.0,
        power=RadioPowerModel(283.17, 137.01, 132.86),
        source=(
            "Bandwidth uplink 18.88 / downlink 54.97 Mbps: Neurosurgeon (Kang et al., ASPLOS 2017) "
            "Table 3; power P_up = 283.17 mW/Mbps x t_u + 132.86 mW, P_down = 137.01 mW/Mbps x "
            "t_d + 132.86 mW: Huang et al. (MobiSys 2012) via Neurosurgeon Table 3; "
            f"{_UNVERIFIED}. "
            "rtt_ms 30 is an assumed round value, not verified."
        ),
    ),
}


def _check_profile(profile: Any) -> None:
    if not isinstance(profile, NetworkProfile):
        raise ConfigError(f"profile is a {type(profile).__name__}; expected a NetworkProfile")


def transfer_latency_ms(
    profile: NetworkProfile, upload_bytes: int, download_bytes: int, server_ms: float = 0.0
) -> float:
    """End-to-end time (ms) of one cloud request at the profile's average bandwidths.

    ``upload_bytes / uplink + rtt_ms + download_bytes / downlink + server_ms``. TCP slow start,
    radio promotion delay and bandwidth variation are not modelled.
    """
    _check_profile(profile)
    check_int("upload_bytes", upload_bytes, low=0)
    check_int("download_bytes", download_bytes, low=0)
    check_number("server_ms", server_ms)
    return cloud_latency_ms(upload_bytes * 8 / 1e3, profile.uplink_mbps, profile.rtt_ms,
                            download_bytes * 8 / 1e3, profile.downlink_mbps, server_ms)


def cloud_latency_ms(upload_kbit: float, uplink_mbps: float, rtt_ms: float, reply_kbit: float,
                     downlink_mbps: float, server_ms: float) -> float:
    """L_t (dissertation §5.2.1): ``upload_kbit / uplink_mbps + rtt_ms + reply_kbit / downlink_mbps + server_ms``.

    kbit / Mbps is ms. Unchecked, for the selector's per-link-change path; the arithmetic is in this
    order everywhere (the Java core's ``Selector.cloudLatencyMs`` too), so both sides get the same bits.
    """
    return upload_kbit / uplink_mbps + rtt_ms + reply_kbit / downlink_mbps + server_ms


def transfer_energy_mj(
    profile: NetworkProfile, upload_bytes: int, download_bytes: int, wait_ms: float = 0.0
) -> float:
    """Radio energy (mJ) of one cloud request.

    ``P_up(uplink) x upload time + P_down(downlink) x download time + beta x wait_ms``, with the
    linear power model of ``profile.power`` evaluated at the profile's average bandwidths.

    ``wait_ms`` is time the radio is active but not transferring, waiting for the reply; it costs
    the base power ``beta``. For the energy of the whole request timed by
    ``transfer_latency_ms``, pass ``wait_ms = profile.rtt_ms + server_ms``.

    Assumptions: the radio is already connected (no promotion from idle) and its tail (the time
    a cellular radio stays in a high-power state after the last packet; seconds on LTE per Huang
    et al.) is not charged, as in Neurosurgeon. Both make cellular energy an underestimate for
    isolated requests.
    """
    _check_profile(profile)
    check_int("upload_bytes", upload_bytes, low=0)
    check_int("download_bytes", download_bytes, low=0)
    check_number("wait_ms", wait_ms)
    power = profile.power
    up_mw = power.uplink_power_mw(profile.uplink_mbps)
    down_mw = power.downlink_power_mw(profile.downlink_mbps)
    microjoules = (
        up_mw * _transfer_ms(upload_bytes, profile.uplink_mbps)
        + down_mw * _transfer_ms(download_bytes, profile.downlink_mbps)
        + power.beta_mw * wait_ms
    )
    return microjoules / 1e3


def upload_bytes(frame: np.ndarray, encoding: str, jpeg_quality: int = 90) -> int:
    """Bytes of one predict request carrying ``frame`` (uint8 ``(H, W)`` or ``(H, W, C)``), as the runtime's
    client sends it: the JSON body of :func:`mmnet.runtime.remote.request_body` plus
    ``REQUEST_OVERHEAD_BYTES`` for the HTTP request line and headers.

    ``"png"`` (lossless, fast compression) and ``"jpeg"`` (at ``jpeg_quality``) travel base64 in
    ``{"b64": ...}`` and take C in 1, 3; ``"raw"`` travels as JSON numbers, TF Serving's REST form of
    the input tensor (about 3.6 bytes per pixel; a binary tensor would take ``H*W*C``).
    """
    from mmnet.runtime.remote import request_body  # the client's encoder: the size is what it sends

    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding is {encoding!r}; expected one of {list(ENCODINGS)}")
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or not (
        frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3, 4))
    ) or frame.size == 0:
        raise DataError(
            f"frame is {frame.dtype} {frame.shape}; expected a non-empty uint8 (H, W) or "
            "(H, W, C) array with C in 1, 3, 4"
        )
    return len(request_body(frame if frame.ndim == 3 else frame[:, :, None], encoding, jpeg_quality)) + REQUEST_OVERHEAD_BYTES


def reply_bytes(num_classes: int) -> int:
    """Bytes of the master's reply: ``{"predictions": [[p_0, ..., p_n-1]]}`` plus HTTP headers.

    The JSON body of TF Serving's REST predict API, with every probability at the widest text a
    double in [0, 1] can take, so the estimate is an upper bound for the body.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes is {num_classes!r}; expected an int >= 1")
    body = json.dumps({"predictions": [[_WIDEST_PROBABILITY] * num_classes]})
    return len(body.encode("utf-8")) + REPLY_OVERHEAD_BYTES


def load_network_profiles(path: str | Path) -> dict[str, NetworkProfile]:
    """``DEFAULT_PROFILES`` with the profiles of a user JSON file added or replacing them.

    The file reads ``{"network_profiles": {"<name>": {uplink_mbps, downlink_mbps, rtt_ms,
    source, power: {alpha_up_mw_per_mbps, alpha_down_mw_per_mbps, beta_mw}}}}``. A profile
    replaces a default of the same name as a whole (its ``source`` must describe the new
    numbers); ``name`` inside an entry is optional and must equal its key.
    """
    path = Path(path)
    doc = read_json(path, "network profiles file", ConfigError)
    if not isinstance(doc, dict) or set(doc) != {"network_profiles"}:
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ConfigError(
            f"{path}: $ holds {found}; expected an object with the single key 'network_profiles'"
        )
    entries = doc["network_profiles"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(
            f"{path}: $.network_profiles is {entries!r}; expected a non-empty object of "
            "profiles keyed by name"
        )
    profiles = dict(DEFAULT_PROFILES)
    for name, entry in entries.items():
        where = f"$.network_profiles[{name!r}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {where} is a {type(entry).__name__}; expected an object")
        if "name" in entry and entry["name"] != name:
            raise ConfigError(
                f"{path}: {where}.name is {entry['name']!r}; expected its key {name!r}"
            )
        try:
            profiles[name] = NetworkProfile.from_json({**entry, "name": name})
        except ConfigError as e:
            # from_json reports paths relative to the entry ("$.power: ..."); anchor them here.
            message = str(e)
            detail = message[1:] if message.startswith("$") else f": {message}"
            raise ConfigError(f"{path}: {where}{detail}") from e
    return profiles
