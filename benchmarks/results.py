"""Where every benchmark leaves its numbers: ``<out>/<name>.json`` and a readable ``<out>/<name>.md``."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_results"]


def write_results(out: Path, name: str, result: dict, markdown: str) -> None:
    """Writes the result as JSON and its Markdown table into ``out`` (created), and prints the table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="" if markdown.endswith("\n") else "\n")
