"""resiliparse's parse trees and nodes must be freed on the thread that made them (PyO3 "unsendable":
freed on another thread, they print `RuntimeError: ... is unsendable, but is being dropped on another
thread`). A Dask worker runs a task on one thread and hands a failed task's exception to its event
loop on another, and a log handler may format a record on its own thread: a failed extraction must
not carry the tree or its nodes there inside an exception's frames."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.extract import Extract, extract_text
from tamiz.pipeline.runner import StepStats, run_steps

PAGE = "<html><body>" + "<div>" * 1200 + "<p>hola</p>" + "</div>" * 1200 + "</body></html>"  # deep: the depth walk runs


@pytest.fixture
def unraisable(monkeypatch):
    """What Python reports as unraisable (an error while freeing an object), collected."""
    seen: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    return seen


@pytest.fixture
def failing_extraction(monkeypatch):
    """resiliparse's text pass fails (as on a page it cannot handle) after the tree and the depth walk exist."""
    import resiliparse.extract.html2text as h2t

    def broken(tree, **kwargs):
        raise ValueError("cannot extract this page")

    monkeypatch.setattr(h2t, "extract_plain_text", broken)


def _on_a_thread(fn):
    box = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as e:  # handed to the caller's thread, as a worker hands it to its event loop
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return box


def test_the_hazard_is_real(unraisable):
    """A tree made on one thread and freed on another: the error this file guards against."""
    from resiliparse.parse.html import HTMLTree

    box = _on_a_thread(lambda: HTMLTree.parse(PAGE))
    box.clear()
    assert any("unsendable" in u for u in unraisable), unraisable


def test_a_failed_extraction_hands_over_no_tree(failing_extraction, unraisable):
    box = _on_a_thread(lambda: extract_text(PAGE))
    assert isinstance(box["error"], ValueError)
    box.clear()  # the exception (and its traceback) freed on this thread
    assert unraisable == []


def test_a_failed_step_logs_a_message_not_the_exception(failing_extraction, unraisable):
    """run_steps drops the document with reason extract:error; its log record holds no exception."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):  # like a handler that formats and sends records from its own thread
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logging.getLogger("tamiz").addHandler(handler)
    try:
        stats = StepStats()
        rejected: list[Document] = []
        box = _on_a_thread(lambda: list(run_steps([Document("d1", PAGE)], [Extract()], stats, rejected.append)))
    finally:
        logging.getLogger("tamiz").removeHandler(handler)
    assert box["result"] == [] and stats.dropped == {"extract:error": 1}
    assert rejected[0].metadata["error"] == "ValueError: cannot extract this page"
    assert records and "cannot extract this page" in records[0].getMessage()
    # every handler (pytest's capture too) keeps the record: it must hold the message, not the exception
    assert not any(isinstance(a, BaseException) for a in records[0].args) and records[0].exc_info is None
    records.clear()
    rejected.clear()
    assert unraisable == []


def test_extraction_still_works(unraisable):
    assert extract_text("<html><body><article><p>Hola, mundo.</p></article></body></html>") == "Hola, mundo."
    box = _on_a_thread(lambda: extract_text(PAGE))
    assert box["result"] == "hola"
    assert unraisable == []
