"""HTML to main text: resiliparse (default) or trafilatura.

Both keep the page's main content and drop navigation, headers and footers; see
docs/extraction.md for how they compare on the sample (speed, what each keeps and drops).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.document import Document

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
        doc.metadata["html_bytes"] = len(doc.text.encode("utf-8", "replace"))
        doc.metadata["extractor"] = self.extractor
        doc.text = extract_text(doc.text, self.extractor)
        return doc


def extract_text(html: str, extractor: str = "resiliparse") -> str:
    if extractor == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        text = extract_plain_text(html, preserve_formatting=True, main_content=True, list_bullets=True,
                                  alt_texts=False, links=False, form_fields=False, noscript=False)
    elif extractor == "trafilatura":
        import trafilatura

        text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=False,
                                   deduplicate=False, fast=False) or ""
        # trafilatura keeps the HTML source's indentation (tabs) at the start of lines
        text = "\n".join(line.strip() for line in text.split("\n"))
    else:
        raise ValueError(f"extractor: {extractor!r} is not one of {EXTRACTORS}")
    return _tidy(text)


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
