"""The ingest flow on a real Prefect server and a local Dask cluster of processes; the CLI around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tamiz.pipeline.ingest import IngestConfig, ingest_file, merge_counts
from tamiz.pipeline.readers import expand_inputs
from tamiz.pipeline.stage import write_stage_manifest


@pytest.fixture(scope="module")
def inputs(sample_dir) -> list[Path]:
    warcs = sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[:2]
    return warcs + [sample_dir / "reference" / "debian_reference_es.jsonl"]


def _app():
    from tamiz.flows import cli

    cli._register()
    return cli.app


def test_flow_on_dask_equals_plain_run_and_resumes(prefect_server, tmp_path, inputs, fixtures_dir):
    from tamiz.flows.ingest import ingest_flow

    pairs = [(str(p), p.parent.name) for p in inputs]
    summary = ingest_flow(pairs, str(tmp_path / "flow"), IngestConfig(), workers=2)
    assert summary["shards"] == 3 and summary["resumed"] == 0
    c = summary["counts"]
    assert c["records"] == c["kept"] + sum(c["dropped"].values()) + sum(c["skipped"].values()) + c["quarantined"]

    # the same work as plain calls in this process gives a byte-identical manifest
    plain = tmp_path / "plain"
    recs = [ingest_file(p, plain, s, IngestConfig()) for p, s in pairs]
    write_stage_manifest(plain, "ingest", IngestConfig().as_dict(), IngestConfig().hash(), recs, merge_counts(recs))
    assert (plain / "manifest.json").read_bytes() == (tmp_path / "flow" / "manifest.json").read_bytes()

    again = ingest_flow(pairs, str(tmp_path / "flow"), IngestConfig(), workers=2)
    assert again["resumed"] == 3


def test_cli_ingest_prints_summary_and_counts_bad_files(prefect_server, tmp_path, fixtures_dir, inputs):
    result = CliRunner().invoke(_app(), ["ingest", str(inputs[0]), str(fixtures_dir / "bad_truncated.warc.gz"),
                                         "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "records read" in result.output and "kept" in result.output and "quarantined" in result.output
    assert (tmp_path / "o" / "manifest.json").is_file()


def test_cli_rejects_bad_options_before_work(tmp_path, inputs):
    app = _app()
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "missing.warc.gz"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "missing.warc.gz" in r.output and "no such file" in r.output
    r = CliRunner().invoke(app, ["ingest", str(inputs[0]), "--out", str(tmp_path / "o"), "--extractor", "lynx"])
    assert r.exit_code == 2 and "extractor" in r.output
    assert not (tmp_path / "o").exists()


def test_help_explains(tmp_path):
    app = _app()
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "Spanish" in r.output and "ingest" in r.output
    r = CliRunner().invoke(app, ["ingest", "--help"])
    assert r.exit_code == 0 and "quarantine" in r.output and "--dask-address" in r.output
