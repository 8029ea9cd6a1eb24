"""Does a stage's code keep memory from one file to the next? One plain process (no Dask, no Prefect)
ingests N WARC files of a synthetic crawl one after the other, then filters their outputs, and reads its
anonymous memory (`/proc/self/status` RssAnon) and peak (VmHWM) after every call.

Written for issue 15: the build's ingest and filter workers rise 12-19% from a 1 GB to an 8 GB build;
this separates tamiz's per-file code from the worker process around it. Linux only.

    python benchmarks/bench_stage_memory.py [--crawl DIR] [--files N]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402


def _status(field: str) -> int:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crawl", type=Path, default=Path(tempfile.gettempdir()) / "tamiz-bench-scale" / "crawl-10.5gb-seed0",
                    help="a crawl of scripts/make_synthetic_crawl.py (bench_scale.py's folder for 10.5 GB)")
    ap.add_argument("--files", type=int, default=10)
    args = ap.parse_args()
    from tamiz.pipeline.filter_stage import FilterStageConfig, filter_file
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    files = sorted(args.crawl.rglob("*.warc.gz"))[: args.files]
    if not files:
        sys.exit(f"{args.crawl}: no WARC files (generate one: python benchmarks/bench_scale.py --gb 10.5, or "
                 "scripts/make_synthetic_crawl.py)")
    out = Path(tempfile.mkdtemp(prefix="tamiz-stage-memory-"))
    rows = []
    for stage, inputs, call in (
            ("ingest", files, lambda f: ingest_file(f, out / "ingest", "common_crawl", IngestConfig())),
            ("filter", None, lambda f: filter_file(f, out / "filter", FilterStageConfig(), "common_crawl"))):
        for i, f in enumerate(inputs if inputs is not None else sorted((out / "ingest" / "docs").glob("*.parquet"))):
            t = time.perf_counter()
            call(f)
            gc.collect()
            rows.append({"stage": stage, "call": i, "seconds": round(time.perf_counter() - t, 1),
                         "rss_anon_mb": _status("RssAnon"), "peak_rss_mb": _status("VmHWM")})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    results = {"crawl": str(args.crawl), "files": len(files), "calls": rows}
    print(f"wrote {write_results('stage_memory', results, False)}", file=sys.stderr)


if __name__ == "__main__":
    main()
