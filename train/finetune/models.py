"""The pretrained model with a task head, from transformers' `AutoModelFor*` classes, and its from-scratch twin.

A tamiz checkpoint is exported once (`tamiz.train.export`: causal -> Llama, masked -> RoBERTa) into the
output folder, and every run loads it from there. transformers has the three heads for both:

| kind | masked (RoBERTa) | causal (Llama) |
|---|---|---|
| classification | `RobertaForSequenceClassification`'s head (dense+tanh+linear) on the mean of the token states (`MeanPooled`) | `LlamaForSequenceClassification`: linear on the last non-pad token |
| tokens | `RobertaForTokenClassification`: linear per token | `LlamaForTokenClassification`: linear per token (left context only) |
| qa | `RobertaForQuestionAnswering`: start/end logits per token | `LlamaForQuestionAnswering`: the same over causal states |

The one piece written here is `MeanPooled`: RoBERTa's head reads the first token, which a model pretrained
with a `<s>`/CLS token learns to use as a summary; tamiz's masked models have no such token (the first
position holds `<|endoftext|>`, whose state barely depends on the text before fine-tuning), so a frozen
encoder gives the head almost nothing there, and full fine-tuning has to teach it to summarise first. The
mean over the text's tokens is the usual sentence feature of an encoder (Sentence-BERT's pooling).

- from scratch: the same config, every weight drawn by transformers' own initialisation (`from_config`);
- feature mode: the encoder (`model.base_model`) is frozen and only the head trains.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

HEADS = {"classification": "AutoModelForSequenceClassification", "tokens": "AutoModelForTokenClassification",
         "qa": "AutoModelForQuestionAnswering"}
MODES = ("full", "feature")


def _transformers():
    try:
        import transformers
    except ImportError:
        raise RuntimeError("fine-tuning needs the `transformers` package: pip install 'tamiz[eval]'") from None
    transformers.utils.logging.set_verbosity_error()  # "newly initialized weights": expected, the head is new
    transformers.utils.logging.disable_progress_bar()
    return transformers


def prepare_model(checkpoint: str | Path, folder: Path) -> dict:
    """The transformers folder to fine-tune: `checkpoint` itself when it is one (a `tamiz export` folder), else the
    export of a tamiz checkpoint written to `folder`. Returns {folder, model_kind, step}; CheckpointError or
    ValueError (naming the file) for a checkpoint that cannot be fine-tuned (an LSTM, not a checkpoint)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir() and (checkpoint / "config.json").is_file():
        info_file = checkpoint / "tamiz_export.json"
        if not info_file.is_file():
            raise ValueError(f"{checkpoint}: a transformers folder without tamiz_export.json; give a tamiz checkpoint "
                             f"or a `tamiz export` folder")
        info = json.loads(info_file.read_text(encoding="utf-8"))
        return {"folder": checkpoint, "model_kind": info["tamiz_model_kind"], "step": info["tamiz_step"]}
    from tamiz.train.checkpoint import load_checkpoint
    from tamiz.train.export import export_checkpoint

    state = load_checkpoint(checkpoint)  # checks the sha256 sidecar and the format first
    if state["model_kind"] not in ("causal", "masked"):
        raise ValueError(f"{checkpoint}: a {state['model_kind']} model cannot be fine-tuned (it has no transformers "
                         f"counterpart); fine-tuning takes causal and masked checkpoints")
    _transformers()
    info = export_checkpoint(checkpoint, folder)
    return {"folder": Path(folder), "model_kind": state["model_kind"], "step": info["step"]}


def load_model(folder: Path, kind: str, n_labels: int, *, pretrained: bool, mode: str, seed: int):
    """A model with a fresh `kind` head (drawn from `seed`) on the pretrained (or re-initialised) body."""
    import torch

    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    tf = _transformers()
    auto = getattr(tf, HEADS[kind])
    extra = {} if kind == "qa" else {"num_labels": n_labels}
    torch.manual_seed(seed)
    model = auto.from_config(tf.AutoConfig.from_pretrained(folder, **extra))
    if pretrained:
        # The body's weights are copied from the base model explicitly and every one is checked:
        # `AutoModelForQuestionAnswering.from_pretrained` on a Llama folder names its body `transformer`,
        # not `model`, and would leave it random without a word (transformers 5.23).
        body = tf.AutoModel.from_pretrained(folder).state_dict()
        missing, unexpected = model.base_model.load_state_dict(body, strict=False)
        unexpected = [k for k in unexpected if not k.startswith("pooler.")]  # RobertaModel's pooler: unused here
        if missing or unexpected:
            raise RuntimeError(f"{folder}: the pretrained weights do not fit the {kind} model's body "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if kind == "classification" and model.config.model_type == "roberta":
        model = MeanPooled(model)
    if mode == "feature":
        for p in model.base_model.parameters():
            p.requires_grad_(False)
    return model


def head_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@functools.lru_cache(maxsize=1)
def _mean_pooled_class():
    import torch

    class MeanPooled(torch.nn.Module):
        """A `RobertaForSequenceClassification` whose head reads the mean of the token states (module docstring)."""

        def __init__(self, model):
            super().__init__()
            self.model = model
            self.config = model.config

        @property
        def base_model(self):
            return self.model.base_model

        def forward(self, input_ids, attention_mask, labels=None):
            from transformers.modeling_outputs import SequenceClassifierOutput

            h = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
            logits = self.model.classifier(pooled.unsqueeze(1))  # the head reads position 0: the pooled state
            loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return MeanPooled


def MeanPooled(model):  # noqa: N802 (a class, built lazily so that importing this module needs no torch)
    return _mean_pooled_class()(model)
