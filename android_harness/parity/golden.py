"""The command line every golden-case generator shares: write the cases file, or ``--check`` it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["golden_main"]


def golden_main(prog: str, default_out: Path, render: Callable[[], str], source: str, argv: list[str] | None) -> int:
    """Writes ``render()`` (a JSON document with a "cases" list) to ``--out``; with ``--check`` writes
    nothing and returns 1 when the committed file differs from what ``source`` gives now."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=f"Golden cases of {source}")
    parser.add_argument("--out", type=Path, default=default_out, help=f"the cases file (default {default_out})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} differs from what {source} gives now; rerun without --check", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text)['cases'])} cases to {args.out}")
    return 0
