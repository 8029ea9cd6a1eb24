"""A build on a Dask cluster whose processes share no disk: a real `dask scheduler` and two `dask worker`
processes, each started in its own folder with its own working folder (TAMIZ_WORK_DIR), the inputs read
from a real S3-compatible server and every output written there (core/mirror.py). The published build
equals the one a plain local build makes of the same inputs, file for file; the parent never holds a
worker's shard; the short training run reads the shards from the store; and a rerun from yet another
working folder finds every stage, training included, done in the store."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_build import CORPUS_STAGES, _free_port, cli_env, corpus_digest
from tests.remote_servers import *  # noqa: F401,F403  (fixtures: s3_env and what it needs)

ROOT = Path(__file__).resolve().parents[1]
OUT = "s3://tamiz-nsd/build"


def _cluster(port: int, folders: list[Path], env: dict[str, str]) -> list[subprocess.Popen]:
    """`python -m dask scheduler` and one `python -m dask worker` per folder, each worker in its folder with
    its own TAMIZ_WORK_DIR (what a worker on another machine has: its own disk)."""
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for folder in folders:
        folder.mkdir(parents=True)
        procs.append(subprocess.Popen(
            [*dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
             "--local-directory", str(folder / "dask")],
            cwd=folder, env={**env, "TAMIZ_WORK_DIR": str(folder / "work")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tamiz.flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _files(folder: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob(pattern) if p.is_file())


@pytest.fixture()
def s3_table(s3_env, sample_dir, tmp_path) -> Path:
    """A small table whose inputs are all on the S3 server: one crawl file, 120 chapters, the reference."""
    inputs = tmp_path / "inputs"
    (inputs / "crawl").mkdir(parents=True)
    crawl = sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[0]
    (inputs / "crawl" / crawl.name).write_bytes(crawl.read_bytes())
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        chapters = [next(f) for _ in range(120)]
    with gzip.open(inputs / "books.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(chapters)
    (inputs / "reference.jsonl").write_bytes((sample_dir / "reference" / "debian_reference_es.jsonl").read_bytes())
    s3_env.upload_tree("tamiz-nsd-in", inputs)
    s3_env.client().create_bucket(Bucket="tamiz-nsd")
    dedup = {"exact_partitions": 2, "band_partitions": 2}
    table = {
        "name": "no-shared-disk",
        "sources": [
            {"name": "common_crawl", "kind": "crawl", "inputs": ["s3://tamiz-nsd-in/crawl/"], "weight": 0.5,
             "dedup": dedup},
            {"name": "books", "kind": "books", "inputs": ["s3://tamiz-nsd-in/books.jsonl.gz"], "weight": 0.3,
             "filters": {"enabled": False}, "dedup": dedup},
            {"name": "reference", "kind": "reference", "inputs": ["s3://tamiz-nsd-in/reference.jsonl"],
             "weight": 0.2, "filters": {"enabled": False}, "dedup": dedup},
        ],
        "shards": {"seq_len": 64, "seed": 7, "validation_fraction": 0.02},
        "tokenizer": {"vocab_size": 1024},
        "training": {"model": {"kind": "causal", "size": "tiny"}, "schedule": {"max_steps": 4, "warmup_steps": 1},
                     "data": {"batch_size": 4, "eval_batches": 2},
                     "run": {"eval_interval": 0, "checkpoint_interval": 2, "device": "cpu"}},
    }
    path = tmp_path / "table" / "table.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    return path


def test_a_cluster_with_no_shared_disk_builds_what_a_local_build_does(prefect_server, s3_table, tmp_path):
    from tamiz.core import objectstore

    env = {**cli_env(), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    # the reference: the same table built by one machine into a local folder (its corpus stages are compared)
    ref = _cli(["run", str(s3_table), "--out", str(tmp_path / "local"), "--workers", "2", "--no-train"], env,
               tmp_path)
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-3000:]

    port = _free_port()
    workers = [tmp_path / "worker-a", tmp_path / "worker-b"]
    procs = _cluster(port, workers, env)
    try:
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        parent = tmp_path / "parent"
        parent.mkdir()
        run = ["run", str(s3_table), "--out", OUT, "--dask-address", f"tcp://127.0.0.1:{port}"]
        r = _cli(run, {**env, "TAMIZ_WORK_DIR": str(parent / "work")}, parent)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

        # the build in the store is the local build, file for file (read back through a fresh folder)
        back = tmp_path / "back"
        objectstore.pull(OUT, back)
        assert corpus_digest(back) == corpus_digest(tmp_path / "local")
        assert all((back / stage / "manifest.json").is_file() for stage in ("filter", "dedup", "shards"))

        # the workers wrote the shards on their own disks; the parent never held one of them
        # (written by one, and fetched by another that read it in a later stage)
        shards = {f.split("/", 1)[1] for w in workers for f in _files(w / "work", "*/ingest/*/docs/*.parquet")}
        assert shards == set(_files(back, "ingest/*/docs/*.parquet")) and len(shards) == 3
        assert all(_files(w / "work", "*/_shards/*.json") for w in workers)  # both took part
        assert not _files(parent, "*/ingest/*/docs/*.parquet") and not _files(parent, "*/filter/docs/*.parquet")
        assert not _files(parent, "*/dedup/signatures/*")

        # a rerun from yet another machine (a fresh parent folder) finds every stage done in the store
        again = tmp_path / "parent-2"
        again.mkdir()
        r = _cli(run, {**env, "TAMIZ_WORK_DIR": str(again / "work")}, again)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        for stage in ("ingest common_crawl", "ingest books", "ingest reference", "filter", "dedup"):
            assert f"{stage}: already done" in r.stdout, r.stdout
        assert "shards: already done" in r.stdout, r.stdout
        assert "train: already done (4 steps with this config)" in r.stdout, r.stdout  # its checkpoint is in the store
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    assert set(CORPUS_STAGES) >= {"ingest", "filter", "dedup", "shards"}
