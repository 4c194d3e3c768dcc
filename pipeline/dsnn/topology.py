"""§3.5.7's heuristic topology search for one dsNN, TF-free: which hidden layers to train next.

A topology is a tuple of hidden-layer widths (``()``: no hidden layer, a softmax regression).
``evaluate(hidden)`` trains a dsNN of that topology on its part and returns its accuracy there.

- **Energy optimisation** (deterministic hill climbing, from no hidden layer): a *step* doubles
  the last hidden layer while that improves accuracy; when it does not, when the last layer is full
  (``max_neurons``) or there is none, the search *jumps*: a new hidden layer of ``first_neurons``
  after the input while fewer than ``max_hidden_layers`` exist, else the last non-full layer
  doubles. No jump left: the search ends.
- **Accuracy optimisation** (from the baseline's hidden layers, shrinking): a step keeps
  ``shrink`` of the first non-empty layer's neurons (a layer reaching 0 is removed); when accuracy
  falls below the target the step is undone and the search jumps to the next layer.

Which one runs is decided by the caller (§3.5.7: half-size dsNNs reaching 100% of the monolithic
accuracy mean energy optimisation). Both stop after ``budget`` evaluations; a repeated topology is
not trained twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from mmnet.format.errors import ConfigError

__all__ = ["Trial", "energy_search", "accuracy_search"]

Topology = tuple[int, ...]


@dataclass(frozen=True)
class Trial:
    hidden: Topology
    accuracy: float
    move: str  # "start", "step" or "jump": how the search got here


def _run(evaluate: Callable[[Topology], float], hidden: Topology, move: str, trials: list[Trial]) -> float:
    for trial in trials:
        if trial.hidden == hidden:
            return trial.accuracy
    accuracy = float(evaluate(hidden))
    trials.append(Trial(hidden, accuracy, move))
    return accuracy


def energy_search(evaluate: Callable[[Topology], float], *, max_neurons: int, max_hidden_layers: int,
                  first_neurons: int, budget: int) -> list[Trial]:
    if budget < 1 or first_neurons < 1 or first_neurons > max_neurons or max_hidden_layers < 1:
        raise ConfigError(f"energy search: budget {budget}, first_neurons {first_neurons}, max_neurons {max_neurons}, "
                          f"max_hidden_layers {max_hidden_layers}; expected >= 1 each, first_neurons <= max_neurons")
    trials: list[Trial] = []
    hidden: Topology = ()
    accuracy = _run(evaluate, hidden, "start", trials)
    improving = False
    while len(trials) < budget:
        if hidden and improving and hidden[-1] < max_neurons:
            hidden, move = (*hidden[:-1], min(max_neurons, 2 * hidden[-1])), "step"
        elif len(hidden) < max_hidden_layers:
            hidden, move = (first_neurons, *hidden), "jump"
        else:
            nonfull = [i for i, width in enumerate(hidden) if width < max_neurons]
            if not nonfull:
                break
            i = nonfull[-1]
            hidden, move = (*hidden[:i], min(max_neurons, 2 * hidden[i]), *hidden[i + 1:]), "jump"
        seen = len(trials)
        new_accuracy = _run(evaluate, hidden, move, trials)
        if len(trials) == seen:  # visited already: nothing learned, and the next move would repeat it
            break
        improving = new_accuracy > accuracy
        accuracy = max(accuracy, new_accuracy)
    return trials


def accuracy_search(evaluate: Callable[[Topology], float], baseline: Topology, *, target: float, shrink: float,
                    budget: int) -> list[Trial]:
    if budget < 1 or not 0.0 < shrink < 1.0 or not baseline or min(baseline) < 1:
        raise ConfigError(f"accuracy search: budget {budget}, shrink {shrink}, baseline {baseline}; expected "
                          "budget >= 1, shrink in (0, 1) and a baseline with at least one hidden layer")
    trials: list[Trial] = []
    hidden: Topology = tuple(baseline)
    _run(evaluate, hidden, "start", trials)
    layer = 0
    move = "step"
    while len(trials) < budget and layer < len(hidden):
        width = math.floor(hidden[layer] * shrink)
        candidate = (*hidden[:layer], *((width,) if width else ()), *hidden[layer + 1:])
        seen = len(trials)
        accuracy = _run(evaluate, candidate, move, trials)
        if len(trials) == seen:
            break
        if accuracy >= target:
            hidden, move = candidate, "step"
            if not width:  # the layer is gone: the next one now sits at this index
                move = "jump"
        else:  # undo, and jump to the next layer
            layer, move = layer + 1, "jump"
    return trials
