"""The filter stage on one shard: bad input is a counted, recorded drop (never a crash), counts reconcile,
per-source thresholds apply, reruns resume, and the two-pass sampling is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tamiz.pipeline.filter_stage import (FilterStageConfig, combine_passes, compute_cutoffs, filter_file, merge_counts,
                                   merge_funnel, sample_file)
from tamiz.pipeline.filters import FiltersConfig
from tamiz.pipeline.perplexity.model import train_char_model
from tamiz.pipeline.perplexity.sampling import PerplexityConfig
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def bible(sample_dir) -> dict[str, str]:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return {d.id.split("-")[-1]: d.text for d in read_jsonl(path, ReadReport(str(path)), "books")}


@pytest.fixture(scope="module")
def shard(tmp_path_factory, bible) -> Path:
    """A JSONL shard of real chapters and every kind of bad input."""
    folder = tmp_path_factory.mktemp("shard") / "web"  # documents without a source get "web"
    folder.mkdir()
    rows = [
        {"id": "gen2", "text": bible["Gen.2"]},
        {"id": "gen3", "text": bible["Gen.3"]},
        {"id": "gen1", "text": bible["Gen.1"]},  # real repetition: dup_5_gram
        {"id": "empty", "text": ""},
        {"id": "huge", "text": "palabra " * 1_300_000},  # one 10 MB line
        {"id": "emoji", "text": "😀🙂🎉 ¡¿!? «»" * 300},
        {"id": "mixed", "text": "Привет мир. 中文字符没有空格。 " * 40 + bible["Gen.2"][:200]},
        {"id": "book-short", "text": "\n".join(bible["Gen.2"].split("\n")[:4]), "source": "books"},
    ]
    path = folder / "shard.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for r in rows[:4]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"id": "notext", "title": "sin texto"}) + "\n")
        for r in rows[4:]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def reasons(out: Path) -> dict[str, str]:
    return {d.id.split("/")[-1]: d.metadata["drop_reason"]
            for f in (out / "rejects").glob("*.parquet") for d in read_parquet_documents(f)}


def test_bad_input_is_counted_and_recorded(tmp_path, shard):
    rec = filter_file(shard, tmp_path, FilterStageConfig())
    c = rec["counts"]
    assert c["records"] == 10 and c["quarantined"] == 2 and c["docs_in"] == 8
    assert c["docs_in"] == c["kept"] + sum(c["dropped"].values())
    got = reasons(tmp_path)
    assert got == {"gen1": "gopher_repetition:dup_5_gram", "empty": "gopher_quality:short_doc",
                   "huge": "gopher_quality:long_doc", "emoji": "gopher_quality:short_doc",
                   "mixed": "gopher_quality:alpha_words", "book-short": "c4:too_few_sentences"}
    kept = [d for f in (tmp_path / "docs").glob("*.parquet") for d in read_parquet_documents(f)]
    assert sorted(d.id.split("/")[-1] for d in kept) == ["gen2", "gen3"]
    # every filter left its measurements on the kept documents
    assert {"gopher_quality", "gopher_repetition", "c4_lines", "c4", "fineweb"} <= set(kept[0].metadata)
    quarantine = (tmp_path / "quarantine").glob("*.jsonl")
    assert sum(1 for f in quarantine for _ in open(f)) == 2
    funnel = merge_funnel([rec["funnel"]])
    assert set(funnel) == {"web", "books"} and funnel["web"]["docs_in"] == 7 and funnel["web"]["docs_out"] == 2


def test_per_source_thresholds_and_resume(tmp_path, shard):
    filters = FiltersConfig.from_dict({"sources": {"books": {"c4": {"min_num_sentences": 1}}}})
    cfg = FilterStageConfig(filters=filters)
    rec = filter_file(shard, tmp_path, cfg)
    assert "book-short" not in reasons(tmp_path)
    assert rec["resumed"] is False and filter_file(shard, tmp_path, cfg)["resumed"] is True
    # another config is another run: not resumed
    assert filter_file(shard, tmp_path, FilterStageConfig())["resumed"] is False


def test_warc_input_is_refused(tmp_path, sample_dir):
    warc = sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[0]
    with pytest.raises(ValueError, match="run `tamiz ingest` first"):
        filter_file(warc, tmp_path, FilterStageConfig())


def test_two_pass_sampling_is_deterministic(tmp_path, bible, sample_dir):
    lm = tmp_path / "lm.npz"
    train_char_model(list(bible.values())[:300], lm, order=4)
    folder = tmp_path / "in" / "books"
    folder.mkdir(parents=True)
    rows = [{"id": k, "text": v} for k, v in list(bible.items())[300:600]]
    (folder / "b.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = FilterStageConfig(heuristics=False, perplexity=PerplexityConfig(model=str(lm), sampling="gaussian"))
    assert cfg.two_pass()
    kept_ids = []
    for run in ("a", "b"):
        out = tmp_path / run
        r1 = filter_file(folder / "b.jsonl", out, cfg)
        cut = compute_cutoffs([out / "scores" / f"{r1['name']}.npz"], cfg)
        assert cut["books"]["perplexity"]["n"] == 300
        r2 = sample_file(r1["name"], out, cfg, cut)
        rec = combine_passes(r1, r2)
        c = merge_counts([rec])
        assert c["docs_in"] == 300 == c["kept"] + c["dropped"]["perplexity:gaussian_sample"]
        f = merge_funnel(rec["funnel_parts"])["books"]
        assert [s[0] for s in f["steps"]] == ["perplexity_score", "perplexity"] and f["docs_out"] == c["kept"]
        docs = pq.read_table(out / "docs" / f"{r1['name']}.parquet")
        kept_ids.append(docs.column("id").to_pylist())
        assert 0.4 * 300 < len(kept_ids[-1]) < 0.78 * 300  # at most factor 0.78, around the median
    assert kept_ids[0] == kept_ids[1]
