"""tamiz finetune end to end on the bundled Spanish tasks: the three kinds train with masked and causal checkpoints,
full mode learns a real task well above chance, feature mode moves only the head, seeds and the from-scratch
baseline land in results.json and report.md, and a checkpoint of the wrong kind stops before any training."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from test_finetune_tasks import write_task
from test_train_common import make_checkpoint, one_thread, tiny_tokenizer

pytest.importorskip("transformers")
_threads = pytest.fixture(scope="module", autouse=True)(one_thread)
TASKS = Path(__file__).resolve().parents[1] / "data" / "tasks"


def checkpoint(path: Path, kind: str, tok, seq_len: int = 128) -> Path:
    """A small model with random weights and a context long enough for the tasks' sentences."""
    import torch

    from tamiz.train.checkpoint import save_checkpoint
    from tamiz.train.config import ModelConfig, build_model

    arch = ModelConfig(kind=kind, n_layer=2, n_head=4, n_embd=64).arch(tok.get_vocab_size(), seq_len)
    torch.manual_seed(0)
    m = build_model(kind, arch)
    js = tok.to_str()
    save_checkpoint(path, {"step": 0, "model_kind": kind, "model_arch": arch, "model": m.state_dict(),
                           "tokenizer_json": js, "tokenizer_sha256": hashlib.sha256(js.encode()).hexdigest()})
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    tok = tiny_tokenizer()
    d = tmp_path_factory.mktemp("ft-ckpt")
    return {k: checkpoint(d / f"{k}.pt", k, tok) for k in ("masked", "causal")} | {"tok": tok, "dir": d}


@pytest.fixture(scope="module")
def exported(ckpts):
    from tamiz.train.finetune.models import prepare_model

    return {k: prepare_model(ckpts[k], ckpts["dir"] / f"hf-{k}") for k in ("masked", "causal")}


def subset(task, n_train: int, n_eval: int, epochs: int):
    """The bundled task with fewer examples (the same records) and its own epochs: a faster test."""
    splits = {s: v[:n_train if s == "train" else n_eval] for s, v in task.splits.items()}
    training = dataclasses.replace(task.config.training, epochs=epochs)
    return dataclasses.replace(task, splits=splits, config=dataclasses.replace(task.config, training=training))


def test_full_mode_learns_the_offensive_task_well_above_chance_with_seeds_and_baseline(ckpts, tmp_path):
    from tamiz.train.finetune.run import finetune

    lines = []
    res = finetune(ckpts["causal"], TASKS / "fortunes_offensive", tmp_path, mode="full", seeds=2, log=lines.append)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"] == res["summary"] and saved["format"] == "tamiz-finetune/1"
    assert res["splits"] == {"train": 800, "dev": 100, "test": 100} and res["metrics"] == ["accuracy", "macro_f1"]
    for variant in ("pretrained", "scratch"):
        runs = res["runs"][variant]
        assert [r["seed"] for r in runs] == [0, 1] and all(len(r["epochs"]) == 6 for r in runs)
        assert all(r["epochs"][-1]["train_loss"] < r["epochs"][0]["train_loss"] for r in runs)
        s = res["summary"][variant]["accuracy"]
        assert s["n"] == 2 and s["std"] >= 0
        # 100 balanced test texts: chance is 50% (sd 5 points); a model that learned the task is far above it
        assert s["mean"] >= 0.62, (variant, s)
    report = (tmp_path / "report.md").read_text()
    assert "| task | metric | pretrained | from scratch | difference |" in report
    assert "| fortunes-offensive | accuracy |" in report and "| fortunes-offensive | macro-F1 |" in report
    assert (tmp_path / "report.png").stat().st_size > 1000
    assert any(line.startswith("scratch, seed 1") for line in lines)  # progress as it goes


def test_feature_mode_trains_the_head_only(exported):
    import torch

    from tamiz.train.finetune.loop import run_once
    from tamiz.train.finetune.models import head_parameters, load_model
    from tamiz.train.finetune.run import prepare
    from tamiz.train.finetune.tasks import load_task

    task = subset(load_task(TASKS / "fortunes_offensive"), 64, 32, 1)
    for kind, m in exported.items():
        prep = prepare(task, m["folder"], kind)
        model = load_model(m["folder"], "classification", 2, pretrained=True, mode="feature", seed=0)
        body = {k: v.clone() for k, v in model.base_model.state_dict().items()}
        head = {k: v.clone() for k, v in model.state_dict().items() if "classifier" in k or "score" in k}
        d = model.config.hidden_size
        assert head_parameters(model) == (d * d + d + 2 * d + 2 if kind == "masked" else 2 * d)  # RoBERTa's / Llama's head
        r = run_once(prep, model, mode="feature", seed=0, settings=task.config.training)
        assert r["lr"] == 1e-2
        after = model.base_model.state_dict()
        assert all(torch.equal(body[k], after[k]) for k in body)
        now = model.state_dict()
        assert any(not torch.equal(v, now[k]) for k, v in head.items())


@pytest.mark.parametrize("model_kind", ["masked", "causal"])
def test_token_classification_and_qa_train_on_the_bundled_tasks(exported, model_kind):
    from tamiz.train.finetune.loop import run_once
    from tamiz.train.finetune.models import load_model
    from tamiz.train.finetune.run import prepare
    from tamiz.train.finetune.tasks import load_task

    m = exported[model_kind]
    for name, kind, metrics in (("fortunes_authors_ner", "tokens", {"precision", "recall", "f1"}),
                                ("fortunes_authors_qa", "qa", {"exact_match", "f1"})):
        task = subset(load_task(TASKS / name), 160, 40, 3)
        prep = prepare(task, m["folder"], model_kind)
        model = load_model(m["folder"], kind, len(task.labels), pretrained=True, mode="full", seed=0)
        r = run_once(prep, model, mode="full", seed=0, settings=task.config.training)
        assert set(r["test"]) == metrics and all(0 <= x <= 1 for x in r["test"].values())
        losses = [e["train_loss"] for e in r["epochs"]]
        assert losses[-1] < 0.95 * losses[0], (name, losses)  # it learns: the loss falls


def test_a_checkpoint_of_the_wrong_kind_stops_before_training(ckpts, tmp_path):
    from tamiz.train.checkpoint import CheckpointError
    from tamiz.train.finetune.run import finetune

    make_checkpoint(tmp_path / "lstm.pt", "lstm", ckpts["tok"])
    with pytest.raises(ValueError, match=r"lstm\.pt: a lstm model cannot be fine-tuned"):
        finetune(tmp_path / "lstm.pt", TASKS / "fortunes_offensive", tmp_path / "o1")
    assert not (tmp_path / "o1" / "results.json").exists()
    (tmp_path / "notes.pt").write_text("no soy un modelo")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a tamiz checkpoint"):
        finetune(tmp_path / "notes.pt", TASKS / "fortunes_offensive", tmp_path / "o2")
    # a bad task is reported before the checkpoint is even opened
    bad = write_task(tmp_path / "bad", "tokens", {"train.conll": "Juan B-PER\n", "test.conll": "Ana B-PER\nvive x O\n"})
    with pytest.raises(ValueError, match=r"test\.conll:2: 3 columns"):
        finetune(tmp_path / "lstm.pt", bad, tmp_path / "o3")


def test_the_command_reports_a_table_and_names_bad_input(ckpts, tmp_path):
    from typer.testing import CliRunner

    from tamiz.flows.cli import _register, app

    _register()
    bad = write_task(tmp_path / "bad", "tokens", {"train.conll": "Juan B-PER\n\nAna B-PER\n",
                                                   "test.conll": "Ana B-PER\nvive O\nen\n"})
    r = CliRunner().invoke(app, ["finetune", str(ckpts["masked"]), str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "test.conll:3: 1 columns" in r.output.replace("\n", "")
    # a small real task: 120 labelled fortunes (the first of the bundled train split), one seed, no baseline
    rows = (TASKS / "fortunes_offensive" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    small = write_task(tmp_path / "small", "classification", {"train.jsonl": "\n".join(rows[:100]),
                                                              "test.jsonl": "\n".join(rows[100:120])},
                       training={"epochs": 1})
    r = CliRunner().invoke(app, ["finetune", str(ckpts["causal"]), str(small), "--out", str(tmp_path / "o"),
                                 "--seeds", "1", "--no-baseline", "--mode", "feature", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert "fine-tuning (feature, 1 seeds" in r.output and "accuracy" in r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert list(res["summary"]) == ["pretrained"] and res["mode"] == "feature"


@pytest.mark.parametrize("kind,n_labels", [("classification", 2), ("tokens", 3), ("qa", 0)])
def test_the_pretrained_body_holds_the_checkpoints_weights_and_the_baseline_does_not(exported, kind, n_labels):
    import torch
    import transformers

    from tamiz.train.finetune.models import load_model

    for model_kind, m in exported.items():
        ref = transformers.AutoModel.from_pretrained(m["folder"]).state_dict()
        pre = load_model(m["folder"], kind, n_labels, pretrained=True, mode="full", seed=0).base_model.state_dict()
        new = load_model(m["folder"], kind, n_labels, pretrained=False, mode="full", seed=0).base_model.state_dict()
        assert set(pre) == set(new) and set(pre) <= set(ref)
        assert all(torch.equal(pre[k], ref[k]) for k in pre), model_kind
        assert not any(torch.equal(new[k], ref[k]) for k in new if k.endswith("embeddings.weight")
                       or k.endswith("embed_tokens.weight"))
