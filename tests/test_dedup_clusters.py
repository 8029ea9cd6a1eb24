"""The cluster task over the linked documents only writes the same bytes as the union-find over every
document of the corpus that it replaced (kept below as the reference), on the real sample, on an
incremental chain of runs, and on synthetic corpora with large clusters, several sources and a
previous run whose clusters a new document joins."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamiz.pipeline.dedup import exact
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.pipeline.dedup.files import read_table, write_table
from tamiz.pipeline.dedup.layout import Layout, build_layout, ranks, split_uid, uids
from tamiz.pipeline.dedup.run import dedup_local
from tamiz.pipeline.dedup.stages import (_SRC, REASON_CODES, _edge_files, _run_files, _shard_ranks, band_task_name,
                                         cluster, linked_uids, write_signed)
from tamiz.pipeline.dedup.unionfind import UnionFind

PRIORITY = ["books", "reference", "common_crawl"]
SMALL = {"num_perm": 64, "exact_partitions": 4}


# ---------------------------------------------------------------- the reference: one entry per document

def reference_cluster(out_dir: Path, dest: Path) -> dict:
    """The cluster task as it was before it worked on the linked documents only (union-find, ranks,
    sizes and kept uids for every document of the corpus): writes dest/clusters/<shard>.arrow and
    dest/previous_cluster_sizes.parquet, returns the counts."""
    out = Path(out_dir)
    layout = Layout.load(out)
    h = layout.config_hash
    link_files = _run_files(layout, "exact") + [f for run in layout.runs() for f in _edge_files(run)]
    shards = sorted(layout.shards, key=lambda s: s["number"])
    offsets = layout.offsets()
    N = int(offsets[-1])
    new_lo = int(offsets[layout.first_new])

    def dense(uid: np.ndarray) -> np.ndarray:
        sh, row = split_uid(uid)
        return offsets[sh] + row

    uf = UnionFind(N)
    n_links = 0
    for f in link_files:
        kind = "exact" if f.parent.name == "exact" else "edges"
        t = read_table(f, kind, h, ["u", "v"])
        uf.union(dense(t.column("u").to_numpy()), dense(t.column("v").to_numpy()))
        n_links += t.num_rows
    roots = uf.roots()
    size = np.bincount(roots, minlength=N).astype(np.int64)
    doc_size = size[roots]
    nontrivial = np.flatnonzero(doc_size > 1)
    rank = np.zeros(N, dtype=np.uint64)
    for s in shards:
        t = read_table(layout.file(s, "signatures"), "signatures", h, ["source"])
        lo = int(offsets[s["number"]])
        rows = np.arange(s["rows"])
        rank[lo:lo + s["rows"]] = ranks(uids(s["number"], rows), _shard_ranks(t.column("source"), layout.priority), s["new"])
    best = np.full(N, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(best, roots[nontrivial], rank[nontrivial])
    rep_uid = best[roots] & np.uint64((1 << 52) - 1)

    evs, eks = [], []
    for f in _run_files(layout, "exact"):
        t = read_table(f, "exact", h)
        evs.append(t.column("v").to_numpy())
        eks.append(t.column("kind").to_numpy())
    ev = np.concatenate(evs) if evs else np.zeros(0, np.uint64)
    ek = np.concatenate(eks) if eks else np.zeros(0, np.uint8)
    why = np.full(N - new_lo, REASON_CODES["near"], dtype=np.uint8)
    dv = dense(ev) - new_lo
    m = dv >= 0
    np.minimum.at(why, dv[m], np.where(ek[m] == exact.TEXT, REASON_CODES["exact"], REASON_CODES["url"]).astype(np.uint8))

    new_nt = nontrivial[nontrivial >= new_lo]
    need = np.unique(rep_uid[new_nt])
    rep_ids: dict[int, str] = {}
    nsh, nrow = split_uid(need)
    for sn in np.unique(nsh):
        t = read_table(layout.file(shards[int(sn)], "signatures"), "signatures", h, ["id"])
        sel = nrow[nsh == sn]
        for r, i in zip(sel.tolist(), t.column("id").take(pa.array(sel)).to_pylist()):
            rep_ids[(int(sn) << 32) | r] = i

    for s in shards:
        if not s["new"]:
            continue
        lo = int(offsets[s["number"]])
        idx = new_nt[(new_nt >= lo) & (new_nt < lo + s["rows"])]
        rows = idx - lo
        reps = rep_uid[idx]
        reason = np.where(reps == uids(s["number"], rows), REASON_CODES["kept"], why[idx - new_lo]).astype(np.uint8)
        table = pa.table({"row": pa.array(rows.astype(np.uint32)), "rep_uid": pa.array(reps),
                          "rep_id": pa.array([rep_ids[int(x)] for x in reps], pa.string()),
                          "size": pa.array(doc_size[idx].astype(np.uint32)), "reason": pa.array(reason)})
        write_table(dest / "clusters" / f"{s['name']}.arrow", table, "clusters", h, dest)

    old_reps = np.unique(rep_uid[new_nt][rep_uid[new_nt] < (np.uint64(layout.first_new) << np.uint64(32))])
    grown = pa.table({"id": pa.array([rep_ids[int(x)] for x in old_reps], pa.string()),
                      "dup_cluster_size": pa.array(doc_size[dense(old_reps)].astype(np.int64))})
    pq.write_table(grown, dest / "previous_cluster_sizes.parquet", compression="zstd")

    new_roots = np.unique(roots[new_nt])
    hist = np.bincount(size[new_roots]) if len(new_roots) else np.zeros(0, np.int64)
    old_nt = nontrivial[nontrivial < new_lo]
    bridged = 0
    if len(old_nt):
        removed = []
        for s in layout.shards:
            f = layout.file(s, "clusters")
            if not s["new"] and f.exists():
                t = read_table(f, "clusters", h, ["row", "reason"])
                gone = t.column("reason").to_numpy() != REASON_CODES["kept"]
                removed.append(offsets[s["number"]] + t.column("row").to_numpy().astype(np.int64)[gone])
        old_removed = np.concatenate(removed) if removed else np.zeros(0, np.int64)
        sh_of = np.searchsorted(offsets, old_nt, side="right") - 1
        old_self = (sh_of.astype(np.uint64) << np.uint64(32)) | (old_nt - offsets[sh_of]).astype(np.uint64)
        bridged = int(((rep_uid[old_nt] != old_self) & ~np.isin(old_nt, old_removed)).sum())
    return {"documents": N, "new_documents": N - new_lo, "links": n_links, "clusters": len(new_roots),
            "cluster_sizes": {int(k): int(c) for k, c in enumerate(hist) if c and k > 1},
            "previous_kept_now_duplicate": bridged, "previous_clusters_grown": len(old_reps)}


def _digests(folder: Path) -> dict[str, str]:
    files = sorted((folder / "clusters").glob("*.arrow")) + [folder / "previous_cluster_sizes.parquet"]
    return {f.relative_to(folder).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def assert_same_as_reference(out: Path, tmp_path: Path, counts: dict) -> None:
    ref = tmp_path / f"reference-{out.name}"
    got = reference_cluster(out, ref)
    assert _digests(out) == _digests(ref)
    assert json.loads(json.dumps(counts)) == json.loads(json.dumps(got))  # as the records hold them


# ---------------------------------------------------------------- the real sample

def test_sample_run_is_byte_identical(ingested_sample, tmp_path):
    out = tmp_path / "run"
    summary = dedup_local([ingested_sample], out, DedupConfig(**SMALL), PRIORITY)
    counts = summary["counts"]["clusters"]
    assert counts["cluster_sizes"] and max(int(k) for k in counts["cluster_sizes"]) >= 3
    assert_same_as_reference(out, tmp_path, counts)


def test_incremental_chain_is_byte_identical(ingested_sample, tmp_path):
    shards = sorted((ingested_sample / "docs").glob("*.parquet"))
    warc = [s for s in shards if s.name.startswith("tamiz-sample")]
    rest = [s for s in shards if not s.name.startswith("tamiz-sample")]
    cfg = DedupConfig(**SMALL)
    crawls = [[warc[0]] + rest, [warc[1], warc[2]], [warc[3]]]
    prev = None
    for i, crawl in enumerate(crawls):
        out = tmp_path / f"d{i}"
        s = dedup_local(crawl, out, cfg, PRIORITY, against=prev)
        assert_same_as_reference(out, tmp_path, s["counts"]["clusters"])
        prev = out
    assert s["counts"]["clusters"]["previous_clusters_grown"] > 0


# ---------------------------------------------------------------- synthetic links

SOURCES = ["books", "reference", "common_crawl", "forum"]  # "forum" is not in the priority: ranked last


def _signed(out: Path, cfg: DedupConfig, name: str, n: int, rng: np.random.Generator) -> dict:
    """A shard's signature files (random signatures, random sources); returns its sign record."""
    sha = hashlib.sha256(name.encode()).hexdigest()
    ids = pa.array([f"{name}-doc-{i:05d}" + "x" * int(rng.integers(0, 30)) for i in range(n)], pa.string())
    src = pa.array([SOURCES[i] for i in rng.integers(0, len(SOURCES), n)], pa.string()).dictionary_encode().cast(_SRC)
    sig = rng.integers(0, 2**32, size=(n, cfg.num_perm), dtype=np.uint64).astype(np.uint32)
    keys = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    write_signed(out, name, cfg, {"shard": name, "input_sha256": sha}, ids, src, np.full(n, 50), sig,
                 np.ones(n, dtype=bool), keys, np.zeros(0, np.int64), np.zeros((0, 16), np.uint8), None)
    return {"shard": name, "input": {"path": f"{name}.parquet", "sha256": sha}, "counts": {"docs": n}}


def _write_links(out: Path, layout: Layout, pairs: list[tuple[int, int, int]], rng: np.random.Generator) -> None:
    """pairs (u, v, kind): kind exact.TEXT / exact.URL go to the exact files, -1 to the band files."""
    cfg, h = layout.config, layout.config_hash
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 3)
    u, v, k = arr[:, 0].astype(np.uint64), arr[:, 1].astype(np.uint64), arr[:, 2]
    ex = k >= 0
    part = rng.integers(0, cfg.exact_partitions, len(u))
    for p in range(cfg.exact_partitions):
        sel = ex & (part == p)
        write_table(out / "exact" / f"part-{p:04d}.arrow",
                    pa.table({"u": pa.array(u[sel], pa.uint64()), "v": pa.array(v[sel], pa.uint64()),
                              "kind": pa.array(k[sel].astype(np.uint8), pa.uint8())}), "exact", h, out)
    band = rng.integers(0, cfg.bands, len(u))
    for b in range(cfg.bands):
        sel = ~ex & (band == b)
        write_table(out / "edges" / f"{band_task_name(b, 0, 1)}.arrow",
                    pa.table({"u": pa.array(u[sel], pa.uint64()), "v": pa.array(v[sel], pa.uint64()),
                              "agree": pa.array(np.full(int(sel.sum()), cfg.num_perm, np.uint16)),
                              "jaccard": pa.array(np.ones(int(sel.sum()), np.float32))}), "edges", h, out)


def _random_links(docs: list[int], rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Clusters over `docs` (uids): pairs, stars, chains, one large cluster, some documents linked twice
    (exact text and URL, so the reason takes the stronger), a self-link, and repeated links."""
    docs = list(rng.permutation(np.array(docs, dtype=np.uint64)).tolist())
    lone = docs.pop()
    kinds = [exact.TEXT, exact.URL, -1, -1]
    links: list[tuple[int, int, int]] = []
    pos = 0
    sizes = [150, 40] + [int(x) for x in rng.choice([2, 2, 2, 3, 4, 7], 120)]
    for z in sizes:
        members = docs[pos:pos + z]
        pos += z
        if len(members) < 2:
            break
        chain = rng.random() < 0.5
        for i in range(1, len(members)):
            a = members[i - 1] if chain else members[0]
            links.append((a, members[i], int(rng.choice(kinds))))
        if rng.random() < 0.3:  # the same pair again, as the other kind
            links.append((members[0], members[1], exact.URL if links[-1][2] == exact.TEXT else exact.TEXT))
    links.append((lone, lone, -1))  # a document linked only to itself: a cluster of one
    return links


def test_synthetic_is_byte_identical(tmp_path):
    rng = np.random.default_rng(7)
    cfg = DedupConfig(**SMALL)
    out = tmp_path / "syn"
    sizes = [400, 250, 0, 300, 350, 120]  # an empty shard; the shard after the links (index 5) has none
    recs = [_signed(out, cfg, f"s{i}", n, rng) for i, n in enumerate(sizes)]
    layout = build_layout(out, cfg, PRIORITY, recs)
    docs = [int(uids(i, np.array([r]))[0]) for i, n in enumerate(sizes[:5]) for r in range(n)]
    _write_links(out, layout, _random_links(docs, rng), rng)
    counts = cluster(out)["counts"]
    assert 150 in {int(k) for k in counts["cluster_sizes"]}
    assert_same_as_reference(out, tmp_path, counts)
    assert pa.ipc.open_file(str(out / "clusters" / "s5.arrow")).read_all().num_rows == 0


def test_synthetic_incremental_is_byte_identical(tmp_path):
    """A second run against the first: new documents join old clusters, link two old clusters (the
    worse-ranked old kept document is then counted in previous_kept_now_duplicate), and pair with
    each other."""
    rng = np.random.default_rng(11)
    cfg = DedupConfig(**SMALL)
    first, second = tmp_path / "first", tmp_path / "second"
    recs = [_signed(first, cfg, f"old{i}", 200, rng) for i in range(3)]
    layout = build_layout(first, cfg, PRIORITY, recs)
    old = [int(uids(i, np.array([r]))[0]) for i in range(3) for r in range(200)]
    _write_links(first, layout, _random_links(old[:500], rng), rng)
    cluster(first)
    (first / "manifest.json").write_text("{}")  # what previous_run looks for: a finished run

    recs2 = [_signed(second, cfg, f"new{i}", 150, rng) for i in range(2)]
    layout2 = build_layout(second, cfg, PRIORITY, recs2, against=first)
    new = [int(uids(3 + i, np.array([r]))[0]) for i in range(2) for r in range(150)]
    t = [read_table(f, "exact", cfg.hash()) for f in sorted((first / "exact").glob("*.arrow"))]
    old_pairs = [(a, b) for x in t for a, b in zip(x.column("u").to_pylist(), x.column("v").to_pylist())]
    links = _random_links(new[:200], rng)  # among the new documents
    for i, (a, b) in enumerate(old_pairs[:40]):  # a new document joins an old cluster
        links.append((a, new[200 + i], int(rng.choice([exact.TEXT, -1]))))
    for i in range(0, 20, 2):  # a new document joins two old clusters
        (a, _), (b, _) = old_pairs[40 + i], old_pairs[41 + i]
        links += [(a, new[240 + i], -1), (b, new[240 + i], exact.URL)]
    links.append((old[590], old[591], -1))  # a link between two old documents, found by this run
    _write_links(second, layout2, links, rng)
    counts = cluster(second)["counts"]
    assert counts["previous_clusters_grown"] > 0 and counts["previous_kept_now_duplicate"] > 0
    assert_same_as_reference(second, tmp_path, counts)


def test_linked_uids_are_the_distinct_ends(tmp_path):
    rng = np.random.default_rng(3)
    cfg = DedupConfig(**SMALL)
    h = cfg.hash()
    files = []
    every = []
    for i in range(3):
        u = rng.integers(0, 50, 40).astype(np.uint64)
        v = rng.integers(0, 1 << 40, 40).astype(np.uint64)
        f = tmp_path / "edges" / f"band-{i:04d}.arrow"
        write_table(f, pa.table({"u": pa.array(u), "v": pa.array(v)}), "edges", h, tmp_path)
        files.append(f)
        every += [u, v]
    f = tmp_path / "exact" / "part-0000.arrow"
    write_table(f, pa.table({"u": pa.array([], pa.uint64()), "v": pa.array([], pa.uint64())}), "exact", h, tmp_path)
    nodes, n = linked_uids(files + [f], h)
    assert n == 120 and np.array_equal(nodes, np.unique(np.concatenate(every)))
    nodes, n = linked_uids([f], h)
    assert n == 0 and len(nodes) == 0 and nodes.dtype == np.uint64
