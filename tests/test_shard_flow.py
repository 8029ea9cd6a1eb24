"""`tamiz mix`, `tamiz shard` and `tamiz verify` end to end (one flow test on the session's Prefect
server and a local Dask cluster), and the commands' checks of bad options before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tamiz.core.shardformat import SPECIAL_TOKENS
from tamiz.pipeline.writers import read_parquet_documents


def _app() -> typer.Typer:
    from tamiz.flows import cmd_mix

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """tamiz"""

    cmd_mix.register(app)
    return app


def _stage_slice(ingested: Path, out: Path, per_source: int = 80) -> Path:
    """A stage folder (manifest.json + docs/) with the first documents of each source of the ingested sample,
    so the flow test stays fast; the full sample is counted by `tamiz mix`."""
    from tamiz.pipeline.writers import write_parquet

    kept: dict[str, list] = {}
    for f in sorted((ingested / "docs").glob("*.parquet")):
        for d in read_parquet_documents(f):
            if len(kept.setdefault(d.source, [])) < per_source:
                kept[d.source].append(d)
    for source, docs in kept.items():
        write_parquet(out / "docs" / f"{source}.parquet", docs)
    shutil.copy(ingested / "manifest.json", out / "manifest.json")
    return out


def _tokenizer(stage: Path, path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [d.text for f in sorted((stage / "docs").glob("*.parquet")) for d in read_parquet_documents(f)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(path))
    return path


def test_mix_shard_verify_on_the_bundled_sample(prefect_server, ingested_sample: Path, sample_dir: Path, tmp_path: Path):
    app, runner = _app(), CliRunner()
    table = sample_dir / "table.yaml"

    res = runner.invoke(app, ["mix", str(table), "--tokens", "5000000", "--workers", "2"])
    assert res.exit_code == 0, res.output
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in res.output.splitlines() if line.startswith("│")}
    assert set(lines) == {"common_crawl", "books", "reference", "total"}
    assert [lines[s][2] for s in ("common_crawl", "books", "reference")] == ["60.0%", "25.0%", "15.0%"]
    assert lines["books"][0] == "1,189" and lines["total"][3] == "5,000,000"  # documents; budget
    cc_tokens = int(lines["common_crawl"][1].replace(",", ""))
    assert float(lines["common_crawl"][4]) == pytest.approx(0.6 * 5_000_000 / cc_tokens, abs=0.01)
    assert "warning: common_crawl is repeated" in res.output  # > 4 epochs at this budget

    stage = _stage_slice(ingested_sample, tmp_path / "stage")
    tok = _tokenizer(stage, tmp_path / "tokenizer.json")
    out = tmp_path / "shards"
    args = ["shard", str(stage), "--tokenizer", str(tok), "--out", str(out), "--table", str(table),
            "--seq-len", "128", "--tokens", "300000", "--workers", "2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["seq_len"] == 128 and m["seed"] == 1234 and m["validation_fraction"] == 0.01  # table + overrides
    assert m["splits"]["train"]["rows"] == -(-300_000 // 128)
    assert [s["name"] for s in m["sources"]] == ["common_crawl", "books", "reference"]
    assert {i["path"].split("/")[-2] for i in m["inputs"]} == {"docs"}  # the stage folder means its docs/
    assert "rows in mix" in res.output and "common_crawl" in res.output

    res = runner.invoke(app, ["verify", str(out)])
    assert res.exit_code == 0 and "all match the manifest" in res.output, res.output

    from tamiz.train.loader import PackedLoader

    batch = next(iter(PackedLoader(out, batch_size=4, tokenizer=tok)))
    assert tuple(batch.shape) == (4, 129)

    f = out / m["splits"]["train"]["files"][0]["path"]
    f.write_bytes(f.read_bytes()[:100])
    res = runner.invoke(app, ["verify", str(out)])
    assert res.exit_code == 1 and f.name in res.output and "truncated" in res.output


@pytest.mark.parametrize("extra, message", [
    (["--seq-len", "0"], "--seq-len: 0 is less than 1"),
    (["--validation-fraction", "1.5"], "--validation-fraction: 1.5 is not a number in [0, 1)"),
    (["--row-start", "line"], "--row-start: 'line' is not one of any, document"),
])
def test_shard_checks_options_before_any_work(sample_dir: Path, tmp_path: Path, extra, message):
    from tokenizers import Tokenizer, models

    tok = tmp_path / "t.json"
    Tokenizer(models.WordLevel({"<|endoftext|>": 0, "<pad>": 1, "[UNK]": 2}, unk_token="[UNK]")).save(str(tok))
    res = CliRunner().invoke(_app(), ["shard", str(sample_dir / "books"), "--tokenizer", str(tok),
                                      "--out", str(tmp_path / "o")] + extra)
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
    assert not (tmp_path / "o").exists()


def test_mix_refuses_a_bad_table(sample_dir: Path, tmp_path: Path):
    bad = tmp_path / "table.yaml"
    shutil.copy(sample_dir / "table.yaml", bad)
    bad.write_text(bad.read_text(encoding="utf-8").replace("weight: 0.25", "weight: -0.25"), encoding="utf-8")
    res = CliRunner().invoke(_app(), ["mix", str(bad), "--tokens", "1000"])
    assert res.exit_code == 2 and "sources[1].weight: -0.25 is negative" in " ".join(res.output.split())
    res = CliRunner().invoke(_app(), ["mix", str(sample_dir / "table.yaml"), "--tokens", "0"])
    assert res.exit_code == 2 and "--tokens: 0 is not a positive number" in res.output
