"""Gopher quality: real Spanish text is kept; one hand-made document per drop reason."""

from __future__ import annotations

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.filters import FiltersConfig, GopherQuality, GopherQualityConfig
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport


@pytest.fixture(scope="module")
def bible(sample_dir) -> dict[str, str]:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return {d.id.split("-")[-1]: d.text for d in read_jsonl(path, ReadReport(str(path)), "books")}


def run(text: str, **cfg):
    doc = Document("t", text)
    return GopherQuality(GopherQualityConfig(**cfg)).filter(doc), doc.metadata["gopher_quality"]


def test_real_spanish_chapters_are_kept_and_measured(bible):
    for ch in ("Gen.2", "Gen.3", "Ruth.1", "Matt.5"):
        res, m = run(bible[ch])
        assert res is True, (ch, m)
        assert m["stop_words"] >= 10 and 3 <= m["mean_word_len"] <= 14
        assert m["words"] > 50 and m["tokens"] > m["words"]


def test_short_and_long_documents(bible):
    first_verse = bible["Gen.2"].split("\n")[0]
    assert run(first_verse)[0] == (False, "short_doc")
    words = bible["Gen.2"].split()
    long_text = " ".join(words * (100_001 // len(words) + 1))
    res, m = run(long_text)
    assert res == (False, "long_doc") and m["words"] > 100_000


def test_word_length(bible):
    tiny = [w for w in bible["Gen.2"].split() if len(w) <= 2]
    assert run(" ".join(tiny * 3))[0] == (False, "short_words")
    urls = "\n".join(f"https://www.debian.org/doc/manuals/debian-reference/ch{i:02d}.es.html de la" for i in range(30))
    res, m = run(urls)
    assert res == (False, "long_words") and m["mean_word_len"] > 14


def test_hash_and_ellipsis_symbols(bible):
    words = [w.strip(".,;:") for w in bible["Gen.2"].split()]
    tagged = " ".join(w + (" #biblia" if i % 7 == 6 else "") for i, w in enumerate(words))  # 1 '#' per 9 tokens
    res, m = run(tagged)
    assert res == (False, "hash") and m["hash_ratio"] > 0.1 and m["alpha_words"] > 0.825
    dotted = " ... ".join(bible["Gen.2"].split(" ")[:200])
    assert run(dotted)[0] == (False, "ellipsis")


def test_bullet_and_ellipsis_lines(bible):
    verses = bible["Gen.2"].split("\n")
    assert run("\n\n".join(f"• {v}" for v in verses))[0] == (False, "bullet_lines")  # blank lines do not dilute
    assert run("\n".join(f"- {v}" for v in verses))[0] == (False, "bullet_lines")
    # Spanish dialogue lines start with a raya: not bullets
    assert run("\n".join(f"—{v}" for v in verses))[0] is True
    assert run("\n".join(v.rstrip(".") + "…" for v in verses))[0] == (False, "ellipsis_lines")


def test_alpha_words_real_genealogy_and_numbers(bible):
    res, m = run(bible["Gen.10"])  # a real chapter of names and punctuation
    assert res == (False, "alpha_words") and m["alpha_words"] < 0.825
    table = "\n".join(f"Tabla {i * 104729} {i * 7919} {i * 15485863} de la {i * 99991}" for i in range(1, 40))
    assert run(table)[0] == (False, "alpha_words")


def test_stop_words_case_insensitive(bible):
    stop = set(GopherQualityConfig().stop_words)
    words = [w.strip(".,;:") for w in bible["Gen.2"].split()]
    no_stop = " ".join(w for w in words if w.lower() not in stop)
    res, m = run(no_stop)
    assert res == (False, "stop_words") and m["stop_words"] < 2
    # "El" and "La" at a sentence start count
    assert run(no_stop + " El La")[0] is True


def test_disabled_checks_and_config_errors(bible):
    assert run(bible["Gen.10"], min_alpha_words_ratio=None)[0] is True
    with pytest.raises(ValueError, match="^min_alpha_words_ratio: 1.5 is not a ratio"):  # the field, relative to its class
        GopherQualityConfig(min_alpha_words_ratio=1.5)
    with pytest.raises(ValueError, match=r"^sources\.web\.gopher_quality\.min_alpha_words_ratio: 1.5 is not"):
        FiltersConfig.from_dict({"sources": {"web": {"gopher_quality": {"min_alpha_words_ratio": 1.5}}}})
    with pytest.raises(ValueError, match="min_doc_words"):
        GopherQualityConfig(min_doc_words=500, max_doc_words=100)


def test_empty_symbols_only_and_mixed_scripts():
    assert run("")[0] == (False, "short_doc")
    assert run("😀 🙂 ¡¿!? «» —" * 40)[0] == (False, "short_doc")  # emoji and punctuation are not words
    res, m = run("中文字符没有空格" * 200)
    assert res == (False, "short_doc") and m["words"] == 1
