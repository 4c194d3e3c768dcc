"""The report's files on disk: atomic text writes, and the local files a written page links to."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["write_text_atomic", "report_files"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the complete new one, never half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class _References(HTMLParser):
    _ATTRIBUTES = {"img": ("src",), "a": ("href",), "link": ("href",), "script": ("src",),
                   "source": ("src",), "iframe": ("src",), "object": ("data",)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self._ATTRIBUTES.get(tag, ())
        for name, value in attrs:
            if name in wanted and value:
                self.found.append(value)


def report_files(index_html: Path) -> list[str]:
    """Every local file ``index_html`` references (``img src``, ``a href``, …), relative to its folder.

    In-page anchors (``#x``), URLs with a scheme (``https:``, ``mailto:``, ``data:``) and
    protocol-relative ``//host`` links are skipped; query and fragment are dropped and
    percent-escapes decoded. Order of first appearance, no duplicates. Check existence with
    ``index_html.parent / name``.
    """
    parser = _References()
    parser.feed(Path(index_html).read_text(encoding="utf-8"))
    parser.close()
    files: list[str] = []
    for reference in parser.found:
        parts = urlsplit(reference.strip())
        if parts.scheme or parts.netloc or not parts.path:
            continue
        name = unquote(parts.path)
        if name not in files:
            files.append(name)
    return files
