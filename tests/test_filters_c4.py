"""C4: line removal with its counts, the document rules, and the curated Spanish bad-words list."""

from __future__ import annotations

import pytest

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters import C4Config, C4LineCleaner, C4Quality
from tamiz.pipeline.filters.c4 import RESOURCES, count_sentences, find_badwords, load_badwords
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.runner import StepStats, run_steps


@pytest.fixture(scope="module")
def bible(sample_dir) -> dict[str, str]:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return {d.id.split("-")[-1]: d.text for d in read_jsonl(path, ReadReport(str(path)), "books")}


@pytest.fixture(scope="module")
def offensive(sample_dir) -> list[Document]:
    path = sample_dir / "offensive" / "fortunes_es_off.jsonl"
    return list(read_jsonl(path, ReadReport(str(path)), "offensive"))


def clean_then_decide(text: str, **cfg):
    c = C4Config(**cfg)
    doc = C4LineCleaner(c).map(Document("t", text))
    return C4Quality(c).filter(doc), doc


def test_real_chapter_is_kept_unchanged(bible):
    res, doc = clean_then_decide(bible["Gen.2"])
    assert res is True and doc.text == bible["Gen.2"]
    assert doc.metadata["c4"]["sentences"] >= 25 and doc.metadata["c4"]["badwords"] == 0


def test_line_rules_remove_lines_and_count_them(bible):
    verses = bible["Gen.2"].split("\n")
    text = "\n".join([
        "Inicio", "Siguiente capítulo",  # fewer than 3 words
        *verses[:8],
        "Para ver este contenido active JavaScript en su navegador.",
        "Este sitio utiliza cookies para mejorar su experiencia.",
        "Consulte nuestra Política de Privacidad antes de continuar.",
        *verses[8:],
        "Como dice la Wikipedia[1], esto es así[cita requerida].",
    ])
    res, doc = clean_then_decide(text)
    assert res is True
    lines = doc.metadata["c4_lines"]
    assert (lines["too_few_words"], lines["javascript"], lines["policy"]) == (2, 1, 2)
    assert "JavaScript" not in doc.text and "cookies" not in doc.text and "Inicio" not in doc.text
    assert doc.text.endswith("Como dice la Wikipedia, esto es así.")
    # the terminal punctuation rule is off by default (FineWeb); on, it removes the unpunctuated lines
    base = clean_then_decide(bible["Gen.2"], filter_no_terminal_punct=True)[1].metadata["c4_lines"]
    res, doc = clean_then_decide(bible["Gen.2"] + "\nUna línea sin punto final", filter_no_terminal_punct=True)
    assert doc.metadata["c4_lines"]["no_terminal_punct"] == base["no_terminal_punct"] + 1
    assert "sin punto" not in doc.text


def test_document_rules(bible):
    base = bible["Gen.2"]
    assert clean_then_decide(base + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.")[0] == \
        (False, "lorem_ipsum")
    assert clean_then_decide(base + "\nEl bloque if (x) { print(x); } se repite.")[0] == (False, "curly_bracket")
    # a "{" in a line that the line rules remove does not count (as in C4)
    assert clean_then_decide(base + "\n{}")[0] is True
    three = "\n".join(base.split("\n")[:3])
    res, doc = clean_then_decide(three)
    assert res == (False, "too_few_sentences") and doc.metadata["c4"]["sentences"] < 5


def test_sentence_count():
    assert count_sentences("Hola. Adiós. ¿Vienes? «Sí.»") == 4
    assert count_sentences("sin punto final") == 1
    assert count_sentences("Uno. Dos sin punto") == 2


def test_badwords_list_is_curated():
    bad = load_badwords()
    assert {"mierda", "puta", "coño", "gilipollas"} <= bad
    # ordinary words of spanlp's lists (or their ASCII folding) are excluded: año->ano, mío->mio
    assert not {"ano", "mio", "cargar", "perro", "bolsa", "verano", "negro", "gay"} & bad
    spanlp = set()
    for f in (RESOURCES / "spanlp").glob("*.txt"):
        spanlp |= {ln.strip().lower() for ln in f.read_text(encoding="utf-8").splitlines()}
    excluded = [ln.strip() for ln in (RESOURCES / "badwords_es_exclude.txt").read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert excluded and all(w in spanlp for w in excluded)  # every exclusion names a real entry


def test_badwords_on_real_text(bible, offensive):
    flagged_books = [ch for ch, text in bible.items() if C4Quality().filter(Document(ch, text)) == (False, "badwords")]
    assert flagged_books == []
    assert find_badwords("En el año mil y mío es el verano.")[0] == 0  # accents folded, ñ kept
    n, words, found = find_badwords("¡Qué MIERDA! Coño, esto es una mierda.")
    assert (n, found) == (3, ["coño", "mierda"])
    dropped = [d for d in offensive if C4Quality(C4Config(min_num_sentences=None)).filter(d) == (False, "badwords")]
    assert 5 <= len(dropped) <= 60  # fortunes tagged offensive: the vulgar ones, not every joke


def test_badwords_rule_needs_count_and_share(bible):
    one = bible["Gen.2"] + "\nY dijo: mierda."
    assert clean_then_decide(one)[0] is True  # one occurrence in a long text is kept
    dense = "\n".join(f"{v} Mierda, puta mierda." for v in bible["Gen.2"].split("\n"))
    res, doc = clean_then_decide(dense)
    assert res == (False, "badwords") and doc.metadata["c4"]["badwords_ratio"] > 0.005
    assert clean_then_decide(dense, badwords=False)[0] is True


def run_chain(steps, text: str):
    """(decision, metadata) of one document through the runner, as the filter stage runs it."""
    doc = Document("t", text)
    kept = list(run_steps([doc], steps, StepStats()))
    return (True if kept else doc.metadata["drop_reason"]), doc.metadata


def test_c4quality_decides_the_same_with_or_without_the_line_cleaner_before_it(bible):
    """The document rules read the scan of the text before line removal, so removing lines first changes
    nothing: not even for "lorem ipsum" or "{" in a line that a later line rule removes (as in C4)."""
    base = bible["Gen.2"]
    verses = base.split("\n")
    texts = [
        base,
        base + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
        base + "\nLorem ipsum: active JavaScript para ver este contenido.",  # flagged, then removed
        base + "\nEste sitio usa cookies { y más cosas } para todo.",  # flagged, then removed (policy)
        base + "\nInicio\nMenú",  # lines removed, nothing flagged
        "\n".join(verses[:3]) + "\nVer más\nActive JavaScript en su navegador.",  # too few sentences
    ]
    c = C4Config()
    decisions = []
    for text in texts:
        alone, meta_alone = run_chain([C4Quality(c)], text)
        after, meta_after = run_chain([C4LineCleaner(c), C4Quality(c)], text)
        assert alone == after, text
        scan = ("sentences", "lorem_ipsum", "curly_bracket")
        assert [meta_alone["c4"][k] for k in scan] == [meta_after["c4"][k] for k in scan]
        # by hand, one view shared by both steps gives what the runner gives
        doc = Document("t", text)
        view = DocView(doc.text)
        C4LineCleaner(c).map(doc, view=view)
        assert C4Quality(c).filter(doc, view=view) == (True if after is True else (False, after.split(":", 1)[1]))
        decisions.append(after)
    assert decisions == [True, "c4:lorem_ipsum", "c4:lorem_ipsum", "c4:curly_bracket", True, "c4:too_few_sentences"]


def test_c4quality_uses_its_own_config_whatever_ran_before(bible):
    """A line cleaner with another config that ran just before, on the very same text object, does not
    change what C4Quality decides (the scan is kept per config, and only in the document's view)."""
    text = "\n".join(bible["Gen.2"].split("\n")[:3])  # three verses: too few sentences for the default
    lenient, strict = C4Config(min_num_sentences=None), C4Config()
    alone = C4Quality(strict).filter(Document("a", text))
    assert alone == (False, "too_few_sentences")
    doc = Document("b", text)
    C4LineCleaner(lenient).map(doc)  # keeps every line: doc.text is still the same object
    assert doc.text is text
    assert C4Quality(strict).filter(doc) == alone
    assert doc.metadata["c4"]["sentences"] == 3
    assert run_chain([C4LineCleaner(lenient), C4Quality(strict)], text)[0] == "c4:too_few_sentences"
    assert run_chain([C4LineCleaner(strict), C4Quality(lenient)], text)[0] is True
    # a cleaner that does not look for lorem ipsum, then a filter that does
    lorem = bible["Gen.2"] + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    blind = C4Config(filter_lorem_ipsum=False)
    doc = Document("c", lorem)
    C4LineCleaner(blind).map(doc)
    assert C4Quality(strict).filter(doc) == (False, "lorem_ipsum")
    assert run_chain([C4LineCleaner(blind), C4Quality(strict)], lorem)[0] == "c4:lorem_ipsum"
