"""Task batching: a mapped step stays within its task budget whatever the number of calls, and each call
keeps its own completion record, failure and retries inside a batch."""

from __future__ import annotations

import pytest

from tamiz.core.remote import RemoteError
from tamiz.flows.runtime import batches, max_tasks, run_calls
from tamiz.pipeline.ingest import IngestConfig


def test_batches_cover_every_call_once_in_order_within_the_budget():
    assert batches(3, 5) == [range(0, 1), range(1, 2), range(2, 3)]
    assert batches(0, 5) == []
    for n, budget in [(10, 3), (20_000, 400), (401, 400), (7, 7), (8, 7)]:
        got = batches(n, budget)
        assert len(got) == min(n, budget)
        assert [i for g in got for i in g] == list(range(n))
        assert max(map(len, got)) - min(map(len, got)) <= 1


def test_max_tasks_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv("TAMIZ_MAX_TASKS", raising=False)
    assert max_tasks() == 400
    monkeypatch.setenv("TAMIZ_MAX_TASKS", "25")
    assert max_tasks() == 25
    for bad in ("0", "-3", "many", "2.5"):
        monkeypatch.setenv("TAMIZ_MAX_TASKS", bad)
        with pytest.raises(ValueError, match="TAMIZ_MAX_TASKS"):
            max_tasks()


def test_plan_build_refuses_a_bad_budget_before_any_work(monkeypatch, tmp_path, sample_dir):
    from tamiz.flows.build import plan_build

    monkeypatch.setenv("TAMIZ_MAX_TASKS", "none")
    with pytest.raises(ValueError, match="TAMIZ_MAX_TASKS"):
        plan_build(sample_dir / "table.yaml", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failing_call_fails_alone_with_its_own_retries():
    tries: dict[int, int] = {}

    def work(i: int) -> int:
        tries[i] = tries.get(i, 0) + 1
        if i == 1:
            raise OSError("disk on fire")
        if i == 2 and tries[i] < 2:  # fails once, then works
            raise ConnectionError("flaky")
        if i == 3:
            raise RemoteError("https://x/y.warc.gz: 404 Not Found")
        return i * 10

    got = run_calls(work, [(0,), (1,), (2,), (3,), (4,)], retries=2)
    assert got == [("ok", 0), ("error", "OSError: disk on fire"), ("ok", 20),
                   ("error", "RemoteError: https://x/y.warc.gz: 404 Not Found"), ("ok", 40)]
    assert tries == {0: 1, 1: 3, 2: 2, 3: 1, 4: 1}  # a RemoteError was retried inside the call already


def test_batched_ingest_names_the_failed_file_resumes_per_file_and_equals_plain_calls(prefect_server, tmp_path,
                                                                                      sample_dir, monkeypatch):
    from tamiz.flows.ingest import ingest_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.pipeline.ingest import ingest_file, merge_counts
    from tamiz.pipeline.stage import write_stage_manifest

    inputs = sorted((sample_dir / "common_crawl").glob("*.warc.gz")) + sorted((sample_dir / "reference").glob("*.jsonl"))
    pairs = [(str(p), p.parent.name) for p in inputs]  # 6 files
    missing = (str(tmp_path / "gone.jsonl"), "reference")
    monkeypatch.setenv("TAMIZ_MAX_TASKS", "2")  # 7 calls in 2 tasks (4 + 3)

    # the call that cannot run fails alone: the stage names it, its batch-mates finish and are kept
    with pytest.raises(StageFailed, match="gone.jsonl") as err:
        ingest_flow([*pairs[:3], missing, *pairs[3:]], str(tmp_path / "flow"), IngestConfig(), workers=2)
    assert len(err.value.failures) == 1
    assert len(list((tmp_path / "flow" / "_shards").glob("*.json"))) == 6

    # the rerun redoes nothing, and the stage is byte-identical to plain calls in this process
    again = ingest_flow(pairs, str(tmp_path / "flow"), IngestConfig(), workers=2)
    assert again["shards"] == again["resumed"] == 6
    plain = tmp_path / "plain"
    recs = [ingest_file(p, plain, s, IngestConfig()) for p, s in pairs]
    write_stage_manifest(plain, "ingest", IngestConfig().as_dict(), IngestConfig().hash(), recs, merge_counts(recs))
    assert (plain / "manifest.json").read_bytes() == (tmp_path / "flow" / "manifest.json").read_bytes()


def test_fsync_can_be_turned_off_and_writes_stay_atomic(monkeypatch, tmp_path):
    import os

    from tamiz.core import atomic

    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    atomic.write_json(tmp_path / "a.json", {"x": 1})
    assert len(calls) == 2  # the file and its folder
    for off in ("0", "off", "false"):
        monkeypatch.setenv("TAMIZ_FSYNC", off)
        calls.clear()
        atomic.write_json(tmp_path / "b.json", {"y": 2})
        assert calls == [] and (tmp_path / "b.json").read_text() == '{\n  "y": 2\n}\n'
        with pytest.raises(RuntimeError), atomic.atomic_open(tmp_path / "c.json") as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
        assert not (tmp_path / "c.json").exists() and not list(tmp_path.glob(".c.json.tmp-*"))
