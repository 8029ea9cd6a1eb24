"""The dataset table: the bundled sample loads; every bad field is refused with its name."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from tamiz.pipeline.table import ShardConfig, load_table, parse_table

ROOT = Path(__file__).resolve().parents[1]


def _raw(**override):
    sources = [
        {"name": "web", "kind": "crawl", "inputs": ["common_crawl/*.warc.gz"], "weight": 3},
        {"name": "books", "kind": "books", "inputs": "books/reina_valera_1909.jsonl.gz", "weight": 1,
         "filters": {"some_filter": {"threshold": 0.5}}},
    ]
    raw = {"sources": sources}
    raw.update(override)
    return raw


def _error(raw, tmp_path: Path) -> str:
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_table(path)
    return str(e.value)


def test_bundled_sample_table(sample_dir: Path):
    t = load_table(sample_dir / "table.yaml")
    assert t.names == ["common_crawl", "books", "reference"]
    assert [s.kind for s in t.sources] == ["crawl", "books", "reference"]
    w = t.weights()
    assert w == pytest.approx({"common_crawl": 0.6, "books": 0.25, "reference": 0.15})
    assert math.isclose(sum(w.values()), 1.0)
    assert t.shards == ShardConfig(seq_len=256, seed=1234, validation_fraction=0.01, row_start="any")
    assert [p.name for p in t.resolve_inputs("books")] == ["reina_valera_1909.jsonl.gz"]
    assert len(t.resolve_inputs("common_crawl")) == 4
    assert {p.name for p in t.resolve_inputs("reference")} == {"debian_reference_es.jsonl", "fortunes_es.jsonl"}


def test_weights_are_normalized_and_blocks_kept_as_mappings(sample_dir: Path):
    t = parse_table(_raw(), root=sample_dir)
    assert t.weights() == {"web": 0.75, "books": 0.25}
    assert t.sources[1].filters == {"some_filter": {"threshold": 0.5}}  # not validated here: filters/ owns it
    assert t.sources[1].inputs == ("books/reina_valera_1909.jsonl.gz",)  # a single string is one input


@pytest.mark.parametrize("weight, message", [
    (-1, "sources[1].weight: -1 is negative"),
    (float("nan"), "sources[1].weight: nan is not finite"),
    (float("inf"), "sources[1].weight: inf is not finite"),
    ("0.5", "sources[1].weight: must be a number, got '0.5'"),
    (True, "sources[1].weight: must be a number, got True"),
])
def test_bad_weight_names_the_field(tmp_path: Path, weight, message):
    raw = _raw()
    raw["sources"][1]["weight"] = weight
    assert _error(raw, tmp_path) == f"{tmp_path / 'table.yaml'}: {message}"


def test_nan_weight_written_in_yaml(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text("sources:\n  - {name: a, inputs: [x], weight: .nan}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"sources\[0\]\.weight: nan is not finite"):
        load_table(path)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["sources"][0].pop("weight"), "sources[0].weight: missing"),
    (lambda r: r["sources"][0].pop("name"), "sources[0].name: missing"),
    (lambda r: r["sources"][0].update(name="a b"), "sources[0].name: 'a b' is not a source name"),
    (lambda r: r["sources"][1].update(name="web"), "sources[1].name: 'web' is already sources[0]"),
    (lambda r: r["sources"][0].update(kind="wiki"), "sources[0].kind: 'wiki' is not one of crawl, books"),
    (lambda r: r["sources"][0].update(inputs=[]), "sources[0].inputs: [] must be a non-empty list"),
    (lambda r: r["sources"][0].update(wieght=1), "sources[0].wieght: unknown field (allowed: name, weight, inputs,"),
    (lambda r: r["sources"][0].update(dedup=[1]), "sources[0].dedup: must be a mapping, got list"),
    (lambda r: r.update(shards={"seq_len": 0}), "shards.seq_len: 0 is less than 1"),
    (lambda r: r.update(shards={"validation_fraction": 1.0}), "shards.validation_fraction: 1.0 is not a number in [0, 1)"),
    (lambda r: r.update(shards={"row_start": "doc"}), "shards.row_start: 'doc' is not one of any, document"),
    (lambda r: r.update(shards={"seqlen": 8}), "shards.seqlen: unknown field (allowed: seq_len,"),
    (lambda r: r.update(training=[1]), "training: expected a mapping, got list"),
    (lambda r: r.update(mixer={}), "mixer: unknown key"),
    (lambda r: [s.update(weight=0) for s in r["sources"]], "every weight is 0"),
    (lambda r: r.update(sources=[]), "sources: expected a non-empty list"),
])
def test_bad_table_names_the_field(tmp_path: Path, mutate, message):
    raw = _raw()
    mutate(raw)
    assert message in _error(raw, tmp_path)


def test_not_a_mapping_and_bad_yaml(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a mapping with a 'sources' list, got list"):
        load_table(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_table(tmp_path / "b.yaml")
    with pytest.raises(FileNotFoundError, match="no such dataset table"):
        load_table(tmp_path / "missing.yaml")


def test_input_that_matches_nothing_names_the_source(sample_dir: Path):
    raw = _raw()
    raw["sources"][0]["inputs"] = ["nowhere/*.warc.gz"]
    t = parse_table(raw, root=sample_dir, path=sample_dir / "x.yaml")
    with pytest.raises(FileNotFoundError, match=r"sources\[0\]\.inputs: 'nowhere/\*\.warc\.gz' matches no file"):
        t.resolve_inputs("web")
    with pytest.raises(KeyError, match="'wiki' is not in the table"):
        t.resolve_inputs("wiki")


# ------------------------------------------------------------------ what each stage gets from the table

def _table(tmp_path: Path, sources: list[dict]):
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    return load_table(path)


def test_stage_configs_come_from_the_table(tmp_path: Path):
    t = _table(tmp_path, [
        {"name": "web", "kind": "crawl", "inputs": "x", "weight": 3, "ingest": {"min_chars": 50},
         "dedup": {"threshold": 0.8}},
        {"name": "bible", "kind": "books", "inputs": "y", "weight": 1, "ingest": {"language_id": False},
         "filters": {"enabled": False}, "dedup": {"threshold": 0.8}},
        {"name": "wiki", "kind": "reference", "inputs": "z", "weight": 1,
         "filters": {"gopher_quality": {"min_doc_words": 20}}, "dedup": {"threshold": 0.8}},
    ])
    assert t.ingest_config("web").min_chars == 50 and t.ingest_config("web").language_id
    assert not t.ingest_config("bible").language_id
    assert t.filters_config("bible") is None  # enabled: false -> not filtered
    assert t.filters_config("wiki").for_source("wiki").gopher_quality.min_doc_words == 20
    assert t.filters_config("web").for_source("web") == t.filters_config("web").default
    dedup, priority = t.dedup_config()
    assert dedup.threshold == 0.8
    assert priority == ["bible", "wiki", "web"]  # books, reference, then the crawl keeps the fewest copies


def test_stage_config_errors_name_the_file_and_field(tmp_path: Path):
    t = _table(tmp_path, [{"name": "web", "kind": "crawl", "inputs": "x", "weight": 1,
                           "ingest": {"extractor": "lynx"}}])
    with pytest.raises(ValueError, match=r"table\.yaml: sources\[0\]\.ingest\.extractor: 'lynx' is not one of"):
        t.ingest_config("web")
    t = _table(tmp_path, [{"name": "a", "inputs": "x", "weight": 1, "dedup": {"threshold": 0.8}},
                          {"name": "b", "inputs": "y", "weight": 1, "dedup": {"threshold": 0.7}}])
    with pytest.raises(ValueError, match=r"table\.yaml: sources\[1\]\.dedup\.threshold: differs between sources"):
        t.dedup_config()
    t = _table(tmp_path, [{"name": "a", "inputs": "x", "weight": 1, "filters": {"c4": {"bad_words": True}}}])
    with pytest.raises(ValueError, match=r"table\.yaml: sources\[0\]\.filters: .*c4\.bad_words: unknown field"):
        t.filters_config("a")
