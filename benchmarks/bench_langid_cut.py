"""How many characters language ID needs: fastText lid.176 on the first N characters of each crawl page
(`ingest.language_max_chars`), against the default cut of 10,000.

Documents: the sample's crawl and the first WARC files of a 0.05 GB synthetic crawl
(scripts/make_synthetic_crawl.py, seed 0; generated into --work the first time), extracted with
resiliparse and language ID off, so every language is there. For each cut: CPU seconds of
`predict` over all documents (best of --repeat), documents per CPU second, how many documents ingest
would keep as Spanish (top `es`, p >= 0.5), and how many keep/drop decisions and top labels differ from
the 10,000-character cut.

    python benchmarks/bench_langid_cut.py [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

CUTS = (10_000, 5_000, 3_000, 2_000, 1_000)


def documents(work: Path, synthetic_files: int) -> list[str]:
    """Extracted texts of every page, whatever its language."""
    from make_synthetic_crawl import SynthConfig, make_synthetic_crawl
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.writers import read_parquet_documents

    crawl = work / "crawl-0.05gb-seed0"
    if not (crawl / "synthetic-crawl.json").is_file():
        make_synthetic_crawl(crawl, SynthConfig(gb=0.05, seed=0), jobs=1,
                             progress=lambda line: print(f"  generate: {line}", file=sys.stderr, flush=True))
    files = sorted((ROOT / "data" / "sample" / "common_crawl").glob("*.warc.gz"))
    files += sorted(crawl.rglob("*.warc.gz"))[:synthetic_files]
    out = Path(tempfile.mkdtemp(prefix="tamiz-langid-cut-"))
    config = IngestConfig(extractor="resiliparse", language_id=False)
    for f in files:
        ingest_file(f, out, "crawl", config)
    return [d.text for p in sorted((out / "docs").glob("*.parquet")) for d in read_parquet_documents(p)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tamiz-bench-scale",
                    help="where the synthetic crawl is generated and kept (bench_scale.py's folder)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 synthetic file, 1 repeat")
    args = ap.parse_args()
    from tamiz.pipeline.langid import DEFAULT_THRESHOLD, predict

    texts = documents(args.work, 1 if args.quick else 6)
    n = len(texts)
    rows, base_keep, base_top = [], None, None
    for cut in CUTS:
        best = None
        for _ in range(1 if args.quick else args.repeat):
            t = time.process_time()
            preds = predict(texts, max_chars=cut)
            dt = time.process_time() - t
            best = dt if best is None else min(best, dt)
        top = [p[0][0] for p in preds]
        keep = [p[0][0] == "es" and p[0][1] >= DEFAULT_THRESHOLD for p in preds]
        if base_keep is None:
            base_keep, base_top = keep, top
        rows.append({"max_chars": cut, "cpu_s": round(best, 3), "docs_per_cpu_s": round(n / best),
                     "kept_es": sum(keep), "decisions_changed": sum(a != b for a, b in zip(keep, base_keep)),
                     "top_label_changed": sum(a != b for a, b in zip(top, base_top))})
        print(f"max_chars {cut:>6,}: {n / best:,.0f} docs per CPU s, kept as Spanish {sum(keep):,}, "
              f"decisions changed {rows[-1]['decisions_changed']}, top label changed {rows[-1]['top_label_changed']}",
              file=sys.stderr)
    results = {"documents": n, "mean_chars": round(sum(map(len, texts)) / n),
               "share_over_2000_chars": round(sum(len(t) > 2_000 for t in texts) / n, 3),
               "share_over_10000_chars": round(sum(len(t) > 10_000 for t in texts) / n, 3),
               "cuts": rows, "quick": args.quick}
    path = write_results("langid_cut", results, args.quick)
    print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
