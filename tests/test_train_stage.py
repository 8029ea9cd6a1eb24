"""The build's training stage (flows/build.py `_train_stage`, shared by `tamiz run` and `tamiz ablate`): a finished
run is reused only while its config AND the shards it trained on are the same. Shards rebuilt in place with other
content (an input file changed: the stage folders are keyed by config, so they keep their names) must not be
paired with the model trained on the old ones."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from test_train_common import build_shards, one_thread, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TABLE = ROOT / "data" / "sample" / "table.yaml"

_threads = pytest.fixture(autouse=True)(one_thread)


def _plan(out: Path, steps: int = 3):
    """The sample table's build plan with a tiny training run on OUT/shards, into OUT/run (as `tamiz ablate`
    plans its runs: the build's plan with its own training config)."""
    from tamiz.flows.build import plan_table
    from tamiz.pipeline.table import load_table
    from tamiz.train.config import config_from_dict

    plan = plan_table(load_table(SAMPLE_TABLE), SAMPLE_TABLE, out, train=False)
    cfg = config_from_dict({"model": {"kind": "causal", "size": "tiny"}, "optimizer": {"lr": 0.003},
                            "schedule": {"max_steps": steps, "warmup_steps": 1},
                            "data": {"folder": str(out / "shards"), "batch_size": 4, "eval_batches": 1},
                            "run": {"out": str(out / "run"), "eval_interval": 0, "checkpoint_interval": steps,
                                    "device": "cpu", "seed": 0}})
    return dataclasses.replace(plan, training=cfg)


def _said(capsys) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_a_finished_run_is_trained_again_when_its_shards_are_rebuilt_with_other_content(tmp_path, capsys):
    """Real tiny trainings (3 steps of the tiny causal model on fortunes), called outside a flow run: no Prefect
    server is needed (the stage reports progress to Prefect only inside a run)."""
    from tamiz.core.atomic import sha256_file
    from tamiz.flows.ablate import evaluate_run
    from tamiz.flows.build import _train_stage

    out = tmp_path / "out"
    tok = tiny_tokenizer()
    build_shards(out / "shards", tok, n_docs=200, seq_len=32, start=0)
    run, ckpt = out / "run", out / "run" / "checkpoint.pt"
    sets = {"fortunes": ["Más vale pájaro en mano que ciento volando.", "El que madruga coge la oca."]}
    set_keys = {"fortunes": ["fortunes.jsonl", "0" * 64]}

    first = _train_stage(_plan(out))
    assert first["steps"] == 3 and "train: already done" not in _said(capsys)
    old_sha = sha256_file(ckpt)
    scored = evaluate_run.fn(run, sets, set_keys, [], "none", "cpu")  # what `tamiz ablate` keeps beside the run
    assert not scored.get("resumed")

    # the same config and the same shards: nothing is trained again, and the evaluation is reused
    again = _train_stage(_plan(out))
    assert "train: already done (3 steps with this config)" in _said(capsys)
    assert sha256_file(ckpt) == old_sha and again["steps"] == 3
    assert evaluate_run.fn(run, sets, set_keys, [], "none", "cpu")["resumed"]

    # an input changed: the shard stage rebuilds the same folder (same config, same tokenizer) with other rows
    manifest = out / "shards" / "manifest.json"
    old_manifest = sha256_file(manifest)
    build_shards(out / "shards", tok, n_docs=200, seq_len=32, start=200)
    assert sha256_file(manifest) != old_manifest
    retrained = _train_stage(_plan(out))
    said = _said(capsys)
    assert "train: already done" not in said
    assert "the shards changed since this run trained" in said
    assert retrained["steps"] == 3 and sha256_file(ckpt) != old_sha
    done = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert done["shards"]["manifest_sha256"] == sha256_file(manifest)
    assert done["shards"]["tokenizer_sha256"] == json.loads(manifest.read_text())["tokenizer"]["sha256"]
    # trained from the start on the new rows, not resumed from the old checkpoint: a fresh log, one start
    log = (run / "train.log").read_text(encoding="utf-8")
    assert log.count("started:") == 1 and "resumed at step" not in log
    assert not (run / "eval.json").exists()  # the old model's scores went with it
    assert not evaluate_run.fn(run, sets, set_keys, [], "none", "cpu").get("resumed")
    new_sha = sha256_file(ckpt)

    # a run interrupted after its last checkpoint (no summary yet) whose shards then change: started over too
    (run / "summary.json").unlink()
    build_shards(out / "shards", tok, n_docs=200, seq_len=32, start=400)
    _train_stage(_plan(out))
    assert "the shards changed since this run trained" in _said(capsys)
    assert sha256_file(ckpt) != new_sha
    log = (run / "train.log").read_text(encoding="utf-8")
    assert log.count("started:") == 1 and "resumed at step" not in log

    # the same interruption with unchanged shards resumes (and, at its last step already, trains nothing more)
    (run / "summary.json").unlink()
    before = sha256_file(ckpt)
    _train_stage(_plan(out))
    assert "the shards changed" not in _said(capsys)
    assert "resumed at step 3" in (run / "train.log").read_text(encoding="utf-8")
    assert sha256_file(ckpt) == before
