"""The streaming training text: inputs, stage folders, caps, mixing by weights (tokenizer/corpus.py)."""

from __future__ import annotations

import json

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.writers import write_parquet
from tamiz.tokenizer.corpus import CorpusStats, cap_text, iter_documents, resolve_inputs
from tamiz.tokenizer.train import TrainConfig, train


@pytest.fixture(scope="module")
def curated(sample_dir):
    return resolve_inputs([sample_dir / "books", sample_dir / "reference"])


def test_inputs_get_their_folder_as_source(curated):
    assert [(i.path.name, i.source) for i in curated] == [
        ("reina_valera_1909.jsonl.gz", "books"), ("debian_reference_es.jsonl", "reference"),
        ("fortunes_es.jsonl", "reference")]


def _mixed(curated, weights):
    stats = CorpusStats()
    docs = list(iter_documents(curated, stats, weights))
    return docs, stats


@pytest.mark.parametrize("weights, first_out", [({"books": 1, "reference": 1}, "reference"),
                                                ({"books": 3, "reference": 1}, "books")])
def test_every_prefix_keeps_the_shares(curated, weights, first_out):
    docs, stats = _mixed(curated, weights)
    share = {s: w / sum(weights.values()) for s, w in weights.items()}
    longest = max(len(d.text) for d in docs)
    emitted = dict.fromkeys(weights, 0)
    total = 0
    for d in docs:
        emitted[d.source] += len(d.text)
        total += len(d.text)
        for s in weights:
            assert abs(emitted[s] - share[s] * total) <= longest
    assert stats.stopped_by == f"source {first_out!r} ran out"
    # the source that ran out was read to its end
    alone = [d for d in iter_documents([i for i in curated if i.source == first_out], CorpusStats())]
    assert [d.id for d in docs if d.source == first_out] == [d.id for d in alone]


def test_a_zero_weight_leaves_a_source_out(curated):
    docs, stats = _mixed(curated, {"books": 0, "reference": 1})
    assert {d.source for d in docs} == {"reference"}
    assert len(docs) == 107 + 10734


def test_stage_folder_reads_only_kept_documents(tmp_path, sample_dir):
    stage = tmp_path / "stage"
    lines = (sample_dir / "reference" / "fortunes_es.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    kept = [Document(id=f"f{i}", text=json.loads(line)["text"], source="reference") for i, line in enumerate(lines)]
    write_parquet(stage / "docs" / "part-0.parquet", kept[:200])
    books = [Document(id=d.id, text=d.text, source="books") for d in kept[200:]]
    write_parquet(stage / "docs" / "part-1.parquet", books)
    write_parquet(stage / "rejects" / "part-0.parquet", [Document(id="r", text="RECHAZADO " * 50, source="reference")])
    (stage / "quarantine").mkdir()
    (stage / "quarantine" / "part-0.jsonl").write_text('{"text": "CUARENTENA"}\n', encoding="utf-8")
    (stage / "manifest.json").write_text("{}", encoding="utf-8")
    inputs = resolve_inputs([stage])
    assert [i.path.relative_to(stage).as_posix() for i in inputs] == ["docs/part-0.parquet", "docs/part-1.parquet"]
    docs = list(iter_documents(inputs, CorpusStats()))
    assert [d.text for d in docs] == [d.text for d in kept]
    assert {d.source for d in docs} == {"reference", "books"}  # the rows' own sources, not the folder's
    mixed = list(iter_documents(inputs, CorpusStats(), {"reference": 2, "books": 1}))
    assert {d.source for d in mixed} == {"reference", "books"}


def test_cap_cuts_at_whitespace(sample_dir):
    lines = (sample_dir / "reference" / "debian_reference_es.jsonl").read_text(encoding="utf-8").splitlines()
    text = max((json.loads(line)["text"] for line in lines), key=len)
    cut = cap_text(text, 5000)
    assert 4800 <= len(cut) <= 5000 and text.startswith(cut) and text[len(cut)].isspace()
    assert cap_text("corto", 5000) == "corto"


def test_caps_and_budget_are_applied_while_training(sample_dir):
    path = sample_dir / "reference" / "debian_reference_es.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    res = train(path,
                TrainConfig(vocab_size=300, max_doc_chars=2000, max_chars=100_000, holdout_every=0, language=None))
    st = res.stats
    assert 100_000 <= st.characters < 102_000
    assert st.truncated == sum(len(t) > 2000 for t in texts[:st.documents]) > 0
    assert st.stopped_by == "max_chars (100000) reached"
