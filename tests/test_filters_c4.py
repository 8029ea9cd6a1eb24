"""C4: line removal with its counts, the document rules, and the curated Spanish bad-words list."""

from __future__ import annotations

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.filters import C4Config, C4LineCleaner, C4Quality
from tamiz.pipeline.filters.c4 import RESOURCES, count_sentences, find_badwords, load_badwords
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport


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
