"""tamiz's character Kneser-Ney model (checked against the formulas), its files, the KenLM backend's errors,
and BERTIN's and cc_net's sampling functions against their definitions."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.perplexity.kenlm import load_scorer
from tamiz.pipeline.perplexity.model import BOS, CharNgramLM, doc_lines, normalize_line, train_char_model
from tamiz.pipeline.perplexity.sampling import (BERTIN_BOUNDARIES, STEP_FACTOR_PER_MEDIAN, PerplexityConfig,
                                                PerplexitySample, PerplexityScore, bucket_of, cutoffs_from,
                                                gaussian_probability, stepwise_probability)
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def bible(sample_dir) -> list[str]:
    path = sample_dir / "books" / "reina_valera_1909.jsonl.gz"
    return [d.text for d in read_jsonl(path, ReadReport(str(path)), "books")]


@pytest.fixture(scope="module")
def model(bible, tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "lm.npz"
    train_char_model(bible[:800], path, order=5)
    return CharNgramLM.load(path), path


def reference_kn(model: CharNgramLM, lines: list[str]):
    """Interpolated Kneser-Ney written out from the formulas, with dictionaries."""
    n, V = model.order, len(model.vocab) + 3
    seq = model._encode(lines).tolist()
    grams = [defaultdict(int) for _ in range(n + 1)]
    for i, s in enumerate(seq):
        if s != BOS:
            grams[n][tuple(seq[i - n + 1:i + 1])] += 1
    for k in range(n - 1, 0, -1):  # continuation counts: distinct left extensions
        for g in grams[k + 1]:
            grams[k][g[1:]] += 1

    def discount(counts):
        n1 = sum(1 for c in counts.values() if c == 1)
        n2 = sum(1 for c in counts.values() if c == 2)
        return 0.5 if not n1 or not n2 else min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)

    D = [0.0] + [discount(grams[k]) for k in range(1, n + 1)]
    ctx_total = [defaultdict(int) for _ in range(n + 1)]
    ctx_types = [defaultdict(int) for _ in range(n + 1)]
    for k in range(1, n + 1):
        for g, c in grams[k].items():
            ctx_total[k][g[:-1]] += c
            ctx_types[k][g[:-1]] += 1

    def p(k, h, w):
        if k == 1:
            total = ctx_total[1][()]
            return max(grams[1].get((w,), 0) - D[1], 0) / total + D[1] * ctx_types[1][()] / total / V
        h = h[-(k - 1):]
        total = ctx_total[k].get(h, 0)
        if not total:
            return p(k - 1, h[1:], w)
        return (max(grams[k].get(h + (w,), 0) - D[k], 0) / total
                + D[k] * ctx_types[k][h] / total * p(k - 1, h[1:], w))

    return p


def test_probabilities_equal_the_kneser_ney_formulas_and_sum_to_one(bible):
    lines = [ln for t in bible[:40] for ln in doc_lines(t)]
    m = CharNgramLM.train(bible[:40], order=3)
    p = reference_kn(m, lines)
    for context in ("", "y dijo", "la tierra", "jehov", "qqq", "zz"):
        got = m.next_distribution(context)
        assert got.sum() == pytest.approx(1.0, abs=1e-9)
        h = tuple([BOS] * (m.order - 1) + m._encode([context])[:-1].tolist()[m.order - 1:])
        want = np.array([p(m.order, h, w) for w in range(len(m.vocab) + 3)])
        assert np.allclose(got, want, rtol=1e-9, atol=1e-15), context


def test_saved_model_scores_the_same_and_loads_without_pickle(model, bible):
    m, path = model
    again = CharNgramLM.load(path)
    for text in bible[800:810]:
        assert again.perplexity(text) == pytest.approx(m.perplexity(text), rel=1e-5)
    with np.load(path, allow_pickle=False) as z:
        assert "header" in z.files and "keys_5" in z.files


def test_in_domain_text_is_less_perplexing(model, bible, ingested_sample):
    m, _ = model
    heldout = np.median([m.perplexity(t) for t in bible[800:900]])
    crawl = [d.text for f in sorted((ingested_sample / "docs").glob("tamiz-sample-*.parquet"))
             for d in read_parquet_documents(f)]
    other_langs = [d.text for f in sorted((ingested_sample / "rejects").glob("tamiz-sample-*.parquet"))
                   for d in read_parquet_documents(f) if d.text.strip()]
    crawl_ppl = np.median([m.perplexity(t) for t in crawl])
    other_ppl = np.median([m.perplexity(t) for t in other_langs])
    assert heldout < crawl_ppl < other_ppl


def test_perplexity_is_per_word_and_line_like_cc_net(model):
    m, _ = model
    text = "Y dijo Dios: Sea la luz.\n\nY fué la luz."
    lines = doc_lines(text)
    assert lines == ["y dijo dios: sea la luz.", "y fué la luz."]
    expected = 10 ** (-m.log10_probs(lines).sum() / (6 + 1 + 4 + 1))
    assert m.perplexity(text) == pytest.approx(expected)
    assert m.perplexity("") == math.inf
    assert normalize_line("«Año 1909» — “Sí”") == '"año 0000" - "sí"'
    assert normalize_line("Canción", strip_accents=True) == "cancion"


def test_bad_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="perplexity model not found"):
        CharNgramLM.load(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a tamiz perplexity model"):
        load_scorer(bad)
    arpa = tmp_path / "es.arpa"  # a hand-written bigram model (KenLM needs at least bigrams)
    arpa.write_text("\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<unk>\t0\n-99\t<s>\t-0.2\n"
                    "-0.5\t</s>\t0\n-0.3\thola\t-0.1\n\n\\2-grams:\n-0.2\t<s> hola\n-0.4\thola hola\n\n\\end\\\n")
    try:
        import kenlm  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install kenlm"):
            load_scorer(arpa)
    else:  # cc_net's formula: log10 p(hola|<s>) + p(hola|hola) + backoff(hola) + p(</s>), over 2 words + 1
        assert load_scorer(arpa).perplexity("Hola hola") == pytest.approx(10 ** ((0.2 + 0.4 + 0.1 + 0.5) / 3), rel=1e-6)


def test_gaussian_matches_bertin_formula():
    med = 662247.50212365
    for ppl in (1.0, 3e5, med, 9e5, 3e6):
        want = 0.78 * math.exp(-(2 / 9) * ((ppl - med) / med) ** 2)
        assert float(gaussian_probability(ppl, med)) == pytest.approx(want, rel=1e-12)
    assert float(gaussian_probability(med, med)) == 0.78


def test_stepwise_matches_bertin_formula():
    q1, q2, q3 = BERTIN_BOUNDARIES
    assert STEP_FACTOR_PER_MEDIAN * q2 == pytest.approx(1.5e5)
    f = 1.5e5
    cases = {5e5: f / q1, 6e5: 1.0, 8e5: f / (q3 - q2), 1e6: f / (10 * q3), q1: f / q1, q2: 1.0, q3: f / (10 * q3)}
    for ppl, want in cases.items():
        assert float(stepwise_probability(ppl, BERTIN_BOUNDARIES, f)) == pytest.approx(min(1.0, want)), ppl


def test_ccnet_buckets_and_cutoffs():
    ppl = list(range(1, 101))
    c = cutoffs_from(ppl + [math.inf], PerplexityConfig(model="x.npz"))
    assert c["n"] == 100 and c["median"] == pytest.approx(50.5)
    assert (c["head"], c["tail"]) == (pytest.approx(30.7), pytest.approx(60.4))
    assert [bucket_of(x, c["head"], c["tail"]) for x in (10, 30.7, 45, 61, 99)] == \
        ["head", "middle", "middle", "tail", "tail"]


def test_sampling_filter_keep_rate_and_reproducibility():
    cfg = PerplexityConfig(model="x.npz", sampling="gaussian")
    cut = {"q1": 50.0, "median": 100.0, "q3": 200.0}
    f = PerplexitySample(cfg, cut)
    docs = [Document(f"d{i}", "x", "web", metadata={"perplexity": 150.0}) for i in range(6000)]
    kept = [f.filter(d) is True for d in docs]
    p = 0.78 * math.exp(-(2 / 9) * 0.25)
    assert abs(sum(kept) / len(kept) - p) < 4 * math.sqrt(p * (1 - p) / len(kept))
    assert kept == [PerplexitySample(cfg, cut).filter(Document(d.id, "x", "web", metadata={"perplexity": 150.0}))
                    is True for d in docs]
    step = PerplexitySample(PerplexityConfig(model="x.npz", sampling="stepwise"), cut)
    d = Document("s", "x", "web", metadata={"perplexity": 75.0})
    step.filter(d)
    assert d.metadata["perplexity_keep_p"] == pytest.approx(min(1.0, STEP_FACTOR_PER_MEDIAN * 100 / 50))
    buckets = PerplexitySample(PerplexityConfig(model="x.npz", sampling="buckets"), {"head": 10, "tail": 20})
    assert buckets.filter(Document("b", "x", metadata={"perplexity": 25.0})) == (False, "bucket_tail")
    assert PerplexitySample(cfg, cut).filter(Document("e", "", metadata={"perplexity": None})) == (False, "no_text")


def test_scorer_step_and_config_errors(model):
    _, path = model
    doc = Document("d", "")
    PerplexityScore(PerplexityConfig(model=str(path))).map(doc)
    assert doc.metadata["perplexity"] is None
    with pytest.raises(ValueError, match="boundaries"):
        PerplexityConfig(model="m.npz", boundaries=(3, 2, 1))
    with pytest.raises(ValueError, match="sampling"):
        PerplexityConfig(model="m.npz", sampling="uniform")
    with pytest.raises(ValueError, match="keep_buckets"):
        PerplexityConfig(model="m.npz", keep_buckets=("top",))
