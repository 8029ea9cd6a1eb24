"""Bad input gives a clear error before any training or encoding starts (tokenizer/train.py, load.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import tamiz.tokenizer.train as train_mod
from tamiz.tokenizer.load import load_tokenizer
from tamiz.tokenizer.train import TrainConfig, train, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to build the trainer's tokenizer fails the test: errors must come first."""
    def boom(*a, **k):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(train_mod, "build_tokenizer", boom)


@pytest.fixture(scope="module")
def fortunes_texts(sample_dir) -> list[str]:
    lines = (sample_dir / "reference" / "fortunes_es.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:400]]


def test_vocab_smaller_than_bytes_plus_specials():
    with pytest.raises(ValueError, match=r"vocab_size: 259 is smaller than the byte alphabet \(256\) plus the 4 "
                                         r"special tokens \(260\)"):
        TrainConfig(vocab_size=259)


def test_vocab_of_exactly_bytes_plus_specials_still_round_trips(fortunes_texts):
    tok = train_tokenizer(fortunes_texts, vocab_size=260, holdout_every=0)
    assert tok.get_vocab_size() == 260
    assert tok.decode(tok.encode(fortunes_texts[0]).ids) == fortunes_texts[0]


@pytest.mark.parametrize("kwargs, field", [
    ({"pattern": "(unclosed"}, "pattern"), ({"min_frequency": 0}, "min_frequency"),
    ({"max_doc_chars": 10}, "max_doc_chars"), ({"holdout_every": 1}, "holdout_every"),
    ({"weights": {"books": -1}}, "weights"), ({"weights": {"books": float("nan")}}, "weights"),
    ({"weights": {"books": 0}}, "weights"), ({"min_language_share": 2}, "min_language_share"),
    ({"language": "español!"}, "language"), ({"max_chars": 0}, "max_chars"),
])
def test_invalid_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        TrainConfig(**kwargs)


def test_empty_inputs(tmp_path, no_training):
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(ValueError, match="holds no WARC, JSONL, Parquet or .txt files"):
        train([tmp_path / "empty_folder"])
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(ValueError, match="input holds no text"):
        train(tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_text('{"text": "   "}\n{"text": "\\n"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="input holds no text"):
        train(tmp_path / "blank.jsonl")
    with pytest.raises(ValueError, match="input holds no text"):
        train([])
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        train([tmp_path / "missing.jsonl"])


def test_input_with_no_spanish(tmp_path, no_training):
    # Real English prose: the Apache License of this repository.
    folder = tmp_path / "english"
    folder.mkdir()
    shutil.copy(ROOT / "LICENSE", folder / "license.txt")
    with pytest.raises(ValueError, match=r"input is not 'es' text: 0% of the sampled characters are 'es' .*en 100%"):
        train([folder])
    texts = (ROOT / "LICENSE").read_text(encoding="utf-8").split("\n\n")
    with pytest.raises(ValueError, match="input is not 'es' text"):
        train(texts)


def test_non_utf8_file(tmp_path, sample_dir, fortunes_texts, no_training):
    folder = tmp_path / "latin1"
    folder.mkdir()
    (folder / "ok.txt").write_text(fortunes_texts[0], encoding="utf-8")
    text = "\n".join(fortunes_texts[:50])
    assert "ñ" in text or "á" in text
    (folder / "bad.txt").write_bytes(text.encode("latin-1", errors="replace"))
    with pytest.raises(ValueError, match=r"bad.txt: not UTF-8 \(invalid byte 0x[0-9a-f]{2} at byte \d+\)"):
        train([folder])
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_bytes(json.dumps({"text": text}, ensure_ascii=False).encode("latin-1", errors="replace"))
    with pytest.raises(ValueError, match="bad.jsonl: not UTF-8"):
        train(bad_jsonl)


def test_weights_that_do_not_match_the_sources(sample_dir, no_training):
    inputs = [sample_dir / "books", sample_dir / "reference"]
    with pytest.raises(ValueError, match="weights: no weight for source.*reference"):
        train(inputs, TrainConfig(weights={"books": 1}))
    with pytest.raises(ValueError, match="weights: source.*wiki.*not in the input"):
        train(inputs, TrainConfig(weights={"books": 1, "reference": 1, "wiki": 2}))
    with pytest.raises(ValueError, match="weights: need input files"):
        train(["texto"], TrainConfig(weights={"books": 1}))


def test_texts_of_the_wrong_type(no_training):
    with pytest.raises(ValueError, match="a single str"):
        train("data/sample/books")
    with pytest.raises(ValueError, match="expected str texts or pathlib.Path inputs, got int"):
        train([1, 2, 3])


def test_files_that_are_not_tokenizers(tmp_path, fixtures_dir):
    with pytest.raises(FileNotFoundError, match="no such tokenizer file or folder"):
        load_tokenizer(tmp_path / "nothing.json")
    with pytest.raises(FileNotFoundError, match="folder has no tokenizer.json"):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="not a tokenizer \\(binary file"):
        load_tokenizer(fixtures_dir / "bad_example.warc.gz")
    with pytest.raises(ValueError, match="not a tokenizer \\(not JSON"):
        load_tokenizer(ROOT / "LICENSE")
    (tmp_path / "latin1.json").write_bytes("{\"a\": \"ñ\"}".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_tokenizer(tmp_path / "latin1.json")
    meta = tmp_path / "tokenizer_meta.json"
    meta.write_text(json.dumps({"format": "tamiz-tokenizer/1", "training_data": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="JSON but not an HF tokenizer.*tamiz's metadata"):
        load_tokenizer(meta)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": "not a dict"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not a valid HF tokenizer"):
        load_tokenizer(broken)
