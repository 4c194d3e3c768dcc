"""``python -m mmnet.server BUNDLE``: serve a bundle's master until SIGINT/SIGTERM;
``python -m mmnet.server --duo duo_pool.json``: serve a Dynamic Duo pair (:mod:`mmnet.server.duo_app`).

The child process of :func:`mmnet.server.launch.running_server_process`, and a server entry point
without the ``mmnet`` command. The bearer token comes from ``$MMNET_TOKEN`` only, never from the
command line (other users can read a process's arguments). Errors mmnet raises on purpose become
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mmnet.format.errors import MmnetError
from mmnet.runtime.remote import TOKEN_ENV
from mmnet.server.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INSTANCES, ServerConfig
from mmnet.server.duo import add_duo_options, duo_config_from
from mmnet.server.launch import DEFAULT_PORT, serve, serve_duo

__all__ = ["build_parser", "main"]

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mmnet.server",
        description=f"Serve a bundle's master behind the TF Serving REST API; bearer token: ${TOKEN_ENV} "
        "(none: no auth).",
    )
    parser.add_argument("bundle", nargs="?", help="bundle directory (or --duo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--model-id", help="model to serve (default: the runtime config's master)")
    parser.add_argument("--threads", type=int, help="interpreters serving in parallel (default: min(4, cores))")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--max-instances", type=int, default=DEFAULT_MAX_INSTANCES)
    parser.add_argument("--inference-timeout-s", type=float, default=ServerConfig.inference_timeout_s)
    parser.add_argument("--body-timeout-s", type=float, default=ServerConfig.body_timeout_s)
    parser.add_argument("--header-timeout-s", type=float, default=ServerConfig.header_timeout_s,
                        help="seconds a connection has to send a complete request head, after connecting or after "
                        f"its previous response (default {ServerConfig.header_timeout_s:g})")
    parser.add_argument("--keep-alive-s", type=float, default=ServerConfig.keep_alive_s,
                        help=f"seconds an idle kept-alive connection stays open (default {ServerConfig.keep_alive_s:g})")
    parser.add_argument("--max-connections", type=int, default=ServerConfig.max_connections,
                        help="open connections at most; beyond it the one waiting longest for a request head is "
                        f"closed (default {ServerConfig.max_connections})")
    parser.add_argument("--max-active-predicts", type=int, default=ServerConfig.max_active_predicts,
                        help=f"predicts in progress at most; more get 503 (default {ServerConfig.max_active_predicts})")
    add_duo_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if (args.bundle is None) == (args.duo is None):
        print("python -m mmnet.server: expected a bundle directory or --duo DUO_POOL_JSON, exactly one", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.duo is not None:
            serve_duo(args.duo, target=args.target, rule=args.rule, big_alone=args.big_alone,
                      duo_config=duo_config_from(args), host=args.host,
                      port=args.port, max_body_bytes=args.max_body_bytes, max_instances=args.max_instances,
                      inference_timeout_s=args.inference_timeout_s, body_timeout_s=args.body_timeout_s,
                      header_timeout_s=args.header_timeout_s, keep_alive_s=args.keep_alive_s,
                      max_connections=args.max_connections)
            return 0
        serve(
            args.bundle,
            host=args.host,
            port=args.port,
            model_id=args.model_id,
            threads=args.threads,
            max_body_bytes=args.max_body_bytes,
            max_instances=args.max_instances,
            inference_timeout_s=args.inference_timeout_s,
            body_timeout_s=args.body_timeout_s,
            header_timeout_s=args.header_timeout_s,
            keep_alive_s=args.keep_alive_s,
            max_connections=args.max_connections,
            max_active_predicts=args.max_active_predicts,
        )
    except MmnetError as e:
        print(f"python -m mmnet.server: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
