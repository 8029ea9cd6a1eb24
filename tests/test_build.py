"""The whole build as one flow: end to end on a small table (kill-and-resume: test_fault_injection.py), an existing Dask
cluster, incremental input, and `tamiz serve` registering a scheduled deployment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS_STAGES = ("ingest", "filter", "dedup", "tokenizer", "shards")


DEDUP = {"exact_partitions": 4}  # a small corpus: 4 exact-dedup partitions (tasks) instead of 16


def make_table(folder: Path, sample: Path, crawl_files: int = 2, train_steps: int | None = 4) -> Path:
    """A small dataset table over part of the bundled sample (inputs copied beside it, so tests can add
    files, and the folder can be copied elsewhere: the table names its inputs relative to itself)."""
    (folder / "crawl").mkdir(parents=True)
    for w in sorted((sample / "common_crawl").glob("*.warc.gz"))[:crawl_files]:
        shutil.copy(w, folder / "crawl" / w.name)
    for f in ("books/reina_valera_1909.jsonl.gz", "reference/debian_reference_es.jsonl"):
        (folder / f).parent.mkdir(exist_ok=True)
        shutil.copy(sample / f, folder / f)
    table = {
        "name": "test",
        "sources": [
            {"name": "common_crawl", "kind": "crawl", "inputs": ["crawl/*.warc.gz"], "weight": 0.5, "dedup": DEDUP},
            {"name": "books", "kind": "books", "inputs": ["books/reina_valera_1909.jsonl.gz"],
             "weight": 0.3, "filters": {"enabled": False}, "dedup": DEDUP},
            {"name": "reference", "kind": "reference", "inputs": ["reference/debian_reference_es.jsonl"],
             "weight": 0.2, "filters": {"enabled": False}, "dedup": DEDUP},
        ],
        "shards": {"seq_len": 64, "seed": 7, "validation_fraction": 0.02},
        "tokenizer": {"vocab_size": 1024},
        "training": ({"enabled": False} if train_steps is None else {
            "model": {"kind": "causal", "size": "tiny"},
            "schedule": {"max_steps": train_steps, "warmup_steps": 1},
            "data": {"batch_size": 4, "eval_batches": 2},
            "run": {"eval_interval": 0, "checkpoint_interval": 2, "device": "cpu"},
        }),
    }
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    return path


def corpus_digest(out: Path) -> dict[str, str]:
    """sha256 of every file the corpus stages wrote (not the lock, the report or timings)."""
    digest = {}
    for stage in CORPUS_STAGES:
        for p in sorted((out / stage).rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                digest[p.relative_to(out).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return digest


def build_digest(out: Path) -> dict[str, str]:
    """sha256 of every file of a build folder, dot files included. build.json and report/report.md hold the
    time each stage took (docs/architecture.md, "Paths in records"), the only bytes in which two builds of
    one table may differ: they are hashed without it."""
    digest = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        rel, data = p.relative_to(out).as_posix(), p.read_bytes()
        if rel == "build.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "stage_seconds"}).encode()
        elif rel == "report/report.md":
            data = data.split(b"## Time per stage")[0]  # the last section
        digest[rel] = hashlib.sha256(data).hexdigest()
    return digest


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def cli_env() -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": api_url(), "PYTHONPATH": str(ROOT)}
    return env




def test_end_to_end_outputs_and_counts(reference_build):
    folder, _, s = reference_build
    out = folder / "out"
    for src, c in s["ingest"].items():
        assert c["records"] == c["kept"] + sum(c["dropped"].values()) + sum(c["skipped"].values()) + c["quarantined"]
    d = s["dedup"]["counts"]
    assert d["in"] == d["kept"] + sum(d["removed"].values())
    spanish = sum(c["kept"] for c in s["ingest"].values())
    filtered_out = s["filter"]["counts"]["docs_in"] - s["filter"]["counts"]["kept"]
    assert d["in"] == spanish - filtered_out  # nothing lost between stages
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    assert {x["name"] for x in manifest["sources"]} == {"common_crawl", "books", "reference"}
    tr = s["train"]
    assert tr["steps"] == 4 and tr["val_perplexity"] > 1 and (out / "train" / "checkpoint.pt").is_file()
    assert tr["prompt"] == "Para cenar voy a hacer" and len(tr["next_tokens"]) == 10
    report = (out / "report" / "report.md").read_text()
    for section in ("Funnel per source", "Deduplication", "Mixing table", "Tokenizer", "Training"):
        assert section in report
    # every record is in the report: read = skipped + unreadable (quarantined) + dropped + kept
    assert "unreadable (quarantined)" in report
    for src, c in s["ingest"].items():
        row = next(line for line in report.splitlines() if line.startswith(f"| {src} |"))
        cells = [x.strip().replace(",", "") for x in row.strip("|").split("|")]
        read, skipped, quarantined, dropped, kept = (int(x) for x in cells[1:6])
        assert (read, quarantined, kept) == (c["records"], c["quarantined"], c["kept"])
        assert read == skipped + quarantined + dropped + kept
    assert (out / "report" / "funnel.png").is_file() and (out / "report" / "loss.png").is_file()


def test_training_progress_reaches_prefects_logs(reference_build):
    """The build's training stage reports step/total, loss, tokens/s and time left to the flow run's
    logs (what the Prefect UI shows), not only to the terminal."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterName

    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(name=LogFilterName(any_=["tamiz.build.train"])), limit=200)
    lines = [log.message for log in logs]
    assert any(m.startswith("train step 4/4 (100%) loss ") and "tok/s" in m and "left" in m for m in lines), lines
    assert all(log.flow_run_id is not None for log in logs)


def test_rerun_skips_everything_and_changes_nothing(reference_build, capsys):
    from tamiz.flows.build import plan_build, run_build

    folder, table, _ = reference_build
    before = corpus_digest(folder / "out")
    capsys.readouterr()
    s = run_build(plan_build(table, folder / "out"), workers=2)
    assert corpus_digest(folder / "out") == before
    assert s["train"]["steps"] == 4
    said = [line for line in capsys.readouterr().out.splitlines() if ": " in line]
    stages = ["ingest common_crawl", "ingest books", "ingest reference", "filter", "dedup", "tokenizer", "shards",
              "train"]
    for stage in stages:  # a line per stage saying it was already done, and no subflow ran its tasks
        assert any(line.startswith(f"{stage}: already done") for line in said), (stage, said)
    assert not any(word in line for line in said for word in ("signatures ", "tokenize ", "ingest ━"))


def test_a_build_copied_elsewhere_is_done_there(reference_build, tmp_path, capsys):
    """Builds that can move (issue 14): records name outputs relative to the output root and inputs
    relative to the table's folder, and no key holds a place. (B) A finished build copied to another
    folder is done there: every stage is skipped and no file changes. (D, the table and its inputs
    copied to another folder and built into a new output folder, giving the same bytes:
    test_incremental_build_on_an_existing_dask_cluster.) Right after the rerun
    test, so that OUT's build.json is that of a build with training, like B's rerun."""
    from tamiz.flows.build import plan_build, run_build

    folder, table, _ = reference_build
    a = folder / "out"
    for p in a.rglob("*"):  # no file names the build's folder or the repository
        if p.is_file():
            assert str(folder).encode() not in p.read_bytes() and str(ROOT).encode() not in p.read_bytes(), p
    reference = build_digest(a)

    b = tmp_path / "b"
    shutil.copytree(a, b)
    mtimes = {p: p.stat().st_mtime_ns for p in b.rglob("*") if p.is_file()}
    capsys.readouterr()
    run_build(plan_build(table, b), workers=2)
    said = [line for line in capsys.readouterr().out.splitlines() if ": " in line]
    for stage in ("ingest common_crawl", "ingest books", "ingest reference", "filter", "dedup", "tokenizer", "shards",
                  "train"):
        assert any(line.startswith(f"{stage}: already done") for line in said), (stage, said)
    assert build_digest(b) == reference
    rewritten = [p for p, t in mtimes.items() if p.stat().st_mtime_ns != t]  # the report, build.json, the locks
    assert {p.relative_to(b).parts[0] for p in rewritten if p.name != ".tamiz.lock"} <= {"report", "build.json"}

    # (D), a table moved elsewhere: test_incremental_build_on_an_existing_dask_cluster builds from one


def test_dry_run_prints_the_plan_and_does_nothing(reference_build):
    from typer.testing import CliRunner

    from tamiz.flows import cli

    folder, table, _ = reference_build
    before = corpus_digest(folder / "out")
    mtimes = sorted((p, p.stat().st_mtime_ns) for p in (folder / "out").rglob("*"))
    cli._register()
    r = CliRunner().invoke(cli.app, ["run", str(table), "--out", str(folder / "out"), "--dry-run"],
                           env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "dry run: nothing was done" in r.output
    assert "ingest common_crawl" in r.output and "2 input file(s)" in r.output and "all already done" in r.output
    assert "a finished output is there" in r.output and "causal tiny, 4 steps" in r.output
    assert sorted((p, p.stat().st_mtime_ns) for p in (folder / "out").rglob("*")) == mtimes
    assert corpus_digest(folder / "out") == before
    r = CliRunner().invoke(cli.app, ["run", str(table), "--out", str(folder / "out"), "--force", "dedupe"])
    assert r.exit_code == 2 and "'dedupe' is not a stage" in r.output


def test_force_redoes_a_stage_and_ends_identical(reference_build, capsys):
    from tamiz.flows.build import plan_build, run_build

    folder, table, _ = reference_build
    before = corpus_digest(folder / "out")
    capsys.readouterr()
    run_build(plan_build(table, folder / "out", train=False), workers=2, force=["tokenizer"])
    said = capsys.readouterr().out
    assert f"--force: removed {folder / 'out' / 'tokenizer'}" in said
    assert "tokenizer: trained" in said and "shards: already done" in said  # same tokenizer, so same shards
    assert corpus_digest(folder / "out") == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cluster(port: int, workers: int = 2) -> list[subprocess.Popen]:
    """A real `dask scheduler` and `dask worker` processes on 127.0.0.1 (the caller stops them). Started as
    `python -m dask` with this interpreter: the venv's `dask` script may name another venv's Python (a
    copied venv), whose workers would import another checkout of tamiz."""
    dask = [sys.executable, "-m", "dask"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(workers):
        procs.append(subprocess.Popen([*dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                       "--no-dashboard", "--host", "127.0.0.1"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def test_incremental_build_on_an_existing_dask_cluster(reference_build, tmp_path):
    """A build over one crawl file, then a second file arrives and the rerun processes it, both on an
    existing Dask cluster (a real `dask scheduler` and two `dask worker` processes): the rerun processes
    only the new file, and the result is byte-identical to the reference build over both files made
    in one go on a local cluster, from the table in another folder into another output folder
    (nothing depends on where a build or its table is). (One test for all three, since each needs a
    whole build of its own.)"""
    from tamiz.flows.build import plan_build, run_build

    ref_folder, _, _ = reference_build
    folder = tmp_path / "moved"  # the table and its inputs, copied elsewhere (builds that can move, issue 14)
    shutil.copytree(ref_folder, folder, ignore=lambda where, names: ["out"] if Path(where) == ref_folder else [])
    table = folder / "table.yaml"
    out = tmp_path / "out"
    crawl = sorted((folder / "crawl").glob("*.warc.gz"))
    parked = folder / crawl[-1].name
    port = _free_port()
    procs = _dask_cluster(port)
    try:
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        crawl[-1].rename(parked)
        try:
            run_build(plan_build(table, out, train=False), dask_address=f"tcp://127.0.0.1:{port}")
            first = corpus_digest(out)
        finally:
            parked.rename(crawl[-1])  # the new crawl dump arrives
        s = run_build(plan_build(table, out, train=False), dask_address=f"tcp://127.0.0.1:{port}")
        now = corpus_digest(out)
        old = [k for k in first if k.startswith("ingest/common_crawl/docs/")]
        assert len(old) == 1 and now[old[0]] == first[old[0]]  # the old input was not redone
        assert s["ingest"]["common_crawl"]["records"] > 0
        assert now == corpus_digest(ref_folder / "out")  # as the reference built in one go, elsewhere
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_serve_registers_a_scheduled_deployment(prefect_server, tmp_path, sample_dir):
    from typer.testing import CliRunner

    from tamiz.flows import cli

    table = make_table(tmp_path, sample_dir, train_steps=None)
    cli._register()
    os.environ["PREFECT_API_URL"] = api_url()
    try:
        r = CliRunner().invoke(cli.app, ["serve", str(table), "--out", str(tmp_path / "out"), "--cron", "0 3 * * 1",
                                         "--register-only", "--name", "weekly", "--no-train"])
    finally:
        os.environ.pop("PREFECT_API_URL", None)
    assert r.exit_code == 0, r.output
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("tamiz-scheduled-build/weekly")
        crons = [s.schedule.cron for s in dep.schedules]
    assert crons == ["0 3 * * 1"]
    assert dep.parameters["train"] is False


def test_invalid_table_fails_before_work(tmp_path, sample_dir):
    from tamiz.flows.build import plan_build

    table = make_table(tmp_path, sample_dir, train_steps=None)
    raw = yaml.safe_load(table.read_text())
    raw["sources"][0]["ingest"] = {"extractor": "lynx"}
    table.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"sources\[0\]\.ingest.*extractor"):
        plan_build(table, tmp_path / "out")
    raw["sources"][0]["ingest"] = {}
    raw["training"] = {"model": {"kind": "transformer-xl"}}
    table.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="training.*model.kind"):
        plan_build(table, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _english_jsonl(path: Path) -> Path:
    """Real English text: the paragraphs of the project's Apache License, one JSON line each."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if len(p.split()) > 20]
    path.write_text("".join(json.dumps({"text": p}) + "\n" for p in paragraphs), encoding="utf-8")
    return path


def test_a_source_emptied_by_language_id_stops_the_build_with_one_line(prefect_server, tmp_path, sample_dir):
    import gzip

    from tamiz.flows.build import SourceEmptied, plan_build, run_build

    table = make_table(tmp_path, sample_dir, train_steps=None)
    raw = yaml.safe_load(table.read_text())
    n = len(_english_jsonl(tmp_path / "ingles.jsonl").read_text().splitlines())
    raw["sources"].insert(0, {"name": "ingles", "kind": "other", "inputs": ["ingles.jsonl"], "weight": 0.1})
    table.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SourceEmptied) as e:
        run_build(plan_build(table, tmp_path / "out"), workers=1)
    msg = str(e.value)
    assert msg.startswith(f"source ingles: 0 of {n} documents passed language ID (en {n})"), msg
    assert "a rerun alone will not help" in msg and "\n" not in msg
    assert not (tmp_path / "out" / "ingest" / "common_crawl").exists()  # stopped before anything else
    # an empty input file: the source holds no documents at all
    with gzip.open(tmp_path / "vacio.jsonl.gz", "wb"):
        pass
    raw["sources"][0]["inputs"] = ["vacio.jsonl.gz"]
    table.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SourceEmptied, match=r"^source ingles: its inputs hold no documents \(0 records read"):
        run_build(plan_build(table, tmp_path / "out2"), workers=1)
