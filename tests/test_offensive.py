"""The offensive-word step on real fortunes (fortunes-es-off, tagged offensive by Debian's maintainers, and
fortunes-es): tag or drop at the threshold, lists by country, curation, the user's own lists (a list that
is not UTF-8 fails before any work, naming the file and the line), and the filter stage's counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.filter_stage import FilterStageConfig, filter_file
from tamiz.pipeline.filters import FiltersConfig, heuristic_steps
from tamiz.pipeline.filters.config import HeuristicsConfig, OffensiveConfig
from tamiz.pipeline.filters.offensive import COUNTRIES, Offensive, load_offensive_words
from tamiz.pipeline.runner import StepStats, run_steps
from tamiz.pipeline.table import parse_table

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def fortunes() -> dict[str, str]:
    out = {}
    for f in (SAMPLE / "offensive" / "fortunes_es_off.jsonl", SAMPLE / "reference" / "fortunes_es.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            out[r["id"]] = r["text"]
    return out


# "¿Qué le ocurre a un hombre cuando le cortan la polla? Que por fin empieza a pensar con la cabeza."
POLLA = "fortunes-es-off/hembrismo/0014"
PENE = "fortunes-es-off/hembrismo/0035"  # "pene": only Chile's list has it
LONG_ONE_HIT = "fortunes-es-off/hembrismo/0022"  # 44 words, one hit: score 0.0227
BASURA = "fortunes-es-off/camioneros/0172"  # "No tiremos el mundo a la basura."
NO_WORDS = "fortunes-es-off/camioneros/0003"  # tagged offensive by its collection, no listed word
CLEAN = "fortunes-es/amistad/0001"  # Cicero on friendship


def run(text: str, **kw) -> tuple[object, dict, Document]:
    doc = Document("t", text)
    result = Offensive(OffensiveConfig(enabled=True, **kw)).filter(doc)
    return result, doc.metadata["offensive"], doc


def test_tag_keeps_and_marks_the_offensive_fortune(fortunes):
    result, m, doc = run(fortunes[POLLA])
    assert result is True
    assert m == {"hits": 1, "words": 20, "score": 0.05, "found": ["polla"], "tagged": True}
    assert doc.metadata["tags"] == ["offensive"]


def test_drop_gives_the_reason_through_the_runner(fortunes):
    steps = heuristic_steps(HeuristicsConfig().override({
        **{f: {"enabled": False} for f in ("gopher_quality", "gopher_repetition", "c4", "fineweb")},
        "offensive": {"enabled": True, "action": "drop"}}))
    assert [s.name for s in steps] == ["offensive"]
    docs = [Document(i, fortunes[i]) for i in (POLLA, CLEAN, NO_WORDS)]
    rejected: list[Document] = []
    stats = StepStats()
    kept = [d.id for d in run_steps(docs, steps, stats, on_reject=rejected.append)]
    assert kept == [CLEAN, NO_WORDS]
    assert [d.metadata["drop_reason"] for d in rejected] == ["offensive:words"]
    assert stats.dropped == {"offensive:words": 1}


def test_clean_text_is_not_tagged(fortunes):
    result, m, doc = run(fortunes[CLEAN])
    assert result is True and m["hits"] == 0 and m["tagged"] is False and "tags" not in doc.metadata


def test_what_a_word_list_cannot_see(fortunes):
    """Most fortunes of the offensive collection hold no listed word (docs/filters.md has the figures)."""
    assert run(fortunes[NO_WORDS])[1]["hits"] == 0


def test_threshold_is_offensive_words_per_word(fortunes):
    m = run(fortunes[LONG_ONE_HIT], threshold=0.02)[1]
    assert m["hits"] == 1 and m["words"] == 44 and m["tagged"] is True
    assert run(fortunes[LONG_ONE_HIT], threshold=0.05)[1]["tagged"] is False
    assert run(fortunes[POLLA], min_hits=2)[1]["tagged"] is False


def test_countries_choose_the_vocabulary(fortunes):
    assert run(fortunes[PENE])[1]["tagged"] is True  # every country's list
    assert run(fortunes[PENE], countries=("CHL",))[1]["tagged"] is True
    assert run(fortunes[PENE], countries=("esp", "MEX"))[1]["hits"] == 0
    assert len(COUNTRIES) == 21


def test_curation_leaves_ordinary_words_out(fortunes):
    assert run(fortunes[BASURA])[1]["hits"] == 0
    assert run(fortunes[BASURA], curated=False)[1]["found"] == ["basura"]
    assert "ano" in load_offensive_words(curated=False) and "ano" not in load_offensive_words()  # año folded


def test_user_word_list_adds_words(tmp_path, fortunes):
    text = fortunes["fortunes-es-off/machosno/0005"]  # "... un ser repugnante y sucio ..."
    assert run(text)[1]["hits"] == 0
    lst = tmp_path / "mine.txt"
    lst.write_text("# mi lista\nrepugnante\nsucia  # also the feminine\n", encoding="utf-8")
    _, m, _ = run(text, word_lists=(str(lst),))
    assert m["found"] == ["repugnante"]


def test_word_list_in_another_encoding_names_the_file_and_line(tmp_path):
    lst = tmp_path / "latin1.txt"
    lst.write_bytes("cabrón\nputón\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt, line 1: not UTF-8 \(byte 0xf3 at column 5\)"):
        OffensiveConfig(word_lists=(str(lst),))
    lst.write_bytes("# comentario\nidiota\ngañán\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"line 3: not UTF-8"):
        FiltersConfig.from_dict({"default": {"offensive": {"enabled": True, "word_lists": [str(lst)]}}})


@pytest.mark.parametrize("block, message", [
    ({"word_lists": ["missing.txt"]}, r"word_lists: missing\.txt: cannot be read"),
    ({"countries": ["XXX"]}, r"countries: 'XXX' has no list"),
    ({"threshold": 2}, r"threshold: 2 is not a ratio"),
    ({"min_hits": 0}, r"min_hits: 0 is not an integer of at least 1"),
    ({"action": "hide"}, r"action: 'hide' is not one of tag, drop"),
])
def test_bad_settings_name_the_field(tmp_path, monkeypatch, block, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=rf"default\.offensive\.{message}"):
        FiltersConfig.from_dict({"default": {"offensive": block}})


def test_empty_word_list_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no word"):
        OffensiveConfig(word_lists=(str(tmp_path / "empty.txt"),))


def _table(tmp_path: Path, word_list: str) -> dict:
    (tmp_path / "a.jsonl").write_text('{"id": "1", "text": "hola"}\n', encoding="utf-8")
    return {"sources": [{"name": "web", "inputs": ["a.jsonl"], "weight": 1,
                         "filters": {"offensive": {"enabled": True, "word_lists": [word_list]}}}]}


def test_table_reads_word_lists_relative_to_its_folder_and_refuses_latin1(tmp_path, monkeypatch):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "mine.txt").write_text("repugnante\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)  # not the table's folder
    table = parse_table(_table(tmp_path, "lists/mine.txt"), root=tmp_path, path=tmp_path / "table.yaml")
    cfg = table.filters_config("web").for_source("web").offensive
    assert cfg.word_lists == (str(tmp_path / "lists" / "mine.txt"),)
    (tmp_path / "lists" / "bad.txt").write_bytes("ok\nmaricón\n".encode("latin-1"))
    table = parse_table(_table(tmp_path, "lists/bad.txt"), root=tmp_path, path=tmp_path / "table.yaml")
    with pytest.raises(ValueError, match=r"table\.yaml: sources\[0\]\.filters: .*bad\.txt, line 2: not UTF-8"):
        table.filters_config("web")  # what `tamiz run` asks for every source before any work


def test_filter_stage_counts_tags_and_keys_word_lists_by_content(tmp_path, fortunes):
    ids = [POLLA, PENE, CLEAN, NO_WORDS, BASURA]
    src = tmp_path / "fortunes" / "in.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"id": i, "text": fortunes[i]}, ensure_ascii=False) + "\n" for i in ids),
                   encoding="utf-8")
    lst = tmp_path / "mine.txt"
    lst.write_text("tiremos\n", encoding="utf-8")
    off = {"enabled": True, "word_lists": [str(lst)]}
    families = {f: {"enabled": False} for f in ("gopher_quality", "gopher_repetition", "c4", "fineweb")}
    cfg = FilterStageConfig(filters=FiltersConfig.from_dict({"default": {**families, "offensive": off}}))
    rec = filter_file(src, tmp_path / "out", cfg)
    assert rec["counts"]["kept"] == 5 and rec["counts"]["dropped"] == {}
    assert rec["counts"]["tagged"] == {"offensive": 3}  # polla, pene, and "tiremos" from the user's list

    moved = tmp_path / "elsewhere.txt"
    moved.write_bytes(lst.read_bytes())
    same = FilterStageConfig(filters=FiltersConfig.from_dict(
        {"default": {**families, "offensive": {**off, "word_lists": [str(moved)]}}}))
    assert same.hash() == cfg.hash()  # the list's bytes, not its path
    moved.write_text("tiremos\nmundo\n", encoding="utf-8")
    assert FilterStageConfig.from_dict(same.as_dict()).hash() != cfg.hash()

    drop = FilterStageConfig(filters=FiltersConfig.from_dict(
        {"default": {**families, "offensive": {**off, "action": "drop"}}}))
    rec = filter_file(src, tmp_path / "out-drop", drop)
    assert rec["counts"]["dropped"] == {"offensive:words": 3} and rec["counts"]["tagged"] == {}


def test_tamiz_filter_config_file_turns_both_steps_on_and_refuses_a_latin1_list(tmp_path):
    from tamiz.flows.cmd_filter import build_stage_config

    lst = tmp_path / "mine.txt"
    lst.write_text("repugnante\n", encoding="utf-8")
    conf = tmp_path / "filters.yaml"
    conf.write_text(f"default:\n  close_language: {{enabled: true}}\n"
                    f"sources:\n  web:\n    offensive: {{enabled: true, action: drop, word_lists: ['{lst}']}}\n",
                    encoding="utf-8")
    cfg = build_stage_config(conf, True, None, None, None, None)
    names = [s.name for s in heuristic_steps(cfg.filters.for_source("web"))]
    assert names[0] == "close_language" and names[-1] == "offensive"
    assert "offensive" not in [s.name for s in heuristic_steps(cfg.filters.for_source("books"))]
    lst.write_bytes("repugnante\ncabrón\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"filters\.yaml: sources\.web\.offensive\.word_lists: .*mine\.txt, line 2"):
        build_stage_config(conf, True, None, None, None, None)
