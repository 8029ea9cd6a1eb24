"""`tamiz quality train`, `tamiz perplexity train` and `tamiz filter` end to end on the ingested sample (a real
Prefect server, a local Dask cluster), and the CLI's refusals before any work."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner


def _app():
    from tamiz.flows import cli

    cli._register()
    return cli.app


def test_train_then_filter_with_two_passes_and_resume(prefect_server, ingested_sample, tmp_path):
    app, runner = _app(), CliRunner()
    docs, rejects = ingested_sample / "docs", ingested_sample / "rejects"
    q = tmp_path / "q.bin"
    r = runner.invoke(app, ["quality", "train", str(docs), str(rejects), "--positive", "books", "--positive",
                            "reference", "--negative", "common_crawl", "--out", str(q)])
    assert r.exit_code == 0, r.output
    assert "ROC AUC" in r.output and json.loads(Path(f"{q}.json").read_text())["heldout"]["auc"] > 0.9
    lm = tmp_path / "lm.npz"
    r = runner.invoke(app, ["perplexity", "train", str(docs), "--source", "books", "--heldout", "common_crawl",
                            "--out", str(lm)])
    assert r.exit_code == 0, r.output
    assert "held-out median perplexity" in r.output

    cfg = tmp_path / "filters.yaml"
    cfg.write_text("sources:\n  common_crawl:\n    pii: {enabled: true}\n"
                   "  reference:\n    gopher_quality: {min_doc_words: 5}\n    c4: {min_num_sentences: 1}\n"
                   "quality: {sources: [common_crawl], top_percent: 50}\n"
                   "perplexity: {sources: [common_crawl]}\n", encoding="utf-8")
    inputs = sorted(docs.glob("tamiz-sample-*.parquet")) + sorted(docs.glob("debian_reference*.parquet"))
    args = ["filter", *map(str, inputs), "--out", str(tmp_path / "f"), "--config", str(cfg), "--quality-model",
            str(q), "--quality-rule", "top_percent", "--perplexity-model", str(lm), "--perplexity-sampling",
            "gaussian", "--workers", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "funnel: common_crawl" in r.output and "funnel: reference" in r.output and "top drop reasons" in r.output
    out = tmp_path / "f"
    assert (out / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["docs_in"] == c["kept"] + sum(c["dropped"].values())
    assert c["dropped"].get("quality:below_top_percent", 0) > 0 and "perplexity:gaussian_sample" in c["dropped"]
    funnel = manifest["counts"]["funnel"]["common_crawl"]
    names = [s[0] for s in funnel["steps"]]
    assert names[:5] == ["gopher_quality", "gopher_repetition", "c4_lines", "c4", "fineweb"]
    assert names[-2:] == ["quality", "perplexity"] and names[5] == "pii"
    # the redactor's replacements per kind (the handbook's e-mail and public IP addresses), summary and manifest
    assert "replaced: common_crawl" in r.output
    assert c["changed"] == funnel["changed"] and c["changed"]["pii"]["email"] > 0 and c["changed"]["pii"]["ip"] > 0
    assert "reference" in manifest["counts"]["funnel"] and "changed" not in manifest["counts"]["funnel"]["reference"]
    import pyarrow.parquet as pq

    kept = sum(pq.read_metadata(f).num_rows for f in (out / "docs").glob("*.parquet"))
    assert kept == c["kept"] == sum(f["docs_out"] for f in manifest["counts"]["funnel"].values())
    assert json.loads((out / "cutoffs.json").read_text())["common_crawl"]["quality"] > 0

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"{len(inputs)} input file(s), {len(inputs)} already done" in " ".join(again.output.split())
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_cli_refuses_bad_options_before_work(tmp_path, ingested_sample):
    app, runner = _app(), CliRunner()
    docs = str(ingested_sample / "docs")
    bad = tmp_path / "bad.yaml"
    bad.write_text("default:\n  fineweb: {line_punct: 0.2}\n", encoding="utf-8")
    r = runner.invoke(app, ["filter", docs, "--out", str(tmp_path / "o"), "--config", str(bad)])
    assert r.exit_code == 2 and "fineweb.line_punct: unknown field" in r.output
    r = runner.invoke(app, ["filter", docs, "--out", str(tmp_path / "o"), "--quality-model", str(tmp_path / "no.bin")])
    assert r.exit_code == 2 and "quality classifier not found" in r.output
    r = runner.invoke(app, ["filter", docs, "--out", str(tmp_path / "o"), "--quality-rule", "pareto"])
    assert r.exit_code == 2 and "--quality-model" in r.output
    r = runner.invoke(app, ["quality", "train", docs, "-p", "books", "-n", "books", "--out", str(tmp_path / "q.bin")])
    assert r.exit_code == 2 and "on both sides" in r.output
    assert not (tmp_path / "o").exists()
