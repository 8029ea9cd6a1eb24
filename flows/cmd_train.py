"""`tamiz train | predict | generate | score | export`: pretrain a model on packed shards and use it.

Training is a torch program (one process per device, `torchrun` for several), not a Prefect flow;
these commands are thin: check the options, call `train/`, print a table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("predict")(predict_cmd)
    app.command("generate")(generate_cmd)
    app.command("score")(score_cmd)
    app.command("export")(export_cmd)


def train_cmd(
    config: Path = typer.Argument(..., help="YAML run config with sections model, optimizer, schedule, data, run "
                                  "(see docs/training.md)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run from run.out/checkpoint.pt: same "
                                "weights, optimizer, schedule, data position and random state."),
) -> None:
    """Pretrain a language model on packed Arrow shards (written by `tamiz shard`).

    model.kind picks the objective: causal (a GPT-style decoder with rotary positions, exported as
    Llama), masked (a RoBERTa encoder with dynamic 15% masking) or lstm (the classic baseline).
    AdamW, warmup then cosine decay, gradient accumulation and clipping, bf16 and optional
    torch.compile on a GPU. Writes checkpoint.pt (atomically, every run.checkpoint_interval steps),
    train.log, history.json and loss.png to run.out. Several GPUs or machines: start it with
    torchrun, e.g. `torchrun --nproc_per_node 8 $(which tamiz) train CONFIG`.
    A loss that becomes NaN stops the run and keeps the last good checkpoint.
    """
    import contextlib

    from tamiz.core.lock import FolderLocked, output_lock
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.config import load_config
    from tamiz.train.loop import TrainingDiverged, train

    try:
        cfg = load_config(config)
    except ValueError as e:
        msg = str(e)
        fail(msg if msg.startswith(f"{config}:") else f"{config}: {msg}")
    # only rank 0 writes into run.out (and only it takes the lock: under torchrun the other ranks would be refused)
    writer = int(os.environ.get("RANK", "0")) == 0
    try:
        with output_lock(cfg.run.out) if writer else contextlib.nullcontext():
            s = train(cfg, resume=resume)
    except FolderLocked as e:
        fail(str(e))
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        fail(str(e))
    except TrainingDiverged as e:
        fail(str(e), code=1)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    rows = [("model", f"{cfg.model.kind} {cfg.model.size} ({s['parameters']:,} parameters)"),
            ("steps", f"{s['start_step']:,} -> {s['steps']:,}" if s["start_step"] else f"{s['steps']:,}"),
            ("processes", f"{s['world_size']} on {s['device']}"),
            ("tokens per step", s["tokens_per_step"]),
            ("final train loss", f"{s['loss']:.4f}")]
    if s["val_loss"] is not None:
        rows += [("validation loss", f"{s['val_loss']:.4f}"), ("validation perplexity", f"{s['val_perplexity']:.2f}")]
    if s["tokens_per_s"]:
        rows += [("tokens/s", f"{s['tokens_per_s']:,.0f}"), ("time waiting for data", f"{100 * s['data_wait_share']:.1f}%")]
    table("train", ["", ""], rows)
    console.print(f"Checkpoint: {s['checkpoint']}; log, history.json and loss.png in {s['out']}")


def _load(checkpoint: Path, device: str):
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.infer import load

    try:
        return load(checkpoint, device)
    except (CheckpointError, ValueError, RuntimeError) as e:
        fail(str(e))


def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint.pt (or the run folder holding it)."),
    text: str = typer.Argument(..., help="The context, e.g. \"Para cenar voy a hacer\". For a masked model, "
                               "mark the slot with <mask> (default: one at the end)."),
    words: Optional[str] = typer.Option(None, "--words", "-w", help="Comma-separated words whose probability "
                                        "to print, e.g. fajitas,cemento (each with its leading space)."),
    top_k: int = typer.Option(10, "--top-k", "-k", min=1, help="How many of the most likely next tokens to list."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Print the most likely next tokens after TEXT with their probabilities, and the probability of
    named words (a word's probability is the product of its tokens' probabilities)."""
    from tamiz.train.infer import predict

    lm = _load(checkpoint, device)
    wl = [w for w in (words or "").split(",") if w.strip()]
    try:
        p = predict(lm, text, top_k=top_k, words=wl)
    except ValueError as e:
        fail(str(e))
    console.print(f"{lm.kind} model, step {lm.step:,}; context: {text!r} ({p.context_tokens} tokens)", highlight=False)
    table("token at <mask>" if lm.objective == "masked" else "next token", ["rank", "token", "probability"],
          [(i + 1, tok, f"{prob:.4f}") for i, (tok, _, prob) in enumerate(p.top)])
    if p.words:
        table("words", ["word", "tokens", "probability"],
              [(w, n, f"{prob:.3e}") for w, prob, n in sorted(p.words, key=lambda r: -r[1])])


def generate_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint.pt of a causal model (or its run folder)."),
    prompt: str = typer.Argument("", help="Text to continue (empty: start a new document)."),
    max_new_tokens: int = typer.Option(60, min=1, help="Tokens to sample at most (stops at end of text)."),
    temperature: float = typer.Option(0.8, min=0.0, help="Softmax temperature; 0 is greedy decoding."),
    top_k: Optional[int] = typer.Option(50, min=1, help="Sample among the k most likely tokens."),
    top_p: Optional[float] = typer.Option(0.95, min=0.0, max=1.0, help="Nucleus: the smallest set of tokens "
                                          "whose probability reaches p."),
    samples: int = typer.Option(1, min=1, help="How many continuations."),
    seed: Optional[int] = typer.Option(None, help="Seed for reproducible samples."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Sample continuations of PROMPT with temperature, top-k and top-p."""
    from tamiz.train.infer import generate

    lm = _load(checkpoint, device)
    for i in range(samples):
        info: dict = {}
        try:
            out = generate(lm, prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                           top_p=top_p, seed=None if seed is None else seed + i, info=info)
        except ValueError as e:
            fail(str(e))
        console.print(f"[bold]--- sample {i + 1}[/]", highlight=False)
        console.print(out, highlight=False, markup=False)
        if info["stopped_at_eot"]:
            why = ("the model ended the text at once: <|endoftext|> was the next token"
                   + (" it found most likely (greedy decoding); a --temperature above 0 samples instead"
                      if temperature == 0 else "") if info["new_tokens"] == 0
                   else f"stopped at <|endoftext|> after {info['new_tokens']} new token(s)")
            console.print(f"({why})", style="dim", highlight=False)


def _read_texts(files: List[Path]) -> list[tuple[str, str]]:
    """(label, text) for every text of the files: the file name, or file:line for JSON lines."""
    import json

    texts = []
    for f in files:
        if not f.is_file():
            fail(f"--file: {f} does not exist")
        try:
            if f.suffix == ".jsonl":
                found = 0
                for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                    if line.strip():
                        rec = json.loads(line)
                        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                            fail(f"{f}:{n}: a JSON line needs a \"text\" string")
                        if rec["text"].strip():
                            texts.append((f"{f.name}:{n}", rec["text"]))
                            found += 1
                if not found:
                    fail(f"--file: {f} holds no text to score")
            else:
                text = f.read_text(encoding="utf-8")
                if not text.strip():
                    fail(f"--file: {f} holds no text to score")
                texts.append((f.name, text))
        except UnicodeDecodeError:
            fail(f"--file: {f} is not UTF-8 text")
        except json.JSONDecodeError as e:
            fail(f"--file: {f}: not JSON lines ({e.msg} at line {e.lineno})")
    return texts


def score_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint.pt (or its run folder)."),
    texts: Optional[List[str]] = typer.Argument(None, help="Sentences to score."),
    file: List[Path] = typer.Option([], "--file", "-f", help="A text file (scored as one document) or a .jsonl "
                                    "file (each record's \"text\"); repeatable."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Perplexity of sentences or files (pseudo-perplexity for masked models) and bits per byte.

    Long texts are scored in windows of the model's context that overlap by half a window."""
    from tamiz.train.infer import score, total

    given = []
    for t in texts or []:
        shown = " ".join(t.split())
        if not shown:
            fail("a sentence to score is empty")
        given.append((shown[:60] + ("..." if len(shown) > 60 else ""), t))
    all_texts = given + _read_texts(file)
    if not all_texts:
        fail("give sentences to score or --file")
    lm = _load(checkpoint, device)
    try:
        scores = score(lm, [t for _, t in all_texts])
    except ValueError as e:
        fail(str(e))
    rows = []
    for (label, _), s in zip(all_texts, scores):
        rows.append((label, s.tokens, f"{s.perplexity:.2f}", f"{s.bits_per_byte:.3f}"))
    if len(scores) > 1:
        t = total(scores)
        rows.append(("(all)", t.tokens, f"{t.perplexity:.2f}", f"{t.bits_per_byte:.3f}"))
    kind = "pseudo-perplexity" if lm.objective == "masked" else "perplexity"
    table(f"{kind} ({lm.kind} model, step {lm.step:,})", ["text", "tokens", kind, "bits/byte"], rows)


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint.pt (or its run folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the transformers model and tokenizer."),
) -> None:
    """Write a transformers model folder: causal -> LlamaForCausalLM, masked -> RobertaForMaskedLM, with the
    tokenizer. Load it with AutoModelForCausalLM / AutoModelForMaskedLM.from_pretrained(OUT)."""
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.export import export_checkpoint

    try:
        info = export_checkpoint(checkpoint, out)
    except (CheckpointError, ValueError, RuntimeError) as e:
        fail(str(e))
    table("export", ["", ""], [("class", info["class"]), ("parameters", info["parameters"]), ("step", info["step"]),
                              ("folder", info["folder"]), ("files", ", ".join(info["files"]))])
