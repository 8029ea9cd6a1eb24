"""Ingest throughput on the bundled sample, for each HTML extractor, in one process (= per core).

Measures, per extractor: WARC records/s and MB/s (compressed WARC bytes) for the whole ingest of a
file (read + decode + extract + language ID + Parquet write), pages/s of the extraction alone, and
what the extractor keeps: characters of text per page, and how often navigation/boilerplate lines
of the debian-handbook template survive. Writes benchmarks/results/ingest.json; the last line
printed is the JSON.

    python benchmarks/bench_ingest.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

from tamiz.pipeline.extract import EXTRACTORS, extract_text  # noqa: E402
from tamiz.pipeline.ingest import IngestConfig, ingest_file  # noqa: E402
from tamiz.pipeline.langid import load_model  # noqa: E402
from tamiz.pipeline.readers import read_documents  # noqa: E402
from tamiz.pipeline.report import ReadReport  # noqa: E402

# Lines of the handbook's page template (navigation, footer) that main-content extraction should drop.
BOILERPLATE = ("Anterior", "Siguiente", "Inicio", "Prev", "Next", "Home", "Report a bug", "Informar un error")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one WARC file, one repeat (under a minute)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is reported")
    args = ap.parse_args()
    warcs = sorted((ROOT / "data/sample/common_crawl").glob("*.warc.gz"))
    if args.quick:
        warcs, args.repeat = warcs[:1], 1
    load_model()  # loading the model once is not per-record cost
    pages = [d for w in warcs for d in read_documents(w, ReadReport(str(w)), "common_crawl")]
    mb = sum(w.stat().st_size for w in warcs) / 1e6
    records = 0
    for w in warcs:
        r = ReadReport(str(w))
        for _ in read_documents(w, r, "x"):
            pass
        records += r.records
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "input": {"warc_files": len(warcs), "records": records, "html_pages": len(pages), "compressed_mb": round(mb, 3)},
        "extractors": {},
    }
    for ex in EXTRACTORS:
        best_full = best_extract = float("inf")
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                for w in warcs:
                    ingest_file(w, tmp, "common_crawl", IngestConfig(extractor=ex))
                best_full = min(best_full, time.perf_counter() - t0)
            t0 = time.perf_counter()
            texts = [extract_text(p.text, ex) for p in pages]
            best_extract = min(best_extract, time.perf_counter() - t0)
        chars = [len(t) for t in texts]
        boiler = sum(1 for t in texts for line in t.splitlines() if line.strip() in BOILERPLATE)
        lines = [ln.strip() for t in texts for ln in t.splitlines() if ln.strip()]
        # short lines without final punctuation: table-of-contents entries, menus, headings
        listy = sum(1 for ln in lines if len(ln) < 40 and not ln.endswith((".", ":", "?", "!", ";")))
        results["extractors"][ex] = {
            "ingest_records_per_s": round(records / best_full, 1),
            "ingest_mb_per_s": round(mb / best_full, 3),
            "extract_pages_per_s": round(len(pages) / best_extract, 1),
            "mean_chars_per_page": round(sum(chars) / len(chars), 1),
            "empty_pages": sum(1 for c in chars if c == 0),
            "boilerplate_lines_kept": boiler,
            "short_unpunctuated_line_share": round(listy / max(1, len(lines)), 3),
        }
        print(f"{ex:12} {results['extractors'][ex]}", flush=True)
    write_results("ingest", results, args.quick)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
