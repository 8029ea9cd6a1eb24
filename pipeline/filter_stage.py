"""The filter stage for one input shard: heuristic filters, quality classifier and perplexity, per source.

Pass 1 (`filter_file`, every shard): the chain of each document's source (thresholds per source,
see pipeline/filters/config.py), then the quality score and the perplexity, and the keep rules that
need nothing but the document (Pareto, threshold, sampling with fixed boundaries). Writes
  docs/<shard>.parquet          kept documents (scored/<shard>.parquet when a pass 2 follows)
  rejects/<shard>.parquet       dropped documents, metadata.drop_reason = "<step>:<reason>"
  quarantine/<shard>.jsonl      records that could not be read
  scores/<shard>.npz            (pass 2 only) quality scores and perplexities of the survivors
  _shards/<shard>.json          completion record: counts and the funnel per source (with `changed`:
                                what mappers that report it replaced, e.g. the PII redactor per kind)
Pass 2 (`sample_file`, only for rules that need the distribution over all documents: the top-percent
quality rule, and perplexity sampling without fixed boundaries): reads scored/<shard>.parquet and the
cutoffs computed from every shard's scores (`compute_cutoffs`), writes docs/<shard>.parquet and
rejects/<shard>.pass2.parquet. Every output appears by atomic rename; a shard whose completion
record matches its input and config is skipped on rerun.
Counts reconcile per source: documents in = kept + dropped (by reason).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tamiz.core import mirror
from tamiz.core.atomic import atomic_path, sha256_file
from tamiz.core.config import from_mapping
from tamiz.pipeline.filters import FiltersConfig, heuristic_steps
from tamiz.pipeline.perplexity.sampling import (PerplexityConfig, PerplexitySample, PerplexityScore, cutoffs_from,
                                                fixed_cutoffs)
from tamiz.pipeline.quality.keep import QualityConfig, QualityKeep, QualityScorer, top_percent_cutoff
from tamiz.pipeline.readers import as_input, input_kind, read_documents
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.runner import StepStats, run_steps
from tamiz.pipeline.shard_task import ShardTask, read_counts
from tamiz.pipeline.writers import config_hash, read_parquet_documents


@lru_cache(maxsize=16)
def _file_sha(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def model_checksum(path: str) -> str:
    """sha256 of a model file (cached by path, mtime and size), part of the config hash."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: model file not found")
    st = p.stat()
    return _file_sha(str(p.resolve()), st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class FilterStageConfig:
    """Everything the filter stage does, checked before any work starts."""

    filters: FiltersConfig = field(default_factory=FiltersConfig)
    heuristics: bool = True  # run the heuristic chain (False: only scoring/sampling)
    quality: QualityConfig | None = None
    perplexity: PerplexityConfig | None = None

    def __post_init__(self) -> None:
        if not self.heuristics and self.quality is None and self.perplexity is None:
            raise ValueError("heuristics: off, and no quality model or perplexity model given: nothing to do")

    def two_pass(self) -> bool:
        return bool((self.quality and self.quality.rule == "top_percent")
                    or (self.perplexity and self.perplexity.needs_distribution()))

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"heuristics": self.heuristics, "filters": self.filters.as_dict(),
                             "quality": None, "perplexity": None}
        if self.quality:
            d["quality"] = {**dataclasses.asdict(self.quality), "model_sha256": model_checksum(self.quality.model)}
        if self.perplexity:
            d["perplexity"] = {**dataclasses.asdict(self.perplexity),
                               "model_sha256": model_checksum(self.perplexity.model)}
        return json.loads(json.dumps(d))

    def record(self) -> dict[str, Any]:
        """as_dict with the filters' files (evaluation sets, offensive word lists) by sha256 instead of their
        paths (stage keys, manifests)."""
        d = self.as_dict()
        d["filters"] = json.loads(json.dumps(self.filters.record()))
        return d

    def hash(self) -> str:
        """The key of the stage's records: the models, the offensive word lists and the evaluation sets by
        their sha256, not by where their files are (a moved model file, or a build moved with its models,
        is the same config)."""
        d = self.record()
        for section in ("quality", "perplexity"):
            if d[section]:
                d[section] = {k: v for k, v in d[section].items() if k != "model"}
                if d[section].get("sp_model"):
                    d[section]["sp_model"] = model_checksum(d[section]["sp_model"])
        return config_hash(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FilterStageConfig":
        """Inverse of as_dict (what flows pass to their tasks), checked by `tamiz.core.config.from_mapping`;
        the model checksums as_dict adds are dropped (they are recomputed from the model files)."""
        d = dict(d)
        d["filters"] = FiltersConfig.from_dict(d.get("filters"))
        for section in ("quality", "perplexity"):
            d[section] = {k: v for k, v in d[section].items() if k != "model_sha256"} if d.get(section) else None
        return from_mapping(cls, d)


# ------------------------------------------------------------------------------------------- pass 1

def pass1_steps(config: FilterStageConfig, source: str) -> list:
    """The heuristic chain of the source (its PII redactor last, when enabled), then scoring and keep rules."""
    steps: list = []
    if config.heuristics:
        steps += heuristic_steps(config.filters.for_source(source))
    q, p = config.quality, config.perplexity
    if q:
        steps.append(QualityScorer(q))
        if q.rule in ("pareto", "threshold"):
            steps.append(QualityKeep(q))
    if p:
        steps.append(PerplexityScore(p))
        if p.sampling != "none" and not p.needs_distribution():
            steps.append(PerplexitySample(p, fixed_cutoffs(p)))
    return steps


def pass2_steps(config: FilterStageConfig, cutoffs: dict[str, Any]) -> list:
    steps: list = []
    q, p = config.quality, config.perplexity
    if q and q.rule == "top_percent":
        steps.append(QualityKeep(q, cutoff=cutoffs.get("quality")))
    if p and p.needs_distribution():
        steps.append(PerplexitySample(p, cutoffs.get("perplexity") or {}))
    return steps


def filter_file(path: str | Path, out_dir: str | Path, config: FilterStageConfig,
                default_source: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Pass 1 over one input (tamiz Parquet shard, JSONL or text); skipped when already done. `name`: what
    the record calls the input (default: its path relative to the current folder, or its URL)."""
    path = as_input(path)  # a URL stays a string
    if input_kind(path) in ("warc", "ccselection"):
        raise ValueError(f"{path}: WARC input holds HTML; run `tamiz ingest` first and filter its docs/")
    task = ShardTask.for_input(path, out_dir, name=name, config_hash=config.hash(), **{"pass": 1})
    if (done := task.done()) is not None:
        return done

    source = default_source or (path.parent.name if path.is_file() else path.name)
    report = ReadReport(task.input_name)  # quarantine records name the input as the record does
    two = config.two_pass()
    chains: dict[str, list] = {}
    stats: dict[str, StepStats] = {}
    scores: dict[str, list] = {"source": [], "quality": [], "perplexity": []}
    tagged: dict[str, int] = {}
    with task.parquet("scored" if two else "docs") as kept, task.parquet("rejects") as rejects:
        for doc in read_documents(path, report, source):
            steps = chains.get(doc.source)
            if steps is None:
                steps = chains[doc.source] = pass1_steps(config, doc.source)
            st = stats.setdefault(doc.source, StepStats())
            for d in run_steps([doc], steps, st, on_reject=rejects.add):
                kept.add(d)
                for tag in d.metadata.get("tags", ()):  # steps that keep and mark (offensive, action: tag)
                    tagged[tag] = tagged.get(tag, 0) + 1
                if two:
                    scores["source"].append(d.source)
                    scores["quality"].append(_num(d.metadata.get("quality_score")))
                    scores["perplexity"].append(_num(d.metadata.get("perplexity")))
    task.quarantine(report)
    counts = _counts(report, stats)
    tallies: dict[str, dict[str, int]] = {}  # what steps counted beside their drops (decontaminate's tags)
    for steps in chains.values():
        for step in steps:
            for k, n in getattr(step, "tally", {}).items():
                t = tallies.setdefault(step.name, {})
                t[k] = t.get(k, 0) + n
    if tallies:
        counts["tallies"] = {name: dict(sorted(t.items())) for name, t in sorted(tallies.items())}
    if two:
        _write_scores(task.path("scores", ".npz", rows=len(scores["source"])), scores)
    for s in stats.values():
        assert s.reconciles(), f"{path}: step counts do not reconcile"
    return task.finish({
        "input": {"path": task.input_name, "sha256": task.input_sha256},
        "counts": {**counts, "tagged": dict(sorted(tagged.items()))},
        "funnel": {src: _funnel_part(st, chains[src]) for src, st in sorted(stats.items())},
    })


def _num(v) -> float:
    return float(v) if v is not None else math.nan


def _write_scores(path: Path, scores: dict[str, list]) -> None:
    names = sorted(set(scores["source"]))
    idx = {n: i for i, n in enumerate(names)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, source=np.array([idx[s] for s in scores["source"]], dtype=np.int32),
                     quality=np.array(scores["quality"], dtype=np.float64),
                     perplexity=np.array(scores["perplexity"], dtype=np.float64),
                     sources=np.frombuffer(json.dumps(names).encode("utf-8"), dtype=np.uint8))


def read_scores(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{source: {"quality": scores, "perplexity": perplexities}} of one scores/<shard>.npz."""
    mirror.ensure(path)
    with np.load(path, allow_pickle=False) as z:
        names = json.loads(bytes(z["sources"]).decode("utf-8"))
        src, q, p = z["source"], z["quality"], z["perplexity"]
        return {n: {"quality": q[src == i], "perplexity": p[src == i]} for i, n in enumerate(names)}


def compute_cutoffs(score_files: list[str | Path], config: FilterStageConfig) -> dict[str, dict[str, Any]]:
    """Per source: the top-percent quality cutoff and the perplexity quartiles / cc_net cutoffs, from
    the scores of every shard (read in the given order, so the result does not depend on timing)."""
    pooled: dict[str, dict[str, list]] = {}
    for f in score_files:
        for src, arrs in read_scores(f).items():
            d = pooled.setdefault(src, {"quality": [], "perplexity": []})
            d["quality"].append(arrs["quality"])
            d["perplexity"].append(arrs["perplexity"])
    out: dict[str, dict[str, Any]] = {}
    q, p = config.quality, config.perplexity
    for src in sorted(pooled):
        entry: dict[str, Any] = {}
        if q and q.rule == "top_percent" and q.applies(src):
            qs = np.concatenate(pooled[src]["quality"])
            entry["quality"] = top_percent_cutoff(qs[~np.isnan(qs)], q.top_percent)
        if p and p.needs_distribution() and p.applies(src):
            entry["perplexity"] = cutoffs_from(np.concatenate(pooled[src]["perplexity"]).tolist(), p)
            if p.boundaries is not None:  # fixed quartiles win; percentiles still come from the data
                entry["perplexity"].update(zip(("q1", "median", "q3"), p.boundaries))
        out[src] = entry
    return out


# ------------------------------------------------------------------------------------------- pass 2

def sample_file(name: str, out_dir: str | Path, config: FilterStageConfig,
                cutoffs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pass 2 over one scored shard: the keep rules that need the cutoffs of all shards."""
    scored = Path(out_dir) / "scored" / f"{name}.parquet"
    mirror.ensure(scored)  # pass 1 may have run on another worker of a build on object storage
    key = {"scored_sha256": sha256_file(scored), "config_hash": config.hash(), "cutoffs": config_hash(cutoffs),
           "pass": 2}
    task = ShardTask(out_dir, f"{name}.pass2", key, stem=name)
    if (done := task.done()) is not None:
        return done
    chains: dict[str, list] = {}
    stats: dict[str, StepStats] = {}
    with task.parquet("docs") as kept, task.parquet("rejects", ".pass2") as rejects:
        for doc in read_parquet_documents(scored):
            steps = chains.get(doc.source)
            if steps is None:
                steps = chains[doc.source] = pass2_steps(config, cutoffs.get(doc.source, {}))
            st = stats.setdefault(doc.source, StepStats())
            for d in run_steps([doc], steps, st, on_reject=rejects.add):
                kept.add(d)
    return task.finish({
        "funnel": {src: {**_funnel_part(st, chains[src]), "pass": 2} for src, st in sorted(stats.items())},
    })


# ------------------------------------------------------------------------------------ counts, funnel

def _counts(report: ReadReport, stats: dict[str, StepStats]) -> dict[str, Any]:
    dropped: dict[str, int] = {}
    for st in stats.values():
        for r, n in st.dropped.items():
            dropped[r] = dropped.get(r, 0) + n
    read = read_counts(report)
    counts = {
        "records": read["records"],
        "docs_in": sum(s.docs_in for s in stats.values()),
        "kept": sum(s.docs_out for s in stats.values()),
        "dropped": dict(sorted(dropped.items())),
        "skipped": read["skipped"],
        "quarantined": read["quarantined"],
        "file_errors": read["file_errors"],
    }
    changed = _sum_changed(st.changed for st in stats.values())
    if changed:  # only where a mapper reports its changes (the PII redactor), so other records stay as they were
        counts["changed"] = changed
    return counts


def _sum_changed(parts) -> dict[str, dict[str, int]]:
    """{step: {what: count}} summed over `parts` (StepStats.changed or record counts), sorted."""
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for step, c in part.items():
            o = out.setdefault(step, {})
            for k, n in c.items():
                o[k] = o.get(k, 0) + n
    return {step: dict(sorted(c.items())) for step, c in sorted(out.items())}


def _funnel_part(st: StepStats, steps: list) -> dict[str, Any]:
    part = {"docs_in": st.docs_in, "bytes_in": st.bytes_in, "docs_out": st.docs_out, "bytes_out": st.bytes_out,
            "steps": [[s.name, *st.after_step.get(s.name, [0, 0])] for s in steps],
            "dropped": dict(sorted(st.dropped.items()))}
    if st.changed:
        part["changed"] = _sum_changed([st.changed])
    return part


def merge_funnel(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Sum the funnel parts ({source: part}) of all shards; pass-2 parts (marked "pass": 2) continue the
    steps of their source after the pass-1 steps.

    Returns {source: {docs_in, bytes_in, docs_out, bytes_out, steps: [[name, docs, bytes]], dropped}}.
    """
    out: dict[str, dict[str, Any]] = {}
    ordered = [(src, f) for part in parts for src, f in part.items() if f.get("pass", 1) == 1]
    ordered += [(src, f) for part in parts for src, f in part.items() if f.get("pass", 1) == 2]
    for src, f in ordered:
        o = out.setdefault(src, {"docs_in": 0, "bytes_in": 0, "docs_out": 0, "bytes_out": 0, "steps": [],
                                 "dropped": {}})
        if f.get("pass", 1) == 1:
            o["docs_in"] += f["docs_in"]
            o["bytes_in"] += f["bytes_in"]
        names = [row[0] for row in o["steps"]]
        for name, docs, nbytes in f["steps"]:
            if name in names:
                row = o["steps"][names.index(name)]
                row[1] += docs
                row[2] += nbytes
            else:
                o["steps"].append([name, docs, nbytes])
                names.append(name)
        for r, n in f["dropped"].items():
            o["dropped"][r] = o["dropped"].get(r, 0) + n
        if f.get("changed"):
            o["changed"] = _sum_changed([o.get("changed", {}), f["changed"]])
    for o in out.values():
        last = o["steps"][-1] if o["steps"] else ["input", o["docs_in"], o["bytes_in"]]
        o["docs_out"], o["bytes_out"] = last[1], last[2]
        o["dropped"] = dict(sorted(o["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
    return dict(sorted(out.items()))


def combine_passes(rec1: dict[str, Any], rec2: dict[str, Any] | None) -> dict[str, Any]:
    """One record per shard for the manifest: pass-1 record with pass-2 outputs, drops and funnel added."""
    rec = {k: v for k, v in rec1.items() if k not in ("resumed", "key")}
    rec["funnel_parts"] = [rec1["funnel"]]
    if rec2 is None:
        return rec
    rec["outputs"] = rec1["outputs"] + rec2["outputs"]
    counts = json.loads(json.dumps(rec1["counts"]))
    for part in rec2["funnel"].values():
        counts["kept"] -= part["docs_in"] - part["docs_out"]
        for r, n in part["dropped"].items():
            counts["dropped"][r] = counts["dropped"].get(r, 0) + n
    counts["dropped"] = dict(sorted(counts["dropped"].items()))
    rec["counts"] = counts
    rec["funnel_parts"].append(rec2["funnel"])
    return rec


def merge_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"records": 0, "docs_in": 0, "kept": 0, "quarantined": 0, "dropped": {}, "skipped": {},
                             "file_errors": 0, "tagged": {}}
    for r in records:
        c = r["counts"]
        for k in ("records", "docs_in", "kept", "quarantined"):
            total[k] += c[k]
        total["file_errors"] += len(c["file_errors"])
        for tag, n in c.get("tagged", {}).items():  # documents kept with a tag, by pass 1 (a record of an
            total["tagged"][tag] = total["tagged"].get(tag, 0) + n  # older tamiz has none)
        for k in ("dropped", "skipped"):
            for reason, n in c[k].items():
                total[k][reason] = total[k].get(reason, 0) + n
        for step, t in c.get("tallies", {}).items():
            into = total.setdefault("tallies", {}).setdefault(step, {})
            for k, n in t.items():
                into[k] = into.get(k, 0) + n
    for k in ("dropped", "skipped", "tagged"):
        total[k] = dict(sorted(total[k].items()))
    changed = _sum_changed(r["counts"].get("changed", {}) for r in records)
    if changed:
        total["changed"] = changed
    if "tallies" in total:
        total["tallies"] = {s: dict(sorted(t.items())) for s, t in sorted(total["tallies"].items())}
    return total
