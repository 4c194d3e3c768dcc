"""Choosing a detector's score threshold on held-out scores, as a point estimate or with a guarantee.

A frame's *extra error* is an accepted speculative answer that is wrong where the master is right:
the system's accuracy is at least the master's minus the extra-error rate. Two ways to choose the
threshold, both walking from the strictest threshold (the master answers everything) toward the
most lenient and stopping at the first that fails:

- ``point``: the kept right outputs (accepted right answers + recovered frames the master gets
  right) must reach ``needed`` — the paper's rule, a point estimate on the validation frames;
- ``guaranteed``: Learn-then-Test fixed-sequence testing (Angelopoulos et al. 2021): at each
  threshold the null "extra-error rate > ε" is rejected when the binomial p-value P(Bin(n, ε) ≤ k)
  is at most δ, k being the extra errors seen on n frames. Testing in a fixed order needs no
  multiplicity correction, so the chosen threshold keeps the extra-error rate ≤ ε with probability
  ≥ 1 − δ over the draw of the validation frames (exchangeable with the frames served).

With no extra error seen, n frames certify ε at δ only when (1 − ε)^n ≤ δ, i.e. n ≥ ln δ / ln(1 − ε)
(:func:`frames_to_certify`): 360 frames cannot certify ε = 0.3% at δ = 0.1 (767 are needed).

The certified quantity is the long-run rate. A team judging the system on a window of m served
frames sees that rate plus binomial noise; :func:`guarantee_levels` certifies a lower rate so that
the count in the window stays ≤ ε·m with probability ≥ 1 − δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmnet.format.errors import ConfigError

__all__ = ["RiskChoice", "choose_point", "choose_guaranteed", "clopper_pearson_upper", "frames_to_certify",
           "binomial_p_value", "guarantee_levels", "window_rate"]


@dataclass(frozen=True)
class RiskChoice:
    threshold: float  # accept a frame when its score is >= this
    frames: int
    accepted: int
    correct: int  # right outputs kept: accepted right answers + recovered frames the master gets right
    extra_errors: int  # accepted wrong answers the master had right

    @property
    def recovery_rate(self) -> float:
        return 1.0 - self.accepted / self.frames

    @property
    def accuracy(self) -> float:
        return self.correct / self.frames

    @property
    def extra_error_rate(self) -> float:
        return self.extra_errors / self.frames


def _walk(scores: np.ndarray, good: np.ndarray, fallback: np.ndarray):
    """Every distinct finite score threshold from the strictest, with its acceptances, right outputs and extra errors."""
    scores = np.asarray(scores, dtype=np.float64)
    good = np.asarray(good, bool)
    fallback = np.asarray(fallback, bool)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    keep = np.isfinite(s)
    # accepting the first i frames (by score) swaps their master answer for the speculative one
    gain = np.cumsum(good[order].astype(np.int64) - fallback[order].astype(np.int64))
    harm = np.cumsum((~good & fallback)[order])
    base = int(fallback.sum())
    # a threshold accepts every frame of its score: the last index of each run of equal scores
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True) & keep)
    return s, last, base + gain, harm


def choose_point(scores: np.ndarray, good: np.ndarray, fallback: np.ndarray, needed: int) -> RiskChoice | None:
    """The most lenient threshold reached from the strictest without falling below ``needed`` right outputs."""
    s, last, correct, harm = _walk(scores, good, fallback)
    chosen = None
    for i in last:
        if correct[i] < needed:
            break
        chosen = RiskChoice(float(s[i]), s.size, int(i + 1), int(correct[i]), int(harm[i]))
    return chosen


def binomial_p_value(errors: int, frames: int, epsilon: float) -> float:
    """P(Bin(frames, epsilon) <= errors): small when so few errors are unlikely at a rate above epsilon."""
    from scipy.stats import binom

    return float(binom.cdf(errors, frames, epsilon))


def window_rate(epsilon: float, delta: float, window: int) -> float:
    """The highest long-run extra-error rate r at which a window of ``window`` frames holds more than
    ε·window extra errors with probability at most δ (binomial tail, by bisection)."""
    from scipy.stats import binom

    _check_risk(epsilon, delta)
    allowed = math.floor(epsilon * window + 1e-9)
    low, high = 0.0, epsilon
    for _ in range(60):
        middle = (low + high) / 2
        if binom.sf(allowed, window, middle) <= delta:
            low = middle
        else:
            high = middle
    return low


def guarantee_levels(epsilon: float, delta: float, window: int | None, tests: int) -> tuple[float, float]:
    """The (rate, level) each Learn-then-Test run certifies so that the promise "extra errors ≤ ε per
    frame with probability ≥ 1 − δ" holds: for the long-run rate (``window`` None), or for the count
    in a window of that many served frames — half of δ for the rate, half for the window's binomial
    noise. ``tests`` detectors certified on the same frames share δ equally (Bonferroni), since the
    build keeps whichever recovers least."""
    if window:
        return window_rate(epsilon, delta / 2, window), delta / 2 / tests
    return epsilon, delta / tests


def choose_guaranteed(scores: np.ndarray, good: np.ndarray, fallback: np.ndarray, rate: float,
                      level: float) -> RiskChoice | None:
    """Learn-then-Test fixed-sequence testing of "extra-error rate > ``rate``" at ``level`` (module
    doc); None when not even the strictest threshold that accepts anything is certified."""
    _check_risk(rate, level)
    s, last, correct, harm = _walk(scores, good, fallback)
    chosen = None
    for i in last:
        if binomial_p_value(int(harm[i]), s.size, rate) > level:
            break
        chosen = RiskChoice(float(s[i]), s.size, int(i + 1), int(correct[i]), int(harm[i]))
    return chosen


def clopper_pearson_upper(errors: int, frames: int, delta: float) -> float:
    """The one-sided (1 − δ) Clopper–Pearson upper confidence bound on a rate seen as errors/frames."""
    from scipy.stats import beta

    if errors >= frames:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, frames - errors))


def frames_to_certify(epsilon: float, delta: float) -> int:
    """The fewest frames that certify an extra-error rate ≤ ε at δ, with no extra error seen."""
    _check_risk(epsilon, delta)
    return math.ceil(math.log(delta) / math.log1p(-epsilon))


def _check_risk(epsilon: float, delta: float) -> None:
    if not 0 < epsilon < 1:
        raise ConfigError(f"epsilon is {epsilon!r}; expected an extra-error rate in (0, 1)")
    if not 0 < delta < 1:
        raise ConfigError(f"delta is {delta!r}; expected a probability in (0, 1)")
