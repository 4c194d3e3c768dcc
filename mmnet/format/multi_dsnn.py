"""The multi-dsNN system of a bundle (dissertation ch. 3): the selector tree and the system document.

A multi-dsNN replaces a monolithic network by a decision tree (the *selector*) and one small
data-specialised network (dsNN) per part of the input space: the tree routes each input to exactly
one dsNN. In a bundle it is ``multi_dsnn/system.json`` (schema ``multi_dsnn``), named and
checksummed by the manifest's ``multi_dsnn`` entry; the system document checksums the selector
(``selector.json``, schema ``dsnn_selector``), the dsNNs and, in the CNN case, the shared
preprocessor (the monolithic CNN's convolutional part) in turn.

The tree is stored as parallel arrays, as scikit-learn holds it. Comparisons: an input's features
are float32 (what the networks compute); a node compares its feature widened to float64 with a
float64 threshold, ``<=`` going left. That is scikit-learn's own rule (it casts inputs to float32
and keeps float64 thresholds), so the shipped tree routes exactly as the fitted one, and the Java
core (``org.mmnet.core.select.DsnnSelector``) widens the same float to the same double.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmnet.format.documents import parse_json, validate_document
from mmnet.format.errors import BundleError, ConfigError

__all__ = [
    "SELECTOR_SCHEMA_VERSION",
    "SYSTEM_SCHEMA_VERSION",
    "COMPARISON",
    "SYSTEM_FILE",
    "LEAF",
    "SelectorTree",
    "MultiDsnnSystem",
    "load_selector",
    "load_system",
]

SELECTOR_SCHEMA_VERSION = "1.0"
SYSTEM_SCHEMA_VERSION = "1.0"
COMPARISON = "float32_feature_as_float64 <= float64_threshold"
SYSTEM_FILE = "multi_dsnn/system.json"
LEAF = -1  # feature, left and right of a leaf; part of an internal node
_MAX_DOC_BYTES = 64 << 20


@dataclass(frozen=True)
class SelectorTree:
    """A validated selector tree: node ``i`` is a leaf when ``feature[i] == LEAF``."""

    n_features: int
    parts: tuple[str, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    part: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.feature)
        if n == 0 or not len(self.threshold) == len(self.left) == len(self.right) == len(self.part) == n:
            raise ConfigError(
                f"selector nodes: feature, threshold, left, right and part have {len(self.feature)}, "
                f"{len(self.threshold)}, {len(self.left)}, {len(self.right)} and {len(self.part)} entries; "
                "expected the same number (>= 1)"
            )
        if len(self.parts) < 2 or len(set(self.parts)) != len(self.parts):
            raise ConfigError(f"selector parts are {list(self.parts)}; expected at least 2 distinct names")
        parents = [0] * n
        for i in range(n):
            f, left, right, part = self.feature[i], self.left[i], self.right[i], self.part[i]
            if f == LEAF:
                if left != LEAF or right != LEAF or not 0 <= part < len(self.parts):
                    raise ConfigError(
                        f"selector node {i} is a leaf (feature -1) with left {left}, right {right}, part {part}; "
                        f"expected left and right -1 and a part in 0..{len(self.parts) - 1}"
                    )
                continue
            if not 0 <= f < self.n_features:
                raise ConfigError(f"selector node {i} reads feature {f}; expected 0..{self.n_features - 1} or -1 (leaf)")
            if not math.isfinite(self.threshold[i]):
                raise ConfigError(f"selector node {i} has threshold {self.threshold[i]}; expected a finite number")
            if part != LEAF:
                raise ConfigError(f"selector node {i} is internal with part {part}; expected -1")
            for side, child in (("left", left), ("right", right)):
                # Children after their parent: every walk ends, in at most n steps.
                if not i < child < n:
                    raise ConfigError(f"selector node {i} has {side} child {child}; expected a node id in {i + 1}..{n - 1}")
                parents[child] += 1
        orphans = [i for i in range(1, n) if parents[i] != 1]
        if orphans:
            raise ConfigError(
                f"selector nodes {orphans[:5]} have {[parents[i] for i in orphans[:5]]} parents; "
                "expected every node but the root to have exactly one"
            )
        used = {self.part[i] for i in range(n) if self.feature[i] == LEAF}
        if len(used) < 2:
            raise ConfigError(
                f"selector leaves all route to {[self.parts[p] for p in used]}; expected a tree reaching at least 2 parts"
            )

    @property
    def node_count(self) -> int:
        return len(self.feature)

    @property
    def leaf_count(self) -> int:
        return sum(1 for f in self.feature if f == LEAF)

    @property
    def depth(self) -> int:
        """Edges on the longest root-to-leaf path."""
        depth = [0] * self.node_count
        for i in range(self.node_count):  # parents come before children
            if self.feature[i] != LEAF:
                depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
        return max(depth)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SELECTOR_SCHEMA_VERSION,
            "comparison": COMPARISON,
            "n_features": self.n_features,
            "parts": list(self.parts),
            "nodes": {
                "feature": list(self.feature),
                "threshold": [float(t) for t in self.threshold],
                "left": list(self.left),
                "right": list(self.right),
                "part": list(self.part),
            },
        }

    @classmethod
    def from_json(cls, doc: Any, source: str) -> SelectorTree:
        """A tree from its JSON document; BundleError naming ``source`` and what was wrong."""
        validate_document(doc, "dsnn_selector", source=source)
        nodes = doc["nodes"]
        try:
            return cls(
                n_features=doc["n_features"],
                parts=tuple(doc["parts"]),
                feature=tuple(nodes["feature"]),
                threshold=tuple(float(t) for t in nodes["threshold"]),
                left=tuple(nodes["left"]),
                right=tuple(nodes["right"]),
                part=tuple(nodes["part"]),
            )
        except ConfigError as e:
            raise BundleError(f"{source}: {e}") from e


@dataclass(frozen=True)
class MultiDsnnSystem:
    """A bundle's verified multi-dsNN: its document, its tree and the paths of its networks."""

    document: dict[str, Any]
    selector: SelectorTree
    preprocessor_path: Path | None
    dsnn_paths: dict[str, Path]  # by part name

    @property
    def case(self) -> str:
        return self.document["case"]

    @property
    def parts(self) -> tuple[str, ...]:
        return self.selector.parts


def _checked(root: Path, entry: dict[str, Any], where: str, sha256_file: Callable[[Path], str],
             resolve_inside: Callable[[Path, str, str], Path], *, verify: bool) -> Path:
    path = resolve_inside(root, entry["file"], where)
    if not path.is_file():
        raise BundleError(f"{where}: file {path} is missing from the bundle")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise BundleError(f"{where}: file {path} has {size} bytes; system.json expects {entry['bytes']}")
    if verify and sha256_file(path) != entry["sha256"]:
        raise BundleError(f"{where}: file {path} has another sha256 than system.json records (modified or corrupt)")
    return path


def _read(path: Path, what: str) -> Any:
    if not path.is_file():
        raise BundleError(f"{what} {path} is missing from the bundle")
    size = path.stat().st_size
    if size > _MAX_DOC_BYTES:
        raise BundleError(f"{path} has {size} bytes; expected {what} of at most {_MAX_DOC_BYTES} bytes")
    return parse_json(path.read_bytes(), str(path))


def load_selector(path: str | Path) -> SelectorTree:
    """The selector tree in the JSON file ``path``."""
    path = Path(path)
    return SelectorTree.from_json(_read(path, "a selector tree"), str(path))


def load_system(root: Path, system_path: Path, *, models: dict[str, dict[str, Any]], sha256_file: Callable[[Path], str],
                resolve_inside: Callable[[Path, str, str], Path],
                verify_checksums: bool = True) -> tuple[MultiDsnnSystem, list[tuple[str, Path]]]:
    """The multi-dsNN of the bundle at ``root`` (its system document at ``system_path``), every file
    it names checked (sizes, and sha256 when ``verify_checksums``); also each file with where it is
    named, for the bundle's one-file-per-reference check. ``models``: the manifest's models by id;
    ``sha256_file`` and ``resolve_inside`` (a path inside the bundle, or BundleError): the bundle
    module's own, passed in because it imports this one."""
    source = str(system_path)
    doc = _read(system_path, "the multi-dsNN system document")
    validate_document(doc, "multi_dsnn", source=source)
    monolithic = models.get(doc["monolithic"])
    if monolithic is None:
        raise BundleError(f"{source}: $.monolithic is {doc['monolithic']!r}; expected the id of a model in the manifest "
                          f"(known: {sorted(models)})")
    files: list[tuple[str, Path]] = []
    selector_path = _checked(root, doc["selector"], f"{source}: $.selector", sha256_file, resolve_inside,
                             verify=verify_checksums)
    files.append(("multi_dsnn.selector", selector_path))
    selector = load_selector(selector_path)
    where = f"{source}: $.selector"
    if selector.n_features != doc["features"]["count"]:
        raise BundleError(f"{where}: the tree reads {selector.n_features} features; $.features.count is "
                          f"{doc['features']['count']}")
    if (selector.depth, selector.leaf_count) != (doc["selector"]["depth"], doc["selector"]["leaves"]):
        raise BundleError(f"{where}: the tree has depth {selector.depth} and {selector.leaf_count} leaves; system.json "
                          f"records {doc['selector']['depth']} and {doc['selector']['leaves']}")
    dsnn_parts = [d["part"] for d in doc["dsnns"]]
    if sorted(dsnn_parts) != sorted(selector.parts) or len(set(dsnn_parts)) != len(dsnn_parts):
        raise BundleError(f"{source}: $.dsnns are for parts {dsnn_parts}; expected one dsNN per selector part "
                          f"{list(selector.parts)}")
    cnn = doc["case"] == "cnn"
    if cnn != (doc["preprocessor"] is not None) or cnn != (doc["features"]["source"] == "preprocessor"):
        raise BundleError(f"{source}: case {doc['case']!r} with features from {doc['features']['source']!r} and "
                          f"{'a' if doc['preprocessor'] else 'no'} preprocessor; expected case 'cnn' with a preprocessor "
                          "giving the features, or case 'fc' with features from the frame and no preprocessor")
    preprocessor = None
    if doc["preprocessor"] is not None:
        preprocessor = _checked(root, doc["preprocessor"], f"{source}: $.preprocessor", sha256_file, resolve_inside,
                                verify=verify_checksums)
        files.append(("multi_dsnn.preprocessor", preprocessor))
    dsnn_paths = {}
    for i, dsnn in enumerate(doc["dsnns"]):
        dsnn_paths[dsnn["part"]] = _checked(root, dsnn, f"{source}: $.dsnns[{i}]", sha256_file, resolve_inside,
                                            verify=verify_checksums)
        files.append((f"multi_dsnn.dsnns[{i}]", dsnn_paths[dsnn["part"]]))
    return MultiDsnnSystem(doc, selector, preprocessor, dsnn_paths), files
