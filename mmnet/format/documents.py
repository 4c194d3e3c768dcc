"""JSON documents of the bundle contract: the shipped JSON Schemas (``mmnet/format/schemas/<name>.schema.json``),
validation, atomic reads and writes."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from mmnet.format.errors import BundleError, ConfigError, MmnetError

__all__ = ["MAX_DEPTH", "load_schema", "nesting_depth", "parse_json", "read_json", "validate_document", "write_json_atomic"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUFFIX = ".schema.json"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Deeper than any document of the contract; shallow enough for recursive walkers (jsonschema).
MAX_DEPTH = 64
_MAX_MESSAGE = 300
# Read once, at import: os.umask can only be read by setting it, which would race other threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _available(package: str) -> list[str]:
    folder = resources.files(package) / "schemas"
    return sorted(p.name[: -len(_SUFFIX)] for p in folder.iterdir() if p.name.endswith(_SUFFIX))


def load_schema(name: str, *, package: str = "mmnet.format") -> dict[str, Any]:
    """Read the schema ``name`` (e.g. ``"manifest"``) from ``package``'s ``schemas/`` folder."""
    resource = resources.files(package) / "schemas" / f"{name}{_SUFFIX}"
    if not isinstance(name, str) or not _NAME.match(name) or not resource.is_file():
        raise ConfigError(f"schema name is {name!r}; expected one of {_available(package)}")
    return json.loads(resource.read_text(encoding="utf-8"))


def validate_document(doc: Any, schema_name: str, *, source: str, package: str = "mmnet.format",
                      error: type[MmnetError] = BundleError) -> None:
    """Validate ``doc`` against a shipped schema of ``package``; ``error`` on the most relevant violation.

    The message reads ``"<source>: <json path>: <message>"``, e.g.
    ``"bundle/manifest.json: $.models[0].precision: 'int4' is not one of [...]"``.
    """
    schema = load_schema(schema_name, package=package)
    validator = jsonschema.Draft202012Validator(schema)
    violation = best_match(validator.iter_errors(doc))
    if violation is not None:
        message = violation.message
        if len(message) > _MAX_MESSAGE:  # it quotes the offending value, which may be huge; the end says why
            message = f"{message[:200]} ...[{len(message) - 280} characters]... {message[-80:]}"
        raise error(f"{source}: {violation.json_path}: {message}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; expected finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the float range; expected finite numbers only")
    return value


def _int64(text: str) -> int:
    # Checked on the digits first: int() of a 5,000-digit string is itself refused (and slow).
    if len(text.lstrip("-")) > 19 or not _INT64_MIN <= (value := int(text)) <= _INT64_MAX:
        raise ValueError(f"the integer {text[:24]}{'...' if len(text) > 24 else ''} is beyond the 64-bit range")
    return value


def nesting_depth(doc: Any) -> int:
    """How deeply ``doc``'s lists and objects nest (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(text: str | bytes, source: str, error: type[MmnetError] = BundleError, *,
               max_depth: int | None = MAX_DEPTH) -> Any:
    """The document in ``text``, strictly: ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's
    json accepts and JSON does not), numbers beyond the float range (``1e400``), integers beyond
    64 bits and nesting deeper than ``max_depth`` (None: as deep as the parser can go) are ``error``
    naming ``source``.

    A schema's bounds cannot catch NaN (every comparison with it is false), so a NaN temperature or
    latency would pass validation and silently change every decision; a 400-digit integer becomes
    an OverflowError wherever it meets a float; a deep document is a RecursionError in whatever
    walks it next.
    """
    try:
        doc = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int64)
    except UnicodeDecodeError as e:
        raise error(f"{source}: not valid JSON: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except ValueError as e:  # json.JSONDecodeError, or a number a hook refused
        raise error(f"{source}: not valid JSON: {e}") from e
    except RecursionError as e:
        raise error(f"{source}: not valid JSON: nested too deeply to parse") from e
    if max_depth is not None and nesting_depth(doc) > max_depth:
        raise error(f"{source}: the document nests deeper than {max_depth} levels; expected at most {max_depth}")
    return doc


def read_json(path: str | Path, what: str, error: type[MmnetError] = BundleError) -> Any:
    """The JSON document at ``path`` (parsed by :func:`parse_json`); ``error`` naming ``what`` and the
    file when it cannot be had."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot be read: {e}") from e
    return parse_json(text, str(path), error)


def write_json_atomic(doc: Any, path: str | Path) -> Path:
    """Writes ``doc`` as pretty JSON: to a temporary file beside ``path``, synced, then renamed, so
    a reader never sees half a document. A NaN or infinity in ``doc`` is a BundleError and nothing
    is written."""
    path = Path(path)
    try:
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as e:  # a NaN or infinity: no reader would accept the document
        raise BundleError(f"{path}: not written: {e}; expected finite numbers only") from e
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a bundle is read by other users and services
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

