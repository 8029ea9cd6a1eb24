"""Dedup: accuracy against brute-force Jaccard, signature throughput against datasketch and rensa,
peak memory of the band and cluster stages per million documents.

1. accuracy: real Spanish texts (Reina-Valera 1909 chapters, Debian Reference sections) plus
   controlled near duplicates of some of them (word edits, inserted and deleted lines, shuffled
   paragraphs, added web boilerplate, at random strengths). The true Jaccard similarity of the word
   5-shingle sets of every pair is computed by brute force (sparse product), and compared with the
   pairs tamiz links (verified LSH links) and puts in one cluster, at the configured threshold.
   Also: what stripping accents would merge (why it is off).
2. throughput: signatures per second in one process (= per core) for tamiz, datasketch
   (MinHash.update_batch, permutations shared, its best case) and rensa (RMinHash per document, and
   its bulk digest_matrix_from_token_sets), on the same documents, shingles and num_perm; from
   normalized words (each tool builds what it needs) and from raw text (normalization included).
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

def throughput(n_docs: int, cfg: DedupConfig, repeat: int) -> dict:
    import datasketch
    import rensa

    from tamiz.pipeline.dedup.minhash import Signer

    texts = [t for _, t in load_texts(None)][:n_docs]
    toks = [tokens(t) for t in texts]
    k, P = cfg.shingle_size, cfg.num_perm

    def shingles(w):
        return [" ".join(w[i:i + k]) for i in range(len(w) - k + 1)] if len(w) >= k else [" ".join(w)]

    perm = datasketch.MinHash(P, cfg.seed, scheme="affine32").permutations

    def ds_from_tokens():
        for w in toks:
            m = datasketch.MinHash(P, cfg.seed, permutations=perm, scheme="affine32")
            m.update_batch([s.encode("utf-8") for s in shingles(w)])

    def rensa_from_tokens():
        for w in toks:
            r = rensa.RMinHash(P, cfg.seed)
            r.update(shingles(w))
            r.digest()

    def rensa_bulk_from_tokens():
        rensa.RMinHash.digest_matrix_from_token_sets([shingles(w) for w in toks], P, cfg.seed)

    signer = Signer(cfg)
    sha_signer = Signer(DedupConfig(num_perm=P, hashfunc="sha1"))

    def tamiz_from_tokens():
        for i in range(0, len(toks), 256):
            signer.sign_tokens(toks[i:i + 256])

    def tamiz_sha1_from_tokens():
        for i in range(0, len(toks), 256):
            sha_signer.sign_tokens(toks[i:i + 256])

    def normalize_only():
        for t in texts:
            tokens(t)

    def tamiz_from_text():
        for i in range(0, len(texts), 256):
            signer.sign_texts(texts[i:i + 256])

    def best(f):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    signer.sign_tokens(toks[:8])  # warm the word cache path once (not the whole corpus)
    signer._cache.clear()
    t = {"tamiz (xxh3)": best(tamiz_from_tokens), "tamiz (sha1, bit-exact with default datasketch)": best(tamiz_sha1_from_tokens),
         "datasketch MinHash.update_batch": best(ds_from_tokens), "rensa RMinHash.update": best(rensa_from_tokens),
         "rensa digest_matrix_from_token_sets (bulk)": best(rensa_bulk_from_tokens)}
    norm = best(normalize_only)
    t_text = best(tamiz_from_text)
    n = len(texts)
    from_tokens = {name: round(n / s, 1) for name, s in t.items()}
    from_text = {name: round(n / (s + norm), 1) for name, s in t.items()}
    from_text["tamiz (xxh3)"] = round(n / t_text, 1)
    ds = from_tokens["datasketch MinHash.update_batch"]
    return {"documents": n, "mean_words": round(float(np.mean([len(w) for w in toks])), 1), "num_perm": P,
            "shingle_size": k, "docs_per_s_from_words": from_tokens, "docs_per_s_from_raw_text": from_text,
            "normalization_docs_per_s": round(n / norm, 1),
            "speedup_vs_datasketch_from_words": round(from_tokens["tamiz (xxh3)"] / ds, 2),
            "speedup_vs_datasketch_from_raw_text": round(from_text["tamiz (xxh3)"] / from_text["datasketch MinHash.update_batch"], 2),
            "ratio_vs_rensa_update_from_words": round(from_tokens["tamiz (xxh3)"] / from_tokens["rensa RMinHash.update"], 2),
            "ratio_vs_rensa_bulk_from_words": round(from_tokens["tamiz (xxh3)"] / from_tokens["rensa digest_matrix_from_token_sets (bulk)"], 2),
            "versions": {"datasketch": datasketch.__version__ if hasattr(datasketch, "__version__") else _ver("datasketch"),
                         "rensa": _ver("rensa"), "numpy": np.__version__}}


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
        results["throughput"] = throughput(300 if q else 1200, cfg, 1 if q else 3)
        results["memory"] = memory((100_000, 300_000) if q else (500_000, 2_000_000), DedupConfig(verify="estimate"), tmp)
    write_results("dedup", results, q)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
