"""flows/cmd_train.py: `tamiz train | predict | generate | score | export` end to end on a CPU."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tamiz.flows.cmd_train import register
from test_train_common import build_shards, one_thread, tiny_tokenizer

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    a.callback()(lambda: None)
    register(a)
    return a


def invoke(app, *args):
    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, terminal_width=120)
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory, app):
    """`tamiz train` on a small shard folder: 40 steps of the tiny causal model."""
    d = tmp_path_factory.mktemp("cli")
    shards = build_shards(d / "shards", tiny_tokenizer(), n_docs=200)
    cfg = d / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": {"kind": "causal", "size": "tiny"}, "data": {"folder": str(shards), "batch_size": 8},
        "run": {"out": str(d / "run"), "eval_interval": 20, "checkpoint_interval": 20, "progress": False},
        "optimizer": {"lr": 3e-3}, "schedule": {"max_steps": 40, "warmup_steps": 5}}))
    code, out = invoke(app, "train", cfg)
    assert code == 0, out
    return {"dir": d, "cfg": cfg, "run": d / "run", "train_output": out}


def test_train_prints_a_summary(trained):
    out = trained["train_output"]
    assert "validation perplexity" in out and "tokens/s" in out and "checkpoint.pt" in out


def test_predict_prints_a_probability_table(app, trained):
    code, out = invoke(app, "predict", trained["run"], "Para cenar voy a hacer", "--words", "fajitas,cemento",
                       "--top-k", "5")
    assert code == 0, out
    assert "next token" in out and "probability" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("│ ") and "'" in ln]
    assert len(rows) == 5
    probs = [float(ln.split("│")[-2]) for ln in rows]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert "fajitas" in out and "cemento" in out


def test_generate_score_and_export(app, trained, tmp_path):
    code, out = invoke(app, "generate", trained["run"], "La amistad", "--seed", "1", "--samples", "2",
                       "--max-new-tokens", "12")
    assert code == 0 and out.count("--- sample") == 2 and out.count("La amistad") == 2
    (tmp_path / "a.txt").write_text("El que busca la verdad corre el riesgo de encontrarla.", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "Donde hay concordia siempre hay victoria."}) + "\n",
                                      encoding="utf-8")
    code, out = invoke(app, "score", trained["run"], "La amistad es un alma.", "--file", tmp_path / "a.txt",
                       "--file", tmp_path / "b.jsonl")
    assert code == 0, out
    assert "perplexity" in out and "(all)" in out and "bits/byte" in out
    code, out = invoke(app, "export", trained["run"], "--out", tmp_path / "hf")
    assert code == 0, out
    assert "LlamaForCausalLM" in out and (tmp_path / "hf" / "model.safetensors").is_file()


def test_resume_continues_a_finished_run_to_more_steps(app, trained):
    cfg = yaml.safe_load(trained["cfg"].read_text())
    cfg["schedule"]["max_steps"] = 45
    more = trained["dir"] / "more.yaml"
    more.write_text(yaml.safe_dump(cfg))
    code, out = invoke(app, "train", more)
    assert code == 2 and "already holds a checkpoint; pass --resume" in out
    code, out = invoke(app, "train", more, "--resume")
    assert code == 0, out
    assert "40 -> 45" in out


def test_bad_input_gives_clear_errors(app, trained, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {kind: causal, n_layers: 4}\ndata: {folder: x}\nrun: {out: y}\n")
    code, out = invoke(app, "train", bad)
    assert code == 2 and "model.n_layers: unknown field" in out
    code, out = invoke(app, "train", tmp_path / "missing.yaml")
    assert code == 2 and "config file not found" in out
    code, out = invoke(app, "predict", tmp_path / "nothing", "hola")
    assert code == 2 and "checkpoint not found" in out
    code, out = invoke(app, "predict", trained["run"], "hola " * 80)
    assert code == 2 and "above the model's max_seq_len 32" in out
    code, out = invoke(app, "score", trained["run"])
    assert code == 2 and "give sentences to score or --file" in out
    (tmp_path / "latin1.txt").write_bytes("canción".encode("latin-1"))
    code, out = invoke(app, "score", trained["run"], "--file", tmp_path / "latin1.txt")
    assert code == 2 and "is not UTF-8 text" in out


def test_score_names_its_files_and_refuses_empty_ones(app, trained, tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    code, out = invoke(app, "score", trained["run"], "--file", tmp_path / "empty.txt")
    assert code == 2 and "empty.txt holds no text to score" in out
    (tmp_path / "refranes.txt").write_text("A quien madruga, Dios le ayuda.", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "Más vale tarde que nunca."}) + "\n", encoding="utf-8")
    code, out = invoke(app, "score", trained["run"], "--file", tmp_path / "refranes.txt", "--file", tmp_path / "b.jsonl")
    assert code == 0, out
    assert "refranes.txt" in out and "b.jsonl:1" in out and "A quien madruga" not in out


def test_generate_says_why_a_sample_ended(app, trained):
    from tamiz.train.infer import generate, load

    lm = load(trained["run"], device="cpu")
    info: dict = {}
    generate(lm, "La", max_new_tokens=200, temperature=0, info=info)  # greedy: the CLI gets the same tokens
    assert info["stopped_at_eot"] == (info["new_tokens"] < 200)
    code, out = invoke(app, "generate", trained["run"], "La", "--temperature", "0", "--max-new-tokens", "200")
    assert code == 0, out
    if info["new_tokens"] == 0:
        assert "the model ended the text at once" in out and "--temperature above 0" in out
    elif info["stopped_at_eot"]:
        assert f"stopped at <|endoftext|> after {info['new_tokens']} new token(s)" in out
    else:
        assert "<|endoftext|>" not in out


def test_export_follows_the_umask_and_refuses_what_is_no_checkpoint(app, trained, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        code, out = invoke(app, "export", trained["run"], "--out", tmp_path / "hf")
    finally:
        os.umask(old)
    assert code == 0, out
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "hf").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
    code, out = invoke(app, "export", trained["run"] / "train.log", "--out", tmp_path / "x")
    assert code == 2 and "not a tamiz checkpoint" in out and "--trust" not in out
