"""What the servers' OpenAPI fuzz tests share: the schemathesis checks, the runs (every operation with
valid requests, every POST with schema-breaking ones too) and one operation fuzzed against a live server."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.fuzz import FUZZ

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def fuzz_runs(operations: list) -> list[tuple]:
    """(operation, mode) pairs. Negative cases need something to break: a body (any string is a valid
    path parameter), so only POSTs get them."""
    return [(op, GenerationMode.POSITIVE) for op in operations] + [
        (op, GenerationMode.NEGATIVE) for op in operations if op.method.upper() == "POST"
    ]


def run_ids(runs: list[tuple]) -> list[str]:
    return [f"{op.label} {mode.value}" for op, mode in runs]


def steer(case, data, *, model: str, bodies: list) -> None:
    """Points some cases at the served model and version, and some predicts at a frame it serves, so
    generated requests also reach the model, not only the checks before it."""
    if "name" in case.path_parameters and data.draw(st.booleans()):
        case.path_parameters["name"] = model
    if "version" in case.path_parameters and data.draw(st.booleans()):
        case.path_parameters["version"] = "1"
    if case.method == "POST" and data.draw(st.integers(0, 3)) == 0:
        case.body = data.draw(st.sampled_from(bodies))


def fuzz_operation(url: str, operation, mode, headers: dict, steered: Callable[[object, object], None]) -> set[int]:
    """Fuzzes ``operation`` in ``mode`` against the server at ``url`` (valid cases ``steered``); every
    answer is checked against the document. Returns the statuses seen."""
    checks = CHECKS + [negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    statuses: set[int] = set()

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def answers_as_documented(case, data):
        if mode is GenerationMode.POSITIVE:
            steered(case, data)
        response = case.call_and_validate(base_url=url, headers=headers, checks=checks, timeout=10)
        statuses.add(response.status_code)

    answers_as_documented()
    return statuses
