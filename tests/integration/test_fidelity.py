"""The benchmark's cloud is the dissertation's: a GPU whose compute is neglected (§5.2.1).

``mmnet bench`` runs the master on this host's CPU for the cloud's answer; that compute must not
reach the latency the runtime sees nor the RTT its selector observes, or a heavy master reads as a
loaded server and cloud-only is charged the host's CPU. The server's time is the runtime config's
``upload.server_ms``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from mmnet.benchmarks.bench_systems import AnalyticalCloud, network_profile
from mmnet.format.bundle import load_bundle
from mmnet.runtime.network import transfer_latency_ms
from mmnet.runtime.runtime import Runtime
from tests.support.harness_bundle import build_harness_bundle

HOST_COMPUTE_S = 0.03  # a master that takes 30 ms on this host's CPU


class _SlowMaster:
    """The real master classifier, HOST_COMPUTE_S slower per call."""

    def __init__(self, classifier) -> None:
        self._classifier = classifier
        self.calls = 0

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(HOST_COMPUTE_S)
        return self._classifier.predict(batch)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_bundle(build_harness_bundle(tmp_path_factory.mktemp("fidelity") / "bundle"))


def test_the_analytical_cloud_charges_the_modelled_server_time_not_the_host_compute(bundle):
    doc = bundle.runtime_config.document
    profile = network_profile(doc, "wifi")
    cloud = AnalyticalCloud(bundle, profile)
    slow = cloud._classifier = _SlowMaster(cloud._classifier)
    runtime = Runtime(bundle, mode="mission_critical", network="wifi", master_client=cloud, placement="cloud",
                      clock=cloud.clock)
    frames, _ = bundle.load_split("test")
    modelled_ms = transfer_latency_ms(profile, doc["upload"]["bytes"], doc["upload"]["reply_bytes"],
                                      doc["upload"]["server_ms"])
    try:
        for i, frame in enumerate(frames[:6]):
            result = runtime.classify(frame, timestamp_s=float(i))
            assert result.master_placement == "cloud"
            # The runtime's clock shows the modelled request, not the 30 ms the host spent on the master.
            assert result.timings_ms["remote"] == pytest.approx(modelled_ms, abs=5.0)
            assert result.timings_ms["remote"] < modelled_ms + 1000.0 * HOST_COMPUTE_S / 2
        requests = cloud.take()
    finally:
        runtime.close()
    assert slow.calls == 6  # the host computed every answer
    assert [r.duration_ms for r in requests] == pytest.approx([modelled_ms] * 6)
    assert all(r.server_ms == doc["upload"]["server_ms"] for r in requests)
    # The selector's smoothed RTT stays at the profile's: the host compute is not read as RTT.
    assert runtime.state.link.rtt_ms == pytest.approx(profile.rtt_ms, abs=0.5)
    assert not runtime.state.server_overloaded
