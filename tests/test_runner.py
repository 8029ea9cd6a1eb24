"""The step runner: drops and counts by the first failing filter, and hands each document's view to the
steps that take one, following the text when a mapper changes it; steps keep no state between documents,
so two threads can filter different documents with the same steps."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import pytest

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters import C4Config, C4LineCleaner, C4Quality, heuristic_steps
from tamiz.pipeline.filters.words import tokens_of
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.runner import StepStats, run_steps, takes_view


@dataclass
class Upper:
    """Mapper without a view: changes the text."""

    name: str = "upper"

    def map(self, doc: Document) -> Document:
        doc.text = doc.text.upper()
        return doc


@dataclass
class CountTokens:
    """Filter with a view: records the tokens it sees and which view object gave them."""

    seen: list
    name: str = "count"

    def filter(self, doc: Document, view: DocView | None = None):
        view = DocView.of(doc.text, view)
        self.seen.append((view, list(view.derive(tokens_of))))
        doc.metadata["tokens"] = len(view.derive(tokens_of))
        return True if len(view.derive(tokens_of)) > 1 else (False, "short")


def test_view_is_handed_on_and_follows_a_mapper_that_changes_the_text():
    seen: list = []
    steps = [CountTokens(seen), Upper(), CountTokens(seen)]
    assert [takes_view(s.filter if hasattr(s, "filter") else s.map) for s in steps] == [True, False, True]
    stats = StepStats()
    out = list(run_steps([Document("a", "hola mundo"), Document("b", "sola")], steps, stats))
    assert [d.id for d in out] == ["a"] and out[0].text == "HOLA MUNDO"
    assert stats.dropped == {"count:short": 1} and stats.reconciles()
    (v1, t1), (v2, t2), (v3, t3) = seen
    assert t1 == ["hola", "mundo"] and t2 == ["HOLA", "MUNDO"]  # nothing derived from the old text is read
    assert v1 is v2  # one view per document, kept across the chain
    assert v3 is not v1 and t3 == ["sola"]  # a new document gets a new view
    # called directly, a step makes its own view
    doc = Document("c", "uno dos tres")
    assert CountTokens(seen).filter(doc) is True and doc.metadata["tokens"] == 3


@pytest.fixture(scope="module")
def documents(sample_dir) -> list[Document]:
    docs = []
    for path, source in ((sample_dir / "books" / "reina_valera_1909.jsonl.gz", "books"),
                         (sample_dir / "reference" / "debian_reference_es.jsonl", "reference"),
                         (sample_dir / "offensive" / "fortunes_es_off.jsonl", "offensive")):
        docs += list(read_jsonl(path, ReadReport(str(path)), source))[::6]
    return docs


def _filter(docs: list[Document], steps: list) -> list[tuple[str, str, str, dict]]:
    copies = [Document(d.id, d.text, d.source, d.url, {}) for d in docs]
    kept = {d.id for d in run_steps(copies, steps, StepStats())}
    return [(d.id, "keep" if d.id in kept else d.metadata["drop_reason"], d.text, d.metadata) for d in copies]


def test_two_threads_filter_different_documents_at_once(documents):
    """The same steps in two threads, switching every microsecond: every decision, text and measurement
    equals the one-thread result (module-level caches of the last text once mixed documents up here)."""
    steps = heuristic_steps()
    half = len(documents) // 2
    parts = [documents[:half], documents[half:][::-1]]
    expected = [_filter(p, steps) for p in parts]
    assert {r[1] for e in expected for r in e} > {"keep"}  # some documents are dropped, some kept
    results: list = [None, None]
    errors: list = []
    start = threading.Barrier(2)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[i] = _filter(parts[i], steps)
                if results[i] != expected[i]:
                    return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    for got, want in zip(results, expected):
        assert [r[:2] for r in got] == [r[:2] for r in want]
        assert got == want


@dataclass
class Rendezvous:
    """Filter that holds each thread until both have got this far."""

    barrier: threading.Barrier
    name: str = "rendezvous"

    def filter(self, doc: Document):
        self.barrier.wait(timeout=60)
        return True


def test_line_scan_stays_with_its_document_when_threads_interleave():
    """Both threads remove their lines before either applies the document rules. Each document's lorem
    ipsum sits in a line that the javascript rule removes, so only the scan made before removal sees it:
    with one module-level "last scan", one of the two documents was kept."""
    verse = "Y dijo Dios: Sea la luz, y fue la luz. Y vio Dios que la luz era buena."
    texts = ["\n".join([verse] * 6 + ["Lorem ipsum: active JavaScript para ver este contenido."]),
             "\n".join([verse.upper()] * 6 + ["Lorem ipsum: se necesita JavaScript aquí."])]
    c = C4Config()
    steps = [C4LineCleaner(c), Rendezvous(threading.Barrier(2)), C4Quality(c)]
    out: list = [None, None]

    def work(i: int) -> None:
        doc = Document(str(i), texts[i])
        out[i] = "keep" if list(run_steps([doc], steps, StepStats())) else doc.metadata["drop_reason"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["c4:lorem_ipsum", "c4:lorem_ipsum"]
