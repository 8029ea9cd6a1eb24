"""HTML to main text: resiliparse (default) or trafilatura.

Both keep the page's main content and drop navigation, headers and footers; see
docs/extraction.md for how they compare on the sample (speed, what each keeps and drops).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass

from tamiz.pipeline.document import Document
from tamiz.pipeline.warc import WET_EXTRACTOR

EXTRACTORS = ("resiliparse", "trafilatura")


@dataclass
class Extract:
    """Mapper: replaces the HTML in `doc.text` with its main text; records extractor and HTML size."""

    extractor: str = "resiliparse"
    name: str = "extract"

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor: {self.extractor!r} is not one of {EXTRACTORS}")

    def map(self, doc: Document) -> Document:
        if doc.metadata.get("extractor") == WET_EXTRACTOR:  # Common Crawl's WET text: no HTML to extract
            doc.text = _tidy(doc.text)
            return doc
        doc.metadata["html_bytes"] = len(doc.text.encode("utf-8", "replace"))
        doc.metadata["extractor"] = self.extractor
        doc.text = extract_text(doc.text, self.extractor)
        return doc


def extract_text(html: str, extractor: str = "resiliparse") -> str:
    if extractor == "resiliparse":
        text = _resiliparse_text(html)
    elif extractor == "trafilatura":
        import trafilatura

        text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=False,
                                   deduplicate=False, fast=False) or ""
        # trafilatura keeps the HTML source's indentation (tabs) at the start of lines
        text = "\n".join(line.strip() for line in text.split("\n"))
    else:
        raise ValueError(f"extractor: {extractor!r} is not one of {EXTRACTORS}")
    return _tidy(text)


def _resiliparse_text(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    try:
        # resiliparse's main-content pass is quadratic in the nesting depth (8,000 nested <div>, a 48 kB
        # page: 5 s; 100,000: many minutes): deeper pages get the plain text of every element instead
        main = _source_depth(html) <= MAX_DEPTH or _depth_at_most(tree.document, MAX_DEPTH)
        return extract_plain_text(tree, preserve_formatting=True, main_content=main, list_bullets=True,
                                  alt_texts=False, links=False, form_fields=False, noscript=False)
    except BaseException as e:
        # resiliparse's trees and nodes must be freed on the thread that made them (PyO3 "unsendable":
        # freed elsewhere, they print a RuntimeError traceback). An exception keeps its frames' locals
        # alive, and it may travel to another thread: a Dask worker hands a failed task's exception
        # to its event loop. Its finished frames (the depth walk's nodes) are cleared here, and the
        # tree is released below, before the exception leaves this thread's hands.
        traceback.clear_frames(e.__traceback__)
        raise
    finally:
        del tree


MAX_DEPTH = 1000  # elements nested deeper than this turn off resiliparse's main-content pass (see above)
_TAG = re.compile(r"<(/?)[A-Za-z]")


def _source_depth(html: str) -> int:
    """An upper bound of the nesting depth in the source: the most start tags (void ones included) open at once.
    Cheap (most pages: well under 1 ms); only pages above MAX_DEPTH get the exact walk of the parsed tree."""
    if html.count("<") <= MAX_DEPTH:
        return 0
    depth = top = 0
    for close in _TAG.findall(html):
        depth += -1 if close else 1
        top = max(top, depth)
    return top


def _depth_at_most(root, limit: int) -> bool:
    """Whether no element lies more than `limit` elements below `root` (a walk that stops past the limit)."""
    node, depth = root.first_element_child, 1
    while node is not None:
        if depth > limit:
            return False
        child = node.first_element_child
        if child is not None:
            node, depth = child, depth + 1
            continue
        while node is not None and node.next_element_sibling is None:
            node, depth = node.parent, depth - 1
            if depth <= 0:
                return True
        if node is not None:
            node = node.next_element_sibling
    return True


def _tidy(text: str) -> str:
    """Strip trailing spaces per line and collapse runs of 3+ newlines into one blank line."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    blank = 0
    for ln in lines:
        blank = blank + 1 if not ln.strip() else 0
        if blank <= 1:
            out.append(ln)
    return "\n".join(out).strip()


@dataclass
class NonEmpty:
    """Filter: drop documents whose text is (nearly) empty after extraction."""

    min_chars: int = 1
    name: str = "empty"

    def filter(self, doc: Document):
        n = len(doc.text.strip())
        return True if n >= self.min_chars else (False, "no_text")
