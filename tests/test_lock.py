"""Two builds into one output folder: the second is refused at once with a clear message."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tamiz.core.lock import FolderLocked, output_lock


def test_second_process_is_refused_and_lock_freed_on_kill(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from tamiz.core.lock import output_lock\n"
        "with output_lock(%r):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    ) % (str(__import__("pathlib").Path(__file__).resolve().parents[1]), str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLocked, match="another tamiz build is writing here.*pid"):
            with output_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL released the lock: no stale lock
    with output_lock(tmp_path):
        pass


def test_lock_is_reentrant_after_release(tmp_path):
    with output_lock(tmp_path):
        pass
    with output_lock(tmp_path):
        pass


# ---------------------------------------------------------------------------------------------
# Every command that writes into an output folder takes the lock (or reports the flow's), before any work


@pytest.fixture(scope="module")
def cli():
    from tamiz.flows.cli import _register, app

    _register()
    return app


def _command(name: str, tmp_path, sample_dir, out) -> list[str]:
    """Arguments that pass each command's own checks, so the lock is what stops it."""
    fortunes = str(sample_dir / "reference" / "fortunes_es.jsonl")
    if name == "ingest":
        return ["ingest", fortunes, "--out", str(out), "--no-langid"]
    if name == "filter":
        return ["filter", fortunes, "--out", str(out)]
    if name == "dedup":
        (tmp_path / "docs.parquet").write_bytes(b"PAR1")  # never read: the lock comes first
        return ["dedup", str(tmp_path / "docs.parquet"), "--out", str(out)]
    if name == "shard":
        from tokenizers import Tokenizer, models

        tok = tmp_path / "t.json"
        Tokenizer(models.WordLevel({"<|endoftext|>": 0, "<pad>": 1, "[UNK]": 2}, unk_token="[UNK]")).save(str(tok))
        return ["shard", fortunes, "--tokenizer", str(tok), "--out", str(out)]
    if name == "tokenizer train":
        return ["tokenizer", "train", fortunes, "--out", str(out), "--vocab-size", "600"]
    if name == "train":
        cfg = tmp_path / "run.yaml"
        cfg.write_text(f"data: {{folder: {tmp_path / 'shards'}}}\nrun: {{out: {out}}}\n", encoding="utf-8")
        return ["train", str(cfg)]
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["ingest", "filter", "dedup", "shard", "tokenizer train", "train"])
def test_every_command_refuses_a_folder_another_command_is_writing(cli, tmp_path, sample_dir, name):
    """A second command on a locked --out folder stops at once (exit 2, the holder named) and writes nothing.
    (flock is per open file: the lock held here by the test process refuses the command run in it too.)"""
    from typer.testing import CliRunner

    out = tmp_path / "out"
    args = _command(name, tmp_path, sample_dir, out)
    with output_lock(out):
        r = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert r.exit_code == 2, r.output
    assert "another tamiz build is writing here" in r.output and '"pid"' in r.output
    assert [p.name for p in out.iterdir()] == [".tamiz.lock"]


def test_stage_folders_of_a_build_lock_apart_from_the_build_folder(tmp_path):
    """`tamiz run` holds OUT's lock; its stages lock their own folders (OUT/tokenizer, OUT/train, ...), which
    does not nest: only a second lock on the same folder is refused."""
    with output_lock(tmp_path):
        for stage in ("ingest/books", "filter", "dedup", "tokenizer", "shards", "train"):
            with output_lock(tmp_path / stage):
                pass
        with pytest.raises(FolderLocked):
            with output_lock(tmp_path):
                pass
