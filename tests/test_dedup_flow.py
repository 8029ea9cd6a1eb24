"""The dedup flow on a Dask cluster gives the same files as the stages run in one process; the
command checks its options before any work."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.run import dedup_local

PRIORITY = ["books", "reference", "common_crawl"]


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in ("docs", "removed", "clusters", "edges", "exact", "signatures", "bands", "keys")
            for p in sorted((out / folder).glob("*")) if not p.name.startswith(".")}


def test_flow_on_dask_equals_one_process(prefect_server, ingested_sample, tmp_path):
    from tamiz.flows.dedup import dedup_flow
    from tamiz.pipeline.dedup.run import check_run

    cfg = DedupConfig(num_perm=64, exact_partitions=4)
    files = [str(f) for f in check_run([ingested_sample], cfg, PRIORITY, None)]
    summary = dedup_flow(files, str(tmp_path / "dask"), cfg, PRIORITY, workers=2)
    local = dedup_local([ingested_sample], tmp_path / "local", cfg, PRIORITY)
    assert _digest(tmp_path / "dask") == _digest(tmp_path / "local")
    assert len(_digest(tmp_path / "local")) > 20
    assert summary["counts"] == local["counts"]
    assert summary["counts"]["removed"]["exact"] > 0 and summary["counts"]["removed"]["near"] > 0
    assert (tmp_path / "dask" / "cluster_sizes.png").is_file()


@pytest.fixture(scope="module")
def cli():
    from tamiz.flows.cli import _register, app

    _register()
    return app


def test_command_checks_options_first(cli, ingested_sample, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["dedup", str(ingested_sample), "--out", str(tmp_path / "o"), "--threshold", "1.5"])
    assert r.exit_code == 2 and "threshold" in r.output
    r = runner.invoke(cli, ["dedup", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = runner.invoke(cli, ["dedup", str(ingested_sample), "--out", str(tmp_path / "o"), "--against", str(tmp_path)])
    assert r.exit_code == 2 and "not a finished dedup output" in r.output
    r = runner.invoke(cli, ["dedup", str(ingested_sample), "--out", str(tmp_path / "o"), "--priority", "books,books"])
    assert r.exit_code == 2 and "priority" in r.output
    assert not (tmp_path / "o").exists()  # nothing was started
    r = runner.invoke(cli, ["dedup", "--help"])
    assert r.exit_code == 0 and "--against" in r.output and "duplicate_of" in r.output
