"""`tamiz dedup`: exact and MinHash-LSH near-duplicate removal within and across sources and crawls."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup)


def dedup(
    inputs: List[Path] = typer.Argument(..., help="Parquet document shards: files, folders of them, or stage output "
                                        "folders (their docs/*.parquet). Earlier arguments rank before later ones."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: docs/ (kept), removed/ (duplicates with "
                             "metadata.duplicate_of), the stage files, manifest.json and cluster_sizes.png."),
    threshold: float = typer.Option(0.8, help="Jaccard similarity of 5-word shingles at or above which two "
                                    "documents are near duplicates."),
    priority: str = typer.Option("", help="Sources in the order to keep them, e.g. books,reference,common_crawl: "
                                 "a copy in an earlier source wins; unlisted sources come last."),
    against: Optional[Path] = typer.Option(None, "--against", help="A previous dedup output folder: remove from "
                                           "these inputs what the corpus built there already holds, reusing its "
                                           "stored signatures (same settings required)."),
    num_perm: int = typer.Option(128, help="MinHash permutations; bands and rows are derived from the threshold."),
    shingle_size: int = typer.Option(5, help="Words per shingle."),
    verify: str = typer.Option("exact", help="How an LSH candidate pair is confirmed: exact (Jaccard of the "
                               "stored shingle-hash sets; most accurate, ~4 bytes per shingle on disk), estimate "
                               "(signature agreement; no extra storage) or none (every candidate is a duplicate)."),
    no_url_dedup: bool = typer.Option(False, "--no-url-dedup", help="Do not treat the same normalized URL as a duplicate."),
    dask_address: Optional[str] = typer.Option(None, help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
                                               "(default: a local cluster of worker processes)."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster (default: cores)."),
) -> None:
    """Remove exact and near-duplicate documents, keeping one copy of each by a fixed rule.

    Exact duplicates: same text after normalization (case, punctuation, spaces, digits), or the
    same normalized URL. Near duplicates: MinHash signatures (datasketch-compatible) of word
    shingles, LSH bands, candidates verified by their Jaccard similarity, clusters by connected
    components. In each cluster the kept document is: a document of the --against
    corpus, else the source listed first in --priority, else the earliest input shard and row.
    Kept documents get metadata.dup_cluster_size; removed ones go to removed/ with
    metadata.duplicate_of (the kept id) and dedup_reason (exact, url, near). Counts reconcile:
    in = kept + removed. Every stage resumes where it stopped; see docs/dedup.md.
    """
    from tamiz.pipeline.dedup.config import DedupConfig
    from tamiz.pipeline.dedup.report import s_curve_rows
    from tamiz.pipeline.dedup.run import check_run

    prio = [p.strip() for p in priority.split(",") if p.strip()]
    try:
        config = DedupConfig(threshold=threshold, num_perm=num_perm, shingle_size=shingle_size,
                             verify=verify, url_dedup=not no_url_dedup)
        files = check_run(inputs, config, prio, against)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    if out.exists() and against is not None and out.resolve() == against.resolve():
        fail("--out: must differ from --against (the previous corpus is read, never rewritten)")

    console.print(f"LSH: {config.num_perm} permutations, {config.bands} bands x {config.rows} rows, "
                  f"threshold {config.threshold}, verify: {config.verify}")
    table("S-curve: probability that a pair is a candidate / is linked, by Jaccard similarity",
          ["Jaccard", "P(candidate)", "P(linked)"], s_curve_rows(config, 21)[8:])

    from tamiz.flows.dedup import dedup_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    try:  # dedup_flow holds the output-folder lock while it runs
        from tamiz.flows.outputs import stage_output

        with stage_output(out) as local:
            summary = dedup_flow([str(f) for f in files], str(local), config, prio,
                               str(against) if against else None, dask_address=dask_address, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except StageFailed as e:
        fail(str(e), code=1)
    except ValueError as e:
        fail(str(e), code=1)
    print_dedup_summary(summary, local)  # the working folder when --out is a store URL (published there)


def print_dedup_summary(summary: dict, out: Path) -> None:
    c = summary["counts"]
    rows = [("documents in", c["in"]), ("kept", c["kept"])]
    rows += [(f"removed: {k}", v) for k, v in c["removed"].items()]
    cl = c["clusters"]
    if cl["previous_kept_now_duplicate"]:
        rows.append(("previous corpus: kept docs a new doc now joins", cl["previous_kept_now_duplicate"]))
    table("dedup", ["", "documents"], rows)
    table("removed by source", ["source", "in", "kept", "removed"],
          [(s, v["in"], v["kept"], v["removed"]) for s, v in c["by_source"].items()])
    sizes = sorted((int(k), v) for k, v in cl["cluster_sizes"].items())
    table("duplicate clusters by size", ["size", "clusters"], sizes or [("-", 0)])
    console.print(f"{summary['shards']} shard(s), {summary['resumed']} already done. Output: {out}/docs (kept), "
                  f"{out}/removed, {out}/manifest.json, histogram {summary['histogram']}")
