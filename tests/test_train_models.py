"""train/model.py, train/encoder.py, train/lstm.py, train/config.py: shapes, causality, masking, configs."""

from __future__ import annotations

import math

import pytest
import torch

from tamiz.train.config import ModelConfig, OptimizerConfig, ScheduleConfig, build_model, config_from_dict, load_config
from tamiz.train.encoder import EncoderConfig, MaskedLM, mask_tokens
from tamiz.train.model import GPT, GPTConfig


def test_causal_model_never_looks_ahead():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=97, max_seq_len=16, n_layer=2, n_head=2, n_embd=32)).eval()
    x = torch.randint(0, 97, (2, 12))
    y = x.clone()
    y[:, 8:] = torch.randint(0, 97, (2, 4))  # change the future only
    with torch.no_grad():
        a, b = m(x)[0], m(y)[0]
    assert a.shape == (2, 12, 97)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_encoder_is_bidirectional_and_honours_padding():
    torch.manual_seed(0)
    m = MaskedLM(EncoderConfig(vocab_size=97, max_seq_len=16, n_layer=2, n_head=2, n_embd=32)).eval()
    x = torch.randint(4, 97, (1, 10))
    y = x.clone()
    y[0, 9] = (x[0, 9] + 1) % 97
    with torch.no_grad():
        assert not torch.allclose(m(x)[0][0, 0], m(y)[0][0, 0])  # the last token changes the first position
        # with the changed token masked out by attention_mask, earlier positions are as without it
        attn = torch.ones(1, 10, dtype=torch.long)
        attn[0, 9] = 0
        short = m(x[:, :9])[0]
        assert torch.allclose(m(y, attention_mask=attn)[0][:, :9], short, atol=1e-5)


def test_loss_matches_cross_entropy_and_ignores_minus_100():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=50, max_seq_len=8, n_layer=1, n_head=2, n_embd=16)).eval()
    x = torch.randint(0, 50, (3, 8))
    t = torch.randint(0, 50, (3, 8))
    t[0, :4] = -100
    logits = m(x)[0]
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), t.reshape(-1), ignore_index=-100)
    assert torch.allclose(m(x, t)[1], ref, atol=1e-6)
    assert torch.allclose(m(x, t, reduction="sum")[1], ref * (t != -100).sum(), atol=1e-4)


def test_sequence_longer_than_the_model_is_an_error():
    m = GPT(GPTConfig(vocab_size=50, max_seq_len=8, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match="above the model's max_seq_len 8"):
        m(torch.zeros(1, 9, dtype=torch.long))


def test_gpt2_small_preset_is_about_124M_parameters():
    arch = ModelConfig(kind="causal", size="gpt2-small").arch(50304, 1024)
    with torch.device("meta"):  # no memory, no init time
        m = build_model("causal", arch)
    n = m.num_params()
    assert 120e6 < n < 128e6, n
    assert (arch["n_layer"], arch["n_head"], arch["n_embd"], arch["intermediate_size"]) == (12, 12, 768, 2048)
    assert m.lm_head.weight is m.transformer.wte.weight  # tied


def test_mask_tokens_80_10_10_and_never_specials():
    g = torch.Generator().manual_seed(0)
    vocab, specials, mask_id = 1000, [0, 1, 2, 3], 2
    x = torch.randint(4, vocab, (64, 512))
    x[:, ::50] = 0  # end-of-text tokens scattered in the rows
    inputs, labels = mask_tokens(x, g, mask_id, vocab, specials, 0.15)
    chosen = labels != -100
    normal = x != 0
    share = chosen.sum().item() / normal.sum().item()
    assert abs(share - 0.15) < 0.005
    assert not chosen[~normal].any()  # specials are never chosen
    assert torch.equal(labels[chosen], x[chosen])
    n = chosen.sum().item()
    as_mask = (inputs[chosen] == mask_id).sum().item() / n
    kept = (inputs[chosen] == x[chosen]).sum().item() / n
    assert abs(as_mask - 0.8) < 0.01 and abs(kept - 0.1 - 0.1 / (vocab - 4)) < 0.01
    rand = inputs[chosen][(inputs[chosen] != mask_id) & (inputs[chosen] != x[chosen])]
    assert rand.min() >= 4  # random replacements are never special tokens
    assert torch.equal(inputs[~chosen], x[~chosen])
    # per-row generators: row i masked the same whichever batch it is in
    gens = [torch.Generator().manual_seed(100 + i) for i in range(4)]
    a, _ = mask_tokens(x[:4], gens, mask_id, vocab, specials)
    b, _ = mask_tokens(x[2:4], [torch.Generator().manual_seed(102), torch.Generator().manual_seed(103)], mask_id,
                       vocab, specials)
    assert torch.equal(a[2:], b)


def test_lstm_is_causal_and_trains_through_the_same_interface():
    arch = ModelConfig(kind="lstm").arch(60, 16)
    m = build_model("lstm", arch)
    x = torch.randint(0, 60, (2, 16))
    _, loss = m(x, x)
    loss.backward()
    assert math.isfinite(loss.item()) and m.objective == "causal"


def test_schedule_warmup_then_cosine_to_min():
    s = ScheduleConfig(max_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    f = [s.lr_factor(i) for i in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert s.lr_factor(100) == pytest.approx(0.1)
    assert s.lr_factor(55) == pytest.approx(0.1 + 0.9 * 0.5)


@pytest.mark.parametrize("section,field,value,message", [
    ("model", "kind", "diffusion", "model.kind: must be one of causal, masked, lstm"),
    ("model", "size", "huge", "model.size: unknown size 'huge'"),
    ("model", "n_layrs", 2, "model.n_layrs: unknown field"),
    ("model", "n_embd", 33, "model.n_embd: must be a multiple of n_head"),
    ("model", "n_embd", 30, "model.n_head: head size n_embd/n_head = 15 must be even"),
    ("model", "dropout", 1.5, "model.dropout: must be in [0, 1)"),
    ("optimizer", "lr", -1, "optimizer.lr: must be > 0"),
    ("optimizer", "lr", "fast", "optimizer.lr: must be a number"),
    ("optimizer", "betas", [0.9], "optimizer.betas: must be a list of 2 numbers"),
    ("schedule", "warmup_steps", 5000, "schedule.warmup_steps: must be in [0, max_steps=1000]"),
    ("data", "batch_size", 0, "data.batch_size: must be > 0"),
    ("run", "precision", "fp8", "run.precision: must be auto, bf16 or fp32"),
    ("run", "grad_accum", True, "run.grad_accum: must be an integer"),
])
def test_config_errors_name_the_field(section, field, value, message):
    d = {"data": {"folder": "shards"}, "run": {"out": "run"}}
    d.setdefault(section, {})[field] = value
    with pytest.raises(ValueError) as e:
        config_from_dict(d)
    assert message in str(e.value)


def test_config_requires_data_and_run_and_reads_yaml(tmp_path):
    with pytest.raises(ValueError, match="data: section is required"):
        config_from_dict({"run": {"out": "x"}})
    with pytest.raises(ValueError, match="modle: unknown section"):
        config_from_dict({"data": {"folder": "s"}, "run": {"out": "x"}, "modle": {}})
    p = tmp_path / "run.yaml"
    p.write_text("model: {kind: masked, size: mini}\noptimizer: {betas: [0.9, 0.98]}\n"
                 "data: {folder: shards}\nrun: {out: out}\n")
    cfg = load_config(p)
    assert cfg.model.n_embd == 256 and cfg.optimizer.betas == (0.9, 0.98)
    p.write_text("model: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(p)


def test_model_arch_checks_the_data():
    mc = ModelConfig(kind="causal", max_seq_len=64)
    with pytest.raises(ValueError, match="model.max_seq_len: the shards' seq_len 128 is above the model's max_seq_len 64"):
        mc.arch(512, 128)
    with pytest.raises(ValueError, match="model.vocab_size: 1000 differs"):
        ModelConfig(vocab_size=1000).arch(512, 32)
    assert OptimizerConfig().betas == (0.9, 0.95)
