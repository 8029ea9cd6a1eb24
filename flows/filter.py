"""The filter flow (one task per input shard on the Dask cluster, then an optional second pass), the
funnel report (table, funnel.json, funnel.png), and the training flows of the quality classifier and
the perplexity model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from tamiz.flows.stage import map_tasks, open_folder, publish, run_stage
from tamiz.core.atomic import atomic_path, write_json
from tamiz.pipeline.filter_stage import (FilterStageConfig, combine_passes, compute_cutoffs, filter_file, merge_counts,
                                   merge_funnel, sample_file)
from tamiz.pipeline.stage import input_name


@task(name="filter-shard", retries=2, retry_delay_seconds=1)
def filter_shard(path: str, out: str, config: dict[str, Any], source: str | None,
                 name: str | None = None) -> dict[str, Any]:
    """Pass 1 over one input file; returns its shard record (counts and checksums, never documents)."""
    return filter_file(path, out, FilterStageConfig.from_dict(config), source, name)


@task(name="sample-shard", retries=2, retry_delay_seconds=1)
def sample_shard(name: str, out: str, config: dict[str, Any], cutoffs: dict[str, Any]) -> dict[str, Any]:
    """Pass 2 over one scored shard with the cutoffs of all shards."""
    return sample_file(name, out, FilterStageConfig.from_dict(config), cutoffs)


def filter_flow(inputs: list[tuple[str, str | None]], out: str, config: FilterStageConfig,
                names: list[str] | None = None, dask_address: str | None = None,
                workers: int | None = None) -> dict[str, Any]:
    """Run the filter stage over (path, source or None) pairs on a Dask cluster; returns the summary.
    `names`: what the records call each input (default: `input_name`, relative to the current folder)."""
    return run_stage(_filter_flow, out, inputs, out, config.as_dict(), names, dask_address=dask_address,
                     workers=workers)


@flow(name="tamiz-filter", log_prints=False)
def _filter_flow(inputs: list[tuple[str, str | None]], out: str, config: dict[str, Any],
                 names: list[str] | None = None) -> dict[str, Any]:
    cfg = FilterStageConfig.from_dict(config)
    open_folder(out)
    names = names or [input_name(p) for p, _ in inputs]
    recs1 = map_tasks(filter_shard, [(p, out, config, s, n) for (p, s), n in zip(inputs, names)],
                      [p for p, _ in inputs], "filter")
    recs2: list = [None] * len(recs1)
    cutoffs = None
    if cfg.two_pass():
        cutoffs = compute_cutoffs([Path(out) / "scores" / f"{r['name']}.npz" for r in recs1], cfg)
        write_json(Path(out) / "cutoffs.json", cutoffs)
        recs2 = map_tasks(sample_shard, [(r["name"], out, config, cutoffs) for r in recs1], [r["name"] for r in recs1],
                          "filter (pass 2)", description="sample")
    records = [combine_passes(a, b) for a, b in zip(recs1, recs2)]
    counts = merge_counts(records)
    funnel = merge_funnel([p for r in records for p in r["funnel_parts"]])
    counts["by_source"] = {s: {"docs_in": f["docs_in"], "kept": f["docs_out"], "bytes_in": f["bytes_in"],
                               "bytes_kept": f["bytes_out"]} for s, f in funnel.items()}
    write_json(Path(out) / "funnel.json", funnel)
    plot_funnel(funnel, Path(out) / "funnel.png")
    manifest_counts = {**counts, "funnel": funnel, "cutoffs": cutoffs}
    publish(out, "filter", cfg.record(), cfg.hash(), records, manifest_counts, artifact=(
        "filter-funnel",
        [{"source": s, "step": "input", "docs": f["docs_in"], "bytes": f["bytes_in"]} for s, f in funnel.items()]
        + [{"source": s, "step": n, "docs": d, "bytes": b} for s, f in funnel.items() for n, d, b in f["steps"]],
        f"filter into {out}: {counts['docs_in']} documents, {counts['kept']} kept"))
    resumed = sum(1 for r in recs1 if r.get("resumed"))
    return {"counts": counts, "funnel": funnel, "cutoffs": cutoffs, "shards": len(records), "resumed": resumed,
            "two_pass": cfg.two_pass()}


def plot_funnel(funnel: dict[str, dict[str, Any]], path: str | Path) -> Path:
    """A PNG with one panel per source: documents (bars) and bytes (labels) left after each step.

    Uses matplotlib's Agg canvas directly, so no global backend is switched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sources = list(funnel) or ["(no documents)"]
    rows = max([len(f["steps"]) + 1 for f in funnel.values()] or [1])
    fig = Figure(figsize=(9, 0.42 * rows * len(sources) + 1.2 * len(sources)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(sources), 1, squeeze=False)[:, 0]
    for ax, src in zip(axes, sources):
        f = funnel.get(src, {"docs_in": 0, "bytes_in": 0, "steps": []})
        names = ["input"] + [s[0] for s in f["steps"]]
        docs = [f["docs_in"]] + [s[1] for s in f["steps"]]
        nbytes = [f["bytes_in"]] + [s[2] for s in f["steps"]]
        y = list(range(len(names)))[::-1]
        ax.barh(y, docs, color=["#777777"] + ["#3b7dd8"] * (len(names) - 1))
        ax.set_yticks(y, names)
        top = max(docs) or 1
        for yi, d, b in zip(y, docs, nbytes):
            share = f" ({100 * d / f['docs_in']:.1f}%)" if f["docs_in"] else ""
            ax.text(d + top * 0.01, yi, f"{d:,}{share}  {b / 1e6:.2f} MB", va="center", fontsize=8)
        ax.set_xlim(0, top * 1.45)
        ax.set_title(f"{src}: documents after each step", fontsize=10, loc="left")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    return Path(path)


# ------------------------------------------------------------------------------------- training flows

@task(name="quality-train")
def quality_train_task(inputs: list[tuple[str, str | None]], positives: list[str], negatives: list[str], out: str,
                       config: dict[str, Any]) -> dict[str, Any]:
    from tamiz.pipeline.quality.classifier import ClassifierConfig, train_classifier

    pos, neg = [], []
    counts: dict[str, int] = {}
    for doc in _read_all(inputs):
        if doc.source in positives:
            pos.append(doc)
        elif doc.source in negatives:
            neg.append(doc)
        else:
            continue
        counts[doc.source] = counts.get(doc.source, 0) + 1
    missing = [s for s in positives + negatives if s not in counts]
    if missing:
        raise ValueError(f"no documents of source(s) {', '.join(missing)} in the inputs "
                         f"(sources found: {', '.join(sorted(set(_sources(inputs))))})")
    return train_classifier(pos, neg, out, ClassifierConfig(**config),
                            sources={"positive": positives, "negative": negatives, "documents": counts})


@flow(name="tamiz-quality-train", log_prints=False)
def quality_train_flow(inputs: list[tuple[str, str | None]], positives: list[str], negatives: list[str], out: str,
                       config: dict[str, Any]) -> dict[str, Any]:
    """Train the fastText quality classifier (one task: training is one process)."""
    return quality_train_task(inputs, positives, negatives, out, config)


@task(name="perplexity-train")
def perplexity_train_task(inputs: list[tuple[str, str | None]], sources: list[str] | None, heldout: list[str],
                          out: str, order: int) -> dict[str, Any]:
    from tamiz.pipeline.perplexity.model import train_char_model

    train, test = [], []
    for doc in _read_all(inputs):
        if doc.source in heldout:
            test.append(doc.text)
        elif sources is None or doc.source in sources:
            train.append(doc.text)
    if not train:
        raise ValueError(f"no training documents (sources {sources or 'all'}) in the inputs")
    return train_char_model(train, out, order=order, heldout=test)


@flow(name="tamiz-perplexity-train", log_prints=False)
def perplexity_train_flow(inputs: list[tuple[str, str | None]], sources: list[str] | None, heldout: list[str],
                          out: str, order: int) -> dict[str, Any]:
    """Train tamiz's character n-gram model on reference text (one task)."""
    return perplexity_train_task(inputs, sources, heldout, out, order)


def _read_all(inputs: list[tuple[str, str | None]]):
    from tamiz.pipeline.readers import read_documents
    from tamiz.pipeline.report import ReadReport

    for path, source in inputs:
        p = Path(path)
        yield from read_documents(p, ReadReport(path), source or (p.parent.name if p.is_file() else p.name))


def _sources(inputs: list[tuple[str, str | None]]):
    for doc in _read_all(inputs):
        yield doc.source
