"""The master server against its OpenAPI description (mmnet/server/openapi.json): the document names
exactly the app's routes, and schemathesis fuzzes every operation of a real uvicorn server on
loopback with a real bundle: schema-valid requests (positive) and schema-breaking ones (negative).
No answer may be a 5xx; every answer must be documented (status, headers, content type, body
schema); a schema-breaking request must be refused with a 4xx.

The example budget is ``tests.support.fuzz.EXAMPLES`` per operation and mode (``make fuzz``: long).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.generation import GenerationMode

from mmnet.server.app import OPENAPI_PATH, create_app
from mmnet.server.launch import running_server
from tests.support import tflite_fixtures as tfx
from tests.support.openapi_fuzz import fuzz_operation, fuzz_runs, run_ids, steer
from tests.support.serving import FRAME, b64_png

pytestmark = pytest.mark.server

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMA = schemathesis.openapi.from_path(OPENAPI_PATH)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Frames the fixture bundle serves, so generated requests also reach the master, not only the checks before it.
SERVED_BODIES = [
    {"instances": [FRAME.tolist()]},
    {"inputs": {"frames": [FRAME[:, :, 0].tolist(), b64_png(FRAME)]}, "signature_name": "serving_default"},
]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tfx.write_fixture_bundle(tmp_path_factory.mktemp("fuzz") / "bundle")


@pytest.fixture(scope="module")
def url(bundle_dir):
    # Small limits, so fuzzed requests also meet the 413 and the 400 for too many instances.
    with running_server(bundle_dir, threads=1, token=TOKEN, max_body_bytes=64 * 1024, max_instances=4) as base:
        yield base


def test_the_document_describes_exactly_the_apps_routes(bundle_dir, url):
    app = create_app(bundle_dir)
    served = {(route.path, method) for route in app.routes for method in route.methods if method != "HEAD"}
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    described = {(path, method.upper()) for path, operations in document["paths"].items() for method in operations}
    assert described == served
    assert len(OPERATIONS) == len(served)  # schemathesis read every operation
    reply = requests.get(f"{url}/openapi.json", timeout=5)
    assert reply.status_code == 200 and reply.json() == document


RUNS = fuzz_runs(OPERATIONS)


@pytest.mark.fuzz
@pytest.mark.parametrize(("operation", "mode"), RUNS, ids=run_ids(RUNS))
def test_every_operation_answers_as_documented(url, operation, mode):
    statuses = fuzz_operation(url, operation, mode, AUTH,
                              lambda case, data: steer(case, data, model="tiny", bodies=SERVED_BODIES))
    assert statuses, "no request was made"
    if mode is GenerationMode.POSITIVE and operation.path != "/openapi.json":
        # The steering reached the model: some answers came from past the name and version checks.
        assert 200 in statuses or (operation.method == "post" and 400 in statuses), statuses
