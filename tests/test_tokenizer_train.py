"""Training: the artifact, exact round trip, special tokens, determinism, metadata (tokenizer/train.py)."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamiz.tokenizer.load import load_tokenizer, load_transformers_tokenizer
from tamiz.pipeline.stage import input_name
from tamiz.tokenizer.train import SPECIAL_TOKENS, TrainConfig, save, train, train_tokenizer

VOCAB = 1024


@pytest.fixture(scope="module")
def fortunes(sample_dir) -> Path:
    return sample_dir / "reference" / "fortunes_es.jsonl"  # 0.9 MB of real Spanish


@pytest.fixture(scope="module")
def trained(fortunes, tmp_path_factory):
    """A tiny tokenizer trained once on the fortunes, saved; (result, folder)."""
    result = train(fortunes, TrainConfig(vocab_size=VOCAB))
    out = tmp_path_factory.mktemp("tok")
    save(result, out)
    return result, out


@pytest.fixture(scope="module")
def tok(trained):
    return load_tokenizer(trained[1])


@pytest.fixture(scope="module")
def spanish_docs(sample_dir) -> list[str]:
    lines = (sample_dir / "reference" / "debian_reference_es.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:20]]


def test_artifact_layout_and_special_tokens(trained):
    result, out = trained
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer.json", "tokenizer_config.json", "tokenizer_meta.json"]
    tok = result.tokenizer
    assert tok.get_vocab_size() == VOCAB
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    saved = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    added = {a["content"]: a for a in saved["added_tokens"]}
    assert set(added) == set(SPECIAL_TOKENS)
    assert all(a["special"] and not a["normalized"] for a in added.values())
    assert saved["normalizer"]["type"] == "NFC"
    assert saved["decoder"]["type"] == "ByteLevel"
    assert saved["post_processor"] is None  # nothing is added to an encoding behind the user's back


def test_metadata_records_data_checksum_settings_and_eval(trained, fortunes):
    result, out = trained
    meta = json.loads((out / "tokenizer_meta.json").read_text(encoding="utf-8"))
    assert meta["tokenizer_sha256"] == hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest()
    assert meta["settings"]["vocab_size"] == VOCAB and meta["settings"]["pattern_name"] == "es"
    assert meta["special_tokens"] == {"<|endoftext|>": 0, "<pad>": 1, "<mask>": 2, "<s>": 3}
    data = meta["training_data"]
    # The checksum covers exactly the documents the trainer saw: every non-held-out fortune, in order.
    texts = [json.loads(line)["text"] for line in fortunes.read_text(encoding="utf-8").splitlines() if line.strip()]
    trained_texts = [t for i, t in enumerate(texts, start=1) if i % 100]
    h = hashlib.sha256()
    for t in trained_texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little") + b)
    assert data["sha256"] == h.hexdigest()
    assert data["documents"] == len(trained_texts) and data["held_out_documents"] == len(texts) // 100
    # named relative to the current folder when under it, else by its absolute path (pipeline/stage.py input_name)
    assert data["inputs"] == [{"path": input_name(fortunes), "source": "reference",
                               "sha256": hashlib.sha256(fortunes.read_bytes()).hexdigest()}]
    ev = meta["eval"]["held_out"]
    assert ev["documents"] == len(texts) // 100 and ev["roundtrip_exact"] is True
    assert 2.0 < ev["bytes_per_token"] < 6.0
    assert meta["language_check"]["language"] == "es" and meta["language_check"]["share"] > 0.9


def test_training_twice_gives_the_same_file(fortunes, trained, tmp_path):
    again = train(fortunes, TrainConfig(vocab_size=VOCAB))
    save(again, tmp_path)
    for name in ("tokenizer.json", "tokenizer_meta.json", "tokenizer_config.json"):
        assert (tmp_path / name).read_bytes() == (trained[1] / name).read_bytes(), name


def test_a_copied_tokenizer_folder_is_up_to_date(fortunes, trained, tmp_path):
    """tokenizer_meta.json names its inputs relative to a base folder (default: the current one), never
    by where the tokenizer is: a copy elsewhere is still up to date with the same inputs and settings."""
    import shutil

    from tamiz.tokenizer.train import up_to_date

    copy = tmp_path / "elsewhere" / "tok"
    shutil.copytree(trained[1], copy)
    assert up_to_date(copy, [fortunes], TrainConfig(vocab_size=VOCAB))
    assert not up_to_date(copy, [fortunes], TrainConfig(vocab_size=VOCAB + 1))
    result = train(fortunes, TrainConfig(vocab_size=VOCAB), base=fortunes.parent.parent)
    assert [i["path"] for i in result.inputs] == ["reference/fortunes_es.jsonl"]


def test_python_api_accepts_texts(spanish_docs):
    tok = train_tokenizer(spanish_docs * 3, vocab_size=400, holdout_every=0)
    assert tok.get_vocab_size() == 400
    assert tok.decode(tok.encode(spanish_docs[0]).ids) == spanish_docs[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300))
def test_round_trip_is_exact_on_arbitrary_unicode(tok, text):
    ids = tok.encode(text).ids
    # Exact modulo the tokenizer's one normalization, NFC; and exact on text that is already NFC.
    assert tok.decode(ids, skip_special_tokens=False) == unicodedata.normalize("NFC", text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200).map(lambda s: unicodedata.normalize("NFC", s)))
def test_round_trip_is_identity_on_nfc_text(tok, text):
    assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text


_no_specials = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="<>|"), max_size=60)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_no_specials, st.sampled_from(SPECIAL_TOKENS), _no_specials, st.sampled_from(SPECIAL_TOKENS), _no_specials)
def test_specials_are_single_tokens_and_never_split(tok, a, s1, b, s2, c):
    enc = tok.encode(a + s1 + b + s2 + c)
    special_ids = [i for i in enc.ids if i < len(SPECIAL_TOKENS)]
    assert special_ids == [tok.token_to_id(s1), tok.token_to_id(s2)]
    assert [enc.tokens[enc.ids.index(tok.token_to_id(s1))]] == [s1]
    assert tok.decode(enc.ids, skip_special_tokens=False) == unicodedata.normalize("NFC", a + s1 + b + s2 + c)


def test_specials_alone_and_glued_to_words(tok):
    for s in SPECIAL_TOKENS:
        assert tok.encode(s).ids == [SPECIAL_TOKENS.index(s)]
        ids = tok.encode(f"hola{s}mundo {s} ¿qué?").ids
        assert ids.count(SPECIAL_TOKENS.index(s)) == 2
    # no learned token contains a special token's text
    assert not [t for t in tok.get_vocab() if t not in SPECIAL_TOKENS and any(s in t for s in SPECIAL_TOKENS)]


def test_saved_file_loads_in_transformers_and_encodes_identically(trained, tok, spanish_docs, monkeypatch):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = trained[1]
    plain = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    declared = load_transformers_tokenizer(out)
    auto = AutoTokenizer.from_pretrained(str(out))
    texts = spanish_docs + ["<|endoftext|>¿Qué <mask> es?<pad><s> ¡Ñandú! 1909 café\u0301"]
    for hf in (plain, declared, auto):
        for t in texts:
            ids = tok.encode(t).ids
            assert hf(t, add_special_tokens=True)["input_ids"] == ids
            assert hf.decode(ids) == unicodedata.normalize("NFC", t)
        assert hf.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [0, 1, 2, 3]
    for hf in (declared, auto):
        assert (hf.eos_token, hf.pad_token, hf.mask_token, hf.bos_token) == SPECIAL_TOKENS
        assert (hf.eos_token_id, hf.pad_token_id, hf.mask_token_id, hf.bos_token_id) == (0, 1, 2, 3)
        batch = hf(texts[:3], padding=True)["input_ids"]
        assert {len(r) for r in batch} == {max(len(tok.encode(t).ids) for t in texts[:3])}


def test_each_pattern_splits_as_designed(trained):
    from tamiz.tokenizer.patterns import PATTERNS
    from tamiz.tokenizer.train import build_tokenizer

    text = "'tengo' dijo en 1909: ¿Qué? (véase)"
    pieces = {name: [text[a:b] for _, (a, b) in build_tokenizer(TrainConfig(pattern=name))
                     .pre_tokenizer.pre_tokenize_str(text)] for name in PATTERNS}
    tail = ["?", " (", "véase", ")"]
    assert pieces["gpt2"] == ["'t", "engo", "'", " dijo", " en", " 1909", ":", " ¿", "Qué", *tail]
    assert pieces["cl100k"] == ["'t", "engo", "'", " dijo", " en", " ", "190", "9", ":", " ¿", "Qué", *tail]
    assert pieces["es"] == ["'tengo", "'", " dijo", " en", " 190", "9", ":", " ¿", "Qué", *tail]
    assert pieces["es-open"] == ["'tengo", "'", " dijo", " en", " 190", "9", ":", " ¿Qué", "?", " (véase", ")"]
    saved = json.loads((trained[1] / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == PATTERNS["es"]


@pytest.fixture(scope="module")
def hf_tok(trained):
    return load_transformers_tokenizer(trained[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_transformers_encodes_and_decodes_like_tokenizers(tok, hf_tok, text):
    ids = tok.encode(text).ids
    assert hf_tok(text)["input_ids"] == ids
    assert hf_tok.decode(ids) == tok.decode(ids, skip_special_tokens=False)
