"""The one input resolver (pipeline/inputs.py): stage folders, other folders, files, Parquet-only mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from tamiz.pipeline.document import Document
from tamiz.pipeline.inputs import InputFile, input_files
from tamiz.pipeline.writers import write_parquet


def _stage(folder: Path, manifest: bool = True) -> Path:
    """A stage folder: two kept shards, a hidden leftover, rejects and quarantine (never inputs)."""
    for name in ("b.parquet", "a.parquet", "rejects/a.parquet"):
        write_parquet(folder / ("docs" if "/" not in name else "") / name, [Document(id="x", text="hola")])
    (folder / "docs" / ".tmp.parquet").write_bytes(b"partial")
    (folder / "quarantine").mkdir()
    (folder / "quarantine" / "a.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    if manifest:
        (folder / "manifest.json").write_text("{}", encoding="utf-8")
    return folder


def test_a_stage_folder_means_its_kept_documents(tmp_path):
    stage = _stage(tmp_path / "filtered")
    expected = [InputFile(stage / "docs" / "a.parquet", stage), InputFile(stage / "docs" / "b.parquet", stage)]
    assert input_files([stage]) == expected
    assert input_files([stage], parquet_only=True) == expected


def test_other_folders_and_files(tmp_path):
    stage = _stage(tmp_path / "unfinished", manifest=False)  # no manifest.json: not a stage folder yet
    files = [f.path.relative_to(stage).as_posix() for f in input_files([stage])]
    assert files == ["docs/a.parquet", "docs/b.parquet", "quarantine/a.jsonl", "rejects/a.parquet"]
    # dedup reads document shards only: a docs/ folder is taken as it is
    assert [f.path.name for f in input_files([stage], parquet_only=True)] == ["a.parquet", "b.parquet"]
    # files keep the argument order; a folder of .txt files is one input
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "one.txt").write_text("uno", encoding="utf-8")
    got = input_files([stage / "rejects" / "a.parquet", tmp_path / "texts", stage / "docs" / "a.parquet"])
    assert got == [InputFile(stage / "rejects" / "a.parquet"), InputFile(tmp_path / "texts"),
                   InputFile(stage / "docs" / "a.parquet")]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl: no such file or folder"):
        input_files([tmp_path / "missing.jsonl"])
    with pytest.raises(ValueError, match="gopher://example.org/x.warc.gz: unknown URL scheme"):
        input_files(["gopher://example.org/x.warc.gz"])
    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    (empty / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="empty: no .parquet document shards in .*docs"):
        input_files([empty])
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="a.jsonl: not a Parquet document shard"):
        input_files([tmp_path / "a.jsonl"], parquet_only=True)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="nothing: no .parquet document shards"):
        input_files([tmp_path / "nothing"], parquet_only=True)
    with pytest.raises(ValueError, match="holds no WARC, JSONL, Parquet or .txt files"):
        input_files([tmp_path / "nothing"])
