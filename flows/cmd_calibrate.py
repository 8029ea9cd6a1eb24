"""`tamiz filter INPUTS --calibrate --out DIR`: propose the heuristic thresholds from a sample of the inputs.

Why an option of `tamiz filter` and not a command of its own: it reads the same inputs, the same
`--config` file (its thresholds are what is calibrated, and its `calibrate:` section holds the settings),
and writes what `tamiz filter --config` reads back. It runs in this process, without Prefect or Dask:
one streamed pass samples the inputs, then the sample is measured (pipeline/calibrate.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from tamiz.flows.console import console, fail, table, warn


def calibration_settings(data: dict[str, Any], config_file: Optional[Path], sample: Optional[int],
                         method: Optional[str], reference: Optional[list[str]]):
    """The `calibrate:` section of the config file with the command line's settings on top (options win)."""
    from tamiz.pipeline.calibrate import CalibrationConfig

    block = dict(data.get("calibrate") or {})
    for key, value in (("sample", sample), ("method", method), ("reference", reference or None)):
        if value is not None:
            block[key] = value
    try:
        return CalibrationConfig.from_dict(block)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{config_file or '--calibrate'}: {e}") from None


def run_calibrate(files: list, source: Optional[str], out: Path, filters, settings) -> None:
    """Sample, measure, propose, write the report into `out`, and print the summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tamiz.pipeline.calibrate import calibrate, measure_sample
    from tamiz.pipeline.calibrate_report import write_report
    from tamiz.pipeline.calibrate_sample import sample_documents

    started = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        reading = progress.add_task("reading (documents)", total=None)
        sample = sample_documents([(f, source) for f in files], settings.sample, settings.seed,
                                  on_read=lambda n: progress.update(reading, completed=n))
        progress.update(reading, total=sum(sample.seen.values()))
        if settings.reference and not set(settings.reference) <= set(sample.docs):
            missing = sorted(set(settings.reference) - set(sample.docs))[0]
            fail(f"--reference {missing}: no documents of that source in the inputs "
                 f"(sources found: {', '.join(sample.docs) or 'none'})")
        if not sample.docs:
            fail("no documents in the inputs: nothing to calibrate")
        sampled = sum(len(d) for d in sample.docs.values())
        measuring = progress.add_task("measuring (sample)", total=sampled)
        t0, cpu0 = time.perf_counter(), time.process_time()
        measured = measure_sample(sample, filters, on_measured=lambda k: progress.update(measuring, completed=k))
        measure_s, measure_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if settings.method != "tail" and not settings.reference and len(sample.docs) > 1:
        warn("no --reference: the reference is every source's sample pooled. Name the sources the current "
             "thresholds suit (e.g. --reference common_crawl) to carry them over to the others.")
    cal = calibrate(measured, filters, settings)
    inputs = {"files": sample.files, "records": sample.records, "quarantined": sample.quarantined,
              "seen": sample.seen, "sampled": {s: len(d) for s, d in sample.docs.items()},
              "measure_seconds": round(measure_s, 3), "measure_cpu_seconds": round(measure_cpu, 3),
              "docs_per_cpu_s": round(sampled / measure_cpu, 1) if measure_cpu else None}
    paths = write_report(cal, out, inputs)
    print_summary(cal.summary)
    console.print(f"{sample.files} input file(s), {sum(sample.seen.values()):,} documents read, {sampled:,} sampled "
                  f"and measured in {measure_s:.1f} s ({measure_cpu:.1f} s of CPU: {inputs['docs_per_cpu_s']} "
                  f"documents per CPU second); {time.perf_counter() - started:.1f} s in all.")
    console.print(f"Proposal: {paths['proposal']} (pass it back with --config). Report: {paths['report']}, "
                  f"{paths['distributions']}, {paths['histograms']}/")


def print_summary(summary: dict[str, Any]) -> None:
    from tamiz.pipeline.calibrate_report import fmt, share

    for src, r in summary["sources"].items():
        n = r["documents"]
        rows = [(e["rule"], fmt(e["current"]), share(e["current_removes"], n), fmt(e["proposed"]),
                 share(e["proposed_removes"], n)) for e in r["rules"] if e["active"]]
        rows.append(("whole chain", "", share(r["current"]["dropped"], n), "", share(r["proposed"]["dropped"], n)))
        table(f"calibration: {src} ({n:,} documents sampled, method {summary['method']})",
              ["threshold", "current", "removes", "proposed", "removes"], rows)
        for note in r["notes"]:
            warn(f"{src}: {note}")
