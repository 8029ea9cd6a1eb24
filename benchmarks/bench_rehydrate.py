"""Rehydration on the bundled sample: the duplicate-cluster sizes dedup records, what FineWeb-2's weights
would do to each source's documents and tokens, and what rehydration costs in the tokenize and pack steps.

1. The sample through ingest, filter and dedup in this process, with the sample table's settings (the same
   functions `tamiz run` maps on Dask: `ingest_file`, `filter_file`, `dedup_local`): the distribution of
   `metadata.dup_cluster_size` over the kept documents, per source.
2. Those documents tokenized (a byte-level BPE trained here on them, 8,192 ids as in the sample table) and
   packed by `build_shards` with the sample's weights: without rehydration, and with `rehydrate: {preset:
   fineweb2}` on every source. Documents and tokens of the training split before and after, per bucket.
3. Cost, one process, best of --repeat: `build_shards` (pack, mix, write) without and with rehydration on
   (a) the sample's own cluster sizes and (b) the same documents with synthetic cluster sizes, so that
   rehydration really repeats: sizes drawn from a Zipf law (P(n) ~ n^-2, capped at 5,000), a made-up
   distribution with ~60% singletons and a long tail, which roughly doubles the training tokens under
   FineWeb-2's weights. And the per-document price the tokenize step pays whatever the table says (the
   cluster size read from the metadata and the rounding draw, a blake2b of the id), against the whole
   tokenize step per document.

    python benchmarks/bench_rehydrate.py [--quick] [--repeat N]  # writes benchmarks/results/rehydrate.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import write_results  # noqa: E402

from tamiz.pipeline.rehydrate import RehydrateConfig, cluster_size, draw  # noqa: E402
from tamiz.pipeline.table import load_table, parse_table  # noqa: E402
from tamiz.pipeline.writers import read_parquet_documents, write_parquet  # noqa: E402
from tamiz.shards.tokenize import tokenize_file  # noqa: E402
from tamiz.shards.write import build_shards  # noqa: E402


def dedup_sample(tmp: Path) -> tuple[Path, dict]:
    """The sample table's ingest -> filter -> dedup, in this process; returns dedup's docs/ and the wall and
    CPU seconds (near 0 when a kept --work folder was reused)."""
    from tamiz.pipeline.dedup.run import dedup_local
    from tamiz.pipeline.filter_stage import FilterStageConfig, filter_file
    from tamiz.pipeline.filters.config import FiltersConfig
    from tamiz.pipeline.ingest import ingest_file

    t0, c0 = time.perf_counter(), time.process_time()
    table = load_table(ROOT / "data/sample/table.yaml")
    dedup_inputs: list[Path] = []
    filtered = [s for s in table.names if table.filters_config(s) is not None]
    fconfig = FilterStageConfig(filters=FiltersConfig(
        sources=tuple((s, table.filters_config(s).for_source(s)) for s in filtered)))
    for src in table.names:
        for f in table.resolve_inputs(src):
            ingest_file(f, tmp / "ingest" / src, src, table.ingest_config(src))
        docs = sorted((tmp / "ingest" / src / "docs").glob("*.parquet"))
        if src in filtered:
            for f in docs:
                filter_file(f, tmp / "filter", fconfig, src)
        else:
            dedup_inputs += docs
    dedup_inputs += sorted((tmp / "filter" / "docs").glob("*.parquet"))
    config, priority = table.dedup_config()
    dedup_local(sorted(dedup_inputs), tmp / "dedup", config, priority)
    return tmp / "dedup" / "docs", {"wall_s": round(time.perf_counter() - t0, 1),
                                    "cpu_s": round(time.process_time() - c0, 1)}


def synthetic_copy(docs_dir: Path, out: Path) -> Path:
    """The same documents with cluster sizes drawn from P(n) ~ n^-2 (n <= 5,000), seeded."""
    import numpy as np

    rng = np.random.default_rng(2024)
    n = np.arange(1, 5001)
    p = 1.0 / n ** 2
    p /= p.sum()
    for f in sorted(docs_dir.glob("*.parquet")):
        docs = list(read_parquet_documents(f))
        for d, size in zip(docs, rng.choice(n, size=len(docs), p=p).tolist()):
            d.metadata["dup_cluster_size"] = int(size)
        write_parquet(out / f.name, docs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one timed repeat")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of the pack step; the best is reported")
    ap.add_argument("--work", type=Path, help="keep the ingest, filter and dedup output here (a rerun reuses it: "
                    "every stage skips the shards it finished); default: a temporary folder")
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat
    from bench_pack import train_tokenizer

    sample = load_table(ROOT / "data/sample/table.yaml")
    raw = [{"name": s.name, "kind": s.kind, "inputs": ["x"], "weight": s.weight} for s in sample.sources]
    plain = parse_table({"sources": raw, "shards": sample.shards.as_dict()}, root=ROOT)
    hydrated = parse_table({"sources": [{**s, "rehydrate": {"preset": "fineweb2"}} for s in raw],
                            "shards": sample.shards.as_dict()}, root=ROOT)
    config = sample.shards

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        docs_dir, dedup_s = dedup_sample(args.work or tmp / "build")
        docs = [d for f in sorted(docs_dir.glob("*.parquet")) for d in read_parquet_documents(f)]

        # 1. the distribution of cluster sizes, per source
        sizes: dict[str, Counter] = {}
        for d in docs:
            sizes.setdefault(d.source, Counter())[cluster_size(d.metadata)] += 1

        # 2. tokens before and after, through the shards
        tok = train_tokenizer([d.text for d in docs], 8192, tmp / "tokenizer.json")

        def shards(folder: Path, table, name: str, budget: int | None = None) -> tuple[dict, dict, dict]:
            """Tokenize and pack; the seconds of each (wall, and CPU of this process: the machine is shared,
            so the CPU seconds are the steadier figure), the pack step's best of `repeat`."""
            cfg = dataclasses.replace(config, tokens=budget)
            inputs = sorted(folder.glob("*.parquet"))
            t0, c0 = time.perf_counter(), time.process_time()
            records = [tokenize_file(f, tmp / name, tok, cfg.validation_fraction) for f in inputs]
            tokenize = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
            pack = {"wall_s": float("inf"), "cpu_s": float("inf")}
            for r in range(repeat):
                (tmp / name / "manifest.json").unlink(missing_ok=True)  # pack again, not a skipped rerun
                t2, c2 = time.perf_counter(), time.process_time()
                m = build_shards(tmp / name, records, tok, cfg, table)
                pack = {"wall_s": min(pack["wall_s"], time.perf_counter() - t2),
                        "cpu_s": min(pack["cpu_s"], time.process_time() - c2)}
            return m, tokenize, pack

        m_plain, tok_s, pack_plain = shards(docs_dir, plain, "plain")
        # the same budget (the corpus size without rehydration): both write the same number of rows
        m_hyd, _, pack_hyd = shards(docs_dir, hydrated, "hydrated", m_plain["budget_tokens"])
        synth = synthetic_copy(docs_dir, tmp / "synthetic")
        m_splain, _, pack_splain = shards(synth, plain, "synthetic_plain")
        m_shyd, _, pack_shyd = shards(synth, hydrated, "synthetic_hydrated", m_splain["budget_tokens"])

        # 3. the per-document price of the two new columns in the tokenize step
        c0 = time.process_time()
        for _ in range(10):
            for d in docs:
                cluster_size(d.metadata)
                draw(d.id)
        per_doc_us = (time.process_time() - c0) / (10 * len(docs)) * 1e6

    def per_source(m: dict) -> dict:
        return {s["name"]: {"train_documents": s["documents"]["train"],
                            "train_documents_rehydrated": s["documents"]["train_rehydrated"],
                            "train_tokens": s["tokens"]["train"], "train_tokens_rehydrated": s["tokens"]["train_rehydrated"],
                            "token_factor": round(s["tokens"]["train_rehydrated"] / s["tokens"]["train"], 4),
                            "epochs": s["epochs"], "epochs_unique": s["epochs_unique"],
                            "buckets": [{k: b[k] for k in ("sizes", "copies", "documents", "tokens", "rehydrated_documents",
                                                           "rehydrated_tokens")} for b in s["rehydration"]["buckets"]]
                            if s.get("rehydration") else None} for s in m["sources"]}

    def train_tokens(m: dict) -> int:
        return sum(s["tokens"]["train"] for s in m["sources"])

    cfg = RehydrateConfig(preset="fineweb2")
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "note": "shared, loaded 2-core development machine (a long benchmark ran beside it); one process"},
        "preset": {b["sizes"]: b["copies"] for b in cfg.buckets_list()},
        "sample": {
            "ingest_filter_dedup": dedup_s,
            "kept_documents": len(docs),
            "cluster_sizes": {s: {str(k): v for k, v in sorted(c.items())} for s, c in sorted(sizes.items())},
            "documents_in_clusters_of_2_or_more": sum(v for c in sizes.values() for k, v in c.items() if k >= 2),
            "fineweb2_on_every_source": per_source(m_hyd),
            "train_tokens": train_tokens(m_plain),
            "train_tokens_rehydrated": sum(s["tokens"]["train_rehydrated"] for s in m_hyd["sources"]),
        },
        "synthetic_zipf_sizes": {
            "fineweb2_on_every_source": per_source(m_shyd),
            "train_tokens": train_tokens(m_splain),
            "train_tokens_rehydrated": sum(s["tokens"]["train_rehydrated"] for s in m_shyd["sources"]),
        },
        "cost": {
            "repeats": repeat,
            "tokenize_step": {k: round(v, 3) for k, v in tok_s.items()},
            "tokenize_step_cpu_us_per_document": round(tok_s["cpu_s"] / len(docs) * 1e6, 1),
            "cluster_size_and_draw_cpu_us_per_document": round(per_doc_us, 2),
            "pack_sample_plain": {k: round(v, 3) for k, v in pack_plain.items()},
            "pack_sample_rehydrated": {k: round(v, 3) for k, v in pack_hyd.items()},
            "pack_synthetic_plain": {k: round(v, 3) for k, v in pack_splain.items()},
            "pack_synthetic_rehydrated": {k: round(v, 3) for k, v in pack_shyd.items()},
            "pack_train_rows": {"sample_plain": m_plain["splits"]["train"]["rows"],
                                "sample_rehydrated": m_hyd["splits"]["train"]["rows"],
                                "synthetic_plain": m_splain["splits"]["train"]["rows"],
                                "synthetic_rehydrated": m_shyd["splits"]["train"]["rows"]},
        },
        "note": "pack: build_shards only (pack, mix, write, checksums, manifest) from the same tokenized files, "
                "at one budget per pair (the corpus size without rehydration), so both write the same rows; "
                "with rehydration the mix repeats the rehydrated stream fewer times",
    }
    write_results("rehydrate", results, args.quick)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
