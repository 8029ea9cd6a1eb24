"""Dedup: accuracy against brute-force Jaccard, signature throughput against datasketch and rensa,
peak memory of the band and cluster stages per million documents.

1. accuracy: real Spanish texts (Reina-Valera 1909 chapters, Debian Reference sections) plus
   controlled near duplicates of some of them (word edits, inserted and deleted lines, shuffled
   paragraphs, added web boilerplate, at random strengths). The true Jaccard similarity of the word
   5-shingle sets of every pair is computed by brute force (sparse product), and compared with the
   pairs tamiz links (verified LSH links) and puts in one cluster, at the configured threshold.
   Also: what stripping accents would merge (why it is off).
2. throughput: signatures per second in one process (= per core), all paths timed in the same
   interleaved rounds, on the sample's real Spanish documents of 240-510 words (Bible chapters,
   Debian Reference sections, the crawl's Spanish pages), same 5-word shingles and num_perm. From
   raw text, the peers take their cheapest honest path: datasketch (MinHash.update_batch,
   permutations shared) and rensa (RMinHash per document, and its bulk
   digest_matrix_from_token_sets) fed 5-word shingles of lower-cased `text.split()`; tamiz signs
   the raw text with its full normalization. From words: everyone gets tamiz's normalized words.
   Also where tamiz's time per document goes, step by step.
3. memory: peak heap (numpy + Arrow allocations) and peak RSS above the interpreter baseline
   (RSS also counts the pages of memory-mapped signature files that candidate checks touch) of the
   band stage (one band) and the cluster stage on a synthetic corpus (random signatures, 5% of
   documents near copies of others; verification by signature agreement, as the synthetic corpus
   has no texts), run in fresh processes at two sizes; per million documents = the slope.

    python benchmarks/bench_dedup.py [--quick]     # writes benchmarks/results/dedup.json, JSON last
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # rensa's bulk API: one core, like the others

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from record import write_results  # noqa: E402
from tamiz.pipeline.dedup.config import DedupConfig  # noqa: E402
from tamiz.pipeline.dedup.normalize import normalize_text, tokens  # noqa: E402

BOILERPLATE_HEAD = ["Inicio | Noticias | Contacto | Acerca de",
                    "Esta web utiliza cookies propias y de terceros para mejorar su experiencia. Aceptar",
                    "Publicado el 12 de abril de 2024 por la redacción"]
BOILERPLATE_FOOT = ["Compartir en redes sociales: Facebook Twitter WhatsApp",
                    "© 2024 Todos los derechos reservados. Aviso legal | Política de privacidad",
                    "Volver arriba"]


# ---------------------------------------------------------------- data

def load_texts(limit: int | None) -> list[tuple[str, str]]:
    out = []
    with gzip.open(ROOT / "data/sample/books/reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        out += [("books", json.loads(l)["text"]) for l in f]
    with open(ROOT / "data/sample/reference/debian_reference_es.jsonl", encoding="utf-8") as f:
        out += [("reference", json.loads(l)["text"]) for l in f]
    rng = random.Random(0)
    rng.shuffle(out)
    out = [t for t in out if len(tokens(t[1])) >= 40]
    return out[:limit] if limit else out


def variant(text: str, vocab: list[str], others: list[str], rng: random.Random) -> tuple[str, str]:
    lines = [l for l in text.split("\n") if l.strip()]
    kind = rng.choice(["edit", "insert", "delete", "shuffle", "boilerplate", "mixed"])
    strength = rng.uniform(0.0, 1.0)

    def edit(ls, p):
        out = []
        for l in ls:
            w = l.split(" ")
            out.append(" ".join(rng.choice(vocab) if rng.random() < p else x for x in w))
        return out

    def insert(ls, p):
        ls = list(ls)
        for _ in range(max(1, int(len(ls) * p))):
            src = rng.choice(others).split("\n")
            ls.insert(rng.randrange(len(ls) + 1), rng.choice(src))
        return ls

    def delete(ls, p):
        keep = [l for l in ls if rng.random() >= p]
        return keep or ls[:1]

    def shuffle(ls, p):
        ls = list(ls)
        for _ in range(max(1, int(len(ls) * p))):
            i, j = rng.randrange(len(ls)), rng.randrange(len(ls))
            ls[i], ls[j] = ls[j], ls[i]
        return ls

    def boiler(ls, p):
        n = 1 + int(p * 2.99)
        return BOILERPLATE_HEAD[:n] + ls + BOILERPLATE_FOOT[:n]

    if kind == "edit":
        lines = edit(lines, 0.005 + 0.12 * strength)
    elif kind == "insert":
        lines = insert(lines, 0.02 + 0.4 * strength)
    elif kind == "delete":
        lines = delete(lines, 0.02 + 0.4 * strength)
    elif kind == "shuffle":
        lines = shuffle(lines, 0.05 + 0.6 * strength)
    elif kind == "boilerplate":
        lines = boiler(lines, strength)
    else:
        lines = boiler(delete(edit(lines, 0.03 * strength), 0.1 * strength), strength)
    return kind, "\n".join(lines)


def shingle_sets(texts: list[str], k: int) -> list[set[str]]:
    out = []
    for t in texts:
        w = tokens(t)
        out.append({" ".join(w[i:i + k]) for i in range(len(w) - k + 1)} if len(w) >= k else {" ".join(w)})
    return out


def true_jaccard_pairs(sets: list[set[str]], floor: float = 0.3) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair (brute force as a sparse product); pairs >= floor returned."""
    from scipy.sparse import csr_matrix

    index: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for sh in s:
            rows.append(i)
            cols.append(index.setdefault(sh, len(index)))
    X = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), len(index)))
    inter = (X @ X.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    out = {}
    for i, j, n in zip(inter.row, inter.col, inter.data):
        if i < j:
            jac = n / (sizes[i] + sizes[j] - n)
            if jac >= floor:
                out[(int(i), int(j))] = float(jac)
    return out


# ---------------------------------------------------------------- 1. accuracy

def accuracy(n_bases: int, cfg: DedupConfig, workdir: Path) -> dict:
    from tamiz.pipeline.dedup.files import read_table
    from tamiz.pipeline.dedup.layout import Layout, split_uid
    from tamiz.pipeline.dedup.run import dedup_local
    from tamiz.pipeline.document import Document
    from tamiz.pipeline.writers import write_parquet

    rng = random.Random(1)
    bases = load_texts(n_bases)
    vocab = sorted({w for _, t in bases[:200] for w in t.split()})
    others = [t for _, t in bases]
    docs, kinds = [], []
    for i, (src, t) in enumerate(bases):
        docs.append(Document(f"base/{i}", t, src))
        kinds.append("base")
        if rng.random() < 0.6:
            for v in range(rng.choice([1, 1, 2])):
                kind, vt = variant(t, vocab, others, rng)
                docs.append(Document(f"var/{i}/{v}", vt, "variants"))
                kinds.append(kind)
    order = list(range(len(docs)))
    rng.shuffle(order)
    docs = [docs[i] for i in order]
    kinds = [kinds[i] for i in order]
    t0 = time.perf_counter()
    truth = true_jaccard_pairs(shingle_sets([d.text for d in docs], cfg.shingle_size))
    t_brute = time.perf_counter() - t0
    n_pairs_total = len(docs) * (len(docs) - 1) // 2
    true_pairs = {p for p, j in truth.items() if j >= cfg.threshold}

    shard = workdir / "eval" / "eval.parquet"
    write_parquet(shard, docs)
    out = workdir / f"eval-out-{cfg.num_perm}-{cfg.verify}"
    t0 = time.perf_counter()
    dedup_local([shard], out, cfg, [])
    t_dedup = time.perf_counter() - t0
    layout = Layout.load(out)
    links = set()
    for f in sorted((out / "edges").glob("*.arrow")) + sorted((out / "exact").glob("*.arrow")):
        t = read_table(f, "edges" if f.parent.name == "edges" else "exact", layout.config_hash, ["u", "v"])
        _, ru = split_uid(t.column("u").to_numpy())
        _, rv = split_uid(t.column("v").to_numpy())
        links |= {(min(a, b), max(a, b)) for a, b in zip(ru.tolist(), rv.tolist())}
    cl = read_table(out / "clusters" / f"{layout.shards[0]['name']}.arrow", "clusters", layout.config_hash)
    by_rep: dict[int, list[int]] = {}
    for row, rep in zip(cl.column("row").to_pylist(), cl.column("rep_uid").to_pylist()):
        by_rep.setdefault(rep, []).append(row)
    cluster_pairs = {(a, b) for m in by_rep.values() for a in m for b in m if a < b}

    def pr(pred: set) -> dict:
        tp = len(pred & true_pairs)
        return {"pairs": len(pred), "true_positives": tp,
                "precision": round(tp / len(pred), 4) if pred else None,
                "recall": round(tp / len(true_pairs), 4) if true_pairs else None}

    bins = [(0.5, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.01)]
    by_bin = {}
    for lo, hi in bins:
        ps = {p for p, j in truth.items() if lo <= j < hi}
        by_bin[f"{lo:.2f}-{min(hi, 1.0):.2f}"] = {"pairs": len(ps), "linked": len(ps & links),
                                                  "same_cluster": len(ps & cluster_pairs)}
    fp = sorted(truth.get(p, 0.0) for p in links - true_pairs)
    return {"documents": len(docs), "base_texts": len(bases), "variants": len(docs) - len(bases),
            "variant_kinds": {k: kinds.count(k) for k in sorted(set(kinds)) if k != "base"},
            "pairs_total": n_pairs_total, "true_pairs_at_threshold": len(true_pairs),
            "linked_pairs": pr(links), "same_cluster_pairs": pr(cluster_pairs),
            "false_positive_true_jaccard": {"min": round(fp[0], 4), "median": round(fp[len(fp) // 2], 4)} if fp else None,
            "by_true_jaccard": by_bin, "seconds": {"brute_force": round(t_brute, 2), "dedup": round(t_dedup, 2)}}


def accents(texts: list[str]) -> dict:
    """What stripping accents (keeping ñ) would merge: word types and running words affected."""
    plain = {}
    counts: dict[str, int] = {}
    for t in texts:
        for w in tokens(t):
            counts[w] = counts.get(w, 0) + 1
    for w in counts:
        plain.setdefault(normalize_text(w, strip_accents=True), []).append(w)
    merged = {k: v for k, v in plain.items() if len(v) > 1}
    tok_affected = sum(counts[w] for v in merged.values() for w in v)
    top = sorted(merged.values(), key=lambda v: -sum(counts[w] for w in v))[:12]
    return {"word_types": len(counts), "types_merged": sum(len(v) for v in merged.values()),
            "running_words_in_merged_types": round(tok_affected / sum(counts.values()), 4),
            "top_merges": [" / ".join(sorted(v, key=lambda w: -counts[w])) for v in top]}


# ---------------------------------------------------------------- 2. throughput

THROUGHPUT_WORDS = (240, 510)  # document sizes (whitespace words) of the throughput comparison


def throughput_texts(limit: int | None) -> dict[str, list[str]]:
    """Real Spanish documents of 240-510 whitespace words: Reina-Valera chapters, Debian Reference
    sections and the sample crawl's Spanish pages (as tamiz's ingest keeps them: extracted text)."""
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.readers import expand_inputs
    from tamiz.pipeline.writers import read_parquet_documents

    lo, hi = THROUGHPUT_WORDS
    groups: dict[str, list[str]] = {"books": [], "reference": []}
    for src, t in load_texts(None):
        groups[src].append(t)
    with tempfile.TemporaryDirectory(prefix="bench-dedup-crawl-") as tmp:
        for f in expand_inputs([ROOT / "data/sample/common_crawl"]):
            ingest_file(f, Path(tmp), "common_crawl", IngestConfig())
        groups["crawl_es"] = [d.text for f in sorted((Path(tmp) / "docs").glob("*.parquet"))
                              for d in read_parquet_documents(f)]
    groups = {k: [t for t in v if lo <= len(t.split()) <= hi] for k, v in groups.items()}
    if limit:
        groups = {k: v[:max(1, limit * len(v) // sum(map(len, groups.values())))] for k, v in groups.items()}
    return groups


def throughput(n_docs: int | None, cfg: DedupConfig, repeat: int) -> dict:
    """Documents per second in one process, every path timed in the same rounds (interleaved), best
    round per path. From raw text: the peers take their cheapest honest path (lower-cased
    `text.split()` words, 5-word shingles joined by spaces, no regex and no Unicode normalization);
    tamiz does its full normalization (NFKC, lower case, digit folding, Unicode word boundaries).
    From words: every tool gets tamiz's normalized words (tokenization untimed)."""
    import datasketch
    import rensa
    import xxhash

    from tamiz.pipeline.dedup.minhash import Signer

    groups = throughput_texts(n_docs)
    texts = [t for g in groups.values() for t in g]
    k, P = cfg.shingle_size, cfg.num_perm

    def shingles(w):
        return [" ".join(w[i:i + k]) for i in range(len(w) - k + 1)] if len(w) >= k else [" ".join(w)]

    perm = datasketch.MinHash(P, cfg.seed, scheme="affine32").permutations

    def ds(words_of, hashfunc=None):
        kw = {"hashfunc": hashfunc} if hashfunc else {}

        def run():
            for t in texts:
                m = datasketch.MinHash(P, cfg.seed, permutations=perm, scheme="affine32", **kw)
                m.update_batch([s.encode("utf-8") for s in shingles(words_of(t))])
        return run

    def rensa_update(words_of):
        def run():
            for t in texts:
                r = rensa.RMinHash(P, cfg.seed)
                r.update(shingles(words_of(t)))
                r.digest()
        return run

    def rensa_bulk(words_of):
        def run():
            rensa.RMinHash.digest_matrix_from_token_sets([shingles(words_of(t)) for t in texts], P, cfg.seed)
        return run

    split = lambda t: t.lower().split()  # noqa: E731
    norm = {t: tokens(t) for t in texts}  # tamiz's normalized words, computed once (untimed)
    normalized = norm.__getitem__
    toks = [norm[t] for t in texts]
    signer = Signer(cfg)
    sha_signer = Signer(DedupConfig(num_perm=P, hashfunc="sha1"))

    def tamiz_text(sg):
        def run():
            for i in range(0, len(texts), 256):
                sg.sign_texts(texts[i:i + 256])
        return run

    def tamiz_words():
        for i in range(0, len(toks), 256):
            signer.sign_tokens(toks[i:i + 256])

    from_text = {
        "tamiz (xxh3), full normalization": tamiz_text(signer),
        "tamiz (sha1, bit-exact with default datasketch), full normalization": tamiz_text(sha_signer),
        "datasketch update_batch, lower().split() shingles": ds(split),
        "datasketch update_batch, lower().split() shingles, hashfunc=xxh32": ds(split, xxhash.xxh32_intdigest),
        "rensa RMinHash.update, lower().split() shingles": rensa_update(split),
        "rensa digest_matrix_from_token_sets (bulk), lower().split() shingles": rensa_bulk(split),
    }
    from_words = {
        "tamiz (xxh3)": tamiz_words,
        "datasketch update_batch": ds(normalized),
        "rensa RMinHash.update": rensa_update(normalized),
    }
    runs = {("text", n): f for n, f in from_text.items()} | {("words", n): f for n, f in from_words.items()}
    signer.sign_texts(texts[:8])  # compiled kernels loaded once, outside the timing
    sha_signer.sign_texts(texts[:8])
    best = {key: float("inf") for key in runs}
    for _ in range(repeat):  # interleaved: every path once per round, so load changes hit them all alike
        for key, f in runs.items():
            t0 = time.perf_counter()
            f()
            best[key] = min(best[key], time.perf_counter() - t0)
    n = len(texts)
    text_rate = {name: round(n / best[("text", name)], 1) for name in from_text}
    word_rate = {name: round(n / best[("words", name)], 1) for name in from_words}
    tz = text_rate["tamiz (xxh3), full normalization"]
    words = [len(t.split()) for t in texts]
    return {"documents": n, "by_source": {g: len(v) for g, v in groups.items()},
            "whitespace_words": {"min": min(words), "mean": round(float(np.mean(words)), 1), "max": max(words)},
            "mean_normalized_words": round(float(np.mean([len(w) for w in toks])), 1),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "num_perm": P, "shingle_size": k, "rounds": repeat,
            "docs_per_s_from_raw_text": text_rate, "docs_per_s_from_words": word_rate,
            "speedup_vs_datasketch_cheap_path": round(tz / text_rate["datasketch update_batch, lower().split() shingles"], 2),
            "speedup_vs_datasketch_cheap_path_xxh32": round(
                tz / text_rate["datasketch update_batch, lower().split() shingles, hashfunc=xxh32"], 2),
            "ratio_vs_rensa_cheap_path": round(tz / text_rate["rensa RMinHash.update, lower().split() shingles"], 2),
            "ratio_vs_rensa_bulk_cheap_path": round(
                tz / text_rate["rensa digest_matrix_from_token_sets (bulk), lower().split() shingles"], 2),
            "speedup_vs_datasketch_from_words": round(word_rate["tamiz (xxh3)"] / word_rate["datasketch update_batch"], 2),
            "ratio_vs_rensa_from_words": round(word_rate["tamiz (xxh3)"] / word_rate["rensa RMinHash.update"], 2),
            "tamiz_us_per_doc": profile_tamiz(texts, cfg, repeat),
            "versions": {"datasketch": datasketch.__version__ if hasattr(datasketch, "__version__") else _ver("datasketch"),
                         "rensa": _ver("rensa"), "numpy": np.__version__, "numba": _ver("numba")}}


def profile_tamiz(texts: list[str], cfg: DedupConfig, repeat: int) -> dict:
    """Where tamiz's time per document goes (microseconds, best of `repeat`), step by step as
    `Signer.sign_texts` does them (compiled path, default normalization)."""
    import unicodedata

    from tamiz.pipeline.dedup import kernels
    from tamiz.pipeline.dedup import minhash as mh

    signer = mh.Signer(cfg)
    lower, _ = kernels.lower_table()
    table = kernels.char_table()
    pre = [unicodedata.normalize("NFKC", t) for t in texts]
    lower_docs = np.ones(len(pre), dtype=np.bool_)
    n, wh, lens, joined, ts = mh._tokenize(pre, table, cfg.fold_digits, lower=lower, lower_docs=lower_docs)
    hv, off = signer._shingles_of_word_hashes(wh[:n], lens)
    x = np.ascontiguousarray(mh._fmix32(hv))
    out = np.empty((len(texts), cfg.num_perm), dtype=np.uint32)
    steps = {
        "NFKC (Python unicodedata)": lambda: [unicodedata.normalize("NFKC", t) for t in texts],
        "code points (join, encode utf-32)": lambda: np.frombuffer("".join(pre).encode("utf-32-le", "surrogatepass"),
                                                                    dtype=np.uint32),
        "lower case, words, digit folding, XXH3 of every word (one compiled pass)":
            lambda: mh._tokenize(pre, table, cfg.fold_digits, lower=lower, lower_docs=lower_docs),
        "exact-dedup text keys (XXH3-128)": lambda: [xxhash_digest(joined[ts[j]:ts[j + 1]]) for j in range(len(texts))],
        "shingle hashes (mix of 5 word hashes)": lambda: signer._shingles_of_word_hashes(wh[:n], lens),
        "fmix32 of shingle hashes (numpy)": lambda: mh._fmix32(hv),
        "128 permutations, minimum per document": lambda: (out.fill(0xFFFFFFFF),
                                                           kernels.permute(x, off, signer.a, signer.b, out, False)),
        "whole sign_texts": lambda: [signer.sign_texts(texts[i:i + 256]) for i in range(0, len(texts), 256)],
    }
    best = {name: float("inf") for name in steps}
    for _ in range(repeat):
        for name, f in steps.items():
            t0 = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t0)
    res = {name: round(t / len(texts) * 1e6, 2) for name, t in best.items()}
    parts = sum(v for k, v in res.items() if k != "whole sign_texts")
    res["rest (batching, arrays, Python calls)"] = round(max(0.0, res["whole sign_texts"] - parts), 2)
    res["shingles_per_doc"] = round(len(hv) / len(texts), 1)
    return res


def xxhash_digest(b) -> bytes:
    import xxhash

    return xxhash.xxh3_128_digest(b)


def _ver(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


# ---------------------------------------------------------------- 3. memory

def make_synthetic(out: Path, n_docs: int, shards: int, cfg: DedupConfig, dup_fraction: float = 0.05) -> None:
    """Signature, band and layout files of a synthetic corpus, written directly (no texts)."""
    import pyarrow as pa

    from tamiz.pipeline.dedup import lsh
    from tamiz.pipeline.dedup.files import fixed_binary, write_table
    from tamiz.pipeline.dedup.layout import build_layout

    rng = np.random.default_rng(0)
    per = n_docs // shards
    h = cfg.hash()
    records = []
    for s in range(shards):
        sig = rng.integers(0, 2**32, size=(per, cfg.num_perm), dtype=np.uint64).astype(np.uint32)
        n_dup = int(per * dup_fraction)
        src = rng.integers(0, per, n_dup)
        dst = rng.integers(0, per, n_dup)
        copy = sig[src].copy()
        mask = rng.random(copy.shape) < 0.05  # about 95% of permutations agree
        copy[mask] = rng.integers(0, 2**32, mask.sum(), dtype=np.uint64).astype(np.uint32)
        sig[dst] = copy
        name = f"synthetic-{s:04d}"
        ids = pa.array([f"doc-{s}-{i}" for i in range(per)])
        source = pa.array(["common_crawl"] * per).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))
        write_table(out / "signatures" / f"{name}.arrow",
                    pa.table({"id": ids, "source": source, "words": pa.array(np.full(per, 500, np.int32)),
                              "sig": fixed_binary(sig)}), "signatures", h, out)
        bh = lsh.band_hashes(sig, cfg.bands, cfg.rows)
        cols = {"row": pa.array(np.arange(per, dtype=np.uint32))}
        cols.update({f"b{i}": pa.array(bh[:, i]) for i in range(cfg.bands)})
        write_table(out / "bands" / f"{name}.arrow", pa.table(cols), "bands", h, out)
        records.append({"shard": name, "input": {"path": f"/synthetic/{name}.parquet", "sha256": f"{s:064d}"},
                        "counts": {"docs": per}})
    build_layout(out, cfg, [], records)
    (out / "exact").mkdir(exist_ok=True)


_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from tamiz.pipeline.dedup.stages import band_edges, cluster

def status(field):  # VmHWM is per address space (reset by exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

import pyarrow as pa
pa.chunked_array([[1]]).to_numpy()  # pyarrow imports its pandas shim on first use: a fixed cost, not per document
import tracemalloc
base = status("VmRSS")
tracemalloc.start()  # numpy's allocations are traced; Arrow's come from its memory pool
t0 = time.perf_counter()
rec = band_edges({out!r}, 0) if {stage!r} == "band" else cluster({out!r})
dt = time.perf_counter() - t0
heap = tracemalloc.get_traced_memory()[1] + pa.default_memory_pool().max_memory()
print(json.dumps({{"base_kib": base, "peak_kib": status("VmHWM"), "heap_kib": heap // 1024, "seconds": dt,
                  "counts": rec["counts"]}}))
"""


def memory(sizes: tuple[int, int], cfg: DedupConfig, workdir: Path) -> dict:
    """Peak RSS of each stage at two corpus sizes; the per-million figure is the slope between them
    (fixed costs such as imports and buffers cancel out)."""
    res: dict = {"num_perm": cfg.num_perm, "bands": cfg.bands, "rows": cfg.rows, "sizes": list(sizes)}
    runs: dict[str, list[dict]] = {"band": [], "cluster": []}
    for n_docs in sizes:
        out = workdir / f"synthetic-{n_docs}"
        make_synthetic(out, n_docs, max(4, n_docs // 100_000), cfg)
        for stage in runs:
            if stage == "cluster":  # the cluster stage reads every band's links (band 0 was measured)
                from tamiz.pipeline.dedup.stages import band_edges
                for band in range(1, cfg.bands):
                    band_edges(out, band)
            code = _CHILD.format(root=str(ROOT), out=str(out), stage=stage)
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            c = r["counts"]
            runs[stage].append({"documents": n_docs, "peak_rss_mib": round(r["peak_kib"] / 1024, 1),
                                "rss_above_baseline_mib": round((r["peak_kib"] - r["base_kib"]) / 1024, 1),
                                "peak_heap_mib": round(r["heap_kib"] / 1024, 1),
                                "seconds": round(r["seconds"], 2), "links": c.get("links")})
    for stage, rs in runs.items():
        per = lambda key: (rs[1][key] - rs[0][key]) / (sizes[1] - sizes[0]) * 1e6
        res[stage] = {"runs": rs, "heap_mib_per_million_docs": round(per("peak_heap_mib"), 1),
                      "rss_mib_per_million_docs": round(per("rss_above_baseline_mib"), 1)}
    return res


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sets, one repeat (under a minute)")
    args = ap.parse_args()
    cfg = DedupConfig()
    q = args.quick
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared 2-core machine, loaded by other work while measured"},
        "mode": "quick" if q else "full",
        "config": {k: v for k, v in cfg.as_dict().items() if k in ("threshold", "num_perm", "bands", "rows", "shingle_size",
                                                                    "hashfunc", "scheme", "verify")},
    }
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        tmp = Path(tmp)
        results["accuracy"] = accuracy(350 if q else None, cfg, tmp)
        if not q:
            results["accuracy_num_perm_256"] = accuracy(None, DedupConfig(num_perm=256), tmp)
            results["accuracy_verify_estimate"] = accuracy(None, DedupConfig(verify="estimate"), tmp)
            results["accuracy_verify_estimate_256"] = accuracy(None, DedupConfig(verify="estimate", num_perm=256), tmp)
            results["accuracy_verify_none"] = accuracy(None, DedupConfig(verify="none", fp_weight=0.5, fn_weight=0.5), tmp)
        results["accents"] = accents([t for _, t in load_texts(200 if q else None)])
        results["throughput"] = throughput(150 if q else None, cfg, 2 if q else 7)
        results["memory"] = memory((100_000, 300_000) if q else (500_000, 2_000_000), DedupConfig(verify="estimate"), tmp)
    write_results("dedup", results, q)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
