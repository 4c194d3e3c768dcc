"""Choosing the system and master placement per network profile and user mode (§5.2.1, §5.3.3).

A candidate is a minion pair or a single minion, each with the recovery rate P_r its thresholds
give in a mode, or the master alone. Its expected per-frame cost under a master placement is

    latency = L_m1 + L_m2 + P_r × L_master(placement)       (serial minions, as in the paper)
              max(L_m1, L_m2) + P_r × L_master(placement)    (parallel minions)
    energy  = E_m1 + E_m2 + P_r × E_master(placement)

where every device latency includes the frame's preprocessing for that model, counted once per
resolution: the runtime prepares a frame once per resolution, so a second minion, or a device
master recovering the frame, at a resolution already prepared does not pay for it again (a
parallel pair still waits for the shared preparation, so only its energy is shared). Only candidates
whose minions alone are faster than the master are considered, only those that reach the mode's
accuracy target on val are eligible, and the master alone is always eligible — so the chosen
system is never a "hybrid" slower than the master by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmnet.format.errors import ConfigError
from mmnet.format.runtime_config import MASTER_ONLY

__all__ = [
    "Cost",
    "Candidate",
    "Choice",
    "expected_cost",
    "choose_placement",
    "choose_system",
]

RUNNER_UPS = 3


@dataclass(frozen=True)
class Cost:
    """A model's per-frame cost; on the device, its preprocessing part and the resolution it prepares."""

    latency_ms: float
    energy_mj: float
    preprocess_ms: float = 0.0  # included in latency_ms
    preprocess_mj: float = 0.0  # included in energy_mj
    resolution: int | None = None  # None: nothing is prepared on the device (the master in the cloud)

    def after(self, prepared: set[int]) -> Cost:
        """The cost when the frame is already prepared at ``prepared`` resolutions."""
        if self.resolution is None or self.resolution not in prepared:
            return self
        return Cost(self.latency_ms - self.preprocess_ms, self.energy_mj - self.preprocess_mj, 0.0, 0.0, self.resolution)


@dataclass(frozen=True)
class Candidate:
    """A minion system with what its thresholds give in one tuning (normal or power-saving) on val."""

    system: str  # "pair:<a>+<b>" or "single:<a>"
    minions: tuple[str, ...]
    meets_target: bool
    recovery_rate: float  # val, at the tuned thresholds (1.0 when the target cannot be met)
    accuracy: float  # val
    test_recovery_rate: float
    test_accuracy: float


@dataclass(frozen=True)
class Choice:
    system: str
    placement: str
    latency_ms: float
    energy_mj: float
    recovery_rate: float
    accuracy: float
    test_recovery_rate: float
    test_accuracy: float
    runner_ups: tuple[str, ...]
    why: str
    evaluated: tuple[dict, ...]  # every candidate with its expected cost, for the report

    def to_json(self) -> dict:
        return {
            "system": self.system,
            "placement": self.placement,
            "expected": {
                "latency_ms": self.latency_ms,
                "energy_mj": self.energy_mj,
                "recovery_rate": self.recovery_rate,
                "accuracy": self.accuracy,
                "test_accuracy": self.test_accuracy,
                "test_recovery_rate": self.test_recovery_rate,
            },
            "runner_ups": list(self.runner_ups),
            "why": self.why,
        }


def expected_cost(minion_costs: list[Cost], recovery_rate: float, master: Cost, execution: str) -> Cost:
    if execution not in ("serial", "parallel"):
        raise ConfigError(f"minion execution is {execution!r}; expected 'serial' or 'parallel'")
    if not 0.0 <= recovery_rate <= 1.0:
        raise ConfigError(f"recovery rate is {recovery_rate!r}; expected a fraction in [0, 1]")
    prepared: set[int] = set()
    shared = []
    for c in minion_costs:
        shared.append(c.after(prepared))
        if c.resolution is not None:
            prepared.add(c.resolution)
    # Parallel minions each wait for their own resolution's preparation, shared or not.
    latencies = [s.latency_ms for s in shared] if execution == "serial" else [c.latency_ms for c in minion_costs]
    speculation = sum(latencies) if execution == "serial" else max(latencies)
    recovery = master.after(prepared)
    return Cost(
        latency_ms=speculation + recovery_rate * recovery.latency_ms,
        energy_mj=sum(s.energy_mj for s in shared) + recovery_rate * recovery.energy_mj,
    )


def choose_placement(device: Cost, cloud: Cost, *, cloud_allowed: bool) -> tuple[str, str]:
    """Where the master runs: the lower latency of L_m (device) and L_t (cloud), per §5.2.1."""
    if not cloud_allowed:
        return "device", "this mode never leaves the device"
    if cloud.latency_ms < device.latency_ms:
        return "cloud", f"L_t {cloud.latency_ms:.2f} ms (cloud) < L_m {device.latency_ms:.2f} ms (device)"
    return "device", f"L_m {device.latency_ms:.2f} ms (device) <= L_t {cloud.latency_ms:.2f} ms (cloud)"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def choose_system(
    candidates: list[Candidate],
    costs: dict[str, Cost],
    master: Cost,
    *,
    placement: str,
    execution: str,
    master_accuracy: tuple[float, float],
    target: float,
) -> Choice:
    """The eligible system with the lowest expected latency (then energy), with its runner-ups.

    ``costs`` maps every minion id to its device cost; ``master`` is the master's cost at
    ``placement``; ``master_accuracy`` is the master's (val, test) accuracy.
    """
    evaluated = []
    eligible = []
    for candidate in candidates:
        minion_costs = [costs[m] for m in candidate.minions]
        speculation = expected_cost(minion_costs, 0.0, master, execution)
        cost = expected_cost(minion_costs, candidate.recovery_rate, master, execution)
        faster_alone = speculation.latency_ms < master.latency_ms
        row = {"system": candidate.system, "minions": list(candidate.minions), "placement": placement,
               "expected_latency_ms": cost.latency_ms, "expected_energy_mj": cost.energy_mj,
               "accuracy": candidate.accuracy, "recovery_rate": candidate.recovery_rate,
               "meets_target": candidate.meets_target, "minions_faster_than_master": faster_alone, "chosen": False}
        evaluated.append(row)
        if candidate.meets_target and faster_alone:
            eligible.append((cost.latency_ms, cost.energy_mj, candidate.system, candidate, cost))
    evaluated.append({"system": MASTER_ONLY, "minions": [], "placement": placement, "expected_latency_ms": master.latency_ms,
                      "expected_energy_mj": master.energy_mj, "accuracy": master_accuracy[0], "recovery_rate": 1.0,
                      "meets_target": True, "minions_faster_than_master": False, "chosen": False})
    eligible.sort(key=lambda e: (e[0], e[1], e[2]))
    where = f"master on the {placement}"
    best = eligible[0] if eligible else None
    if best is None or best[0] >= master.latency_ms:
        if best is None:
            reachable = [c for c in candidates if c.meets_target]
            why = (f"master alone ({master.latency_ms:.2f} ms, {where}): no minion system reaches {_pct(target)} of the "
                   "master's val accuracy" if not reachable else
                   f"master alone ({master.latency_ms:.2f} ms, {where}): the minions of every system that reaches the target "
                   "are together no faster than the master")
        else:
            why = (f"master alone ({master.latency_ms:.2f} ms, {where}): the best minion system {best[2]} would expect "
                   f"{best[0]:.2f} ms, no faster")
        evaluated[-1]["chosen"] = True
        return Choice(MASTER_ONLY, placement, master.latency_ms, master.energy_mj, 1.0, master_accuracy[0], 1.0,
                      master_accuracy[1], tuple(e[2] for e in eligible[:RUNNER_UPS]), why, tuple(evaluated))
    latency, energy, name, candidate, cost = best
    minion_terms = " + ".join(f"{costs[m].latency_ms:.2f}" for m in candidate.minions)
    if execution == "parallel" and len(candidate.minions) > 1:
        minion_terms = f"max({minion_terms.replace(' + ', ', ')})"
    why = (f"{name}: expected {latency:.2f} ms = {minion_terms} + {_pct(candidate.recovery_rate)} × {master.latency_ms:.2f} ms "
           f"({where}) < master alone {master.latency_ms:.2f} ms; val accuracy {_pct(candidate.accuracy)} reaches "
           f"{_pct(target)} of the master's {_pct(master_accuracy[0])}")
    for row in evaluated:
        row["chosen"] = row["system"] == name
    return Choice(name, placement, latency, energy, candidate.recovery_rate, candidate.accuracy,
                  candidate.test_recovery_rate, candidate.test_accuracy,
                  tuple(e[2] for e in eligible[1:RUNNER_UPS + 1]), why, tuple(evaluated))
