"""train/export.py: the exported folders load with transformers' Auto classes and give tamiz's logits."""

from __future__ import annotations

import pytest
import torch

from test_train_common import make_checkpoint, one_thread, tiny_tokenizer
from tamiz.train.export import export_checkpoint

transformers = pytest.importorskip("transformers")
_threads = pytest.fixture(scope="module", autouse=True)(one_thread)
TEXT = "Para cenar voy a hacer fajitas; la amistad es un alma que habita en dos cuerpos."


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_causal_exports_as_llama_with_the_same_logits(tmp_path, tok):
    m = make_checkpoint(tmp_path / "c.pt", "causal", tok, n_layer=2, n_head=4, n_embd=64, rope_theta=500.0)
    info = export_checkpoint(tmp_path / "c.pt", tmp_path / "hf")
    assert info["class"] == "LlamaForCausalLM" and info["parameters"] == m.num_params()
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = hf_tok(TEXT, add_special_tokens=False)["input_ids"]
    assert ids == tok.encode(TEXT).ids  # the same tokenizer
    assert hf_tok.eos_token == "<|endoftext|>" and hf_tok.mask_token == "<mask>"
    x = torch.tensor([[tok.token_to_id("<|endoftext|>")] + ids])
    with torch.no_grad():
        ours, theirs = m(x)[0], hf(x).logits
    assert ours.abs().max() > 1.0  # logits that are not all near zero
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)
    # generation through transformers agrees with ours token for token (greedy)
    with torch.no_grad():
        g = hf.generate(x[:, :6], max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
    seq = x[:, :6]
    for _ in range(8):
        seq = torch.cat([seq, m(seq)[0][:, -1:].argmax(-1)], dim=1)
    assert torch.equal(g, seq)


def test_masked_exports_as_roberta_with_the_same_logits(tmp_path, tok):
    m = make_checkpoint(tmp_path / "m.pt", "masked", tok, n_layer=2, n_head=4, n_embd=64)
    info = export_checkpoint(tmp_path / "m.pt", tmp_path / "hf")
    assert info["class"] == "RobertaForMaskedLM"
    hf = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    ids = tok.encode(TEXT).ids[:30]
    ids[5] = tok.token_to_id("<mask>")
    x = torch.tensor([ids, ids[::-1]])
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, m(x)[0], atol=1e-4, rtol=1e-4)
        # a padded batch: the real tokens' logits agree (RoBERTa skips <pad> when numbering positions)
        pad = tok.token_to_id("<pad>")
        xp = torch.tensor([ids[:20] + [pad] * 10])
        attn = (xp != pad).long()
        torch.testing.assert_close(hf(xp, attention_mask=attn).logits[:, :20], m(xp, attention_mask=attn)[0][:, :20],
                                   atol=1e-4, rtol=1e-4)


def test_lstm_export_is_refused(tmp_path, tok):
    make_checkpoint(tmp_path / "l.pt", "lstm", tok)
    with pytest.raises(ValueError, match="LSTM model has no transformers counterpart"):
        export_checkpoint(tmp_path / "l.pt", tmp_path / "hf")
