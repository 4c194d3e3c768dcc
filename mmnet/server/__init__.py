"""The master server: a bundle's master behind the TF Serving REST predict API (``mmnet serve``).

One job per module:

- :mod:`mmnet.server.decoding` — predict request bodies into uint8 frames (pure functions);
- :mod:`mmnet.server.master` — which model is the master, and its pool of interpreters;
- :mod:`mmnet.server.app` — the Starlette app: routes, auth, limits, error replies;
- :mod:`mmnet.server.connections` — connection limits in uvicorn's protocol: request-head deadline,
  connection cap;
- :mod:`mmnet.server.launch` — running it on uvicorn: blocking, in a thread, in a child process;
- :mod:`mmnet.server.duo` — the Dynamic Duo server's decisions (pure): batching, admission, the probe;
- :mod:`mmnet.server.duo_app` — the Dynamic Duo app (``mmnet serve --duo``): a little/big pair
  behind the same API, with dynamic batching, a recovery queue, backpressure and a graceful drain;
- :mod:`mmnet.server.metrics` — its Prometheus metrics (``GET /metrics``);
- ``openapi.json`` — the API as an OpenAPI 3.1 document (served at ``GET /openapi.json``);
- ``python -m mmnet.server`` — the child process's entry point.

Needs the ``serve`` extra (starlette, uvicorn, anyio, prometheus-client) on top of the ``runtime`` extra; importing
this package alone needs neither.
"""

from __future__ import annotations

from mmnet.format.errors import DependencyError

__all__ = ["serve_extra_missing"]


def serve_extra_missing(error: ImportError) -> DependencyError:
    """The error to raise when a module of the server cannot import a package of the serve extra."""
    return DependencyError(
        f"the master server needs the 'serve' extra ({error.name} is missing); install it with "
        "pip install 'mmnet[serve]'"
    )
