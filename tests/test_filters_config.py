"""Typed thresholds: FineWeb-2 spa_Latn defaults, overrides for all sources and per source, clear errors."""

from __future__ import annotations

import json

import pytest

from tamiz.pipeline.filter_stage import FilterStageConfig
from tamiz.pipeline.filters import FiltersConfig, HeuristicsConfig, heuristic_steps


def test_defaults_are_fineweb2_spanish():
    c = HeuristicsConfig()
    assert c.gopher_repetition.dup_line_frac == 0.252
    assert c.gopher_repetition.top_n_grams == ((2, 0.156), (3, 0.14), (4, 0.125))
    assert c.gopher_repetition.dup_n_grams == ((5, 0.145), (6, 0.136), (7, 0.127), (8, 0.117), (9, 0.108), (10, 0.099))
    assert c.fineweb.line_punct_thr == 0.182 and c.fineweb.new_line_ratio == 0.138
    assert (c.gopher_quality.min_avg_word_length, c.gopher_quality.max_avg_word_length) == (3, 14)
    assert c.gopher_quality.min_alpha_words_ratio == 0.825 and c.gopher_quality.min_stop_words == 2
    assert c.gopher_quality.stop_words[:5] == ("de", "la", "en", "el", "y") and len(c.gopher_quality.stop_words) == 16
    assert [s.name for s in heuristic_steps(c)] == ["gopher_quality", "gopher_repetition", "c4_lines", "c4", "fineweb"]


def test_overrides_for_all_and_per_source():
    cfg = FiltersConfig.from_dict({
        "default": {"c4": {"badwords": False}},
        "sources": {"books": {"fineweb": {"enabled": False}, "gopher_quality": {"min_doc_words": 20}},
                    "reference": {"c4": {"remove_lines": False}}},
    })
    assert cfg.default.c4.badwords is False
    books = cfg.for_source("books")
    assert books.c4.badwords is False  # the default override carries into every source
    assert books.gopher_quality.min_doc_words == 20 and not books.fineweb.enabled
    assert [s.name for s in heuristic_steps(books)] == ["gopher_quality", "gopher_repetition", "c4_lines", "c4"]
    assert [s.name for s in heuristic_steps(cfg.for_source("reference"))] == \
        ["gopher_quality", "gopher_repetition", "c4", "fineweb"]
    assert cfg.for_source("common_crawl") == cfg.default
    # lists from YAML become tuples and are checked
    cfg = FiltersConfig.from_dict({"default": {"gopher_repetition": {"top_n_grams": [[2, 0.2]]}}})
    assert cfg.default.gopher_repetition.top_n_grams == ((2, 0.2),)


@pytest.mark.parametrize("data, message", [
    ({"default": {"gopher": {}}},
     r"default.gopher: unknown section \(allowed: gopher_quality, gopher_repetition, c4, fineweb, decontamination\)"),
    ({"sources": {"books": {"c4": {"bad_words": True}}}}, r"sources.books.c4.bad_words: unknown field \(allowed: enabled,"),
    ({"default": {"fineweb": {"line_punct_thr": 3}}}, "default.fineweb.line_punct_thr: 3 is not a ratio"),
    ({"defaults": {}}, "defaults: unknown section"),
    ({"default": {"gopher_quality": {"min_doc_words": "many"}}},
     "default.gopher_quality.min_doc_words: must be an integer, got 'many'"),
    ({"default": {"c4": {"badwords": 1}}}, "default.c4.badwords: must be true or false, got 1"),
    ({"default": {"c4": [1]}}, "default.c4: must be a mapping of fields, got list"),
])
def test_bad_settings_name_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        FiltersConfig.from_dict(data)


def test_load_yaml_and_json_files(tmp_path):
    y = tmp_path / "f.yaml"
    y.write_text("sources:\n  books:\n    fineweb: {enabled: false}\n", encoding="utf-8")
    assert not FiltersConfig.load(y).for_source("books").fineweb.enabled
    j = tmp_path / "f.json"
    j.write_text(json.dumps({"default": {"c4": {"min_num_sentences": 3}}}), encoding="utf-8")
    assert FiltersConfig.load(j).default.c4.min_num_sentences == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: [unclosed", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        FiltersConfig.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        FiltersConfig.load(tmp_path / "missing.yaml")


def test_stage_config_round_trip():
    cfg = FilterStageConfig(filters=FiltersConfig.from_dict({"sources": {"books": {"c4": {"enabled": False}}}}))
    again = FilterStageConfig.from_dict(cfg.as_dict())
    assert again == cfg and again.hash() == cfg.hash()
    assert FilterStageConfig().hash() != cfg.hash()
    with pytest.raises(ValueError, match="nothing to do"):
        FilterStageConfig(heuristics=False)
