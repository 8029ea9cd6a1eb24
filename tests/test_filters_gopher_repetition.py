"""Gopher repetition: real chapters, hand-made repetitive documents, and the hashed n-gram measures checked
against a plain re-implementation of datatrove's definitions on real documents."""

from __future__ import annotations

from collections import Counter

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.filters import GopherRepetition, GopherRepetitionConfig
from tamiz.pipeline.filters.words import split_words
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def bible(sample_dir) -> dict[str, str]:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return {d.id.split("-")[-1]: d.text for d in read_jsonl(path, ReadReport(str(path)), "books")}


def run(text: str, **cfg):
    doc = Document("t", text)
    return GopherRepetition(GopherRepetitionConfig(**cfg)).filter(doc), doc.metadata["gopher_repetition"]


# datatrove's definitions, written out plainly (tuples instead of joined strings)
def ref_top(words, n):
    c = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    if not c:
        return 0
    top, count = c.most_common(1)[0]
    return len(" ".join(top)) * count


def ref_dup(words, n):
    seen, idx, total = set(), 0, 0
    while idx < len(words) - n + 1:
        g = tuple(words[idx:idx + n])
        if g in seen:
            total += len("".join(g))
            idx += n
        else:
            seen.add(g)
            idx += 1
    return total


def test_hashed_ngram_measures_equal_the_plain_definitions(bible, ingested_sample):
    crawl = [d.text for f in sorted((ingested_sample / "docs").glob("tamiz-sample-*.parquet"))[:2]
             for d in read_parquet_documents(f)]
    texts = list(bible.values())[:150] + crawl
    f = GopherRepetition()
    repeats = 0
    for text in texts:
        m = f.measure(text)
        words = split_words(text)
        for n in (2, 3, 4):
            assert m[f"top_{n}_gram"] == round(ref_top(words, n) / len(text), 6)
        for n in range(5, 11):
            assert m[f"dup_{n}_gram"] == round(ref_dup(words, n) / len(text), 6)
        repeats += m["dup_5_gram"] > 0
    assert repeats > 20  # the check covered documents that do repeat


def test_real_chapters(bible):
    assert run(bible["Gen.2"])[0] is True
    # "Y fué la tarde y la mañana el día ..." six times: a real repeated 5-gram
    res, m = run(bible["Gen.1"])
    assert res == (False, "dup_5_gram") and m["dup_5_gram"] > 0.145


def test_duplicate_lines(bible):
    verses = bible["Gen.2"].split("\n")
    text = "\n".join(verses + verses[:10])
    res, m = run(text)
    assert res == (False, "dup_line_frac") and m["dup_line_frac"] == round(10 / (len(verses) + 10), 6)


def test_paragraph_and_character_rules_are_off_by_default_but_measured(bible):
    paras = bible["Gen.2"].split("\n")
    text = "\n\n".join(paras[:12] + paras[:4])
    lines_only = {"dup_line_frac": None, "top_n_grams": (), "dup_n_grams": ()}
    res, m = run(text, **lines_only)
    assert res is True and m["dup_para_frac"] == 0.25 and m["dup_para_char_frac"] > 0.1
    assert run(text, **lines_only, dup_para_frac=0.2)[0] == (False, "dup_para_frac")
    assert run(text, **lines_only, dup_para_char_frac=0.1)[0] == (False, "dup_para_char_frac")
    assert run(text, **lines_only, dup_line_char_frac=0.1)[0] == (False, "dup_line_char_frac")


def unit_doc(phrase: str, unit_chars: int, vocab: list[str], units: int = 40) -> str:
    """`units` lines, each the phrase followed by distinct filler words up to ~unit_chars characters."""
    it = iter(vocab)
    lines = []
    for _ in range(units):
        line = phrase
        while len(line) < unit_chars:
            line += " " + next(it)
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def vocab(bible) -> list[str]:
    seen = {}
    for text in bible.values():
        for w in text.lower().split():
            w = w.strip(".,;:¿?¡!()")
            if w.isalpha() and len(w) > 3:
                seen.setdefault(w, None)
    return list(seen)


@pytest.mark.parametrize("n, phrase, unit_chars", [(2, "la casa", 30), (3, "en el principio", 80),
                                                   (4, "en el principio de", 120)])
def test_top_ngram(vocab, n, phrase, unit_chars):
    res, m = run(unit_doc(phrase, unit_chars, vocab))
    assert res == (False, f"top_{n}_gram"), m


def test_duplicated_ngrams(vocab):
    # a 7-word passage copied into the middle of otherwise distinct lines
    passage = "y dijo jehová dios a la mujer"
    text = unit_doc("", 60, vocab, units=30)
    lines = text.split("\n")
    text = "\n".join(f"{ln} {passage}" if i % 2 else ln for i, ln in enumerate(lines))
    res, m = run(text)
    # the 5-gram scan jumps 5 words per repeat, so the 7-gram share is the larger one here
    assert res == (False, "dup_7_gram") and 0 < m["dup_5_gram"] < m["dup_7_gram"] and m["dup_8_gram"] == 0


def test_empty_and_config_errors():
    assert GopherRepetition().filter(Document("e", "")) == (False, "empty")
    with pytest.raises(ValueError, match="top_n_grams"):
        GopherRepetitionConfig(top_n_grams=((0, 0.1),))
    with pytest.raises(ValueError, match="dup_n_grams\\[5\\]"):
        GopherRepetitionConfig(dup_n_grams=((5, 1.5),))
