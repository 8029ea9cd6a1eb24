"""Export a trained model to a `transformers` folder: `AutoModelFor*.from_pretrained(folder)` loads it.

- causal (`tamiz.train.model.GPT`) -> `LlamaForCausalLM`: the same RMSNorm, rotate-half rotary positions
  (`rope_theta`), SwiGLU MLP without biases and tied embeddings; the fused q/k/v and gate/up
  matrices are split into Llama's separate projections. The logits match tamiz's to float rounding.
- masked (`tamiz.train.encoder.MaskedLM`) -> `RobertaForMaskedLM`: RoBERTa numbers positions from
  `pad_token_id + 1` (fairseq's convention), so the position table is written with
  `pad_token_id + 1` leading zero rows; the one token type gets a zero embedding.
- lstm: no `transformers` counterpart; refused with a clear error.

The tokenizer travels with the model (`tokenizer.json` plus the special tokens in
`tokenizer_config.json`), so `AutoTokenizer.from_pretrained(folder)` works too. Nothing is
downloaded. `transformers` is imported here only (an optional dependency of tamiz).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tamiz.core.atomic import follow_umask
from tamiz.core.shardformat import BOS, EOT, MASK, PAD
from tamiz.train.checkpoint import load_checkpoint, model_from_checkpoint, tokenizer_from_checkpoint

SPECIAL = {"eos_token": EOT, "pad_token": PAD, "mask_token": MASK, "bos_token": BOS}


def _special_ids(tok) -> dict[str, int | None]:
    return {name: tok.token_to_id(t) for name, t in SPECIAL.items()}


def llama_state_dict(model) -> tuple[dict, dict]:
    """(LlamaConfig kwargs, state dict) for a `tamiz.train.model.GPT`."""
    c = model.config
    cfg = dict(vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.intermediate_size,
               num_hidden_layers=c.n_layer, num_attention_heads=c.n_head, num_key_value_heads=c.n_head,
               hidden_act="silu", max_position_embeddings=c.max_seq_len, rms_norm_eps=c.norm_eps,
               tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
               rope_parameters={"rope_type": "default", "rope_theta": float(c.rope_theta)})
    sd = model.state_dict()
    out = {"model.embed_tokens.weight": sd["transformer.wte.weight"], "model.norm.weight": sd["transformer.ln_f.weight"],
           "lm_head.weight": sd["lm_head.weight"]}
    for i in range(c.n_layer):
        p, q = f"transformer.h.{i}.", f"model.layers.{i}."
        wq, wk, wv = sd[p + "attn.c_attn.weight"].split(c.n_embd, dim=0)
        gate, up = sd[p + "mlp.c_fc.weight"].chunk(2, dim=0)
        out.update({
            q + "self_attn.q_proj.weight": wq, q + "self_attn.k_proj.weight": wk, q + "self_attn.v_proj.weight": wv,
            q + "self_attn.o_proj.weight": sd[p + "attn.c_proj.weight"],
            q + "mlp.gate_proj.weight": gate, q + "mlp.up_proj.weight": up,
            q + "mlp.down_proj.weight": sd[p + "mlp.c_proj.weight"],
            q + "input_layernorm.weight": sd[p + "ln_1.weight"],
            q + "post_attention_layernorm.weight": sd[p + "ln_2.weight"],
        })
    return cfg, {k: v.detach().clone().contiguous() for k, v in out.items()}


def roberta_state_dict(model, pad_id: int) -> tuple[dict, dict]:
    """(RobertaConfig kwargs, state dict) for a `tamiz.train.encoder.MaskedLM`."""
    c = model.config
    cfg = dict(vocab_size=c.vocab_size, hidden_size=c.n_embd, num_hidden_layers=c.n_layer,
               num_attention_heads=c.n_head, intermediate_size=c.intermediate_size, hidden_act="gelu",
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
               max_position_embeddings=c.max_seq_len + pad_id + 1, type_vocab_size=1,
               layer_norm_eps=c.norm_eps, pad_token_id=pad_id, tie_word_embeddings=True)
    sd = model.state_dict()
    d = c.n_embd
    pos = torch.cat([torch.zeros(pad_id + 1, d, dtype=sd["wpe.weight"].dtype), sd["wpe.weight"]])
    e = "roberta.embeddings."
    out = {e + "word_embeddings.weight": sd["wte.weight"], e + "position_embeddings.weight": pos,
           e + "token_type_embeddings.weight": torch.zeros(1, d, dtype=pos.dtype),
           e + "LayerNorm.weight": sd["ln_emb.weight"], e + "LayerNorm.bias": sd["ln_emb.bias"],
           "lm_head.dense.weight": sd["head_dense.weight"], "lm_head.dense.bias": sd["head_dense.bias"],
           "lm_head.layer_norm.weight": sd["head_ln.weight"], "lm_head.layer_norm.bias": sd["head_ln.bias"],
           "lm_head.decoder.weight": sd["wte.weight"], "lm_head.bias": sd["head_bias"],
           "lm_head.decoder.bias": sd["head_bias"]}
    for i in range(c.n_layer):
        p, q = f"h.{i}.", f"roberta.encoder.layer.{i}."
        wq, wk, wv = sd[p + "attn.c_attn.weight"].split(d, dim=0)
        bq, bk, bv = sd[p + "attn.c_attn.bias"].split(d, dim=0)
        out.update({
            q + "attention.self.query.weight": wq, q + "attention.self.query.bias": bq,
            q + "attention.self.key.weight": wk, q + "attention.self.key.bias": bk,
            q + "attention.self.value.weight": wv, q + "attention.self.value.bias": bv,
            q + "attention.output.dense.weight": sd[p + "attn.c_proj.weight"],
            q + "attention.output.dense.bias": sd[p + "attn.c_proj.bias"],
            q + "attention.output.LayerNorm.weight": sd[p + "ln_1.weight"],
            q + "attention.output.LayerNorm.bias": sd[p + "ln_1.bias"],
            q + "intermediate.dense.weight": sd[p + "c_fc.weight"], q + "intermediate.dense.bias": sd[p + "c_fc.bias"],
            q + "output.dense.weight": sd[p + "c_proj.weight"], q + "output.dense.bias": sd[p + "c_proj.bias"],
            q + "output.LayerNorm.weight": sd[p + "ln_2.weight"], q + "output.LayerNorm.bias": sd[p + "ln_2.bias"],
        })
    return cfg, {k: v.detach().clone().contiguous() for k, v in out.items()}


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> dict:
    """Write a transformers model folder for `checkpoint`; returns a summary (class, parameters, files)."""
    try:
        import transformers
    except ImportError:
        raise RuntimeError("export needs the `transformers` package: pip install transformers") from None

    transformers.utils.logging.disable_progress_bar()
    state = load_checkpoint(checkpoint)
    kind = state["model_kind"]
    if kind == "lstm":
        raise ValueError("an LSTM model has no transformers counterpart; export supports causal and masked models")
    model = model_from_checkpoint(state)
    tok = tokenizer_from_checkpoint(state, checkpoint)
    ids = _special_ids(tok)
    common = {k.replace("_token", "_token_id"): v for k, v in ids.items() if k != "mask_token"}
    if kind == "causal":
        cfg_kwargs, sd = llama_state_dict(model)
        cfg = transformers.LlamaConfig(**cfg_kwargs, **common)
        hf = transformers.LlamaForCausalLM(cfg)
    else:
        if ids["pad_token"] is None:
            raise ValueError("the tokenizer has no <pad> token, which RoBERTa's position numbering needs")
        cfg_kwargs, sd = roberta_state_dict(model, ids["pad_token"])
        common.pop("pad_token_id")
        cfg = transformers.RobertaConfig(**cfg_kwargs, **common)
        hf = transformers.RobertaForMaskedLM(cfg)
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    # the only keys we may leave out are tied copies (and non-persistent buffers)
    tied = {"lm_head.weight", "lm_head.decoder.weight", "lm_head.decoder.bias"}
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"weight mapping incomplete: missing {sorted(set(missing) - tied)}, unexpected {unexpected}")
    hf.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(out)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model.config.max_seq_len,
        **{k: v for k, v in SPECIAL.items() if ids[k] is not None})
    fast.save_pretrained(out)
    for p in out.iterdir():  # transformers writes model.safetensors 0600: teammates could not read the model
        if p.is_file():
            follow_umask(p)
    info = {"tamiz_step": state["step"], "tamiz_model_kind": kind, "tamiz_model_arch": state["model_arch"],
            "tokenizer_sha256": state["tokenizer_sha256"], "val_loss": state.get("val_loss")}
    (out / "tamiz_export.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"class": type(hf).__name__, "parameters": sum(p.numel() for p in hf.parameters()),
            "step": state["step"], "folder": str(out), "files": sorted(p.name for p in out.iterdir())}
