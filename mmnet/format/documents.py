"""JSON documents of the bundle contract: the shipped JSON Schemas (``mmnet/format/schemas/<name>.schema.json``),
validation, atomic reads and writes."""

from __future__ import annotations

import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from mmnet.format.errors import BundleError, ConfigError, MmnetError

__all__ = ["load_schema", "read_json", "validate_document", "write_json_atomic"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUFFIX = ".schema.json"


def _available(package: str) -> list[str]:
    folder = resources.files(package) / "schemas"
    return sorted(p.name[: -len(_SUFFIX)] for p in folder.iterdir() if p.name.endswith(_SUFFIX))


def load_schema(name: str, *, package: str = "mmnet.format") -> dict[str, Any]:
    """Read the schema ``name`` (e.g. ``"manifest"``) from ``package``'s ``schemas/`` folder."""
    resource = resources.files(package) / "schemas" / f"{name}{_SUFFIX}"
    if not isinstance(name, str) or not _NAME.match(name) or not resource.is_file():
        raise ConfigError(f"schema name is {name!r}; expected one of {_available(package)}")
    return json.loads(resource.read_text(encoding="utf-8"))


def validate_document(doc: Any, schema_name: str, *, source: str, package: str = "mmnet.format") -> None:
    """Validate ``doc`` against a shipped schema of ``package``; BundleError on the most relevant violation.

    The message reads ``"<source>: <json path>: <message>"``, e.g.
    ``"bundle/manifest.json: $.models[0].precision: 'int4' is not one of [...]"``.
    """
    schema = load_schema(schema_name, package=package)
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(doc))
    if error is not None:
        raise BundleError(f"{source}: {error.json_path}: {error.message}")


def read_json(path: str | Path, what: str, error: type[MmnetError] = BundleError) -> Any:
    """The JSON document at ``path``; ``error`` naming ``what`` and the file when it cannot be had."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot be read: {e}") from e


def write_json_atomic(doc: Any, path: str | Path) -> Path:
    """Writes ``doc`` as pretty JSON: to a temporary file beside ``path``, synced, then renamed, so
    a reader never sees half a document."""
    path = Path(path)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

