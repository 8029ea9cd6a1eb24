"""train/loop.py on a CPU: learning, exact resume, divergence, and clear errors for bad input; and the
pieces of a step (train/batching.py's next_rows, train_step).

Shards are written by the project's own tokenize-and-pack step from real Spanish text (the bundled
fortunes) with a tiny BPE trained in-process; every run is a few seconds."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from test_train_common import build_shards, one_thread, tiny_tokenizer, unigram_entropy
from tamiz.train.checkpoint import CheckpointError, load_checkpoint, record_checksum, save_checkpoint
from tamiz.train.config import config_from_dict
from tamiz.train.loop import TrainingDiverged, train, train_step


_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-shards")
    tok = tiny_tokenizer()
    return {
        "tok": tok,
        "shards": build_shards(root / "shards", tok, n_docs=400),  # ~790 train rows of 32 tokens
        "small": build_shards(root / "small", tok, n_docs=40, validation_fraction=0.2),  # ~70 rows: to memorise
    }


def config(folder, out, kind="causal", steps=30, **over):
    d = {"model": {"kind": kind}, "data": {"folder": str(folder), "batch_size": 8},
         "run": {"out": str(out), "eval_interval": 10, "checkpoint_interval": 10, "log_interval": 5,
                 "progress": False, "deterministic": True},
         "optimizer": {"lr": 3e-3}, "schedule": {"max_steps": steps, "warmup_steps": 5}}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v}
    return config_from_dict(d)


@pytest.mark.parametrize("kind,model,steps,lr", [
    ("causal", {}, 150, 3e-3),
    ("masked", {"n_embd": 128, "n_head": 4}, 300, 3e-3),
])
def test_tiny_model_overfits_a_small_shard(data, tmp_path, kind, model, steps, lr):
    h = unigram_entropy(data["small"])
    assert 4.5 < h < 6.0  # sanity: a 512-token BPE on Spanish
    cfg = config(data["small"], tmp_path / kind, kind, steps, model=model,
                 optimizer={"lr": lr, "weight_decay": 0.0}, data={"batch_size": 16},
                 run={"eval_interval": 0, "checkpoint_interval": 1000}, schedule={"warmup_steps": 20})
    s = train(cfg)
    first, last = s["losses"][0], sum(s["losses"][-10:]) / 10
    assert first > h  # starts near log(vocab)
    assert last < h - 1.5, f"{kind}: final loss {last:.3f} vs unigram entropy {h:.3f}"
    # outputs of a run
    out = tmp_path / kind
    assert {"checkpoint.pt", "train.log", "history.json", "loss.png", "config.yaml"} <= {p.name for p in out.iterdir()}
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert s["val_loss"] is not None and math.isfinite(s["val_loss"])


@pytest.mark.parametrize("kind", ["causal", "masked", "lstm"])
def test_interrupted_then_resumed_run_gives_identical_losses(data, tmp_path, kind):
    full = train(config(data["shards"], tmp_path / "full", kind, 30, run={"grad_accum": 2}))

    class Crash(Exception):
        pass

    def crash_after_23(step, loss):
        if step == 23:  # checkpoints at 10 and 20: steps 21-23 are lost and redone
            raise Crash

    with pytest.raises(Crash):
        train(config(data["shards"], tmp_path / "cut", kind, 30, run={"grad_accum": 2}), on_step=crash_after_23)
    assert load_checkpoint(tmp_path / "cut")["step"] == 20
    resumed = train(config(data["shards"], tmp_path / "cut", kind, 30, run={"grad_accum": 2}), resume=True)
    assert resumed["start_step"] == 20 and resumed["steps_run"] == 10
    assert resumed["losses"] == full["losses"]  # bit for bit
    assert resumed["val_loss"] == full["val_loss"]
    a, b = load_checkpoint(tmp_path / "full")["model"], load_checkpoint(tmp_path / "cut")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "resumed at step 20" in (tmp_path / "cut" / "train.log").read_text()


# A real divergence reached the same way on every machine: at a learning rate of 3e37 AdamW's first
# update moves every weight with a gradient by about 3e38 (Adam's step is about lr, bias-corrected
# by 1/0.1), next to float32's largest value, so the next forward pass overflows to inf and nan
# whatever the gradients' float details. (A merely "large" rate such as 1e4 diverges at a step that
# depends on the machine's float details: that made the old test flaky.)
EXPLODE = {"lr": 3e37, "grad_clip": 0.0}


def _bad_step(msg: str) -> int:
    return int(msg.split("at step ")[1].split(":")[0])


def test_divergence_before_the_first_checkpoint_says_no_checkpoint_exists(data, tmp_path):
    cfg = config(data["shards"], tmp_path, steps=10, optimizer=EXPLODE, schedule={"warmup_steps": 0},
                 run={"checkpoint_interval": 100, "eval_interval": 0})
    with pytest.raises(TrainingDiverged) as e:
        train(cfg)
    msg = str(e.value)
    assert _bad_step(msg) == 2 and ("nan" in msg or "inf" in msg)
    assert "No checkpoint was written yet" in msg and "last good checkpoint" not in msg
    assert not (tmp_path / "checkpoint.pt").exists()
    assert "DIVERGED" in (tmp_path / "train.log").read_text()


def test_divergence_after_a_checkpoint_keeps_the_last_good_checkpoint(data, tmp_path):
    # four good steps (checkpoints at 2 and 4), then the run goes on with the exploding rate
    train(config(data["shards"], tmp_path, steps=4, schedule={"warmup_steps": 2},
                 run={"checkpoint_interval": 2, "eval_interval": 0}))
    good = load_checkpoint(tmp_path)["model"]
    cfg = config(data["shards"], tmp_path, steps=10, optimizer=EXPLODE, schedule={"warmup_steps": 0},
                 run={"checkpoint_interval": 100, "eval_interval": 0})
    with pytest.raises(TrainingDiverged) as e:
        train(cfg, resume=True)
    msg = str(e.value)
    assert _bad_step(msg) == 6 and ("nan" in msg or "inf" in msg)
    assert "last good checkpoint" in msg and "(step 4)" in msg
    state = load_checkpoint(tmp_path)
    assert state["step"] == 4
    assert all(torch.equal(state["model"][k], good[k]) for k in good)  # the bad steps wrote nothing
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert "DIVERGED" in (tmp_path / "train.log").read_text()


def test_resume_with_another_model_config_is_refused(data, tmp_path):
    train(config(data["shards"], tmp_path, steps=10))
    with pytest.raises(CheckpointError, match=r"another model config: n_layer: 2 -> 3"):
        train(config(data["shards"], tmp_path, steps=20, model={"n_layer": 3}), resume=True)
    with pytest.raises(CheckpointError, match="holds a causal model, the config asks for model.kind masked"):
        train(config(data["shards"], tmp_path, "masked", steps=20), resume=True)
    with pytest.raises(ValueError, match="already holds a checkpoint; pass --resume"):
        train(config(data["shards"], tmp_path, steps=20))


def test_resume_on_shards_of_another_tokenizer_is_refused(data, tmp_path):
    train(config(data["shards"], tmp_path / "run", steps=10))
    other = build_shards(tmp_path / "other", tiny_tokenizer(vocab_size=600), n_docs=100)
    with pytest.raises(CheckpointError, match="tokenized with another tokenizer"):
        train(config(other, tmp_path / "run", steps=20), resume=True)


def test_resume_with_a_lower_lr_applies_it_and_says_so(data, tmp_path):
    train(config(data["shards"], tmp_path, steps=10))
    train(config(data["shards"], tmp_path, steps=12, optimizer={"lr": 1e-3}), resume=True)
    state = load_checkpoint(tmp_path)
    assert state["scheduler"]["base_lrs"] == [1e-3, 1e-3]
    assert "optimizer.lr: 0.003 -> 0.001" in (tmp_path / "train.log").read_text()


def test_bad_data_is_refused_before_training(data, tmp_path):
    with pytest.raises(ValueError, match="model.max_seq_len: the shards' seq_len 32 is above the model's max_seq_len 16"):
        train(config(data["shards"], tmp_path / "a", model={"max_seq_len": 16}))
    with pytest.raises(ValueError, match="has no manifest.json"):
        train(config(tmp_path, tmp_path / "b"))
    with pytest.raises(ValueError, match="--resume: no checkpoint to resume"):
        train(config(data["shards"], tmp_path / "c"), resume=True)
    # the tokenizer copy no longer matches the manifest
    bad = build_shards(tmp_path / "bad", data["tok"], n_docs=60)
    (bad / "tokenizer.json").write_text(tiny_tokenizer(vocab_size=300).to_str(), encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json: sha256 .* differs from the manifest's tokenizer"):
        train(config(bad, tmp_path / "d"))
    assert not (tmp_path / "d").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_are_loaded_without_running_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').write('pwned')" % str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "tamiz-train-checkpoint/1", "x": Evil()}, f)
    with pytest.raises(CheckpointError, match=r"no evil\.pt\.json next to it"):  # no recorded sha256
        load_checkpoint(path)
    record_checksum(path)  # whoever can write the file can write its sidecar: weights_only still refuses it
    with pytest.raises(CheckpointError, match="not a readable tamiz checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    record_checksum(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a tamiz training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04 truncated")
    record_checksum(tmp_path / "trunc.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "trunc.pt")
    save_checkpoint(tmp_path / "ok.pt", {"step": 1})
    assert load_checkpoint(tmp_path / "ok.pt")["step"] == 1


@pytest.mark.parametrize("kind", ["causal", "masked"])
def test_padded_document_rows_are_not_trained_on(data, tmp_path, kind):
    """row_start: document shards pad each row's tail with <pad>: those targets are ignored."""
    from tamiz.train.loader import PackedLoader

    shards = build_shards(tmp_path / "doc", data["tok"], n_docs=150, row_start="document", validation_fraction=0.2)
    pad = data["tok"].token_to_id("<pad>")
    val = torch.cat(list(PackedLoader(shards, split="validation", batch_size=4, shuffle=False)))
    n_pad_targets = int((val[:, 1:] == pad).sum())
    assert n_pad_targets > 0
    s = train(config(shards, tmp_path / "run", kind, steps=6, run={"eval_interval": 0}))
    assert all(math.isfinite(v) for v in s["losses"])
    counted = load_checkpoint(tmp_path / "run")["history"]["val"][-1]["tokens"]
    if kind == "causal":
        assert counted == val[:, 1:].numel() - n_pad_targets
    else:  # masked: ~15% of the real (non-special) tokens
        real = int((val[:, :-1] != pad).sum())
        assert 0.1 * real < counted < 0.2 * real


def test_progress_is_shown_as_lines_where_stderr_is_not_a_terminal(data, tmp_path, capsys):
    """In a log or a pipe a redrawn bar is unreadable: a line per report instead (at the first and last
    step at least), with step/total, loss, tokens/s and time left; on_progress gets the same figures."""
    seen = []
    cfg = config(data["shards"], tmp_path, steps=6, run={"progress": True, "eval_interval": 0})
    train(cfg, on_progress=seen.append)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train step ")]
    assert lines[0].startswith("train step 1/6 (17%) loss ") and lines[-1].startswith("train step 6/6 (100%) loss ")
    assert all("tok/s" in line and "left" in line for line in lines)
    assert [i["step"] for i in seen][0] == 1 and seen[-1]["step"] == 6 and seen[-1]["eta_s"] == 0
    assert len(seen) == len(lines) and all(i["tokens_per_s"] > 0 for i in seen)


# ---- the pieces of a step ----------------------------------------------------------------------

def test_next_rows_gives_each_micro_batch_its_place_in_the_epoch(data):
    """Rank r's micro-batch k starts at the global batch's position plus r * batch_size: the slot that
    keys its masks. Three micro-batches of 4 rows are the first 12 rows of the epoch."""
    from tamiz.train.batching import next_rows
    from tamiz.train.loader import PackedLoader

    loader = PackedLoader(data["shards"], split="train", batch_size=4, shuffle=False)
    micro = next_rows(loader, iter(loader), 3, 0, 4)
    assert [(epoch, first) for _, epoch, first in micro] == [(0, 0), (0, 4), (0, 8)]
    first12 = next(iter(PackedLoader(data["shards"], split="train", batch_size=12, shuffle=False)))
    assert torch.equal(torch.cat([rows for rows, _, _ in micro]), first12)
    two = PackedLoader(data["shards"], split="train", batch_size=4, rank=1, world_size=2, shuffle=False)
    assert [(e, f) for _, e, f in next_rows(two, iter(two), 2, 1, 4)] == [(0, 4), (0, 12)]


def _step_parts(data, lr=1e-3):
    import contextlib

    from tamiz.train.batching import Batcher, inspect_data
    from tamiz.train.config import ModelConfig, build_model
    from tamiz.train.loader import PackedLoader

    info = inspect_data(data["shards"])
    torch.manual_seed(0)
    model = build_model("causal", ModelConfig(kind="causal").arch(info.vocab_size, info.seq_len))
    optimizer = model.configure_optimizer(0.1, lr, (0.9, 0.95), 1e-8, "cpu")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    batcher = Batcher("causal", info, 0.15, 0, torch.device("cpu"))
    rows = next(iter(PackedLoader(data["shards"], split="train", batch_size=8, shuffle=False)))
    return model, optimizer, scheduler, batcher, rows, contextlib.nullcontext


def test_train_step_gives_the_same_step_for_one_or_two_micro_batches(data):
    """The loss is normalised by the step's token count, not per micro-batch: 8 rows in one micro-batch
    or in two of 4 give the same loss, gradient norm and weights (up to float summation order)."""
    from tamiz.train.distributed import Dist

    results = []
    for micro in ([(slice(0, 8), 0)], [(slice(0, 4), 0), (slice(4, 8), 4)]):
        model, opt, sched, batcher, rows, autocast = _step_parts(data)
        s = train_step(model, model, opt, sched, batcher, [(rows[sl], 0, first) for sl, first in micro],
                       Dist(), autocast, 1.0, 1)
        results.append((s, [p.detach().clone() for p in model.parameters()]))
    (one, w1), (two, w2) = results
    assert one.lr == two.lr == 1e-3
    assert one.loss == pytest.approx(two.loss, rel=1e-6) and one.grad_norm == pytest.approx(two.grad_norm, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(w1, w2))


def test_train_step_refuses_a_non_finite_loss_before_the_optimizer_applies_it(data):
    from tamiz.train.distributed import Dist

    model, opt, sched, batcher, rows, autocast = _step_parts(data)
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TrainingDiverged, match=r"at step 7: the run stopped before applying it\.$"):
        train_step(model, model, opt, sched, batcher, [(rows, 0, 0)], Dist(), autocast, 1.0, 7)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert sched.last_epoch == 0 and not opt.state  # neither the optimizer nor the schedule moved
