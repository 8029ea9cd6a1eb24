"""The dataset table's `evaluation:` block (train/finetune/evaluation.py) and `tamiz run --finetune`: the block and
its tasks' records are checked before a build starts, and the tasks fine-tune a build's checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_finetune_tasks import write_task
from tamiz.pipeline.table import parse_table
from tamiz.train.finetune.evaluation import EvaluationConfig, check_tasks, evaluation_config, run_evaluation

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "table.yaml"
SOURCES = [{"name": "reference", "kind": "reference", "inputs": ["reference/*.jsonl"], "weight": 1.0}]


def table(tmp_path: Path, evaluation) -> object:
    return parse_table({"sources": SOURCES, "evaluation": evaluation}, root=tmp_path, path=tmp_path / "table.yaml")


def test_the_sample_table_names_the_bundled_task():
    from tamiz.pipeline.table import load_table

    t = load_table(SAMPLE)
    cfg = evaluation_config(t)
    assert cfg == EvaluationConfig(tasks=("../tasks/fortunes_offensive",), seeds=1)
    assert check_tasks(t, cfg) == [ROOT / "data" / "sample" / ".." / "tasks" / "fortunes_offensive" / "task.yaml"]


def test_the_block_and_every_task_record_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"table\.yaml: evaluation\.sead: unknown field"):
        evaluation_config(table(tmp_path, {"tasks": ["t"], "sead": 1}))
    with pytest.raises(ValueError, match=r"table\.yaml: evaluation\.mode: must be full or feature, got 'frozen'"):
        evaluation_config(table(tmp_path, {"mode": "frozen"}))
    t = table(tmp_path, {})
    with pytest.raises(ValueError, match=r"evaluation\.tasks: no task to fine-tune on"):
        check_tasks(t, evaluation_config(t))
    write_task(tmp_path / "ner", "tokens", {"train.conll": "Juan B-PER\n\nAna B-PER\n",
                                           "test.conll": "Ana B-PER\nvive O en\n"})
    t = table(tmp_path, {"tasks": ["ner"]})
    with pytest.raises(ValueError, match=r"table\.yaml: evaluation\.tasks\[0\]: .*ner/test\.conll:2: 3 columns"):
        check_tasks(t, evaluation_config(t))


def test_two_tasks_cannot_share_an_output_folder_nor_name_one_outside_their_own(tmp_path):
    rows = (ROOT / "data" / "tasks" / "fortunes_offensive" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    files = {"train.jsonl": "\n".join(rows[:8]), "test.jsonl": "\n".join(rows[8:12])}
    for folder, name in (("spaced", "a b"), ("under", "a_b"), ("again", "a b"), ("up", ".."), ("other", "a-b")):
        write_task(tmp_path / folder, "classification", files, name=name)
    t = table(tmp_path, {"tasks": ["spaced", "under"]})  # both would write OUT/finetune/a_b/
    with pytest.raises(ValueError, match=r"table\.yaml: evaluation\.tasks\[1\]: task name 'a_b' and "
                                         r"evaluation\.tasks\[0\]'s 'a b' both write to finetune/a_b/"):
        check_tasks(t, evaluation_config(t))
    t = table(tmp_path, {"tasks": ["spaced", "again"]})
    with pytest.raises(ValueError, match=r"evaluation\.tasks\[1\]: task name 'a b' is already evaluation\.tasks\[0\]"):
        check_tasks(t, evaluation_config(t))
    t = table(tmp_path, {"tasks": ["up"]})  # '..' would be OUT itself
    with pytest.raises(ValueError, match=r"evaluation\.tasks\[0\]: task name '\.\.' cannot name its output folder"):
        check_tasks(t, evaluation_config(t))
    t = table(tmp_path, {"tasks": ["spaced", "other"]})
    assert check_tasks(t, evaluation_config(t)) == [tmp_path / "spaced" / "task.yaml", tmp_path / "other" / "task.yaml"]


def test_run_finetune_is_refused_without_training_and_planned_in_a_dry_run(tmp_path):
    from typer.testing import CliRunner

    from tamiz.flows.cli import _register, app

    _register()
    r = CliRunner().invoke(app, ["run", str(SAMPLE), "--out", str(tmp_path / "o"), "--no-train", "--finetune"])
    assert r.exit_code == 2 and "--finetune: the build trains no model" in r.output
    r = CliRunner().invoke(app, ["run", str(SAMPLE), "--out", str(tmp_path / "o"), "--dry-run", "--finetune"])
    assert r.exit_code == 0, r.output
    assert "1 task(s), full mode, 1 seed(s)" in r.output


def test_the_tasks_fine_tune_a_checkpoint_into_one_folder_each(tmp_path):
    pytest.importorskip("transformers")
    from test_finetune_run import checkpoint
    from test_train_common import tiny_tokenizer

    ck = checkpoint(tmp_path / "c.pt", "causal", tiny_tokenizer())
    rows = (ROOT / "data" / "tasks" / "fortunes_offensive" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    write_task(tmp_path / "small", "classification", {"train.jsonl": "\n".join(rows[:64]),
                                                      "test.jsonl": "\n".join(rows[64:96])}, training={"epochs": 1})
    t = table(tmp_path, {"tasks": ["small"], "mode": "feature"})
    cfg = evaluation_config(t)
    res = run_evaluation(ck, check_tasks(t, cfg), cfg, tmp_path / "finetune")
    assert [r["task"] for r in res] == ["t"] and list(res[0]["summary"]) == ["pretrained"]
    saved = json.loads((tmp_path / "finetune" / "t" / "results.json").read_text())
    assert saved["mode"] == "feature" and saved["seeds"] == 1
