"""Language ID on real pages whose language was checked by hand (tests/fixtures/lang_labels.tsv)."""

from __future__ import annotations

import csv

import pytest

from pipeline.document import Document
from pipeline.extract import extract_text
from pipeline.langid import LanguageFilter, load_model
from pipeline.readers import read_documents
from pipeline.report import ReadReport


@pytest.fixture(scope="module")
def labelled_pages(sample_dir, fixtures_dir):
    labels = list(csv.DictReader(open(fixtures_dir / "lang_labels.tsv", encoding="utf-8"), delimiter="\t"))
    pages = {}
    for w in sorted((sample_dir / "common_crawl").glob("*.warc.gz")):
        for d in read_documents(w, ReadReport(str(w)), "common_crawl"):
            pages[d.url] = d
    return [(row, pages[row["url"]]) for row in labels]


def test_spanish_pages_kept_others_dropped(labelled_pages):
    f = LanguageFilter()  # the default threshold
    wrong = []
    for row, page in labelled_pages:
        doc = Document(page.id, extract_text(page.text), url=page.url)
        keep = f.filter(doc) is True
        if keep != (row["expected_lang"] == "es"):
            wrong.append((row["url"], row["expected_lang"], doc.metadata["language"], doc.metadata["language_score"]))
    assert not wrong
    assert sum(1 for row, _ in labelled_pages if row["expected_lang"] == "es") >= 10


def test_pages_in_spanish_folder_that_are_english_are_dropped(labelled_pages):
    english_in_es = [(row, p) for row, p in labelled_pages if "/es-ES/" in row["url"] and row["expected_lang"] == "en"]
    assert len(english_in_es) >= 2
    for _, page in english_in_es:
        doc = Document(page.id, extract_text(page.text))
        assert LanguageFilter().filter(doc) == (False, "not_es")
        assert doc.metadata["language"] == "en"


def test_score_is_recorded_and_threshold_applies():
    doc = Document("x", "Para cenar voy a hacer unas fajitas con pimientos y cebolla.")
    assert LanguageFilter(threshold=0.5).filter(doc) is True
    assert doc.metadata["language"] == "es" and 0.5 <= doc.metadata["language_score"] <= 1
    assert LanguageFilter(threshold=1.0).filter(Document("y", "Hola")) == (False, "low_score")


def test_not_a_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "lid.ftz"
    bogus.write_bytes(b"not a fasttext model")
    with pytest.raises(ValueError, match="not a fastText model"):
        load_model(bogus)
    with pytest.raises(FileNotFoundError, match="missing.ftz"):
        load_model(tmp_path / "missing.ftz")
