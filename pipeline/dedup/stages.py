"""The dedup stages, each a pure function over files, restartable, none holding every signature.

    signatures (one task per input shard)
        signatures/<shard>.arrow  id, source, words, sig (num_perm x uint32; null: no words)
        keys/<shard>.arrow        exact keys (normalized text, normalized URL), one batch per partition
        bands/<shard>.arrow       one uint64 band hash per band, documents with words only
        shingles/<shard>.arrow    sorted distinct shingle hashes per document (verify="exact" only)
    layout.json                   shard numbers, rows, priority, previous runs (see layout.py)
    exact (one task per key partition)     exact/part-PPPP.arrow   links (kept, dup, kind)
    bands (one task per band and band-hash range: bands x band_partitions)
                                           edges/band-BBBB[-part-PPPP].arrow   verified near-duplicate links
    clusters (one task: union-find over the linked documents only)
                                           clusters/<shard>.arrow  documents in clusters of 2 or more:
                                           row, kept uid and id, cluster size, reason
    removal (one task per input shard)     docs/<shard>.parquet (kept, metadata.dup_cluster_size)
                                           removed/<shard>.parquet (metadata.duplicate_of, dedup_reason)

Each task writes `_shards/<task>.json` last; a rerun skips a task whose record matches its inputs
and configuration and whose files still have their checksums. Every .arrow file carries the config
hash and is refused under another configuration (files.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamiz.core.atomic import atomic_path
from tamiz.pipeline.dedup import exact, lsh
from tamiz.pipeline.dedup.config import DedupConfig
from tamiz.core import mirror
from tamiz.pipeline.dedup.files import DedupFileError, fixed_binary, open_file, read_table, write_batches, write_table
from tamiz.pipeline.dedup.layout import ROW_BITS, Layout, rank_codes, ranks, uids
from tamiz.pipeline.dedup.minhash import Signer
from tamiz.pipeline.dedup.unionfind import UnionFind
from tamiz.pipeline.shard_task import ShardTask
from tamiz.pipeline.stage import input_checksum
from tamiz.pipeline.writers import file_entry, read_parquet_documents

READ_BATCH = 1024
REASONS = {0: "kept", 1: "exact", 2: "url", 3: "near"}
REASON_CODES = {v: k for k, v in REASONS.items()}
_SRC = pa.dictionary(pa.int32(), pa.string())
SLICE = 1 << 22  # linked documents per slice where the cluster task walks all of them


# ---------------------------------------------------------------- signatures (per input shard)

def sign_shard(path: str | Path, out_dir: str | Path, config: DedupConfig, name: str | None = None) -> dict[str, Any]:
    """Signatures, exact keys and band hashes of one input Parquet shard. `name`: what the records and
    layout.json call the input (default: its path relative to the current folder)."""
    path, out = Path(path), Path(out_dir)
    h = config.hash()
    task = ShardTask.for_input(path, out, prefix="sign-", name=name, stage="signatures", config_hash=h)
    if (rec := task.done()) is not None:
        return rec
    sha, name = task.input_sha256, task.stem
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ValueError(f"{path}: not a readable Parquet file ({e})") from None
    missing = {"id", "text", "source"} - set(pf.schema_arrow.names)
    if missing:
        raise ValueError(f"{path}: not a tamiz document shard (no column {', '.join(sorted(missing))})")
    cols = ["id", "text", "source"] + (["url"] if "url" in pf.schema_arrow.names else [])
    signer = Signer(config)
    exact_verify = config.verify == "exact"
    sets: list[np.ndarray] = []
    ids, sources, sigs, has, words, tkeys, ukeys = [], [], [], [], [], [], []
    for batch in pf.iter_batches(batch_size=READ_BATCH, columns=cols):
        texts = [t or "" for t in batch.column("text").to_pylist()]
        signed = signer.sign_texts(texts, keep_shingles=exact_verify)
        ids.append(batch.column("id"))
        sources += [s or "" for s in batch.column("source").to_pylist()]
        sigs.append(signed.sigs)
        has.append(signed.has_sig)
        words.append(signed.n_tokens)
        tkeys += signed.text_keys
        if exact_verify:
            sets += signed.shingles
        urls = batch.column("url").to_pylist() if "url" in cols else [None] * len(texts)
        ukeys += [exact.url_key(u) if config.url_dedup else None for u in urls]
    n = len(sources)
    sig = np.concatenate(sigs) if sigs else np.zeros((0, config.num_perm), dtype=np.uint32)
    has_sig = np.concatenate(has) if has else np.zeros(0, dtype=bool)
    n_words = np.concatenate(words) if words else np.zeros(0, dtype=np.int64)
    src = pa.array(sources, type=pa.string()).dictionary_encode().cast(_SRC)
    id_col = pa.concat_arrays([c for c in ids]) if ids else pa.array([], pa.string())
    url_rows = np.array([i for i, k in enumerate(ukeys) if k is not None], dtype=np.int64)
    outputs = write_signed(out, name, config, {"shard": name, "input_sha256": sha}, id_col, src, n_words, sig,
                           has_sig, _key_matrix(tkeys), url_rows, _key_matrix([k for k in ukeys if k is not None]),
                           sets if exact_verify else None)
    by_source: dict[str, int] = {}
    for s in sources:
        by_source[s] = by_source.get(s, 0) + 1
    record = {"input": {"path": task.input_name, "sha256": sha}, "shard": name, "outputs": outputs,
              "counts": {"docs": n, "with_words": int(has_sig.sum()), "no_words": int(n - has_sig.sum()),
                         "urls": int(sum(k is not None for k in ukeys)), "by_source": dict(sorted(by_source.items()))}}
    return task.finish(record)


def _key_matrix(keys: list[bytes]) -> np.ndarray:
    """16-byte keys as rows of an (n, 16) uint8 array."""
    data = b"".join(keys)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, 16) if data else np.zeros((0, 16), np.uint8)


def write_signed(out: Path, name: str, config: DedupConfig, extra: dict[str, str], ids: pa.Array,
                 src: pa.DictionaryArray, n_words: np.ndarray, sig: np.ndarray, has_sig: np.ndarray,
                 text_keys: np.ndarray, url_rows: np.ndarray, url_keys: np.ndarray,
                 shingles: list[np.ndarray] | None) -> list[dict[str, Any]]:
    """The signature stage's files of one shard of n documents, from what `sign_shard` computed: ids,
    sources (dictionary-encoded), word counts, signatures (n x num_perm uint32; rows where `has_sig` is
    False are null), text keys (n x 16 bytes), the rows that have a URL key and those keys (m x 16),
    and, for verify="exact", each document's sorted shingle hashes. Returns the files' entries.
    (benchmarks/bench_dedup_memory.py writes synthetic corpora through here.)"""
    h = config.hash()
    n = len(src)
    outputs = []
    sig_table = pa.table({"id": ids.cast(pa.string()), "source": src,
                          "words": pa.array(np.minimum(n_words, 2**31 - 1).astype(np.int32)),
                          "sig": fixed_binary(sig, has_sig)})
    outputs.append(write_table(out / "signatures" / f"{name}.arrow", sig_table, "signatures", h, out, extra))

    if shingles is not None:  # each document's sorted shingle hashes, for exact verification of candidates
        lens = np.array([len(x) for x in shingles], dtype=np.int64)
        offs = pa.py_buffer(np.concatenate([[0], np.cumsum(lens)]).astype(np.int64).tobytes())
        vals = pa.array(np.concatenate(shingles) if shingles else np.zeros(0, np.uint32), pa.uint32())
        col = pa.LargeListArray.from_buffers(pa.large_list(pa.uint32()), n, [None, offs], children=[vals])
        outputs.append(write_table(out / "shingles" / f"{name}.arrow", pa.table({"h": col}), "shingles", h, out, extra))

    # exact keys, one record batch per partition (the exact stage reads only its own)
    rows_k = np.concatenate([np.arange(n), url_rows.astype(np.int64)])
    kind_k = np.concatenate([np.full(n, exact.TEXT), np.full(len(url_rows), exact.URL)]).astype(np.uint8)
    keys = np.concatenate([text_keys, url_keys]).astype(np.uint8, copy=False)
    part = exact.partition_of(keys, config.exact_partitions)
    schema = pa.schema([("row", pa.uint32()), ("kind", pa.uint8()), ("key", pa.binary(16)), ("source", _SRC)])
    batches = []
    for p in range(config.exact_partitions):
        sel = np.flatnonzero(part == p)
        sel = sel[np.lexsort((kind_k[sel], rows_k[sel]))]
        batches.append(pa.record_batch([pa.array(rows_k[sel].astype(np.uint32)), pa.array(kind_k[sel]),
                                        fixed_binary(keys[sel]), src.take(pa.array(rows_k[sel]))], schema=schema))
    outputs.append(write_batches(out / "keys" / f"{name}.arrow", schema, batches, "keys", h, out, extra))

    # band hashes of the documents with words
    signed_rows = np.flatnonzero(has_sig)
    bh = lsh.band_hashes(sig[signed_rows], config.bands, config.rows)
    band_cols = {"row": pa.array(signed_rows.astype(np.uint32))}
    band_cols.update({f"b{i}": pa.array(bh[:, i]) for i in range(config.bands)})
    outputs.append(write_table(out / "bands" / f"{name}.arrow", pa.table(band_cols), "bands", h, out, extra))
    return outputs


# ---------------------------------------------------------------- exact (per key partition)

def _shard_ranks(table_source: pa.ChunkedArray | pa.Array, priority: list[str]) -> np.ndarray:
    arr = table_source.combine_chunks() if isinstance(table_source, pa.ChunkedArray) else table_source
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    codes = rank_codes([str(s) for s in arr.dictionary.to_pylist()], priority)
    return codes[arr.indices.to_numpy(zero_copy_only=False)]


def _run_files(layout: Layout, folder: str) -> list[Path]:
    files: list[Path] = []
    for d in layout.run_dirs():
        files += mirror.glob(Path(d) / folder, "*.arrow")
    return files


def exact_partition(out_dir: str | Path, part: int) -> dict[str, Any]:
    """Links between documents with the same normalized text (or URL) whose key falls in `part`."""
    out = Path(out_dir)
    layout = Layout.load(out)
    h = layout.config_hash
    key = {"stage": "exact", "part": part, "layout": layout.fingerprint()}
    task = ShardTask(out, f"exact-{part:04d}", key)
    if (rec := task.done()) is not None:
        return rec
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("hi", "lo", "kind", "rank", "uid", "new")}
    for s in sorted(layout.shards, key=lambda s: s["number"]):
        reader = open_file(layout.file(s, "keys"), "keys", h)
        b = reader.get_batch(part)
        rows = b.column("row").to_numpy(zero_copy_only=False).astype(np.int64)
        kb = np.frombuffer(b.column("key").buffers()[1], dtype=np.uint8, count=16 * (b.num_rows + b.column("key").offset))
        kb = kb.reshape(-1, 16)[b.column("key").offset:] if b.num_rows else np.zeros((0, 16), np.uint8)
        u = uids(s["number"], rows)
        cols["hi"].append(np.ascontiguousarray(kb[:, :8]).view("<u8").reshape(-1))
        cols["lo"].append(np.ascontiguousarray(kb[:, 8:]).view("<u8").reshape(-1))
        cols["kind"].append(b.column("kind").to_numpy(zero_copy_only=False))
        cols["rank"].append(ranks(u, _shard_ranks(b.column("source"), layout.priority), s["new"]))
        cols["uid"].append(u)
        cols["new"].append(np.full(len(u), s["new"], dtype=bool))
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    kept, dup, kind = exact.group_edges(cat["hi"], cat["lo"], cat["kind"], cat["rank"], cat["uid"], cat["new"])
    table = pa.table({"u": pa.array(kept, pa.uint64()), "v": pa.array(dup, pa.uint64()), "kind": pa.array(kind, pa.uint8())})
    outputs = [write_table(out / "exact" / f"part-{part:04d}.arrow", table, "exact", h, out)]
    counts = {"keys": int(len(cat["uid"])), "links": int(len(dup)),
              "text": int((kind == exact.TEXT).sum()), "url": int((kind == exact.URL).sum())}
    return task.finish({"input": {"part": part}, "outputs": outputs, "counts": counts})


def _exact_duplicates(layout: Layout) -> np.ndarray:
    """Sorted uids of the documents linked as exact duplicates (this run's links and previous runs')."""
    vs = [read_table(f, "exact", layout.config_hash, ["v"]).column("v").to_numpy()
          for f in _run_files(layout, "exact")]
    return np.unique(np.concatenate(vs)) if vs else np.zeros(0, np.uint64)


# ---------------------------------------------------------------- bands (per band and hash range)

def band_task_name(band: int, part: int, parts: int) -> str:
    """A band task's name, of its record and its edges file: band-BBBB, or band-BBBB-part-PPPP when
    each band is split into `parts` hash ranges."""
    return f"band-{band:04d}" if parts == 1 else f"band-{band:04d}-part-{part:04d}"


def band_tasks(layout: Layout) -> list[tuple[int, int]]:
    """(band, part) of every band task of the run, in order."""
    return [(b, p) for b in range(layout.config.bands) for p in range(layout.band_parts())]


def _edge_files(run: Layout) -> list[Path]:
    """The edges files of one run, named by its own band split (files of a split abandoned in that
    folder, when a rerun changed band_partitions, are not read)."""
    return [run.folder / "edges" / f"{band_task_name(b, p, run.band_parts())}.arrow" for b, p in band_tasks(run)]


def band_edges(out_dir: str | Path, band: int, part: int = 0) -> dict[str, Any]:
    """Verified near-duplicate links found in one band among the documents whose band hash is in range
    `part` of the run's band split (documents removed as exact duplicates skipped). Candidates share
    their band hash, so the parts of a band find between them exactly the links of the whole band."""
    out = Path(out_dir)
    layout = Layout.load(out)
    cfg, h = layout.config, layout.config_hash
    parts = layout.band_parts()
    if not 0 <= band < cfg.bands:
        raise ValueError(f"band: {band} is not in [0, {cfg.bands})")
    if not 0 <= part < parts:
        raise ValueError(f"part: {part} is not in [0, {parts}) (band_partitions={cfg.band_partitions!r})")
    name = band_task_name(band, part, parts)
    exact_files = mirror.glob(out / "exact", "*.arrow")
    key = {"stage": "bands", "band": band, "layout": layout.fingerprint(),
           "exact": [file_entry(f)["sha256"] for f in exact_files]}
    if parts > 1:
        key["part"] = [part, parts]
    task = ShardTask(out, name, key)
    if (rec := task.done()) is not None:
        return rec
    removed = _exact_duplicates(layout)
    lo, hi = lsh.hash_range(part, parts)
    hs, us = [], []
    for s in sorted(layout.shards, key=lambda s: s["number"]):
        t = open_file(layout.file(s, "bands"), "bands", h).read_all()  # mapped: only the columns read are touched
        bh, rows = t.column(f"b{band}").to_numpy(), t.column("row").to_numpy()
        if parts > 1:
            sel = lsh.in_range(bh, lo, hi)
            bh, rows = bh[sel], rows[sel]
        u = uids(s["number"], rows.astype(np.int64))
        first = np.uint64(s["number"]) << np.uint64(32)
        gone = removed[np.searchsorted(removed, first):np.searchsorted(removed, first + np.uint64(1 << 32))]
        keep = ~np.isin(u, gone)
        hs.append(bh[keep])
        us.append(u[keep])
    hh = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    uu = np.concatenate(us) if us else np.zeros(0, np.uint64)
    del hs, us
    u, v = lsh.bucket_pairs(hh, uu, cfg.bucket_window)
    first_new_uid = np.uint64(layout.first_new) << np.uint64(32)
    sel = v >= first_new_uid  # pairs among documents of previous runs were linked by those runs
    u, v = u[sel], v[sel]
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    pair_keep = np.ones(len(u), dtype=bool)
    pair_keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])  # a pair met in two buckets of one band (hash collision)
    u, v = u[pair_keep], v[pair_keep]
    files = {s["number"]: layout.file(s, "signatures") for s in layout.shards}
    store = lsh.SignatureStore(files, cfg.num_perm, h)
    need = lsh.min_agree(cfg.threshold, cfg.num_perm) if cfg.verify == "estimate" else 0
    shingles = lsh.ShingleStore({s["number"]: layout.file(s, "shingles") for s in layout.shards}, h) \
        if cfg.verify == "exact" else None
    chk = lsh.check_pairs(store, u, v, band, cfg.rows, need, shingles=shingles, threshold=cfg.threshold)
    k = chk["keep"]
    table = pa.table({"u": pa.array(u[k]), "v": pa.array(v[k]), "agree": pa.array(chk["agree"][k]),
                      "jaccard": pa.array(chk["jaccard"][k].astype(np.float32))})
    outputs = [write_table(out / "edges" / f"{name}.arrow", table, "edges", h, out)]
    counts = {"docs": int(len(uu)), "candidates": int(len(u)), "owned_by_earlier_band": int(chk["earlier"].sum()),
              "hash_collisions": int(chk["collision"].sum()),
              "below_threshold": int((chk["owned"] & ~k).sum()), "links": int(k.sum())}
    where = {"band": band} if parts == 1 else {"band": band, "part": part, "parts": parts}
    return task.finish({"input": where, "outputs": outputs, "counts": counts})


# ---------------------------------------------------------------- clusters (one task)

def _link_files(layout: Layout) -> list[Path]:
    """Every link file the cluster task reads: exact links and near-duplicate edges of the previous runs
    and of this one."""
    return _run_files(layout, "exact") + [f for run in layout.runs() for f in _edge_files(run)]


def _link_kind(f: Path) -> str:
    return "exact" if f.parent.name == "exact" else "edges"


def linked_uids(files: list[Path], config_hash: str) -> tuple[np.ndarray, int]:
    """The sorted distinct uids at either end of a link of `files`, and the number of links.

    The endpoints of every file are copied into one array (16 bytes per link), sorted in place and
    made distinct. The files are memory-mapped and read one at a time, so their pages leave the
    process's memory as it goes."""
    n_links = 0
    for f in files:  # the sizes first (the files' metadata only), to fill one array
        n_links += read_table(f, _link_kind(f), config_hash, ["u"]).num_rows
    ends = np.empty(2 * n_links, dtype=np.uint64)
    pos = 0
    for f in files:
        t = read_table(f, _link_kind(f), config_hash, ["u", "v"])
        for c in ("u", "v"):
            col = t.column(c).to_numpy()
            ends[pos:pos + len(col)] = col
            pos += len(col)
        del t
    if pos != len(ends):
        raise DedupFileError(f"link files changed while the cluster task read them ({pos // 2} links, then {n_links})")
    ends.sort()
    if len(ends) == 0:
        return ends, 0
    first = np.empty(len(ends), dtype=bool)
    first[0] = True
    np.not_equal(ends[1:], ends[:-1], out=first[1:])
    return ends[first], n_links


def cluster(out_dir: str | Path) -> dict[str, Any]:
    """Connected components over every link (exact and near, previous runs included); the kept
    document of each is its best-ranked member. Writes clusters/<shard>.arrow for this run's shards.

    Only the linked documents (the ends of the links) get an entry: a document without a link is a
    cluster of one, kept, and absent from the clusters files, so it needs nothing here (the task used
    to hold 76 bytes for every document of the corpus, 31 GiB at 441M documents). The linked
    documents are numbered by the rank of their uid among the linked uids (`linked_uids`), which keeps
    the order of the uids: a component's smallest number is its smallest uid, as with a union-find over
    every document, so the outputs are the same bytes (tests/test_dedup_clusters.py compares them
    with that algorithm). Sources and ids are read from the signature files one shard at a time, for
    the linked rows only.

    Memory, per linked document: its uid (8 bytes), union-find parent (4), component size (4), best
    rank (8) and, for this run's documents, reason (1); per cluster holding a document of this run:
    its root (8), kept uid (8) and id (4 + the id's length, `_IdStore`). Reading the links first holds
    16 bytes per link, before those arrays exist. Measured: 50-70 bytes per linked document
    (benchmarks/bench_dedup_memory.py; docs/dedup.md)."""
    out = Path(out_dir)
    layout = Layout.load(out)
    h = layout.config_hash
    link_files = _link_files(layout)
    own = mirror.glob(out / "exact", "*.arrow") + _edge_files(layout)
    for f in own:
        mirror.ensure(f)
        if not f.is_file():
            raise DedupFileError(f"{f}: missing (the band stage has not finished; rerun)")
    key = {"stage": "clusters", "layout": layout.fingerprint(), "links": [file_entry(f)["sha256"] for f in own]}
    task = ShardTask(out, "clusters", key)
    if (rec := task.done()) is not None:
        return rec
    shards = sorted(layout.shards, key=lambda s: s["number"])
    offsets = layout.offsets()
    N = int(offsets[-1])
    new_lo = int(offsets[layout.first_new])
    first_new_uid = np.uint64(layout.first_new) << np.uint64(ROW_BITS)

    # union-find over the linked documents, numbered 0..M-1 in uid order
    nodes, n_links = linked_uids(link_files, h)
    M = len(nodes)
    uf = UnionFind(M)
    for f in link_files:
        t = read_table(f, _link_kind(f), h, ["u", "v"])
        uf.union(np.searchsorted(nodes, t.column("u").to_numpy()), np.searchsorted(nodes, t.column("v").to_numpy()))
        del t
    roots = uf.roots()  # the smallest member of each component: its smallest uid
    del uf
    size = np.bincount(roots, minlength=M).astype(np.uint32)  # at the roots; 0 elsewhere

    def span(shard_number: int) -> tuple[int, int]:
        """The linked documents of a shard: nodes[a:b] (uids are shard << 32 | row)."""
        lo = np.uint64(shard_number) << np.uint64(ROW_BITS)
        a, b = np.searchsorted(nodes, [lo, lo + np.uint64(1 << ROW_BITS)])
        return int(a), int(b)

    # the kept document of each component: smallest rank, at its root (sources read for the linked rows only)
    best = np.full(M, np.iinfo(np.uint64).max, dtype=np.uint64)
    for s in shards:
        a, b = span(s["number"])
        if a == b:
            continue
        rows = (nodes[a:b] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        src = read_table(layout.file(s, "signatures"), "signatures", h, ["source"]).column("source").take(pa.array(rows))
        np.minimum.at(best, roots[a:b], ranks(nodes[a:b], _shard_ranks(src, layout.priority), s["new"]))
        del src
    uid_mask = np.uint64((1 << 52) - 1)

    def kept_uid(idx: np.ndarray) -> np.ndarray:
        """The uid of the kept document of the cluster of each linked document `idx`."""
        return best[roots[idx]] & uid_mask

    def in_clusters(a: int, b: int) -> np.ndarray:
        """Those of the linked documents a..b-1 in a cluster of 2 or more (not all are: a document
        whose every link is to itself)."""
        return a + np.flatnonzero(size[roots[a:b]] > 1)

    # why each linked document of this run was linked: exact text beats URL beats near
    new_start = int(np.searchsorted(nodes, first_new_uid))
    why = np.full(M - new_start, REASON_CODES["near"], dtype=np.uint8)
    for f in _run_files(layout, "exact"):
        t = read_table(f, "exact", h, ["v", "kind"])
        ev = t.column("v").to_numpy()
        sel = ev >= first_new_uid
        codes = np.where(t.column("kind").to_numpy()[sel] == exact.TEXT, REASON_CODES["exact"], REASON_CODES["url"])
        np.minimum.at(why, np.searchsorted(nodes, ev[sel]) - new_start, codes.astype(np.uint8))
        del t, ev, sel, codes

    # the clusters holding a document of this run (by root), and their kept documents, in uid order
    has_new = np.zeros(M, dtype=bool)
    for lo in range(new_start, M, SLICE):  # in slices, so that the temporaries stay small
        has_new[roots[in_clusters(lo, min(lo + SLICE, M))]] = True
    new_roots = np.flatnonzero(has_new)
    del has_new
    need = best[new_roots] & uid_mask  # distinct: one kept document per cluster
    need.sort()
    rep_ids = _IdStore(layout, shards, need)

    outputs = []
    for s in shards:
        if not s["new"]:
            continue
        idx = in_clusters(*span(s["number"]))
        self_uid = nodes[idx]
        reps = kept_uid(idx)
        reason = np.where(reps == self_uid, REASON_CODES["kept"], why[idx - new_start]).astype(np.uint8)
        table = pa.table({"row": pa.array((self_uid & np.uint64(0xFFFFFFFF)).astype(np.uint32)),
                          "rep_uid": pa.array(reps), "rep_id": rep_ids.take(reps),
                          "size": pa.array(size[roots[idx]]), "reason": pa.array(reason)})
        outputs.append(write_table(out / "clusters" / f"{s['name']}.arrow", table, "clusters", h, out))
        del table

    # previous runs' kept documents whose clusters this run's documents joined: their new sizes
    # (the documents themselves are in the previous corpus and are not rewritten)
    old_reps = need[need < first_new_uid]
    grown = pa.table({"id": rep_ids.take(old_reps),
                      "dup_cluster_size": pa.array(size[roots[np.searchsorted(nodes, old_reps)]].astype(np.int64))})
    with atomic_path(out / "previous_cluster_sizes.parquet") as tmp:
        pq.write_table(grown, tmp, compression="zstd")
    outputs.append(file_entry(out / "previous_cluster_sizes.parquet", grown.num_rows, out))

    # statistics: sizes of the clusters holding a document of this run; previous runs' kept
    # documents that a new document now joins to a better-ranked one (a full rerun would remove them)
    hist = np.bincount(size[new_roots]) if len(new_roots) else np.zeros(0, np.int64)
    bridged = 0
    old_removed = _previous_removed(layout) if new_start else None
    for lo in range(0, new_start, SLICE):
        old_nt = in_clusters(lo, min(lo + SLICE, new_start))
        bridged += int(((kept_uid(old_nt) != nodes[old_nt]) & ~np.isin(nodes[old_nt], old_removed)).sum())
    counts = {"documents": N, "new_documents": N - new_lo, "links": n_links,
              "clusters": len(new_roots),
              "cluster_sizes": {int(k): int(c) for k, c in enumerate(hist) if c and k > 1},
              "previous_kept_now_duplicate": bridged, "previous_clusters_grown": len(old_reps)}
    return task.finish({"input": {"stage": "clusters"}, "outputs": outputs, "counts": counts})


def _previous_removed(layout: Layout) -> np.ndarray:
    """Uids of the documents that previous runs removed."""
    out = []
    for s in layout.shards:
        if s["new"]:
            continue
        f = layout.file(s, "clusters")
        mirror.ensure(f)
        if not f.exists():
            continue
        t = read_table(f, "clusters", layout.config_hash, ["row", "reason"])
        rows = t.column("row").to_numpy().astype(np.int64)
        gone = t.column("reason").to_numpy() != REASON_CODES["kept"]
        out.append(uids(s["number"], rows[gone]))
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


class _IdStore:
    """The ids of the documents `uids` (sorted, distinct), read from the signature files one shard at a
    time (the rows needed only) and held as string arrays of up to CHUNK bytes: joining every shard's
    ids into one array would hold them twice for a moment, and Arrow's take on a chunked array joins
    its chunks first. ~4 bytes (offset) + the id's length per document, and the 8 bytes of its uid."""

    CHUNK = 16 << 20

    def __init__(self, layout: Layout, shards: list[dict[str, Any]], uid: np.ndarray):
        self.uid = uid
        self.chunks: list[pa.Array] = []
        starts = [0]
        pending: list[pa.Array] = []
        pending_bytes = 0
        sh = (uid >> np.uint64(ROW_BITS)).astype(np.int64)
        cuts = np.searchsorted(sh, np.arange(len(shards) + 1))
        for sn in np.unique(sh).tolist():
            rows = (uid[cuts[sn]:cuts[sn + 1]] & np.uint64(0xFFFFFFFF)).astype(np.int64)
            ids = read_table(layout.file(shards[sn], "signatures"), "signatures", layout.config_hash, ["id"]).column("id")
            got = ids.take(pa.array(rows)).combine_chunks()
            del ids
            pending.append(got)
            pending_bytes += got.nbytes
            if pending_bytes >= self.CHUNK or sn == sh[-1]:
                chunk = pa.concat_arrays(pending)
                self.chunks.append(chunk)
                starts.append(starts[-1] + len(chunk))
                pending, pending_bytes = [], 0
        self.starts = np.array(starts, dtype=np.int64)

    def take(self, uid: np.ndarray) -> pa.Array:
        """The ids of `uid` (each one of the store's), as a string array in the order given."""
        pos = np.searchsorted(self.uid, uid)
        chunk = np.searchsorted(self.starts, pos, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        pieces = []
        for k in np.unique(chunk).tolist():
            sel = pos[order[chunk[order] == k]] - self.starts[k]
            pieces.append(self.chunks[k].take(pa.array(sel)))
        if not pieces:
            return pa.array([], pa.string())
        grouped = pa.concat_arrays(pieces)  # by chunk; then back in the order given
        back = np.empty(len(order), dtype=np.int64)
        back[order] = np.arange(len(order))
        return grouped.take(pa.array(back))


# ---------------------------------------------------------------- removal (per input shard)

def remove_shard(out_dir: str | Path, name: str, path: str | Path) -> dict[str, Any]:
    """Split one input shard (`name` in layout.json, read from `path`) into docs/ (kept) and removed/
    (duplicates), annotating both."""
    out = Path(out_dir)
    layout = Layout.load(out)
    s = layout.by_name.get(name)
    if s is None or not s["new"]:
        raise ValueError(f"{name}: not an input shard of this run")
    cl_path = layout.file(s, "clusters")
    mirror.ensure(cl_path)  # written by the clusters task, on another worker of a build on object storage
    key = {"stage": "removal", "layout": layout.fingerprint(), "clusters": file_entry(cl_path)["sha256"]}
    task = ShardTask(out, f"remove-{name}", key, stem=name, input_name=s["input"])
    if (rec := task.done()) is not None:
        return rec
    if input_checksum(path) != s["sha256"]:
        raise DedupFileError(f"{path}: changed since its signatures were computed; rerun dedup from scratch")
    t = read_table(cl_path, "clusters", layout.config_hash)
    info = {r: (i, z, c) for r, i, z, c in zip(t.column("row").to_pylist(), t.column("rep_id").to_pylist(),
                                              t.column("size").to_pylist(), t.column("reason").to_pylist())}
    counts: dict[str, Any] = {"in": 0, "kept": 0, "removed": {}, "by_source": {}}
    with task.parquet("docs") as kept, task.parquet("removed") as gone:
        for row, doc in enumerate(read_parquet_documents(path)):
            rep_id, size, code = info.get(row, (None, 1, 0))
            src = counts["by_source"].setdefault(doc.source, {"in": 0, "kept": 0, "removed": 0})
            counts["in"] += 1
            src["in"] += 1
            doc.metadata.pop("duplicate_of", None)
            doc.metadata.pop("dedup_reason", None)
            doc.metadata["dup_cluster_size"] = int(size)
            if code == REASON_CODES["kept"]:
                kept.add(doc)
                counts["kept"] += 1
                src["kept"] += 1
            else:
                reason = REASONS[code]
                doc.metadata["duplicate_of"] = rep_id
                doc.metadata["dedup_reason"] = reason
                gone.add(doc)
                counts["removed"][reason] = counts["removed"].get(reason, 0) + 1
                src["removed"] += 1
    if counts["in"] != s["rows"]:
        raise DedupFileError(f"{path}: {counts['in']} documents, its signatures had {s['rows']}")
    counts["removed"] = dict(sorted(counts["removed"].items()))
    counts["by_source"] = dict(sorted(counts["by_source"].items()))
    assert counts["in"] == counts["kept"] + sum(counts["removed"].values())
    return task.finish({"input": {"path": s["input"], "sha256": s["sha256"]}, "shard": name, "counts": counts})

