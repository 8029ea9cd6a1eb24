"""train/infer.py against brute-force computations with the model itself."""

from __future__ import annotations

import math

import pytest
import torch

from test_train_common import make_checkpoint, one_thread, tiny_tokenizer
from tamiz.train.infer import EOT, MASK, generate, load, predict, score, total

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)
PROMPT = "Para cenar voy a hacer"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("infer")
    tok = tiny_tokenizer()
    make_checkpoint(d / "c.pt", "causal", tok)  # max_seq_len 48
    make_checkpoint(d / "m.pt", "masked", tok)
    make_checkpoint(d / "l.pt", "lstm", tok)
    return {k: load(d / f"{k}.pt", "cpu") for k in ("c", "m", "l")}


def logprobs(lm, ids):
    with torch.no_grad():
        return torch.log_softmax(lm.model(torch.tensor([ids]))[0][0].float(), -1)


@pytest.mark.parametrize("key", ["c", "l"])
def test_predict_top_k_and_word_probabilities_causal(models, key):
    lm = models[key]
    p = predict(lm, PROMPT, top_k=5, words=["fajitas", "cemento"])
    ctx = [lm.token_id(EOT)] + lm.encode(PROMPT)
    ref = logprobs(lm, ctx)[-1].exp()
    assert [t for _, t, _ in p.top] == ref.topk(5).indices.tolist()
    assert [q for _, _, q in p.top] == pytest.approx(ref.topk(5).values.tolist(), rel=1e-5)
    assert p.top[0][0] == repr(lm.tokenizer.decode([p.top[0][1]]))
    for word, prob, n in p.words:  # the product of its tokens' probabilities, each token in turn
        wids = lm.encode(" " + word)
        assert n == len(wids) > 1
        lp = sum(logprobs(lm, ctx + wids[:k])[-1][t].item() for k, t in enumerate(wids))
        assert prob == pytest.approx(math.exp(lp), rel=1e-4)
    # a trailing space belongs to the next word, not the context
    assert predict(lm, PROMPT + " ", top_k=5).top == p.top


def test_predict_masked_fills_the_mask(models):
    lm = models["m"]
    p = predict(lm, PROMPT, top_k=3, words=["fajitas"])  # a <mask> is appended
    q = predict(lm, PROMPT + " <mask>", top_k=3, words=["fajitas"])
    assert p.top == q.top and p.words == q.words
    eot, mask = lm.token_id(EOT), lm.token_id(MASK)
    left = [eot] + lm.encode(PROMPT)
    wids = lm.encode(" fajitas")
    lp = 0.0
    for k, t in enumerate(wids):
        seq = left + wids[:k] + [mask] * (len(wids) - k) + [eot]
        lp += logprobs(lm, seq)[len(left) + k][t].item()
    assert p.words[0][1] == pytest.approx(math.exp(lp), rel=1e-4)
    with pytest.raises(ValueError, match="at most one <mask>"):
        predict(lm, "<mask> y <mask>")


def test_generate_greedy_seeded_and_filtered(models):
    lm = models["c"]
    greedy = generate(lm, "La amistad", max_new_tokens=10, temperature=0)
    ids = [lm.token_id(EOT)] + lm.encode("La amistad")
    new = []
    for _ in range(10):
        t = int(logprobs(lm, ids + new)[-1].argmax())
        if t == lm.token_id(EOT):
            break
        new.append(t)
    assert greedy == "La amistad" + lm.tokenizer.decode(new)
    assert generate(lm, "La amistad", 10, temperature=1.0, top_k=1, seed=3) == greedy
    a = generate(lm, "La amistad", 20, temperature=1.0, top_p=0.9, seed=5)
    assert a == generate(lm, "La amistad", 20, temperature=1.0, top_p=0.9, seed=5)
    with pytest.raises(ValueError, match="needs a causal model"):
        generate(models["m"], "x")
    with pytest.raises(ValueError, match="top_p must be in"):
        generate(lm, "x", top_p=1.5)


def test_score_long_text_in_half_overlapping_windows(models):
    lm = models["c"]
    T, h = lm.max_seq_len, lm.max_seq_len // 2
    text = "No es otra cosa la amistad que un sumo consentimiento en las cosas divinas y humanas. " * 5
    ids = [lm.token_id(EOT)] + lm.encode(text)
    assert len(ids) > 3 * T
    # the contract: windows begin at 0, h, 2h, ...; a token at p >= T is predicted in the window
    # beginning at (p // h - 1) * h, tokens before T in the first window
    nll = 0.0
    for p in range(1, len(ids)):
        b = 0 if p < T else (p // h - 1) * h
        nll -= logprobs(lm, ids[b:p])[-1][ids[p]].item()
    s = score(lm, [text])[0]
    assert s.tokens == len(ids) - 1
    assert s.nll == pytest.approx(nll, rel=1e-5)
    assert s.perplexity == pytest.approx(math.exp(nll / s.tokens), rel=1e-5)
    assert s.bits_per_byte == pytest.approx(nll / math.log(2) / len(text.encode()), rel=1e-5)
    short = score(lm, ["Hola, amigo."])[0]
    full = [lm.token_id(EOT)] + lm.encode("Hola, amigo.")
    lp = logprobs(lm, full)
    assert short.nll == pytest.approx(-sum(lp[i - 1][full[i]].item() for i in range(1, len(full))), rel=1e-5)
    t = total([s, short])
    assert t.tokens == s.tokens + short.tokens


def test_masked_pseudo_perplexity(models):
    lm = models["m"]
    text = "Donde hay concordia siempre hay victoria."
    eot, mask = lm.token_id(EOT), lm.token_id(MASK)
    ids = [eot] + lm.encode(text) + [eot]
    pll = 0.0
    for i in range(1, len(ids) - 1):
        seq = list(ids)
        seq[i] = mask
        pll -= logprobs(lm, seq)[i][ids[i]].item()
    assert score(lm, [text])[0].nll == pytest.approx(pll, rel=1e-5)


def test_too_long_prompt_is_a_clear_error(models):
    with pytest.raises(ValueError, match=r"the prompt is \d+ tokens, above the model's max_seq_len 48"):
        predict(models["c"], "hola " * 100)
    with pytest.raises(ValueError, match="top_k must be > 0"):
        predict(models["c"], "hola", top_k=0)
