"""Time `tamiz filter --calibrate` on the bundled sample, stage by stage, in one process (one core).

Sources (JSONL, no ingest needed): books (Reina-Valera, 1,189 chapters), reference (Debian Reference,
107 sections), fortunes (10,734), offensive (1,158 fortunes tagged offensive). Stages: reading and
reservoir-sampling every document; measuring the sample with every heuristic filter (the cost that
grows with --sample); proposing with each of the four methods; writing the report (JSON, Markdown, 26
PNG histograms). Each stage is timed by the process's CPU time (time.process_time: what this process
used, whatever else the machine runs) and by the wall clock; documents/s per core are from CPU time.
Results: benchmarks/results/calibrate.json (full run; --quick writes calibrate.quick.json).

    python benchmarks/bench_calibrate.py [--quick] [--sample N]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

SOURCES = {"books": "books/reina_valera_1909.jsonl.gz", "reference": "reference/debian_reference_es.jsonl",
           "fortunes": "reference/fortunes_es.jsonl", "offensive": "offensive/fortunes_es_off.jsonl"}


class Clock:
    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def lap(self) -> dict[str, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        out = {"cpu_s": round(cpu - self.cpu, 3), "wall_s": round(wall - self.wall, 3)}
        self.cpu, self.wall = cpu, wall
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 documents per source")
    ap.add_argument("--sample", type=int, default=2000, help="documents sampled per source (default 2000)")
    args = ap.parse_args()
    size = 200 if args.quick else args.sample

    from tamiz.pipeline.calibrate import CalibrationConfig, calibrate, measure_sample
    from tamiz.pipeline.calibrate_report import write_report
    from tamiz.pipeline.calibrate_sample import sample_documents
    from tamiz.pipeline.filters.config import FiltersConfig

    sample_dir = ROOT / "data" / "sample"
    inputs = [(sample_dir / path, name) for name, path in SOURCES.items()]
    filters = FiltersConfig()
    stages: dict[str, dict] = {}
    clock = Clock()
    sample = sample_documents(inputs, size, seed=0)
    stages["read_and_sample"] = {**clock.lap(), "documents": sum(sample.seen.values())}
    measured = measure_sample(sample, filters)
    n = sum(len(d) for d in sample.docs.values())
    chars = sum(len(d.text) for docs in sample.docs.values() for d in docs)
    stages["measure"] = {**clock.lap(), "documents": n, "mb": round(chars / 1e6, 3)}
    results = {}
    for method in ("quantile", "tail", "meanstd", "median_ratio"):
        reference = () if method == "tail" else ("books",)
        cal = calibrate(measured, filters, CalibrationConfig(sample=size, method=method, reference=reference))
        stages[f"propose_{method}"] = clock.lap()
        results[method] = {src: {"current_dropped_share": r["current"]["dropped_share"],
                                 "proposed_dropped_share": r["proposed"]["dropped_share"]}
                           for src, r in cal.summary["sources"].items()}
    with tempfile.TemporaryDirectory() as tmp:
        write_report(cal, tmp, {"files": sample.files, "records": sample.records, "seen": sample.seen})
        stages["write_report"] = clock.lap()
    for s in stages.values():
        if "documents" in s and s["cpu_s"]:
            s["docs_per_s_per_core"] = round(s["documents"] / s["cpu_s"], 1)
    total = {k: round(sum(s[k] for s in stages.values()), 3) for k in ("cpu_s", "wall_s")}
    end_to_end = {k: round(stages["read_and_sample"][k] + stages["measure"][k] + stages["propose_quantile"][k]
                           + stages["write_report"][k], 3) for k in ("cpu_s", "wall_s")}
    out = {
        "sample_per_source": size, "sampled": {s: len(d) for s, d in sample.docs.items()}, "seen": sample.seen,
        "stages": stages, "all_stages": total,
        "one_calibration": {**end_to_end, "docs_per_s_per_core": round(n / end_to_end["cpu_s"], 1)},
        "dropped_share": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared machine: another benchmark ran beside this one; CPU times are this process's"},
    }
    path = write_results("calibrate", out, args.quick)
    print(json.dumps(out, indent=2))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
