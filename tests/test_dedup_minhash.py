"""Signatures: datasketch compatibility, LSH parameters, normalization, bad and huge documents."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param

from pipeline.dedup import kernels
from pipeline.dedup.config import DedupConfig, optimal_param, s_curve
from pipeline.dedup.minhash import Signer, lean_minhash, permutations, shingle_hash32
from pipeline.dedup.normalize import normalize_text, tokens


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
