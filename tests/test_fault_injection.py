"""Kill the whole build (SIGKILL to its process group) in the middle of an atomic write, rerun it,
and check the corpus is byte-identical to a clean build and the counts reconcile end to end.

Every atomic write of every stage (Parquet shards, quarantine files, completion records,
signatures, band and cluster files, the tokenizer, Arrow shards, manifests) is a numbered kill
point (see pipeline/atomic._fault_point). CI kills at 1 point (mid-build); the long
mode kills at N points spread evenly: TAMIZ_FAULT_POINTS=20 pytest tests/test_fault_injection.py
(passed with 20 points on 2026-11-27: 13 minutes on 2 cores)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


from test_build import ROOT, cli_env, corpus_digest  # noqa: F401

POINTS = int(os.environ.get("TAMIZ_FAULT_POINTS", "1"))


def _run(folder: Path, table: Path, fault_file: Path | None = None, at: int = 0) -> subprocess.CompletedProcess:
    env = cli_env()
    env.pop("TAMIZ_FAULT_FILE", None)
    if fault_file is not None:
        env.update(TAMIZ_FAULT_FILE=str(fault_file), TAMIZ_FAULT_AT=str(at))
    cmd = [sys.executable, "-m", "tamiz.flows.cli", "run", str(table), "--out", str(folder / "out"), "--workers", "2",
           "--no-train"]  # the table's folder (inputs, relative to it) is not `folder`: only the output is
    # its own session: the fault kills the build's process group, never pytest's
    return subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, timeout=900,
                          start_new_session=True)


def reconcile(out: Path) -> None:
    """documents in = kept + dropped by reason + skipped + quarantined + removed as duplicates."""
    read = kept_after_langid = 0
    for m in sorted((out / "ingest").glob("*/manifest.json")):
        c = json.loads(m.read_text())["counts"]
        assert c["records"] == c["kept"] + sum(c["dropped"].values()) + sum(c["skipped"].values()) + c["quarantined"]
        read += c["records"]
        kept_after_langid += c["kept"]
    f = json.loads((out / "filter" / "manifest.json").read_text())["counts"]
    d = json.loads((out / "dedup" / "manifest.json").read_text())["counts"]
    assert d["in"] == kept_after_langid - (f["docs_in"] - f["kept"])
    assert d["in"] == d["kept"] + sum(d["removed"].values())
    assert read > 0


def test_kill_mid_write_and_resume(reference_build, tmp_path):
    """The reference build (conftest.py: the same table, built once for the session, its atomic writes
    counted) gives the expected corpus and the kill points; each point is a build killed there and
    rerun into a fresh folder (builds do not depend on where they are, so the corpus must equal the
    reference's byte for byte)."""
    ref_folder, table, _ = reference_build
    total = (ref_folder / "writes").stat().st_size  # the training run's few writes come last
    assert total > 50, total
    reference = corpus_digest(ref_folder / "out")
    reconcile(ref_folder / "out")
    counter = tmp_path / "writes"
    # kill points in the first two thirds of the writes: the corpus stages (the rerun has no training)
    points = sorted({max(1, round(total * 2 / 3 * (k + 1) / (POINTS + 1))) for k in range(POINTS)})
    killed = 0
    for at in points:
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        counter.unlink(missing_ok=True)
        crash = _run(tmp_path, table, counter, at=at)
        killed += crash.returncode != 0
        assert not (tmp_path / "out" / "shards" / "manifest.json").exists() or crash.returncode == 0
        again = _run(tmp_path, table)
        assert again.returncode == 0, f"rerun after a kill at write {at}/{total} failed: {again.stderr[-3000:]}"
        assert corpus_digest(tmp_path / "out") == reference, f"kill at write {at}/{total}: output differs"
        reconcile(tmp_path / "out")
    assert killed >= max(1, len(points) - 1)  # concurrent writers may race past one number
