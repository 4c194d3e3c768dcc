"""The report data: the one document the page, its plots and the model card are rendered from.

Its layout is the JSON Schema ``schemas/report_data.schema.json`` beside this module, applied by
the shared :func:`mmnet.format.documents.validate_document`. Two checks sit outside the schema
because JSON Schema cannot state them:

- numbers are finite: Python's ``json`` reads and writes NaN and infinities as bare tokens that
  are not JSON, and a schema's ``"type": "number"`` lets them through;
- paired lists are equally long: a reliability diagram's ``accuracy``, ``confidence`` and
  ``count`` hold one entry per bin (one fewer than ``bin_edges``), a threshold sweep one
  ``accuracy`` per ``recovery_rate``, a detector's risk-coverage curve one ``extra_error_rate``
  per ``recovery_rate``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from mmnet.format.checks import fail, is_int, is_real
from mmnet.format.documents import validate_document
from mmnet.format.errors import BundleError

__all__ = ["SOURCE", "validate_report_data"]

# How error messages name the document: "report data: $.models[1].bytes: ...".
SOURCE = "report data"
# Object keys written as ".key" in a JSON path, as jsonschema writes them; others as "['key']".
_PLAIN_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


def validate_report_data(data: Any) -> dict[str, Any]:
    """``data`` as plain JSON values, checked against the report data schema.

    Tuples become lists and numpy scalars Python numbers, so the schema sees what a JSON file
    would hold. Raises :class:`BundleError` (a ``ValueError``) naming the field by its JSON path
    (``report data: $.chosen.curve.test.accuracy ...``) on the first problem.
    """
    document = _plain_json(data, "$")
    validate_document(document, "report_data", source=SOURCE, package="mmnet.pipeline.report")
    _check_paired_lengths(document)
    return document


def _plain_json(value: Any, path: str) -> Any:
    """A copy of ``value`` made of dicts, lists, strings, finite numbers, bools and None."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if is_int(value):
        return int(value)
    if is_real(value):
        if not math.isfinite(value):
            raise fail(f"{SOURCE}: {path}", value, "a finite number (JSON has no NaN or infinity)", BundleError)
        return float(value)
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise fail(f"{SOURCE}: {path}: key", key, "a string (JSON object keys are strings)", BundleError)
            copy[key] = _plain_json(item, _member(path, key))
        return copy
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise fail(f"{SOURCE}: {path}", value, "a JSON value (object, list, string, number, true/false or null)",
               BundleError)


def _member(path: str, key: str) -> str:
    """The JSON path of ``key`` inside the object at ``path``, written as jsonschema writes it."""
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    return "{}['{}']".format(path, key.replace("\\", "\\\\").replace("'", "\\'"))


def _check_paired_lengths(document: dict[str, Any]) -> None:
    for model_id, entry in document["calibration"].items():
        for which in ("reliability_before", "reliability_after"):
            diagram = entry[which]
            bins = len(diagram["bin_edges"]) - 1
            for key in ("accuracy", "confidence", "count"):
                _same_length(f"{_member('$.calibration', model_id)}.{which}.{key}", diagram[key], bins,
                             "one entry per bin, one fewer than bin_edges")
    if document["chosen"] is not None:
        for split in ("val", "test"):
            sweep = document["chosen"]["curve"][split]
            _same_length(f"$.chosen.curve.{split}.accuracy", sweep["accuracy"], len(sweep["recovery_rate"]),
                         "one per recovery_rate")
    for row_index, row in enumerate((document.get("detectors") or {}).get("systems", [])):
        for kind, member in row["members"].items():
            for which in ("curve_val", "curve_test"):
                if which in member:
                    curve = member[which]
                    where = f"{_member(f'$.detectors.systems[{row_index}].members', kind)}.{which}.extra_error_rate"
                    _same_length(where, curve["extra_error_rate"], len(curve["recovery_rate"]), "one per recovery_rate")


def _same_length(path: str, values: list, expected: int, why: str) -> None:
    if len(values) != expected:
        raise fail(f"{SOURCE}: length of {path}", len(values), f"{expected} ({why})", BundleError)
