"""``mmnet keygen`` and ``mmnet sign``, and the ``--trusted-key`` option of the commands that load
a bundle (``run``, ``serve``, ``inspect``): with trusted keys (the option, repeatable, else
``$MMNET_TRUSTED_KEYS``, a path list) a bundle loads only when its manifest carries a signature by
one of them."""

from __future__ import annotations

import argparse
from typing import Any

from mmnet.format.signing import TRUSTED_KEYS_ENV

__all__ = ["add_signing_parsers", "add_trusted_key_option", "verified_bundle"]


def add_trusted_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trusted-key", action="append", metavar="FILE",
                        help="Ed25519 public key (PEM, from `mmnet keygen`) whose signature the bundle must carry; "
                             f"repeatable (default: ${TRUSTED_KEYS_ENV}, a path list; none: signatures not checked)")


def verified_bundle(args: argparse.Namespace) -> Any:
    """``args.bundle`` loaded and verified, its signature too when trusted keys are configured."""
    from mmnet.format.bundle import load_bundle
    from mmnet.format.signing import trusted_keys_from

    return load_bundle(args.bundle, trusted_keys=trusted_keys_from(args.trusted_key))


def _cmd_keygen(args: argparse.Namespace) -> int:
    from mmnet.format.signing import generate_key, load_public_key

    private, public = generate_key(args.out)
    print(f"private key: {private} (mode 0600; keep it with whoever signs bundles)")
    print(f"public key:  {public} (key id {load_public_key(public).key_id}; give it to whoever loads bundles: "
          f"--trusted-key or ${TRUSTED_KEYS_ENV})")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from mmnet.format.bundle import sign_bundle
    from mmnet.format.signing import key_id, load_private_key

    signature = sign_bundle(args.bundle, args.key)
    print(f"signed {args.bundle}: {signature} (key id {key_id(load_private_key(args.key).public_key())})")
    return 0


def add_signing_parsers(sub: Any) -> None:
    keygen = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    keygen.add_argument("--out", required=True, metavar="KEY",
                        help="private key file to write (PEM, mode 0600); the public key goes to KEY.pub")
    keygen.set_defaults(handler=_cmd_keygen)

    sign = sub.add_parser("sign", help="verify a bundle and sign its manifest (writes manifest.sig)")
    sign.add_argument("bundle", help="bundle directory")
    sign.add_argument("--key", required=True, metavar="KEY", help="Ed25519 private key (PEM, from `mmnet keygen`)")
    sign.set_defaults(handler=_cmd_sign)
