"""FineWeb's rules: real text kept, one hand-made document per reason, Spanish closing quotes after the period."""

from __future__ import annotations

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.filters import FiltersConfig, FineWebConfig, FineWebQuality
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport


@pytest.fixture(scope="module")
def gen2(sample_dir) -> str:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return next(d.text for d in read_jsonl(path, ReadReport(str(path)), "books") if d.id.endswith("-Gen.2"))


def distinct_words(text: str) -> list[str]:
    return list(dict.fromkeys(w.strip(".,;:") for w in text.split()))


def run(text: str, **cfg):
    doc = Document("t", text)
    return FineWebQuality(FineWebConfig(**cfg)).filter(doc), doc.metadata["fineweb"]


def test_real_text_kept(gen2):
    res, m = run(gen2)
    assert res is True and m["line_punct"] >= 0.8 and m["char_dup"] == 0


def test_line_punctuation(gen2):
    menu = "\n".join(w.strip(".,;:") for w in gen2.split()[:120:4])  # a menu: one word per line
    res, m = run(menu + "\n" + gen2.split("\n")[0])
    assert res == (False, "line_punct_ratio") and m["line_punct"] < 0.182
    assert run(menu, line_punct_exclude_zero=True)[0] != (False, "line_punct_ratio")
    # a Spanish quote closes after the punctuation: «...?» ends a sentence
    assert run("—¿Vienes?»\n«Sí.»\nFin”.")[1]["line_punct"] == 1.0


def test_short_lines_rule_is_off_by_default(gen2):
    short = "\n".join(f"{w}." for w in distinct_words(gen2))
    res, m = run(short, new_line_ratio=None)
    assert res is True and m["short_lines"] == 1.0
    assert run(short, new_line_ratio=None, short_line_thr=0.67)[0] == (False, "short_line_ratio")


def test_duplicated_characters(gen2):
    verses = gen2.split("\n")
    res, m = run("\n".join(verses + verses[:5]))
    assert res == (False, "char_dup_ratio") and m["char_dup"] > 0.1


def test_list_ratio(gen2):
    listy = "\n".join(f"{w}." for w in distinct_words(gen2))
    res, m = run(listy)
    assert res == (False, "list_ratio") and m["newline_ratio"] > 0.138


def test_empty_and_config_errors():
    assert FineWebQuality().filter(Document("e", " \n \n")) == (False, "empty")
    with pytest.raises(ValueError, match="^line_punct_thr: 2 is not a ratio"):  # the field, relative to its class
        FineWebConfig(line_punct_thr=2)
    with pytest.raises(ValueError, match=r"^default\.fineweb\.line_punct_thr: 2 is not a ratio"):  # loaded: the path
        FiltersConfig.from_dict({"default": {"fineweb": {"line_punct_thr": 2}}})
