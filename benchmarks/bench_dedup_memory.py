"""Memory of the dedup tasks that read the whole corpus, per million documents, and what a corpus of
441 million documents (FineWeb-2's Spanish) needs of a 16 GB worker.

A synthetic corpus (no texts; the point is band and cluster memory, not signing speed) is written
through the signature stage's own writer (`stages.write_signed`) in shards of 50,000 documents:
random 128-permutation signatures, 5% of documents exact copies of another (same text key and
signature), 5% near copies (about 95% of permutations agree), every document a URL key (1% shared).
Corpora of 0.25, 0.5, 1 and 2 million documents are prefixes of one pool of shards. For each size,
each measured task runs alone in a fresh Python process:

- one exact partition (`exact_partition`, partition 0 of the config's 16);
- one band task (`band_edges`, band 0, part 0) with band_partitions P = 1, 2, 4, 8 (the parts of a
  band hold equal shares of the documents: band hashes are uniform);
- the cluster task (`cluster`), after every band of P = 1;
- the cluster task again over links written directly (no exact or band stage) so that a chosen share
  of the documents is linked (`--linked`, default 10%, 30% and 50%): the cluster task's memory follows
  the linked documents, and the default corpus links only about a fifth of them. Clusters of 2 to 10
  documents (mostly pairs, as in the default corpus), members drawn across the whole corpus, half the
  links exact (in the 16 exact files), half near (in the 14 band files).

Recorded per task: peak RSS (VmHWM: what a worker's memory monitor sees; it counts the pages of
memory-mapped stage files a task touches, which the kernel can drop, and the interpreter; not
`ru_maxrss`, which survives exec and so reports the benchmark's own peak when that is larger), peak
anonymous RSS (RssAnon sampled every 2 ms: heap that cannot be dropped), both above the process's
RSS before the task, and seconds. Per document = least-squares slope over the sizes; the projection
to 441M documents is intercept + slope x 441M (per-task figures at each P: what does not shrink with P,
such as the list of exact duplicates, is in the slope of every P). The cluster task's bytes per
document are fitted as a + b x linked share over every corpus (the default one and the synthetic-link
ones): b is its bytes per linked document, and the projection says up to which linked share it fits a
16 GB worker at 441M documents. Verification is "estimate" (signature agreement): the synthetic corpus
has no shingle sets.

    python benchmarks/bench_dedup_memory.py            # writes benchmarks/results/dedup_memory.json
    python benchmarks/bench_dedup_memory.py --quick    # 25k-200k documents, dedup_memory.quick.json
    python benchmarks/bench_dedup_memory.py --linked 0.1,0.3   # the linked shares of the cluster sweep
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from record import write_results  # noqa: E402
from tamiz.pipeline.dedup.config import DedupConfig  # noqa: E402

TARGET_DOCS = 441_000_000  # FineWeb-2, Spanish (spa_Latn)
WORKER_BYTES = 16 * 2**30
USABLE_BYTES = 12 * 2**30  # headroom for the worker process, Arrow buffers and the page cache
SHARD_DOCS = 50_000
PARTS = (1, 2, 4, 8)
EXACT_SHARE, NEAR_SHARE, URL_SHARE = 0.05, 0.05, 0.01


# ---------------------------------------------------------------- the synthetic corpus

def write_pool(pool: Path, shards: int, cfg: DedupConfig) -> list[dict]:
    """`shards` shards of SHARD_DOCS documents each, written as the signature stage writes them;
    returns the records build_layout needs. Copies stay inside their shard, so every prefix of the
    pool is a corpus of its own."""
    import pyarrow as pa

    from tamiz.pipeline.dedup.stages import _SRC, write_signed

    records = []
    n = SHARD_DOCS
    for s in range(shards):
        name = f"synthetic-{s:05d}"
        sha = f"{s:064x}"
        records.append({"shard": name, "input": {"path": f"synthetic/{name}.parquet", "sha256": sha},
                        "counts": {"docs": n}})
        if (pool / "bands" / f"{name}.arrow").exists():
            continue
        rng = np.random.default_rng(s)
        sig = rng.integers(0, 2**32, size=(n, cfg.num_perm), dtype=np.uint64).astype(np.uint32)
        text = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
        url = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
        order = rng.permutation(n)  # originals, exact copies, near copies: disjoint sets of rows
        n_exact, n_near = int(n * EXACT_SHARE), int(n * NEAR_SHARE)
        originals = order[n_exact + n_near:]
        exact_rows, near_rows = order[:n_exact], order[n_exact:n_exact + n_near]
        src = rng.choice(originals, n_exact)
        sig[exact_rows], text[exact_rows] = sig[src], text[src]
        src = rng.choice(originals, n_near)
        copy = sig[src]
        changed = rng.random(copy.shape) < 0.05
        copy[changed] = rng.integers(0, 2**32, int(changed.sum()), dtype=np.uint64).astype(np.uint32)
        sig[near_rows] = copy
        n_url = int(n * URL_SHARE)
        url[order[-n_url:]] = url[rng.choice(originals[:-n_url], n_url)]
        ids = pa.array([f"syn-{s:05d}-{i:06d}" for i in range(n)], pa.string())
        source = pa.array(["common_crawl"] * n, pa.string()).dictionary_encode().cast(_SRC)
        write_signed(pool, name, cfg, {"shard": name, "input_sha256": sha}, ids, source, np.full(n, 500),
                     sig, np.ones(n, dtype=bool), text, np.arange(n), url, None)
    return records


def corpus(pool: Path, work: Path, records: list[dict], cfg: DedupConfig) -> Path:
    """A dedup folder over the first len(records) shards of the pool (their files linked, not copied),
    made afresh."""
    from tamiz.pipeline.dedup.layout import build_layout

    out = work / f"corpus-{len(records) * SHARD_DOCS}"
    shutil.rmtree(out, ignore_errors=True)  # a folder of an earlier run (--work) would resume: nothing measured
    for folder in ("signatures", "bands", "keys"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for r in records:
            link = out / folder / f"{r['shard']}.arrow"
            if not link.exists():
                link.symlink_to(pool / folder / f"{r['shard']}.arrow")
    build_layout(out, cfg, [], records)
    return out


CLUSTER_SIZES = np.array([2, 3, 4, 5, 6, 8, 10])  # sizes of the synthetic clusters, and their shares:
CLUSTER_WEIGHTS = np.array([0.85, 0.09, 0.03, 0.01, 0.01, 0.005, 0.005])  # mostly pairs, like the default corpus


def linked_corpus(pool: Path, work: Path, records: list[dict], cfg: DedupConfig, share: float) -> Path:
    """A dedup folder over the first len(records) shards of the pool whose link files (exact/ and
    edges/, written here, no exact or band stage run) link `share` of its documents, in clusters of
    CLUSTER_SIZES drawn across the whole corpus: each cluster a star around its first member, every
    other link exact (kind text, or URL for one in ten), the rest near links spread over the bands."""
    import pyarrow as pa
    from tamiz.pipeline.dedup import exact
    from tamiz.pipeline.dedup.files import write_table
    from tamiz.pipeline.dedup.layout import build_layout

    n = len(records) * SHARD_DOCS
    out = work / f"linked-{n}-{share:g}"
    shutil.rmtree(out, ignore_errors=True)
    for r in records:
        (out / "signatures").mkdir(parents=True, exist_ok=True)
        link = out / "signatures" / f"{r['shard']}.arrow"
        if not link.exists():
            link.symlink_to(pool / "signatures" / f"{r['shard']}.arrow")
    build_layout(out, cfg, [], records)
    rng = np.random.default_rng(int(share * 1000) * 7919 + n)
    linked = int(n * share)
    sizes = rng.choice(CLUSTER_SIZES, size=linked // 2 + 1, p=CLUSTER_WEIGHTS)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), linked) + 1]
    sizes[-1] -= max(0, int(sizes.sum()) - linked)
    sizes = sizes[sizes >= 2]
    members = rng.permutation(n)[: int(sizes.sum())]
    uid = (members // SHARD_DOCS).astype(np.uint64) << np.uint64(32) | (members % SHARD_DOCS).astype(np.uint64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    hub = np.repeat(uid[starts], sizes)
    spoke = np.ones(len(uid), dtype=bool)
    spoke[starts] = False
    u, v = hub[spoke], uid[spoke]
    is_exact = rng.random(len(u)) < 0.5
    h = cfg.hash()
    eu, ev = u[is_exact], v[is_exact]
    ekind = np.where(rng.random(len(eu)) < 0.9, exact.TEXT, exact.URL).astype(np.uint8)
    epart = rng.integers(0, cfg.exact_partitions, len(eu))
    for p in range(cfg.exact_partitions):
        sel = np.flatnonzero(epart == p)
        write_table(out / "exact" / f"part-{p:04d}.arrow",
                    pa.table({"u": pa.array(eu[sel], pa.uint64()), "v": pa.array(ev[sel], pa.uint64()),
                              "kind": pa.array(ekind[sel], pa.uint8())}), "exact", h, out)
    nu, nv = u[~is_exact], v[~is_exact]
    band = rng.integers(0, cfg.bands, len(nu))
    for b in range(cfg.bands):
        sel = np.flatnonzero(band == b)
        sel = sel[np.lexsort((nv[sel], nu[sel]))]
        write_table(out / "edges" / f"band-{b:04d}.arrow",
                    pa.table({"u": pa.array(nu[sel]), "v": pa.array(nv[sel]),
                              "agree": pa.array(np.full(len(sel), cfg.num_perm, np.uint16)),
                              "jaccard": pa.array(np.ones(len(sel), np.float32))}), "edges", h, out)
    return out


def linked_share(counts: dict) -> float:
    """Share of the corpus in clusters of two or more, from the cluster task's counts."""
    return sum(int(k) * c for k, c in counts["cluster_sizes"].items()) / counts["documents"]


# ---------------------------------------------------------------- one task in a fresh process

_CHILD = r"""
import json, sys, threading, time
sys.path.insert(0, {root!r})
import pyarrow as pa
from tamiz.pipeline.dedup import stages

def status():
    got = {{}}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            got[k] = int(v.split()[0])
    return got

pa.chunked_array([[1]]).to_numpy()  # pyarrow's pandas shim loads on first use: a fixed cost
base = status()
peak = dict(base)
done = threading.Event()

def sample():  # VmHWM gives the peak of the total only; the anonymous and file-backed parts are sampled
    while not done.is_set():
        for k, v in status().items():
            peak[k] = max(peak[k], v)
        time.sleep(0.002)

t = threading.Thread(target=sample, daemon=True)
t.start()
t0 = time.perf_counter()
rec = getattr(stages, {fn!r})(*{args!r})
dt = time.perf_counter() - t0
done.set(); t.join()
print(json.dumps({{"base": base, "peak": peak, "hwm_kib": status()["VmHWM"],
                   "arrow_pool_max": pa.default_memory_pool().max_memory(), "seconds": dt, "counts": rec["counts"]}}))
"""


def measure(fn: str, *args) -> dict:
    code = _CHILD.format(root=str(ROOT), fn=fn, args=tuple(str(a) if isinstance(a, Path) else a for a in args))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{fn}{args}: {p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    kib = 1024
    return {"peak_rss_bytes": r["hwm_kib"] * kib,
            "rss_above_start_bytes": (r["hwm_kib"] - r["base"]["VmRSS"]) * kib,
            "anon_above_start_bytes": (r["peak"]["RssAnon"] - r["base"]["RssAnon"]) * kib,
            "file_mapped_peak_bytes": (r["peak"]["RssFile"] - r["base"]["RssFile"]) * kib,
            "start_rss_bytes": r["base"]["VmRSS"] * kib, "seconds": round(r["seconds"], 3), "counts": r["counts"]}


# ---------------------------------------------------------------- per document, projection

def fit(docs: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares (bytes per document, fixed bytes)."""
    slope, intercept = np.polyfit(np.array(docs, dtype=float), np.array(values, dtype=float), 1)
    return float(slope), float(intercept)


def summarize(runs: list[dict]) -> dict:
    docs = [r["documents"] for r in runs]
    out = {}
    for key in ("peak_rss_bytes", "anon_above_start_bytes", "seconds"):
        slope, intercept = fit(docs, [r[key] for r in runs])
        out[key.replace("_bytes", "") + "_per_doc"] = round(slope, 9 if key == "seconds" else 2)
        out[key.replace("_bytes", "") + "_fixed"] = round(intercept, 3 if key == "seconds" else 0)
        out[key.replace("_bytes", "") + f"_at_{TARGET_DOCS // 1_000_000}M"] = round(intercept + slope * TARGET_DOCS, 1)
    return out


def gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="25k to 200k documents (a minute)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the synthetic corpora (default: a temporary one)")
    ap.add_argument("--linked", default="0.1,0.3,0.5",
                    help="linked shares of the cluster task's sweep over synthetic links (comma-separated; '' for none)")
    args = ap.parse_args()
    shares = [float(x) for x in args.linked.split(",") if x.strip()]
    sizes = [25_000, 50_000, 100_000, 200_000] if args.quick else [250_000, 500_000, 1_000_000, 2_000_000]
    global SHARD_DOCS
    if args.quick:
        SHARD_DOCS = 12_500
    cfg = DedupConfig(verify="estimate")
    from tamiz.pipeline.dedup.layout import build_layout
    from tamiz.pipeline.dedup.stages import band_edges, exact_partition

    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="bench-dedup-memory-")
    work = args.work or Path(tmp.name)
    t0 = time.perf_counter()
    records = write_pool(work / "pool", max(sizes) // SHARD_DOCS, cfg)
    gen_seconds = time.perf_counter() - t0
    runs: dict[str, list[dict]] = {"exact": [], "cluster": [], **{f"band_P{p}": [] for p in PARTS}}
    for n in sizes:
        recs = records[: n // SHARD_DOCS]
        out = corpus(work / "pool", work, recs, cfg)
        print(f"{n:,} documents", file=sys.stderr, flush=True)
        runs["exact"].append({"documents": n, **measure("exact_partition", out, 0)})
        for part in range(1, cfg.exact_partitions):
            exact_partition(out, part)
        for p in PARTS:
            build_layout(out, DedupConfig(**{**cfg.as_dict(), "band_partitions": p}), [], recs)
            runs[f"band_P{p}"].append({"documents": n, "P": p, **measure("band_edges", out, 0, 0)})
        build_layout(out, cfg, [], recs)
        for band in range(1, cfg.bands):
            band_edges(out, band, 0)
        runs["cluster"].append({"documents": n, **measure("cluster", out)})
        for share in shares:
            lout = linked_corpus(work / "pool", work, recs, cfg, share)
            runs.setdefault(f"cluster_linked_{share:g}", []).append({"documents": n, **measure("cluster", lout)})
    for k, rs in runs.items():
        if k.startswith("cluster"):
            for r in rs:
                r["linked_share"] = round(linked_share(r["counts"]), 4)

    fits = {k: summarize(v) for k, v in runs.items()}
    band = {p: fits[f"band_P{p}"] for p in PARTS}
    # a band task's bytes per document = what every part holds + what is split: a + b / P over the measured P
    A = np.array([[1.0, 1.0 / p] for p in PARTS])
    (shared, split), *_ = np.linalg.lstsq(A, np.array([band[p]["peak_rss_per_doc"] for p in PARTS]), rcond=None)
    fixed = max(band[p]["peak_rss_fixed"] for p in PARTS)
    room = USABLE_BYTES - fixed - shared * TARGET_DOCS
    p_needed = math.ceil(split * TARGET_DOCS / room) if room > 0 else None
    cl = fits["cluster"]
    # the cluster task's bytes per document = a + b x linked share (b: bytes per linked document), over
    # every corpus's slope; its projection = fixed + (a + b x share) x 441M
    cluster_keys = [k for k in fits if k.startswith("cluster")]
    cshare = np.array([np.mean([r["linked_share"] for r in runs[k]]) for k in cluster_keys])
    cper = np.array([fits[k]["peak_rss_per_doc"] for k in cluster_keys])
    if len(set(np.round(cshare, 3))) > 1:
        (c_a, c_b), *_ = np.linalg.lstsq(np.stack([np.ones_like(cshare), cshare], axis=1), cper, rcond=None)
    else:
        c_a, c_b = float(cper[0]), float("nan")
    c_fixed = max(fits[k]["peak_rss_fixed"] for k in cluster_keys)
    max_share = (USABLE_BYTES - c_fixed - c_a * TARGET_DOCS) / (c_b * TARGET_DOCS) if c_b > 0 else None
    cluster_by_share = {k: {"linked_share": round(float(sh), 4), "peak_rss_per_doc": fits[k]["peak_rss_per_doc"],
                            "peak_rss_per_linked_doc": round(fits[k]["peak_rss_per_doc"] / sh, 1) if sh else None,
                            f"peak_rss_at_{TARGET_DOCS // 1_000_000}M": fits[k][f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"],
                            "fits_usable": fits[k][f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"] <= USABLE_BYTES}
                        for k, sh in zip(cluster_keys, cshare)}
    projection = {
        "documents": TARGET_DOCS, "usable_bytes": USABLE_BYTES, "worker_bytes": WORKER_BYTES,
        "band_rss_per_doc_model": {"shared": round(float(shared), 2), "split": round(float(split), 2),
                                   "formula": "fixed + (shared + split / P) * documents"},
        "band_task_peak_rss": {p: band[p][f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"] for p in PARTS},
        "band_partitions_needed": p_needed,
        "cluster_peak_rss": cl[f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"],
        "cluster_anon": cl[f"anon_above_start_at_{TARGET_DOCS // 1_000_000}M"],
        "cluster_fits_16GB": cl[f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"] <= USABLE_BYTES,  # 12 GiB usable of 16
        "cluster_by_linked_share": cluster_by_share,
        "cluster_rss_per_doc_model": {"per_doc": round(float(c_a), 2), "per_linked_doc": round(float(c_b), 2),
                                      "fixed": c_fixed, "formula": "fixed + (per_doc + per_linked_doc * share) * documents"},
        "cluster_max_linked_share_usable": None if max_share is None else round(float(max_share), 3),
        "exact_partition_peak_rss": fits["exact"][f"peak_rss_at_{TARGET_DOCS // 1_000_000}M"],
        "exact_partitions": cfg.exact_partitions,
    }
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared 2-core machine, loaded by other work while measured: seconds are indicative"},
        "mode": "quick" if args.quick else "full",
        "corpus": {"sizes": sizes, "shard_docs": SHARD_DOCS, "exact_share": EXACT_SHARE, "near_share": NEAR_SHARE,
                   "url_share": URL_SHARE, "generation_seconds": round(gen_seconds, 1), "linked_shares": shares,
                   "synthetic_cluster_sizes": dict(zip(CLUSTER_SIZES.tolist(), CLUSTER_WEIGHTS.tolist()))},
        "config": {k: cfg.as_dict()[k] for k in ("num_perm", "bands", "rows", "verify", "exact_partitions")},
        "runs": runs, "per_document": fits, "projection": projection,
    }
    path = write_results("dedup_memory", results, args.quick)

    print(f"{'task':<24}{'docs':>11}{'peak RSS':>12}{'anon':>11}{'file pages':>12}{'seconds':>9}")
    for k, rs in runs.items():
        for r in rs:
            print(f"{k:<24}{r['documents']:>11,}{r['peak_rss_bytes'] / 2**20:>9.0f} MiB{r['anon_above_start_bytes'] / 2**20:>7.0f} MiB"
                  f"{r['file_mapped_peak_bytes'] / 2**20:>8.0f} MiB{r['seconds']:>9.2f}")
    print(f"\n{'task':<24}{'RSS B/doc':>10}{'anon B/doc':>11}{'at 441M (RSS)':>15}")
    for k, f in fits.items():
        print(f"{k:<24}{f['peak_rss_per_doc']:>10.1f}{f['anon_above_start_per_doc']:>11.1f}"
              f"{gib(f['peak_rss_at_441M']):>15}")
    print(f"\nband task at 441M: {', '.join(f'P={p}: {gib(v)}' for p, v in projection['band_task_peak_rss'].items())}; "
          f"P needed for {gib(USABLE_BYTES)}: {p_needed}")
    print(f"cluster at 441M: {gib(projection['cluster_peak_rss'])} "
          f"({'fits' if projection['cluster_fits_16GB'] else 'does NOT fit'} {gib(USABLE_BYTES)} of a 16 GiB worker)")
    for k, c in cluster_by_share.items():
        print(f"  {k:<22} linked {c['linked_share']:.1%}: {c['peak_rss_per_doc']:.1f} B/doc, "
              f"{c['peak_rss_per_linked_doc']} B/linked doc, at 441M {gib(c['peak_rss_at_441M'])}")
    print(f"  model: {c_a:.1f} + {c_b:.1f} x share bytes per document; fits {gib(USABLE_BYTES)} up to a linked share of "
          f"{projection['cluster_max_linked_share_usable']}")
    print(f"wrote {path.relative_to(ROOT)}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
