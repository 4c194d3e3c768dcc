"""The multi-dsNN design's settings: one frozen dataclass that validates itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mmnet.format.checks import check_int, check_number
from mmnet.format.errors import ConfigError

__all__ = ["DsnnConfig", "DEFAULT_TAIL_SHARES"]

# The threshold queue (§3.5: nine partitioning thresholds). Each is the share of training inputs
# with the largest monolithic error that form the tail: thresholds as quantiles of the error file
# adapt to how confident each monolithic network is, where fixed error values would not.
DEFAULT_TAIL_SHARES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


@dataclass(frozen=True)
class DsnnConfig:
    """Settings of §3.4's flow: partitioning, the selector trees, the dsNN search and training.

    ``three_way``: pairs of tail shares (outer, inner) for 3-way systems (main, mid, tail), where
    ``inner`` < ``outer``: the tail is the top ``inner`` share, the mid part the next
    ``outer - inner``. ``search_budget``: dsNN trainings per part and threshold (§3.5.7's heuristic
    stops earlier when it runs out of steps and jumps). Sizes are scaled down from the paper's
    4,096 neurons and three hidden layers to what these small data sets need.
    """

    tail_shares: tuple[float, ...] = DEFAULT_TAIL_SHARES
    three_way: tuple[tuple[float, float], ...] = ((0.3, 0.1),)
    tree_max_depth: int = 8
    tree_max_leaf_nodes: int = 32
    tree_min_samples_leaf: int = 5
    max_hidden_layers: int = 3
    max_neurons: int = 256
    first_neurons: int = 8  # a new hidden layer's width in the energy search (the paper starts at 1)
    shrink: float = 0.5  # the accuracy search's step: the first hidden layer keeps this share (paper: 0.95)
    search_budget: int = 6
    min_part_samples: int = 20
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        shares = self.tail_shares
        if not isinstance(shares, tuple) or not shares:
            raise ConfigError(f"tail_shares is {shares!r}; expected a non-empty tuple of shares in (0, 1)")
        for i, share in enumerate(shares):
            check_number(f"tail_shares[{i}]", share, low=0.0, high=1.0)
            if not 0.0 < share < 1.0:
                raise ConfigError(f"tail_shares[{i}] is {share}; expected a share strictly between 0 and 1")
        if list(shares) != sorted(set(shares)):
            raise ConfigError(f"tail_shares are {list(shares)}; expected distinct shares in increasing order")
        if not isinstance(self.three_way, tuple):
            raise ConfigError(f"three_way is {self.three_way!r}; expected a tuple of (outer, inner) share pairs")
        for i, pair in enumerate(self.three_way):
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, float) for v in pair)
                    and 0.0 < pair[1] < pair[0] < 1.0):
                raise ConfigError(f"three_way[{i}] is {pair!r}; expected (outer, inner) floats with 0 < inner < outer < 1")
        check_int("tree_max_depth", self.tree_max_depth, low=1, high=64)
        check_int("tree_max_leaf_nodes", self.tree_max_leaf_nodes, low=2, high=100_000)
        check_int("tree_min_samples_leaf", self.tree_min_samples_leaf, low=1)
        check_int("max_hidden_layers", self.max_hidden_layers, low=1, high=8)
        check_int("max_neurons", self.max_neurons, low=1, high=1 << 16)
        check_int("first_neurons", self.first_neurons, low=1, high=self.max_neurons)
        check_number("shrink", self.shrink, low=0.0, high=1.0)
        if not 0.0 < self.shrink < 1.0:
            raise ConfigError(f"shrink is {self.shrink}; expected a share strictly between 0 and 1")
        check_int("search_budget", self.search_budget, low=1, high=10_000)
        check_int("min_part_samples", self.min_part_samples, low=1)
        check_int("epochs", self.epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_number("learning_rate", self.learning_rate, positive=True)
        check_int("seed", self.seed, low=0)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["tail_shares"] = list(self.tail_shares)
        doc["three_way"] = [list(p) for p in self.three_way]
        return doc
