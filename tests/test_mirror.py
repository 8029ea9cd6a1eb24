"""core/mirror.py on a real S3-compatible server: each process's own copy of a build that lives in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.remote_servers import *  # noqa: F401,F403  (fixtures: s3_env and what it needs)

URL = "s3://tamiz-mirror/build"


@pytest.fixture()
def store(s3_env):
    from tamiz.core import remote

    fs, _ = remote.filesystem(URL)
    if not fs.exists("tamiz-mirror"):
        fs.mkdir("tamiz-mirror")
    for key in fs.find("tamiz-mirror/build"):
        fs.rm_file(key)
    return fs


def _write(path: Path, data: bytes) -> None:
    from tamiz.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def test_what_one_process_writes_another_reads_without_a_shared_disk(store, tmp_path):
    from tamiz.core import mirror

    a, b = tmp_path / "a", tmp_path / "b"
    with mirror.activated(URL, a) as m:
        _write(a / "ingest" / "docs" / "s0.parquet", b"zero")
        _write(a / "ingest" / "docs" / "s1.parquet", b"")  # an empty output is an output
        (a / "ingest" / ".tamiz.lock").write_text("")  # not written through core/atomic: never uploaded
        _write(a / "ingest" / ".tmp-x", b"temporary")  # a dot file: stays here
        assert m.upload_changes() == {"uploaded": 2}
        assert m.upload_changes() == {"uploaded": 0}  # nothing written since
    assert sorted(store.find("tamiz-mirror/build")) == ["tamiz-mirror/build/ingest/docs/s0.parquet",
                                                        "tamiz-mirror/build/ingest/docs/s1.parquet"]
    with mirror.activated(URL, b):
        assert mirror.names(b / "ingest" / "docs", "*.parquet") == [b / "ingest" / "docs" / f"s{i}.parquet" for i in (0, 1)]
        assert not (b / "ingest" / "docs").exists()  # names only
        got = mirror.glob(b / "ingest" / "docs", "s0.*")
        assert got == [b / "ingest" / "docs" / "s0.parquet"] and got[0].read_bytes() == b"zero"
        mirror.ensure(b / "ingest" / "docs" / "s1.parquet")
        assert (b / "ingest" / "docs" / "s1.parquet").read_bytes() == b""
        mirror.ensure(b / "ingest" / "docs" / "missing.parquet")  # not in the store: nothing happens
        assert not (b / "ingest" / "docs" / "missing.parquet").exists()
        # the object changes in the store (another process rewrote it): fetched again
        store.pipe_file("tamiz-mirror/build/ingest/docs/s0.parquet", b"ZERO!")
        mirror.ensure(b / "ingest" / "docs" / "s0.parquet")
        assert (b / "ingest" / "docs" / "s0.parquet").read_bytes() == b"ZERO!"
        # outside the build: left alone
        mirror.ensure(tmp_path / "elsewhere.txt")
    # no mirror: the local folder, as always
    assert mirror.glob(a / "ingest" / "docs", "*.parquet") == [a / "ingest" / "docs" / f"s{i}.parquet" for i in (0, 1)]


def test_a_shard_is_done_when_the_store_holds_its_record_and_outputs(store, tmp_path):
    from tamiz.core import mirror

    a, b = tmp_path / "a", tmp_path / "b"
    record = {"outputs": [{"path": "docs/s0.parquet", "bytes": 4}, {"path": "quarantine/s0.jsonl", "bytes": 0}]}
    with mirror.activated(URL, a) as m:
        _write(a / "ingest" / "docs" / "s0.parquet", b"zero")
        _write(a / "ingest" / "quarantine" / "s0.jsonl", b"")
        _write(a / "ingest" / "_shards" / "s0.json", json.dumps(record).encode())
        m.upload_changes()
    with mirror.activated(URL, b) as m:
        assert m.done_in_store(b / "ingest" / "_shards" / "s0.json")
        assert not (b / "ingest" / "docs" / "s0.parquet").exists()  # decided without downloading the outputs
        assert not m.done_in_store(b / "ingest" / "_shards" / "s1.json")  # no record
        store.rm_file("tamiz-mirror/build/ingest/docs/s0.parquet")
        assert not m.done_in_store(b / "ingest" / "_shards" / "s0.json")  # an output is missing


def test_a_task_runs_in_its_workers_own_folder(store, tmp_path, monkeypatch):
    """What a worker does with a call (flows/runtime._run_batch): the parent's paths rewritten for its own
    folder, the files the call names fetched first, its outputs uploaded after, its result in the
    parent's paths."""
    from tamiz.core import mirror

    parent, worker = tmp_path / "parent", tmp_path / "worker"
    with mirror.activated(URL, parent) as m:
        _write(parent / "tok" / "tokenizer.json", b"{}")
        m.upload_changes()
        spec = mirror.spec()
    assert spec is not None and spec.origin == str(parent)

    def task(tokenizer: str, out: str) -> dict:
        assert tokenizer.startswith(str(worker)) and Path(tokenizer).read_bytes() == b"{}"
        _write(Path(out) / "x.bin", b"x")
        return {"written": str(Path(out) / "x.bin")}

    monkeypatch.setenv("TAMIZ_WORK_DIR", str(worker))
    from tamiz.core.objectstore import work_folder

    with spec.opened() as w:
        assert w.root == work_folder(URL)
        got = w.call(task, spec.origin)(str(parent / "tok" / "tokenizer.json"), str(parent / "stage"))
    assert got == {"written": str(parent / "stage" / "x.bin")}
    assert store.cat_file("tamiz-mirror/build/stage/x.bin") == b"x"
    assert not (parent / "stage").exists()  # the parent's folder was never touched
    assert mirror.active() is None
