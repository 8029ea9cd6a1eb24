"""Signatures: datasketch compatibility, LSH parameters, normalization, bad and huge documents."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param

from tamiz.pipeline.dedup import kernels, minhash
from tamiz.pipeline.dedup.config import DedupConfig, optimal_param, s_curve
from tamiz.pipeline.dedup.minhash import Signer, lean_minhash, permutations, shingle_hash32
from tamiz.pipeline.dedup.normalize import normalize_text, tokens


@pytest.fixture(scope="module")
def spanish(sample_dir) -> list[str]:
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        chapters = [json.loads(line)["text"] for _, line in zip(range(12), f)]
    with open(sample_dir / "reference" / "debian_reference_es.jsonl", encoding="utf-8") as f:
        ref = [json.loads(line)["text"] for _, line in zip(range(6), f)]
    with open(sample_dir / "reference" / "fortunes_es.jsonl", encoding="utf-8") as f:
        fortunes = [json.loads(line)["text"] for _, line in zip(range(6), f)]
    return chapters + ref + fortunes + ["", "   ¿¡!? ", "Hola", "Año nuevo, vida nueva"]


def _shingles(text: str, k: int) -> list[bytes]:
    t = tokens(text)
    sh = [" ".join(t[i:i + k]) for i in range(len(t) - k + 1)] if len(t) >= k else ([" ".join(t)] if t else [])
    return [s.encode("utf-8") for s in sh]


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("hashfunc", ["sha1", "xxh3"])
def test_signatures_equal_datasketch(spanish, scheme, hashfunc, compiled, monkeypatch):
    """Both implementations of the permutation and shingle-hash loops (numba, and the numpy one
    used without numba) give datasketch's own signatures."""
    assert kernels.AVAILABLE  # numba is a dependency: the compiled path is what runs
    monkeypatch.setattr(kernels, "AVAILABLE", compiled)
    cfg = DedupConfig(num_perm=64, seed=7, scheme=scheme, hashfunc=hashfunc)
    a, b = permutations(64, 7, scheme)
    ref_perm = MinHash(64, 7, scheme=scheme).permutations
    assert np.array_equal(np.asarray(ref_perm[0], dtype=np.uint64), a.astype(np.uint64))
    assert np.array_equal(np.asarray(ref_perm[1], dtype=np.uint64), b.astype(np.uint64))
    signed = Signer(cfg).sign_texts(spanish)
    assert list(signed.has_sig) == [bool(tokens(t)) for t in spanish]
    for text, sig, has in zip(spanish, signed.sigs, signed.has_sig):
        if not has:
            continue
        # datasketch's own MinHash: default sha1_hash32, or tamiz's shingle hash passed as hashfunc
        m = MinHash(64, 7, scheme=scheme, hashfunc=None if hashfunc == "sha1" else shingle_hash32)
        m.update_batch(_shingles(text, cfg.shingle_size))
        assert lean_minhash(sig, cfg) == LeanMinHash(m)


def test_compiled_and_numpy_permutations_agree_on_random_batches():
    rng = np.random.default_rng(3)
    lens = rng.integers(0, 300, 200)
    lens[[0, 7, 199]] = 0  # documents without shingles keep an all-MAX row
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    hv = rng.integers(0, 2**32, int(offsets[-1]), dtype=np.uint32)
    for scheme in ("affine32", "legacy"):
        signer = Signer(DedupConfig(num_perm=96, seed=11, scheme=scheme))
        compiled = signer.permute(hv, offsets)
        assert np.array_equal(compiled, signer.permute_numpy(hv, offsets))
        assert (compiled[[0, 7, 199]] == 0xFFFFFFFF).all() and (compiled[1:7] < 0xFFFFFFFF).all()


def test_huge_document_is_chunked_with_the_same_result(spanish):
    cfg = DedupConfig(num_perm=32)
    texts = ["\n".join(spanish[:12]), "uno dos", spanish[13]]
    whole = Signer(cfg).sign_texts(texts)
    chunked = Signer(cfg, chunk_chars=700).sign_texts(texts)  # every text above 700 chars goes the chunked path
    assert np.array_equal(whole.sigs, chunked.sigs)
    assert whole.text_keys == chunked.text_keys
    assert list(whole.n_tokens) == list(chunked.n_tokens)


def test_empty_and_short_documents(spanish):
    cfg = DedupConfig(num_perm=32)
    s = Signer(cfg).sign_texts(["", " ¿?¡! ", "Hola", "hola", "HOLA!", "uno dos tres"])
    assert list(s.has_sig) == [False, False, True, True, True, True]
    assert np.array_equal(s.sigs[2], s.sigs[3]) and np.array_equal(s.sigs[3], s.sigs[4])
    assert not np.array_equal(s.sigs[2], s.sigs[5])
    assert s.text_keys[2] == s.text_keys[3] == s.text_keys[4]
    assert s.text_keys[0] != s.text_keys[1]  # nothing left after normalization: the raw text decides


def test_optimal_param_matches_datasketch():
    for num_perm in (32, 128, 256):
        for t in (0.5, 0.7, 0.8, 0.9):
            for w in ((0.5, 0.5), (0.1, 0.9)):
                assert optimal_param(t, num_perm, *w) == _optimal_param(t, num_perm, *w)


def test_config_checks_and_s_curve():
    cfg = DedupConfig()
    assert cfg.bands * cfg.rows <= cfg.num_perm
    assert (cfg.bands, cfg.rows) == optimal_param(0.8, 128, 0.1, 0.9)
    curve = s_curve(cfg, 11)
    probs = [c for _, c, _ in curve]
    assert probs == sorted(probs) and probs[0] == 0.0 and probs[-1] == pytest.approx(1.0)
    assert all(v <= c + 1e-12 for _, c, v in curve)  # verification only removes candidates
    for bad, field in ((dict(threshold=0), "threshold"), (dict(num_perm=1), "num_perm"),
                       (dict(hashfunc="md5"), "hashfunc"), (dict(bands=20, rows=10), "bands"),
                       (dict(bands=4), "bands"), (dict(shingle_size=0), "shingle_size")):
        with pytest.raises(ValueError, match=field):
            DedupConfig(**bad)
    assert DedupConfig.from_dict(cfg.as_dict()).hash() == cfg.hash()
    assert DedupConfig(threshold=0.7).hash() != cfg.hash()


def test_spanish_normalization():
    assert tokens("¿Qué tal, Señor Muñoz? ¡Año 1909!") == ["qué", "tal", "señor", "muñoz", "año", "0"]
    assert normalize_text("EL  NIÑO\u00a0—«está» aquí…") == "el niño está aquí"
    assert normalize_text("él sí está", strip_accents=True) == "el si esta"
    assert normalize_text("Año, pingüino", strip_accents=True) == "año pinguino"  # the tilde of ñ stays
    assert normalize_text("ﬁn de ｃａｓａ") == "fin de casa"  # NFKC
    assert normalize_text("3 de marzo de 2024") == normalize_text("17 de mayo de 2024").replace("mayo", "marzo")


def test_compiled_xxh3_equals_xxhash_on_every_length():
    import xxhash

    from tamiz.pipeline.dedup.xxh3 import xxh3_64

    rng = np.random.default_rng(5)
    for n in list(range(0, 2100)) + [2500, 4096, 4097, 10_000]:  # every path: 0, 1-3, 4-8, 9-16, 17-128, 129-240, long
        b = rng.integers(0, 256, n, dtype=np.uint8)
        assert int(xxh3_64(b)) == xxhash.xxh3_64_intdigest(b.tobytes()), n


TRICKY = ["", " ", "¡¿?!", "año 2024 y 1.999,50 €", "x_y__z 12ab34 ²³ ٣٤ ٣x", "\ud800 lone \udfff",
          "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ｆｕｌｌ ＡＢＣ", "ÉL ESTÁ AQUÍ, él está aquí", "ǅ ǈ ß ﬁ İstanbul", "a", "a b", "a b c d",
          "日本語のテキスト", "emoji 😀 y texto", "tab\tsalto\nlínea\u2028fin\u00a0nbsp",
          "ΟΔΟΣ ΣΊΣΥΦΟΣ Σ ΣΑ", "ＩＳＴＡＮＢＵＬ İ", "ẞ Ǆ ǲ ᾼ Ω K Å"]  # context-dependent and odd lower cases


@pytest.mark.parametrize("norm", [{}, {"lowercase": False}, {"fold_digits": False}, {"strip_accents": True}],
                         ids=["default", "case", "digits", "accents"])
def test_compiled_tokenizer_equals_the_python_path(spanish, norm, monkeypatch):
    """kernels.tokenize_hash (words, word hashes and text keys in compiled code) gives what
    normalize.tokens + the xxh3 word hashes + _text_key give, for every normalization option."""
    cfg = DedupConfig(num_perm=64, **norm)
    texts = spanish + TRICKY + ["a"] * 300 + ["1"] * 50  # many one-word texts: the word buffer's worst case
    fast = Signer(cfg).sign_texts(texts, keep_shingles=True)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    slow = Signer(cfg).sign_texts(texts, keep_shingles=True)
    assert np.array_equal(fast.sigs, slow.sigs)
    assert fast.text_keys == slow.text_keys
    assert list(fast.n_tokens) == list(slow.n_tokens) == [len(tokens(t, **norm)) for t in texts]
    assert all(np.array_equal(a, b) for a, b in zip(fast.shingles, slow.shingles))


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=[]), max_size=40), min_size=1, max_size=8))  # surrogates too
def test_compiled_tokenizer_on_arbitrary_unicode(texts):
    cfg = DedupConfig(num_perm=16)
    signer = Signer(cfg)
    _, _, lens, keys = signer._compiled_shingles(texts)
    assert list(lens) == [len(tokens(t)) for t in texts]
    assert keys == [minhash._text_key([tokens(t)], t) for t in texts]


def test_sign_tokens_compiled_and_dict_paths_agree_even_on_odd_words(spanish, monkeypatch):
    """Words given as lists go through the compiled hashing joined by spaces; lists whose words are
    empty or hold spaces cannot be joined safely and take the dict path; all give the same signatures."""
    cfg = DedupConfig(num_perm=32)
    docs = [tokens(t) for t in spanish] + [["a b", "c"], ["", "x", "y"], ["uno", ""], [], ["año", "ñandú"]]
    fast = Signer(cfg).sign_tokens(docs)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert np.array_equal(fast, Signer(cfg).sign_tokens(docs))


def test_lower_table_is_str_lower():
    """The kernel's lower case (`kernels.lower_table`) is str.lower for every character it maps; the
    rest (lower case of several characters, or depending on the neighbours) are left to Python."""
    lower, specials = kernels.lower_table()
    assert set(specials) >= {"İ", "Σ"}
    every = [chr(c) for c in range(0x110000)]
    assert all(ch.lower() == chr(lower[c]) for c, ch in enumerate(every) if ch not in specials)
    assert all(chr(lower[ord(ch)]) == ch for ch in specials)


PINNED = {  # sha256 (first 16 hex digits) of signatures, word counts, text keys and shingle sets of
    # `_pinned_texts`, computed at commit 392d904 (before the compiled lower case and permutation changes)
    "default": "f6987f0d4c0fe576", "legacy": "bb37754fb8163aef", "case": "99a1c8984b695cf5",
    "accents": "b26c1b0f17453f5f", "digits": "63558db32ba22c71"}


def _pinned_texts(sample_dir) -> list[str]:
    with gzip.open(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        chapters = [json.loads(line)["text"] for _, line in zip(range(40), f)]
    with open(sample_dir / "reference" / "debian_reference_es.jsonl", encoding="utf-8") as f:
        ref = [json.loads(line)["text"] for _, line in zip(range(20), f)]
    return chapters + ref + ["", "   ¿¡!? ", "Hola", "Año nuevo, vida nueva", "ÉL ESTÁ AQUÍ, él está aquí",
                             "ǅ ǈ ß ﬁ İstanbul", "ΣΊΣΥΦΟΣ ΟΔΟΣ Σ", "a", "a b c d", "日本語のテキスト",
                             "emoji 😀 y texto", "tab\tsalto\nlínea\u2028fin\u00a0nbsp", "１２３ ４５ año 2024 ½"]


@pytest.mark.parametrize("name,norm", [("default", {}), ("legacy", {"scheme": "legacy"}), ("case", {"lowercase": False}),
                                       ("accents", {"strip_accents": True}), ("digits", {"fold_digits": False})])
def test_signatures_unchanged_since_pinned(sample_dir, name, norm):
    """Speed work must not change a single signature bit: the default 128-permutation signatures (and
    keys, word counts, shingle sets) of fixed documents hash to what they did before it."""
    import hashlib

    texts = _pinned_texts(sample_dir)
    cfg = DedupConfig(**norm)
    signed = Signer(cfg).sign_texts(texts, keep_shingles=True)
    h = hashlib.sha256(signed.sigs.tobytes())
    h.update(signed.n_tokens.tobytes())
    h.update(b"".join(signed.text_keys))
    for a in signed.shingles:
        h.update(a.tobytes())
    h.update(Signer(cfg).sign_tokens([tokens(t) for t in texts]).tobytes())
    assert h.hexdigest()[:16] == PINNED[name]
