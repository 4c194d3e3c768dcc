"""Reading, verifying, writing and publishing bundles (see the manifest contract, schema 1.0).

A bundle is a directory holding ``manifest.json``, ``labels.txt``, ``models/<id>.tflite``, the
recorded ``data/{val,test}.npz`` splits and, when the build configured it, ``runtime_config.json``
with ``report/`` and ``model_card.md``; when signed, ``manifest.sig`` (:mod:`mmnet.format.signing`).
``load_bundle`` checks the manifest against its JSON Schema and the rules the schema cannot express
(unique ids, files inside the bundle with matching sizes and sha256, labels.txt equal to ``labels``,
the runtime config made for this bundle, ...). Every way a bundle on disk can be wrong is a
:class:`BundleError` naming the file and what was expected.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mmnet.format.documents import parse_json, validate_document, write_json_atomic
from mmnet.format.errors import BundleError, ConfigError
from mmnet.format.multi_dsnn import MultiDsnnSystem, load_system
from mmnet.format.packed_model import unpack_model
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.format.runtime_config import RuntimeConfig, load_runtime_config
from mmnet.format.signing import SIGNATURE_FILE, TrustedKey, load_private_key, signature_document, verify_signature
from mmnet.format.vocabulary import MANIFEST_SCHEMA_VERSION

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "MANIFEST_FILE",
    "SPLITS",
    "ROLES",
    "PRECISIONS",
    "QUANTIZATIONS",
    "SOURCES",
    "sha256_file",
    "unpack_cache_dir",
    "unpacked_model_path",
    "ModelRecord",
    "Bundle",
    "load_bundle",
    "write_manifest",
    "publish_bundle",
    "sign_bundle",
]

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
SPLITS = ("val", "test")
ROLES = ("master", "minion")
PRECISIONS = ("float32", "float16", "int8")
# "sieve": per-layer custom float formats (dissertation ch. 4), weights rounded offline, activations in the graph
QUANTIZATIONS = ("none", "float16", "ptq", "qat", "sieve")
SOURCES = ("trained", "imported")

_CHUNK = 1 << 20
# The manifest of a large bundle is ~100 KB and labels.txt a few KB; far larger files are not theirs.
MAX_MANIFEST_BYTES = 16 << 20
MAX_LABELS_BYTES = 16 << 20
_MAX_REPORT_ENTRIES = 10_000


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelRecord:
    """One entry of ``manifest["models"]``."""

    id: str
    variant: str
    role: str
    family: str
    alpha: float | None
    resolution: int
    precision: str
    quantization: str
    source: str
    file: str | None
    sha256: str
    bytes: int
    params: int
    macs: int
    metrics: dict[str, Any]
    host_latency_ms: dict[str, Any] | None
    blessed: bool
    reason: str
    tflite_metadata: bool = False
    packing: dict[str, Any] | None = None  # the file holds packed tensors (mmnet.format.packed_model)
    sieve: dict[str, Any] | None = None  # a SIEVE speculative model: which one, of which master, its formats

    def __post_init__(self) -> None:
        for name, allowed in (
            ("role", ROLES),
            ("precision", PRECISIONS),
            ("quantization", QUANTIZATIONS),
            ("source", SOURCES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(
                    f"ModelRecord.{name} of {self.id!r} is {value!r}; expected one of "
                    f"{list(allowed)}"
                )
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or (
            self.resolution < 1
        ):
            raise ConfigError(
                f"ModelRecord.resolution of {self.id!r} is {self.resolution!r}; "
                "expected an int >= 1"
            )

    @property
    def shipped(self) -> bool:
        """Whether the artifact is in the bundle (rejected artifacts have ``file=None``)."""
        return self.file is not None

    @property
    def val_accuracy(self) -> float | None:
        return self.metrics.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelRecord:
        """Build a record from a manifest model object; BundleError when keys are missing/bad."""
        if not isinstance(doc, dict):
            raise BundleError(f"model entry is a {type(doc).__name__}; expected an object")
        try:
            return cls(
                id=doc["id"],
                variant=doc["variant"],
                role=doc["role"],
                family=doc["family"],
                alpha=doc["alpha"],
                resolution=doc["resolution"],
                precision=doc["precision"],
                quantization=doc["quantization"],
                source=doc["source"],
                file=doc["file"],
                sha256=doc["sha256"],
                bytes=doc["bytes"],
                params=doc["params"],
                macs=doc["macs"],
                metrics=dict(doc["metrics"]),
                host_latency_ms=(
                    None if doc["host_latency_ms"] is None else dict(doc["host_latency_ms"])
                ),
                blessed=doc["blessed"],
                reason=doc["reason"],
                tflite_metadata=doc.get("tflite_metadata", False),
                packing=doc.get("packing"),
                sieve=doc.get("sieve"),
            )
        except KeyError as e:
            raise BundleError(
                f"model entry {doc.get('id', '?')!r} has no key {e.args[0]!r}"
            ) from e
        except ConfigError as e:
            raise BundleError(f"model entry {doc.get('id', '?')!r} is invalid: {e}") from e


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle. Build it with ``load_bundle``."""

    path: Path
    manifest: dict[str, Any]
    labels: tuple[str, ...]
    preprocessing: PreprocessingSpec
    models: tuple[ModelRecord, ...]
    checksummed_files: tuple[str, ...] = ()
    runtime_config: RuntimeConfig | None = None  # validated against the schema and the bundle
    signed_by: str | None = None  # key id of the trusted key whose signature verified the manifest
    multi_dsnn: MultiDsnnSystem | None = None  # the shipped multi-dsNN system, its files verified

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def model(self, model_id: str) -> ModelRecord:
        for record in self.models:
            if record.id == model_id:
                return record
        raise BundleError(
            f"bundle {self.path} has no model {model_id!r}; known ids: "
            f"{[m.id for m in self.models]}"
        )

    def blessed(self, role: str | None = None) -> list[ModelRecord]:
        """Blessed models, optionally only those with ``role`` ("master" or "minion")."""
        if role is not None and role not in ROLES:
            raise ConfigError(f"role is {role!r}; expected one of {list(ROLES)} or None")
        return [m for m in self.models if m.blessed and (role is None or m.role == role)]

    def model_path(self, model_id: str) -> Path:
        """Path of a shipped model's .tflite file; a packed model is unpacked first (:func:`unpacked_model_path`)."""
        record = self.model(model_id)
        if record.file is None:
            raise BundleError(
                f"model {model_id!r} in bundle {self.path} is not shipped (file is null): "
                f"{record.reason}"
            )
        path = _resolve_inside(self.path, record.file, f"models[{model_id!r}].file")
        if record.packing is not None:
            return unpacked_model_path(path, record.packing, where=f"models[{model_id!r}].file")
        return path

    def load_split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Recorded frames (uint8 N,H,W,C) and labels (int64 N) of split ``name``, verified."""
        if name not in SPLITS:
            raise ConfigError(f"split is {name!r}; expected one of {list(SPLITS)}")
        entry = self.manifest["data"][name]
        where = f"data.{name}.file"
        path = _check_file(self.path, entry, where, verify=True)
        arrays = _read_npz(path)
        missing = sorted({"frames", "labels"} - set(arrays))
        if missing:
            raise BundleError(
                f"{path}: arrays {missing} are missing (found {sorted(arrays)}); "
                "expected 'frames' and 'labels'"
            )
        frames, labels = arrays["frames"], arrays["labels"]
        expected_shape = ("N", *self.preprocessing.frame_shape)
        if frames.dtype != np.uint8 or frames.ndim != 4 or (
            frames.shape[1:] != self.preprocessing.frame_shape
        ):
            raise BundleError(
                f"{path}: frames are {frames.dtype} {frames.shape}; expected uint8 {expected_shape}"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise BundleError(
                f"{path}: labels are {labels.dtype} {labels.shape}; expected integers (N,)"
            )
        if not len(frames) == len(labels) == entry["count"]:
            raise BundleError(
                f"{path}: {len(frames)} frames and {len(labels)} labels; manifest count is "
                f"{entry['count']}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise BundleError(
                f"{path}: labels range {labels.min()}..{labels.max()}; expected "
                f"0..{self.num_classes - 1}"
            )
        return frames, labels.astype(np.int64)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz archive (no pickles)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as npz:
                return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise BundleError(f"{path}: cannot be read as an .npz archive: {e}") from e
    raise BundleError(f"{path}: holds a single array; expected an .npz archive")


def _show(text: str, limit: int = 120) -> str:
    """``repr(text)``, shortened: messages quote what the manifest says without repeating 5,000 characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _show_path(path: Path, limit: int = 200) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _reason(error: Exception) -> str:
    """Why an OS call failed, without the path it repeats (which may be 5,000 characters)."""
    return getattr(error, "strerror", None) or str(error)[:200]


def _file_size(path: Path, where: str) -> int | None:
    """Size of the regular file ``path``, None when there is none; BundleError when the file system
    cannot answer (a name too long, a symlink loop, no permission)."""
    try:
        return path.stat().st_size if path.is_file() else None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise BundleError(f"{where}: file {_show_path(path)} cannot be read: {_reason(e)}") from e


def _read_bytes(path: Path, where: str, what: str, limit: int) -> bytes:
    """The content of the regular file ``path`` of at most ``limit`` bytes; BundleError otherwise."""
    size = _file_size(path, where)
    if size is None:
        raise BundleError(f"{where}: file {_show_path(path)} is missing from the bundle; expected {what}")
    if size > limit:
        raise BundleError(f"{where}: file {path} has {size} bytes; expected {what} of at most {limit} bytes")
    try:
        return path.read_bytes()
    except OSError as e:
        raise BundleError(f"{where}: file {path} cannot be read: {_reason(e)}") from e


def _utf8(data: bytes, path: Path, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{path}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start}); expected {what} "
                          "in UTF-8") from e


def _resolve_inside(root: Path, rel: str, where: str) -> Path:
    """``root / rel``, refusing absolute paths and paths that leave ``root``."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel or "\x00" in rel or not pure.parts:
        raise BundleError(
            f"{where} is {_show(rel)}; expected a relative path inside the bundle ({root})"
        )
    full = root / pure
    try:
        # Also catches symlinks pointing outside the bundle.
        inside = full.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop (RuntimeError before Python 3.13), a long name
        raise BundleError(f"{where} is {_show(rel)}, which cannot be resolved inside the bundle ({root}): "
                          f"{_reason(e)}") from e
    if not inside:
        raise BundleError(f"{where} is {_show(rel)}, which resolves outside the bundle ({root})")
    return full


def unpack_cache_dir() -> Path:
    """Where unpacked models are kept: ``$MMNET_CACHE_DIR/unpacked``, else ``~/.cache/mmnet/unpacked``."""
    base = os.environ.get("MMNET_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mmnet")
    return Path(base) / "unpacked"


def unpacked_model_path(packed: Path, packing: dict[str, Any], where: str) -> Path:
    """The TFLite file ``packed`` unpacks to, written once into :func:`unpack_cache_dir` under its own
    sha256 (checked on every use, so a stale or edited cache file is rewritten, never run)."""
    target = unpack_cache_dir() / f"{packing['tflite_sha256']}.tflite"
    if target.is_file() and target.stat().st_size == packing["tflite_bytes"] and (
            sha256_file(target) == packing["tflite_sha256"]):
        return target
    try:
        tflite = unpack_model(packed.read_bytes(), packing, where=f"{where} ({packed})")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(tflite)
        os.replace(temporary, target)
    except OSError as e:
        raise BundleError(f"{where}: cannot unpack {packed} into {target.parent}: {_reason(e)}; set MMNET_CACHE_DIR "
                          "to a writable directory") from e
    return target


def _check_file(root: Path, entry: dict[str, Any], where: str, *, verify: bool) -> Path:
    """Resolve ``entry["file"]`` and check its size (and sha256 when ``verify``)."""
    path = _resolve_inside(root, entry["file"], where)
    size = _file_size(path, where)
    if size is None:
        raise BundleError(f"{where}: file {path} is missing from the bundle")
    if size != entry["bytes"]:
        raise BundleError(
            f"{where}: file {path} has {size} bytes; manifest expects {entry['bytes']}"
        )
    if verify:
        try:
            actual = sha256_file(path)
        except OSError as e:
            raise BundleError(f"{where}: file {path} cannot be read: {_reason(e)}") from e
        if actual != entry["sha256"]:
            raise BundleError(
                f"{where}: file {path} has sha256 {actual}; manifest expects {entry['sha256']} "
                "(file modified or corrupt)"
            )
    return path


def _check_consistency(manifest: dict[str, Any], source: str) -> None:
    """Manifest-only rules the JSON Schema cannot express."""
    ids = [m["id"] for m in manifest["models"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BundleError(f"{source}: $.models: duplicate model ids {duplicates}")
    dataset = manifest["dataset"]
    labels = manifest["labels"]
    if len(labels) != dataset["num_classes"]:
        raise BundleError(
            f"{source}: $.labels has {len(labels)} entries; dataset.num_classes is "
            f"{dataset['num_classes']}"
        )
    if manifest["preprocessing"]["frame_shape"] != dataset["frame_shape"]:
        raise BundleError(
            f"{source}: $.preprocessing.frame_shape is {manifest['preprocessing']['frame_shape']}; "
            f"expected dataset.frame_shape {dataset['frame_shape']}"
        )
    try:
        spec = PreprocessingSpec.from_json(manifest["preprocessing"])
    except BundleError as e:
        raise BundleError(f"{source}: $.preprocessing: {e}") from e
    for split in SPLITS:
        count = manifest["data"][split]["count"]
        if count != dataset["splits"][split]:
            raise BundleError(
                f"{source}: $.data.{split}.count is {count}; expected dataset.splits.{split} "
                f"{dataset['splits'][split]}"
            )
    val, test = manifest["data"]["val"], manifest["data"]["test"]
    if val["sha256"] == test["sha256"] and (val["count"] or test["count"]):
        raise BundleError(f"{source}: $.data.test.sha256 equals $.data.val.sha256: the test split holds the "
                          "validation frames; expected two distinct recorded splits")
    _check_recorded_preprocessing(manifest, source)
    for i, model in enumerate(manifest["models"]):
        where = f"{source}: $.models[{i}]"
        if model["blessed"] and model["file"] is None:
            raise BundleError(
                f"{where}: model {model['id']!r} is blessed but not shipped (file is null)"
            )
        res = model["resolution"]
        expected_in = [1, res, res, spec.channels]
        if model["input"]["shape"] != expected_in:
            raise BundleError(
                f"{where}.input.shape is {model['input']['shape']}; expected {expected_in} "
                "(batch 1, resolution, resolution, channels)"
            )
        expected_out = [1, dataset["num_classes"]]
        if model["output"]["shape"] != expected_out:
            raise BundleError(
                f"{where}.output.shape is {model['output']['shape']}; expected {expected_out}"
            )


def _check_recorded_preprocessing(manifest: dict[str, Any], source: str) -> None:
    """The build config recorded in ``build.config`` fixes mean, std or resize method only when it
    names them; where it does, ``preprocessing`` must say the same."""
    config = manifest["build"].get("config")
    recorded = config.get("preprocessing") if isinstance(config, dict) else None
    if not isinstance(recorded, dict):
        return
    for key in ("mean", "std", "resize_method"):
        value = recorded.get(key)
        if value is not None and value != manifest["preprocessing"][key]:
            raise BundleError(f"{source}: $.preprocessing.{key} is {manifest['preprocessing'][key]!r}; the build config "
                              f"in $.build.config.preprocessing.{key} says {value!r}; expected the same values")


def _file_entries(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every checksummed file reference of the manifest, with its JSON path."""
    entries = [(f"models[{i}].file", m) for i, m in enumerate(manifest["models"]) if m["file"]]
    entries += [(f"data.{split}.file", manifest["data"][split]) for split in SPLITS]
    if manifest["runtime_config"] is not None:
        entries.append(("runtime_config.file", manifest["runtime_config"]))
    if "multi_dsnn" in manifest:
        entries.append(("multi_dsnn.file", manifest["multi_dsnn"]))
    report = manifest.get("report", {})
    for name in ("index", "model_card", "systems"):
        if name in report:
            entries.append((f"report.{name}.file", report[name]))
    for i, entry in enumerate(report.get("files", ())):
        entries.append((f"report.files[{i}].file", entry))
    return entries


def _check_report_inventory(root: Path, manifest: dict[str, Any], source: str, *, signed: bool) -> None:
    """Every file in the report's folder is one the manifest checksums: the page may link any of
    them, so an unlisted file would ship unverified (and unsigned).

    A manifest written before ``report.files`` existed checksums no plot: it loads with a warning,
    but is never signed or accepted as signed, since its signature would not cover them.
    """
    if "files" not in manifest["report"]:
        if signed:
            raise BundleError(f"{source}: $.report has no 'files', so the report's plots are not checksummed and a "
                              "signature would not cover them; expected $.report.files (run `mmnet configure` on it)")
        logger.warning("%s: $.report has no 'files': the report's plots are not checksummed (run `mmnet configure` "
                       "on the bundle to list them)", source)
        return
    index = manifest["report"]["index"]["file"]
    folder = root / posixpath.dirname(posixpath.normpath(index))
    listed = {posixpath.normpath(entry["file"]) for _, entry in _file_entries(manifest)}
    listed |= {MANIFEST_FILE, SIGNATURE_FILE, posixpath.normpath(manifest["labels_file"])}
    seen = 0
    for current, dirs, files in os.walk(folder):
        for name in dirs + files:
            seen += 1
            if seen > _MAX_REPORT_ENTRIES:
                raise BundleError(f"{source}: the report folder {folder} holds more than {_MAX_REPORT_ENTRIES} "
                                  "entries; expected a report's page and plots")
            path = Path(current) / name
            if path.is_dir() and not path.is_symlink():
                continue
            relative = path.relative_to(root).as_posix()
            if relative not in listed:
                raise BundleError(f"{source}: {_show(relative)} is in the report folder but not checksummed by the "
                                  "manifest; expected every report file listed in $.report.files (rebuild the bundle "
                                  "or run `mmnet configure` on it)")


def _check_distinct_files(root: Path, paths: list[tuple[str, Path]], source: str) -> None:
    """No two references of the manifest name one file (by name, link or hard link): a test split
    pointed at the validation file, or a minion at the master's model, is refused."""
    seen: dict[tuple[int, int], str] = {}
    for where, path in paths:
        try:
            info = path.stat()
        except OSError as e:
            raise BundleError(f"{source}: {where}: file {path} cannot be read: {_reason(e)}") from e
        other = seen.setdefault((info.st_dev, info.st_ino), where)
        if other != where:
            raise BundleError(f"{source}: {where} names the same file as {other} ({path.relative_to(root)}); "
                              "expected a distinct file for each")


def _check_runtime_config_matches(manifest: dict[str, Any], config: RuntimeConfig, source: str) -> None:
    """The runtime config was made for this bundle: its name and its models' roles and resolutions."""
    doc = config.document
    if doc["bundle"] != manifest["name"]:
        raise BundleError(f"{source}: $.bundle is {_show(doc['bundle'])}; expected the manifest's name "
                          f"{manifest['name']!r} (a runtime config made for another bundle)")
    models = {m["id"]: m for m in manifest["models"]}
    master = models[doc["master"]["model"]]
    if master["role"] != "master":
        raise BundleError(f"{source}: $.master.model {master['id']!r} is a {master['role']} in the manifest; "
                          "expected a model of role 'master'")
    if doc["master"]["resolution"] != master["resolution"]:
        raise BundleError(f"{source}: $.master.resolution is {doc['master']['resolution']}; expected the manifest's "
                          f"resolution of {master['id']!r}, {master['resolution']}")
    minions = set(doc["detector"]["temperatures"]).union(*(s["minions"] for s in doc["systems"].values()))
    for model_id in sorted(minions):
        if models[model_id]["role"] != "minion":
            raise BundleError(f"{source}: model {model_id!r} runs as a minion but is a {models[model_id]['role']} in "
                              "the manifest; expected a model of role 'minion'")


def _read_labels(root: Path, manifest: dict[str, Any], source: str) -> tuple[str, ...]:
    path = _resolve_inside(root, manifest["labels_file"], "labels_file")
    what = "the labels, one per line"
    found = _utf8(_read_bytes(path, "labels_file", what, MAX_LABELS_BYTES), path, what).splitlines()
    expected = manifest["labels"]
    if found != expected:
        index = next(
            (i for i, (a, b) in enumerate(zip(found, expected)) if a != b),
            min(len(found), len(expected)),
        )
        got = found[index] if index < len(found) else "<end of file>"
        want = expected[index] if index < len(expected) else "<end of labels>"
        raise BundleError(
            f"{path} does not match {source} $.labels: line {index + 1} is {got!r}, "
            f"expected {want!r} ({len(found)} lines, {len(expected)} labels)"
        )
    return tuple(found)


def _read_manifest(root: Path) -> bytes:
    manifest_path = root / MANIFEST_FILE
    if _file_size(manifest_path, f"bundle {root}") is None:
        raise BundleError(f"bundle {root} has no manifest: {manifest_path} does not exist")
    return _read_bytes(manifest_path, f"bundle {root}", "a manifest", MAX_MANIFEST_BYTES)


def load_bundle(
    path: str | Path,
    *,
    verify_checksums: bool = True,
    runtime_config: bool = True,
    trusted_keys: Sequence[TrustedKey] | None = None,
) -> Bundle:
    """Load and verify the bundle directory ``path``.

    With ``verify_checksums=False`` file existence and sizes are still checked, sha256 is not.
    With ``runtime_config=False`` the runtime config's content and the report folder's inventory
    are not checked (their checksums still are): for tools that are about to replace them.
    With ``trusted_keys`` (:func:`mmnet.format.signing.trusted_keys_from`) the manifest must carry
    a signature (``manifest.sig``) by one of them; None checks no signature.
    """
    if trusted_keys is not None and not verify_checksums:
        raise ConfigError("trusted_keys needs verify_checksums=True: the signature covers the files through "
                          "the sha256 the manifest records")
    root = Path(path)
    return _load(root, _read_manifest(root), verify_checksums=verify_checksums, runtime_config=runtime_config,
                 trusted_keys=trusted_keys)


def _load(root: Path, manifest_bytes: bytes, *, verify_checksums: bool, runtime_config: bool,
          trusted_keys: Sequence[TrustedKey] | None, signing: bool = False) -> Bundle:
    manifest_path = root / MANIFEST_FILE
    source = str(manifest_path)
    signed_by = None
    if trusted_keys is not None:  # before parsing: an unsigned document is not read any further
        signed_by = verify_signature(manifest_bytes, root / SIGNATURE_FILE, trusted_keys).key_id
    manifest = parse_json(_utf8(manifest_bytes, manifest_path, "a JSON manifest"), source)
    validate_document(manifest, "manifest", source=source)
    _check_consistency(manifest, source)
    labels = _read_labels(root, manifest, source)

    checked: list[str] = []
    paths = []
    for where, entry in _file_entries(manifest):
        paths.append((where, _check_file(root, entry, f"{source}: {where}", verify=verify_checksums)))
        if verify_checksums:
            checked.append(entry["file"])
    paths.append(("labels_file", _resolve_inside(root, manifest["labels_file"], "labels_file")))
    multi_dsnn = None
    if "multi_dsnn" in manifest:
        system_path = _resolve_inside(root, manifest["multi_dsnn"]["file"], "multi_dsnn.file")
        multi_dsnn, system_files = load_system(root, system_path, models={m["id"]: m for m in manifest["models"]},
                                               sha256_file=sha256_file, resolve_inside=_resolve_inside,
                                               verify_checksums=verify_checksums)
        paths += system_files
        if verify_checksums:
            checked += [path.relative_to(root).as_posix() for _, path in system_files]
    _check_distinct_files(root, paths, source)

    config = None
    if runtime_config and "report" in manifest:
        _check_report_inventory(root, manifest, source, signed=signing or trusted_keys is not None)
    if runtime_config and manifest["runtime_config"] is not None:
        config_path = _resolve_inside(root, manifest["runtime_config"]["file"], "runtime_config.file")
        config = load_runtime_config(
            config_path,
            num_classes=len(labels),
            shipped_models=[m["id"] for m in manifest["models"] if m["file"]],
        )
        _check_runtime_config_matches(manifest, config, str(config_path))
    bundle = Bundle(
        path=root,
        manifest=manifest,
        labels=labels,
        preprocessing=PreprocessingSpec.from_json(manifest["preprocessing"]),
        models=tuple(ModelRecord.from_json(m) for m in manifest["models"]),
        checksummed_files=tuple(checked),
        runtime_config=config,
        signed_by=signed_by,
        multi_dsnn=multi_dsnn,
    )
    logger.debug(
        "loaded bundle %s (%d models, %d files checksummed)", root, len(bundle.models), len(checked)
    )
    return bundle


def sign_bundle(path: str | Path, key_path: str | Path) -> Path:
    """Verify the bundle at ``path`` and sign its manifest with the Ed25519 private key in
    ``key_path``; returns the signature file (``manifest.sig``, replaced atomically)."""
    key = load_private_key(key_path)
    root = Path(path)
    manifest_bytes = _read_manifest(root)
    # The exact bytes verified are the bytes signed: a concurrent edit cannot slip in between.
    _load(root, manifest_bytes, verify_checksums=True, runtime_config=True, trusted_keys=None, signing=True)
    signature = write_json_atomic(signature_document(manifest_bytes, key), root / SIGNATURE_FILE)
    logger.info("signed %s with key %s", root / MANIFEST_FILE, key_path)
    return signature


def write_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    """Validate ``manifest`` and write it as pretty JSON to ``path`` atomically.

    Nothing is written when validation fails.
    """
    path = Path(path)
    validate_document(manifest, "manifest", source=str(path))
    _check_consistency(manifest, str(path))
    write_json_atomic(manifest, path)


def _is_replaceable(final: Path) -> bool:
    """Only an existing bundle (or an empty directory) may be replaced by ``publish_bundle``."""
    return final.is_dir() and not final.is_symlink() and (
        (final / MANIFEST_FILE).is_file() or not any(final.iterdir())
    )


def publish_bundle(staging_dir: str | Path, final_dir: str | Path) -> Path:
    """Verify the fully written ``staging_dir`` and move it to ``final_dir`` atomically.

    An existing bundle at ``final_dir`` is renamed aside first and deleted only after the new one
    is in place, so ``final_dir`` always holds a complete bundle. Both directories must be on the
    same filesystem.
    """
    staging = Path(staging_dir)
    final = Path(final_dir)
    if staging.resolve() == final.resolve():
        raise ConfigError(f"staging_dir and final_dir are both {final}; expected two directories")
    load_bundle(staging)
    final.parent.mkdir(parents=True, exist_ok=True)
    aside = final.with_name(f".{final.name}.replaced")
    if final.exists() or final.is_symlink():
        if not _is_replaceable(final):
            raise BundleError(
                f"refusing to replace {final}: it is not a bundle directory "
                f"(no {MANIFEST_FILE}) and not empty"
            )
        if aside.exists():
            # Left by an interrupted publish; final_dir is intact, so the copy is stale.
            shutil.rmtree(aside)
        os.rename(final, aside)
        try:
            os.rename(staging, final)
        except OSError as e:
            os.rename(aside, final)
            raise BundleError(f"cannot move bundle {staging} to {final}: {e}") from e
    else:
        try:
            os.rename(staging, final)
        except OSError as e:
            raise BundleError(f"cannot move bundle {staging} to {final}: {e}") from e
    if aside.exists():
        shutil.rmtree(aside)
    logger.info("published bundle %s", final)
    return final
