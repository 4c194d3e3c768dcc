"""The Dynamic Duo server against its OpenAPI document (the master's, extended by
:func:`mmnet.server.duo_app.duo_openapi`): the document names exactly the app's routes, and schemathesis
fuzzes every operation of a real server on loopback (the tiny fixture pair), as
tests/integration/test_server_fuzz.py does for the master server: no 5xx, every answer documented."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis

from mmnet.server.app import OPENAPI_PATH, ServerConfig
from mmnet.server.duo import load_duo
from mmnet.server.duo_app import create_duo_app, duo_openapi
from mmnet.server.launch import running_app
from tests.support import duo as duo_fixture
from tests.support.openapi_fuzz import fuzz_operation, fuzz_runs, run_ids, steer
from tests.support.serving import FRAME, b64_png

pytestmark = pytest.mark.server

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCUMENT = duo_openapi(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
SERVED_BODIES = [{"instances": [FRAME.tolist()]}, {"instances": [b64_png(FRAME), b64_png(FRAME)]}]
RUNS = fuzz_runs(OPERATIONS)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    system = load_duo(duo_fixture.write_duo(tmp_path_factory.mktemp("duo-fuzz")))
    return create_duo_app(system, config=ServerConfig(token=TOKEN, max_body_bytes=64 * 1024, max_instances=4))


@pytest.fixture(scope="module")
def url(app):
    with running_app(app) as base:
        yield base


def test_the_document_describes_exactly_the_apps_routes(app, url):
    served = {(route.path, method) for route in app.routes for method in route.methods if method != "HEAD"}
    described = {(path, method.upper()) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert described == served
    assert requests.get(f"{url}/openapi.json", timeout=5).json() == DOCUMENT


@pytest.mark.fuzz
@pytest.mark.parametrize(("operation", "mode"), RUNS, ids=run_ids(RUNS))
def test_every_operation_answers_as_documented(url, operation, mode):
    statuses = fuzz_operation(url, operation, mode, AUTH,
                              lambda case, data: steer(case, data, model="duo", bodies=SERVED_BODIES))
    assert statuses, "no request was made"
