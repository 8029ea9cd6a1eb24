"""The fastText quality classifier on the bundled sample, GPT-3's Pareto rule, and the other keep rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tamiz.pipeline.document import Document, id_seed
from tamiz.pipeline.quality.classifier import (ClassifierConfig, evaluate, load_classifier, read_report, roc_auc,
                                               score_texts, train_classifier)
from tamiz.pipeline.quality.keep import (QualityConfig, QualityKeep, QualityScorer, pareto_keep,
                                         pareto_keep_probability, top_percent_cutoff)
from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_dir, ingested_sample):
    """Positives: books and reference text; negatives: the crawl pages (kept and rejected by ingest)."""
    files = sorted((sample_dir / "books").glob("*.jsonl.gz")) + sorted((sample_dir / "reference").glob("*.jsonl"))
    pos = [d for f in files for d in read_documents(f, ReadReport(str(f)), f.parent.name)]
    neg = [d for sub in ("docs", "rejects") for f in sorted((ingested_sample / sub).glob("tamiz-sample-*.parquet"))
           for d in read_parquet_documents(f) if d.text.strip()]
    out = tmp_path_factory.mktemp("quality") / "q.bin"
    report = train_classifier(pos, neg, out, ClassifierConfig(epoch=10))
    return out, report, pos, neg


def test_classifier_separates_reference_text_from_crawl_on_heldout_data(trained):
    out, report, pos, neg = trained
    h = report["heldout"]
    assert h["n_neg"] >= 15 and h["n_pos"] >= 500
    assert h["auc"] >= 0.95 and h["precision"] >= 0.95 and h["recall"] >= 0.9
    assert report["train"]["positives"] == report["train"]["negatives"]  # balanced by downsampling
    assert read_report(out)["sha256"] == report["sha256"]


def test_retraining_in_the_same_process_gives_the_same_bytes(trained, tmp_path):
    """fastText's Python module trained a different model (or hit NaN) on a second training in one
    process, reading memory freed by the first; tamiz trains each model in a fresh process."""
    out, report, pos, neg = trained
    for i in range(2):
        again = train_classifier(pos, neg, tmp_path / f"q{i}.bin", ClassifierConfig(epoch=10))
        assert again["sha256"] == report["sha256"]
        assert again["heldout"] == report["heldout"]


def test_a_failed_training_is_a_clear_error_and_leaves_nothing(trained, tmp_path):
    _, _, pos, neg = trained
    with pytest.raises(RuntimeError, match="training the quality classifier failed: fastText: std::bad_alloc"):
        train_classifier(pos, neg, tmp_path / "q.bin", ClassifierConfig(dim=10**6))  # 800 GB of embeddings
    assert not list(tmp_path.iterdir())  # no model, no temporary files


def test_scores_are_probabilities_and_stored(trained):
    out, _, pos, neg = trained
    model = load_classifier(out)
    s = score_texts(model, [pos[0].text, neg[0].text, ""])
    assert s.shape == (3,) and ((0 <= s) & (s <= 1)).all()
    doc = Document("x", neg[0].text)
    QualityScorer(QualityConfig(model=str(out))).map(doc)
    assert doc.metadata["quality_score"] == pytest.approx(s[1], abs=1e-6)


def test_bad_model_files(tmp_path):
    from tamiz.pipeline.langid import default_model_path

    with pytest.raises(FileNotFoundError, match="quality classifier not found"):
        load_classifier(tmp_path / "missing.bin")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a fastText model at all")
    with pytest.raises(ValueError, match="not a fastText model"):
        load_classifier(junk)
    with pytest.raises(ValueError, match="not a tamiz quality classifier"):
        load_classifier(default_model_path())  # a real fastText model with language labels


def test_pareto_keep_rate_matches_formula():
    alpha = 9.0
    n = 8000
    for s in (0.0, 0.5, 0.8, 0.95, 1.0):
        kept = sum(pareto_keep(f"doc-{s}-{i}", s, alpha)[0] for i in range(n))
        p = (2 - s) ** -alpha
        assert p == pytest.approx(float(pareto_keep_probability(s, alpha)))
        assert abs(kept / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9, (s, kept / n, p)


def test_pareto_draw_is_seeded_by_the_document_id():
    a = [pareto_keep(f"id{i}", 0.7) for i in range(50)]
    assert a == [pareto_keep(f"id{i}", 0.7) for i in range(50)]
    assert pareto_keep("x", 0.7, salt=1)[1] != pareto_keep("x", 0.7, salt=2)[1]
    keep, draw = pareto_keep("doc", 0.4)
    assert draw == float(np.random.default_rng(id_seed("doc")).pareto(9.0)) and keep == (draw > 0.6)


def test_keep_rules(trained):
    out = str(trained[0])

    def doc(score, source="web"):
        return Document(f"d{score}", "texto", source, metadata={"quality_score": score})

    assert QualityKeep(QualityConfig(model=out, rule="threshold", threshold=0.6)).filter(doc(0.5)) == \
        (False, "below_threshold")
    assert QualityKeep(QualityConfig(model=out, rule="threshold", threshold=0.6)).filter(doc(0.7)) is True
    top = QualityKeep(QualityConfig(model=out, rule="top_percent", top_percent=10), cutoff=0.9)
    assert top.filter(doc(0.95)) is True and top.filter(doc(0.5)) == (False, "below_top_percent")
    assert QualityKeep(QualityConfig(model=out, rule="none")).filter(doc(0.0)) is True
    only_web = QualityKeep(QualityConfig(model=out, rule="threshold", sources=("web",)))
    assert only_web.filter(doc(0.1, "books")) is True and only_web.filter(doc(0.1)) == (False, "below_threshold")
    scores = np.linspace(0, 1, 1001)
    cut = top_percent_cutoff(scores, 10)
    assert (scores >= cut).sum() == 101
    with pytest.raises(ValueError, match="rule"):
        QualityConfig(model=out, rule="best")


def test_auc_and_metrics_against_brute_force():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a in s[y] for b in s[~y]]
    assert roc_auc(y, s) == pytest.approx(sum(pairs) / len(pairs))
    m = evaluate([True, True, False, False], [0.9, 0.4, 0.6, 0.1])
    assert (m["precision"], m["recall"], m["auc"]) == (0.5, 0.5, 0.75)
    assert json.loads(json.dumps(m)) == m
