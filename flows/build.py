"""The whole build as one Prefect flow, from the dataset table: every stage is a subflow.

    ingest (per source) -> filter (per source) -> dedup (across sources) -> tokenizer
      -> shards (tokenize, pack, mix) -> a short training run -> report

Every stage writes into its own folder under OUT and skips the shards it already finished, so a
rerun after a crash (or with new input files) redoes only what is missing, and an interrupted
build ends byte-identical to an uninterrupted one. All stages share one Dask cluster: a local
cluster of worker processes (127.0.0.1) by default, or an existing one (`dask_address`).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tamiz.core import mirror
from tamiz.core.atomic import sha256_file
from tamiz.flows.stage import run_once
from tamiz.pipeline.ingest import IngestConfig
from tamiz.pipeline.stage import input_name
from tamiz.pipeline.table import DatasetTable, load_table

class SourceEmptied(ValueError):
    """A stage left a source with no documents; the build stops before the next stage. A rerun alone
    cannot fix it: the source's inputs or settings must change (or the source must go)."""


@dataclass
class BuildPlan:
    """Everything the build will do, checked before any work starts."""

    table_path: Path
    table: DatasetTable
    out: Path
    ingest: dict[str, IngestConfig]
    filters: dict[str, Any]  # source -> FilterConfig (None: not filtered)
    dedup: Any  # DedupConfig
    priority: list[str]
    tokenizer: Any  # tamiz.tokenizer.train.TrainConfig
    training: Any | None  # train config, or None when training is off
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # called with a stage's folder name once the stage is done (outputs on object storage: its push)
    on_stage_done: Callable[[str], None] | None = None

    @property
    def sources(self) -> list[str]:
        return [s.name for s in self.table.sources]


def plan_build(table_path: str | Path, out: str | Path, train: bool | None = None,
               train_overrides: dict[str, Any] | None = None) -> BuildPlan:
    """Read the table and ask it for every stage's config (the policy is the table's: pipeline/table.py);
    raises ValueError/FileNotFoundError naming the field, before any work starts."""
    from tamiz.core.remote import RemoteSettings

    from tamiz.flows.runtime import max_tasks

    RemoteSettings.from_env()  # TAMIZ_REMOTE_* settings checked before any work (ValueError naming the variable)
    max_tasks()  # and TAMIZ_MAX_TASKS
    return plan_table(load_table(table_path), table_path, out, train, train_overrides)


def plan_table(table: DatasetTable, table_path: str | Path, out: str | Path, train: bool | None = None,
               train_overrides: dict[str, Any] | None = None) -> BuildPlan:
    """`plan_build` for a table already loaded (`tamiz ablate` plans one per variant, each a changed copy
    of the user's table; `table_path` is the file the shard manifest names)."""
    from tamiz.tokenizer.train import config_from_table as tokenizer_config
    from tamiz.train.config import config_from_table as training_config

    ingest: dict[str, IngestConfig] = {}
    filters: dict[str, Any] = {}
    for src in table.names:
        table.resolve_inputs(src)  # every pattern matches something
        ingest[src] = table.ingest_config(src)
        filters[src] = table.filters_config(src)
    if any(c.language_id for c in ingest.values()):
        from tamiz.pipeline.langid import load_model

        load_model()  # checked here, before any work and before the workers start (a damaged file: ValueError)
    dedup, priority = table.dedup_config()
    tok = tokenizer_config(table)
    training = training_config(table, Path(out), train, train_overrides or {})
    return BuildPlan(Path(table_path), table, Path(out), ingest, filters, dedup, priority, tok, training)


STAGES = ("ingest", "filter", "dedup", "tokenizer", "shards", "train")


def describe_plan(plan: BuildPlan) -> list[tuple[str, str, str]]:
    """What `tamiz run --dry-run` prints: (stage, what it will do, where), checked against what OUT holds.
    Reads the inputs' checksums (ingest skips a file whose completion record matches them); writes nothing."""
    from tamiz.pipeline.ingest import shard_task

    rows = []
    out = plan.out
    for src in plan.sources:
        files = plan.table.resolve_inputs(src)
        if plan.table.crawl_spec(src) is not None and not files:  # read through the columnar index
            rows.append((f"ingest {src}", "Common Crawl records selected through the columnar index (planned "
                         "when the build starts)", f"{out / 'ingest' / src}"))
            continue
        local = [Path(f) for f in files if not isinstance(f, str)]
        size = sum(f.stat().st_size if f.is_file() else sum(g.stat().st_size for g in f.rglob("*") if g.is_file())
                   for f in local)
        done = 0
        for f in files:
            task = shard_task(f, out / "ingest" / src, src, plan.ingest[src], input_name(f, out, plan.table.root))
            done += task.done(rename=False) is not None
        todo = len(files) - done
        remote_note = f" (+ {len(files) - len(local)} remote)" if len(local) < len(files) else ""
        rows.append((f"ingest {src}", f"{len(files)} input file(s), {size / 1e6:,.1f} MB{remote_note}: "
                     + ("all already done" if not todo else f"{todo} to ingest" + (f", {done} already done" if done else "")),
                     f"{out / 'ingest' / src}"))
    filtered = [s for s in plan.sources if plan.filters[s] is not None]
    rows.append(("filter", f"sources {', '.join(filtered)}" if filtered else "no source is filtered", str(out / "filter")))
    later = {"dedup": "exact and MinHash across sources, priority " + ", ".join(plan.priority),
             "tokenizer": f"byte-level BPE, vocabulary {plan.tokenizer.vocab_size:,}",
             "shards": "tokenize, pack and mix by the table's weights"}
    for stage, what in later.items():
        there = (out / stage / ("tokenizer_meta.json" if stage == "tokenizer" else "manifest.json")).is_file()
        rows.append((stage, what + ("; a finished output is there (skipped if its inputs are unchanged)" if there
                                    else ""), str(out / stage)))
    if plan.training is None:
        rows.append(("train", "off", "-"))
    else:
        t = plan.training
        there = (Path(t.run.out) / "summary.json").is_file()
        rows.append(("train", f"{t.model.kind} {t.model.size}, {t.schedule.max_steps} steps on {t.run.device}"
                     + ("; a finished run is there (skipped if its config and shards are unchanged)" if there
                        else ""), t.run.out))
    rows.append(("report", "report.md with its plots", str(out / "report")))
    return rows


def force_stages(out: Path, stages: list[str]) -> list[Path]:
    """Remove the outputs of the named stages ("all": every stage) so the build redoes them; returns what
    was removed. Later stages redo their work only if their inputs change (as on any rerun)."""
    import shutil

    names = list(STAGES) if "all" in stages else stages
    removed = []
    for name in names:
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


# ------------------------------------------------------------------------------------------ the flow

def run_build(plan: BuildPlan, dask_address: str | None = None, workers: int | None = None,
              force: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the whole build under the output lock, on one Dask cluster shared by every stage. `force`:
    stages whose outputs are removed first (under the lock), "all" for every stage."""
    from tamiz.core.lock import output_lock

    from tamiz.flows.server import ensure_prefect_api

    with output_lock(plan.out):
        for folder in force_stages(plan.out, list(force)):
            _say(f"--force: removed {folder}")
        ensure_prefect_api()  # one server for the build, before any worker starts
        summary = on_cluster(dask_address, workers, lambda address, release: _build_flow(plan, address, release))
    if summary.get("stopped"):  # raised here, outside the flow: one line for the user, not Prefect's traceback
        raise SourceEmptied(summary["stopped"])
    return summary


def on_cluster(dask_address: str | None, workers: int | None,
               run: Callable[[str, Callable[[], None] | None], dict[str, Any]]) -> dict[str, Any]:
    """`run(address, release)` on the cluster at `dask_address`, or on a local cluster of `workers` processes
    (default: flows.runtime.default_workers) started for it; `release` stops the local cluster's workers
    before a stage that needs every core (None on a cluster tamiz did not start)."""
    if dask_address:
        return run(dask_address, None)
    from distributed import LocalCluster

    from tamiz.flows.runtime import default_workers

    with LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        return run(cluster.scheduler_address, lambda: _release_workers(cluster))


def _release_workers(cluster) -> None:
    """Stop the local cluster's worker processes (the scheduler stays, idle): the training stage runs
    in this process and needs every core; idle workers still use a share of them."""
    cluster.scale(0)
    deadline = time.monotonic() + 30
    while (cluster.workers or cluster.scheduler_info.get("workers")) and time.monotonic() < deadline:
        time.sleep(0.1)


def _build_flow(plan: BuildPlan, address: str, release=None) -> dict[str, Any]:
    from prefect import flow

    @flow(name="tamiz-build", log_prints=False)
    def tamiz_build(table: str, out: str) -> dict[str, Any]:
        return build_stages(plan, address, release)

    return tamiz_build(str(plan.table_path), str(plan.out))


def _say(text: str) -> None:
    from tamiz.flows.console import console

    console.print(text, highlight=False)


def _said(stage: str, total: int, done_before: int, what: str) -> None:
    """One line per stage: what it did, or that it was already done (a rerun says what it skipped)."""
    if total and done_before == total:
        _say(f"{stage}: already done ({total} {what}, nothing to redo)")
    elif done_before:
        _say(f"{stage}: {total - done_before} of {total} {what} done now, {done_before} already done")
    else:
        _say(f"{stage}: {total} {what} done")


@contextlib.contextmanager
def _timed(plan: BuildPlan, stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    plan.stage_seconds[stage] = round(time.perf_counter() - t0, 2)
    if plan.on_stage_done is not None:
        plan.on_stage_done(stage)


@dataclass(frozen=True)
class StageFolders:
    """Where each corpus stage of a build writes. `tamiz run`: OUT/ingest/<source>, OUT/filter, OUT/dedup,
    OUT/tokenizer and OUT/shards (`of_build`). `tamiz ablate` (flows/ablate.py) gives each variant its own
    chain, in folders named by the key of everything upstream of them, so variants that share a prefix of
    the chain share its folders and each stage is computed once."""

    ingest: dict[str, Path]  # per source
    filter: Path
    dedup: Path | None  # None: no dedup (the corpus is what the filters and ingest kept)
    tokenizer: Path
    shards: Path
    train_tokenizer: bool = True  # False: the tokenizer already in `tokenizer` is used as it is (ablate: one for all)

    @classmethod
    def of_build(cls, plan: BuildPlan) -> "StageFolders":
        out = plan.out
        return cls({s: out / "ingest" / s for s in plan.sources}, out / "filter", out / "dedup", out / "tokenizer",
                   out / "shards")


def filter_stage_config(plan: BuildPlan):
    """The filter stage's one config (the per-source thresholds checked by plan_build), or None when no
    source is filtered."""
    from tamiz.pipeline.filter_stage import FilterStageConfig
    from tamiz.pipeline.filters.config import FiltersConfig

    filtered = [s for s in plan.sources if plan.filters[s] is not None]
    if not filtered:
        return None
    return FilterStageConfig(filters=FiltersConfig(sources=tuple((s, plan.filters[s].for_source(s)) for s in filtered)))


def build_stages(plan: BuildPlan, address: str, release=None) -> dict[str, Any]:
    """The stages in order (each a subflow); returns the build summary, also written to build.json.
    `release()`, if given, frees the cluster's workers before the single-process training stage."""
    summary = corpus_stages(plan, address, StageFolders.of_build(plan))
    if summary.get("stopped"):
        return summary
    out = plan.out

    # ---- a short training run (a tiny causal model on a CPU; a real one on a GPU)
    if plan.training is not None:
        if release is not None:
            release()
        with _timed(plan, "train"):
            summary["train"] = _train_stage(plan, workers_released=release is not None)
    summary["stage_seconds"] = dict(plan.stage_seconds)
    from tamiz.flows.report import write_report

    summary["report"] = input_name(write_report(out, summary), out)  # relative to OUT, like every path in build.json
    return summary


def corpus_stages(plan: BuildPlan, address: str, folders: StageFolders) -> dict[str, Any]:
    """Ingest, filter, dedup, tokenizer and shards, each a subflow skipped when done, into `folders`;
    returns the summary so far (with "stopped" when a stage emptied a source)."""
    from tamiz.flows.dedup import dedup_flow
    from tamiz.flows.filter import filter_flow
    from tamiz.flows.ingest import ingest_flow
    from tamiz.flows.mix import shard_flow

    out = plan.out
    # Records name everything relative to OUT, or an input relative to the table's folder (or by its URL):
    # nothing written depends on where OUT or the table sit, so a build copied elsewhere is still done.
    summary: dict[str, Any] = {"table": plan.table_path.name, "table_sha256": sha256_file(plan.table_path),
                               "sources": plan.sources}

    # ---- ingest: one subflow per source (each source has its own settings)
    with _timed(plan, "ingest"):
        summary["ingest"] = {}
        for src in plan.sources:
            idir = folders.ingest[src]
            files = plan.table.resolve_inputs(src, selection_folder=idir)
            pairs = [(str(p), src) for p in files]
            # a crawl source's selection files are written under OUT; the other inputs are the table's
            inames = [input_name(p, out, plan.table.root) for p in files]
            isum = run_once(idir, {"source": src, "ingest": plan.ingest[src].record()}, files,
                            lambda: ingest_flow(pairs, str(idir), plan.ingest[src], inames, dask_address=address),
                            inames)
            summary["ingest"][src] = isum["counts"]
            _said(f"ingest {src}", isum["shards"], isum["resumed"], "input file(s)")
            if getattr(plan.table.crawl_spec(src), "index", None) is not None:  # read through the columnar index
                from tamiz.pipeline.commoncrawl import plan_summary

                sel = plan_summary(idir)
                if sel:
                    summary.setdefault("index", {})[src] = sel
                    _say(f"  through the columnar index: {sel['selected']:,} of {sel['html_200']:,} HTML pages "
                         f"labelled {'/'.join(sel['languages'])} ({sel['match']}), {sel['selected_bytes'] / 1e6:,.1f} MB "
                         f"in {sel['requests']:,} range requests to {sel['warc_files']:,} WARC file(s)")
            stop = emptied_by_ingest(src, summary["ingest"][src], plan)
            if stop:
                return _stopped(plan, summary, stop)

    # ---- filter: the sources with filters on, in one subflow (per-source thresholds)
    with _timed(plan, "filter"):
        filtered = [s for s in plan.sources if plan.filters[s] is not None]
        dedup_inputs: list[str] = []
        config = filter_stage_config(plan)
        if config is not None:
            fdir = folders.filter
            pairs = [(str(p), s) for s in filtered for p in mirror.names(folders.ingest[s] / "docs", "*.parquet")]
            fnames = [input_name(p, out) for p, _ in pairs]
            fsum = run_once(fdir, {"pairs": [s for _, s in pairs], "filter": config.record()},
                            [p for p, _ in pairs],
                            lambda: filter_flow(pairs, str(fdir), config, fnames, dask_address=address), fnames)
            summary["filter"] = {"counts": fsum["counts"], "funnel": fsum["funnel"]}
            _said("filter", fsum["shards"], fsum["resumed"], "shard(s)")
            stop = emptied_by_filters(fsum["funnel"], plan)
            if stop:
                return _stopped(plan, summary, stop)
            dedup_inputs += [str(p) for p in mirror.names(folders.filter / "docs", "*.parquet")]
        for s in plan.sources:
            if plan.filters[s] is None:
                dedup_inputs += [str(p) for p in mirror.names(folders.ingest[s] / "docs", "*.parquet")]

    # ---- dedup across sources (books and reference keep their copies; the crawl loses them)
    if folders.dedup is None:  # an ablation variant without dedup: the corpus is what the filters and ingest kept
        corpus = sorted(Path(p) for p in dedup_inputs)
    else:
        ddir = folders.dedup
        with _timed(plan, "dedup"):
            dedup_inputs = sorted(dedup_inputs)
            dnames = [input_name(p, out) for p in dedup_inputs]
            dsum = run_once(ddir, {"dedup": plan.dedup.as_dict(), "priority": plan.priority}, dedup_inputs,
                            lambda: dedup_flow(dedup_inputs, str(ddir), plan.dedup, plan.priority, names=dnames,
                                               dask_address=address), dnames)
            summary["dedup"] = {"counts": dsum["counts"], "priority": plan.priority}
            _said("dedup", dsum["shards"], dsum["resumed"], "shard(s)")
            emptied = [s for s in plan.sources if plan.table.weights()[s] > 0
                       and not dsum["counts"]["by_source"].get(s, {}).get("kept")]
            if emptied:
                return _stopped(plan, summary, "; ".join(
                    f"source {s}: every document was removed as a duplicate of a source that keeps its copies "
                    f"(priority: {', '.join(plan.priority)})" for s in emptied) + _FIX)
        corpus = mirror.glob(ddir / "docs", "*.parquet")  # the tokenizer trains on them here

    # ---- tokenizer on the deduplicated corpus, sources mixed by the table's weights
    with _timed(plan, "tokenizer"):
        summary["tokenizer"] = _tokenizer_stage(plan, corpus, folders.tokenizer, train=folders.train_tokenizer)

    # ---- tokenize, pack and mix into Arrow shards
    with _timed(plan, "shards"):
        tok_json = folders.tokenizer / "tokenizer.json"
        sdir = folders.shards
        mix = {"shards": plan.table.shards.as_dict(), "sources": [[s.name, s.kind, s.weight] for s in plan.table.sources]}
        if rehydrate := plan.table.rehydrate_configs():  # only then: the key of a table without it is unchanged
            mix["rehydrate"] = {n: c.as_dict() for n, c in rehydrate.items()}
        snames = [input_name(p, out) for p in corpus]
        manifest = run_once(sdir, mix, [*corpus, tok_json],
                            lambda: shard_flow([(str(p), None) for p in corpus], str(sdir), str(tok_json),
                                               plan.table.shards, str(plan.table_path), snames, dask_address=address),
                            [*snames, input_name(tok_json, out)])
        summary["shards"] = {k: manifest[k] for k in ("sources", "splits", "seq_len", "row_tokens", "dtype") if k in manifest}
        _say("shards: already done (same documents, tokenizer and table)" if manifest.get("resumed") else
             f"shards: {manifest['splits']['train']['rows']:,} train rows written")
    return summary


_FIX = (". Change the source's inputs or settings in the table, or remove it (or set its weight to 0); "
        "a rerun alone will not help")


def _stopped(plan: BuildPlan, summary: dict[str, Any], message: str) -> dict[str, Any]:
    summary["stopped"] = message
    summary["stage_seconds"] = dict(plan.stage_seconds)
    return summary


def _top(counts: dict[str, int], n: int = 4) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v:,}" for k, v in items[:n]) + (", ..." if len(items) > n else "")


def emptied_by_ingest(src: str, c: dict[str, Any], plan: BuildPlan) -> str | None:
    """The one line saying why ingest left `src` with no documents (None when it kept some)."""
    if c["kept"] or plan.table.weights()[src] == 0:
        return None
    docs = c["records"] - sum(c["skipped"].values()) - c["quarantined"]
    if docs == 0:
        extra = [f"{c['records']:,} records read"]
        if c["skipped"]:
            extra.append(f"skipped: {_top(c['skipped'])}")
        if c["quarantined"]:
            extra.append(f"{c['quarantined']:,} unreadable (see ingest/{src}/quarantine/)")
        if c["file_errors"]:
            extra.append(f"{c['file_errors']} file(s) with errors")
        return f"source {src}: its inputs hold no documents ({'; '.join(extra)})" + _FIX
    lang = {k: v for k, v in c["dropped"].items() if k.startswith("language:")}
    if lang and sum(lang.values()) == docs - c["dropped"].get("empty:no_text", 0):
        return (f"source {src}: 0 of {docs:,} documents passed language ID "
                f"({_top(c['languages']) or 'no language'})" + _FIX)
    return f"source {src}: 0 of {docs:,} documents kept after ingest (dropped: {_top(c['dropped'])})" + _FIX


def emptied_by_filters(funnel: dict[str, Any], plan: BuildPlan) -> str | None:
    lines = []
    for src, f in funnel.items():
        if f["docs_in"] and not f["docs_out"] and plan.table.weights().get(src, 0) > 0:
            lines.append(f"source {src}: 0 of {f['docs_in']:,} documents passed the quality filters "
                         f"(dropped: {_top(f['dropped'])})")
    return "; ".join(lines) + _FIX if lines else None


def _tokenizer_stage(plan: BuildPlan, corpus: list[Path], tdir: Path, train: bool = True) -> dict[str, Any]:
    """Train the tokenizer in `tdir` on `corpus`, or skip when it is up to date. `train` False: use the one
    `tdir` holds as it is (`tamiz ablate`: the full build's tokenizer, for every variant)."""
    from tamiz.core.lock import output_lock
    from tamiz.tokenizer.train import cut_warning, save, train as train_tokenizer, up_to_date

    if not train:
        meta = json.loads((tdir / "tokenizer_meta.json").read_text(encoding="utf-8"))
        _say("tokenizer: the one trained for the full build (the same for every variant)")
        return {"vocab_size": meta.get("settings", {}).get("vocab_size"), "eval": meta.get("eval"),
                "sha256": meta.get("tokenizer_sha256")}
    with output_lock(tdir):  # like every stage folder (not the build's own: a second lock on it is refused)
        mirror.glob(tdir, "*")  # a build on object storage: a tokenizer trained before is in the store
        fresh = not up_to_date(tdir, corpus, plan.tokenizer, base=plan.out)
        if fresh:
            result = train_tokenizer(corpus, plan.tokenizer, base=plan.out)
            save(result, tdir)
            warning = cut_warning(result.stats, plan.tokenizer)
            if warning:
                from tamiz.flows.console import warn

                warn(f"tokenizer: {warning}")
        meta = json.loads((tdir / "tokenizer_meta.json").read_text(encoding="utf-8"))
    _say("tokenizer: trained" if fresh else "tokenizer: already done (trained on this corpus with these settings)")
    return {"vocab_size": plan.tokenizer.vocab_size, "eval": meta.get("eval"), "sha256": meta.get("tokenizer_sha256")}


PROMPT = "Para cenar voy a hacer"
PROMPT_WORDS = ("fajitas", "cemento")


def _train_stage(plan: BuildPlan, workers_released: bool = False) -> dict[str, Any]:
    """Train, or skip when the run folder already holds the finished checkpoint of this config trained on
    these shards; resume an interrupted run from its last checkpoint. A run whose shards changed since it
    trained (rebuilt in place: an input file changed, the stage folder's name did not) is cleared and
    trained again from the start: its model must not be paired with the new corpus."""
    from tamiz.core.lock import output_lock
    from tamiz.train import infer
    from tamiz.train.loop import train

    cfg = plan.training
    run = Path(cfg.run.out)
    ckpt = run / "checkpoint.pt"
    done_path = run / "summary.json"
    key = json.loads(json.dumps(cfg.to_dict(), default=str))
    # the build's own data and run folders by their names in OUT, so a moved build is still trained
    key["data"]["folder"], key["run"]["out"] = input_name(cfg.data.folder, plan.out), input_name(cfg.run.out, plan.out)
    with output_lock(cfg.run.out):  # like every stage folder (not the build's own: a second lock on it is refused)
        # a build on object storage: the shards come from the store (a worker wrote them), and so does a
        # run trained before (its summary and checkpoints)
        _fetch_shards(Path(cfg.data.folder))
        mirror.glob(run, "*")
        shards = shards_record(Path(cfg.data.folder))
        previous = _read_json(done_path)
        if previous is not None and previous.get("config") == key and previous.get("shards") == shards \
                and ckpt.is_file():
            result = previous["result"]
            _say(f"train: already done ({result.get('steps')} steps with this config)")
        else:
            from tamiz.core.atomic import write_json

            trained_on = _read_json(run / SHARDS_RECORD)
            if ckpt.is_file() and trained_on != shards:
                _say(f"train: the shards changed since this run trained (manifest sha256 "
                     f"{(trained_on or {}).get('manifest_sha256', 'unknown')[:12]} -> "
                     f"{shards['manifest_sha256'][:12]}): its checkpoint is removed, training again from the start")
                _clear_run(run)
            write_json(run / SHARDS_RECORD, shards)  # before the first checkpoint: what a resume must continue
            import torch

            cfg.run.progress = True  # a bar on a terminal, a line every few seconds elsewhere
            on_cpu = cfg.run.device == "cpu" or (cfg.run.device == "auto" and not torch.cuda.is_available())
            if on_cpu and not workers_released:
                # the workers of an existing cluster may share this machine: small models on a CPU run
                # several times faster on one thread than with OpenMP threads spinning against busy
                # workers (measured on 2 cores: ~10x; docs/training.md). With the local cluster's workers
                # stopped, torch's threads have the cores to themselves.
                torch.set_num_threads(1)
            result = train(cfg, resume=ckpt.is_file(), on_progress=_prefect_progress(), root=plan.out)
            result = {k: v for k, v in result.items() if k != "losses"}
            result["checkpoint"], result["out"] = input_name(ckpt, plan.out), input_name(cfg.run.out, plan.out)
            write_json(done_path, {"config": key, "shards": shards, "result": result})
    lm = infer.load(ckpt, device="cpu")
    pred = infer.predict(lm, PROMPT, top_k=10, words=list(PROMPT_WORDS))
    return {
        "steps": result.get("steps"), "parameters": result.get("parameters"), "val_loss": result.get("val_loss"),
        "val_perplexity": result.get("val_perplexity"), "tokens_per_s": result.get("tokens_per_s"),
        "checkpoint": input_name(ckpt, plan.out), "loss_png": input_name(Path(cfg.run.out) / "loss.png", plan.out),
        "prompt": PROMPT,
        "next_tokens": [[tok, round(p, 5)] for tok, _id, p in pred.top],
        "words": [[w, p, n] for w, p, n in pred.words],
    }


SHARDS_RECORD = "shards.json"  # in a run folder: the shards its checkpoints were trained on (shards_record)


def shards_record(folder: Path) -> dict[str, str]:
    """What a run trains on: the shard manifest's sha256 (the manifest lists every shard file with its
    sha256, and the inputs and settings they were made from) and the tokenizer's."""
    from tamiz.core.shardformat import read_shard_manifest

    manifest = read_shard_manifest(folder)
    return {"manifest_sha256": sha256_file(folder / "manifest.json"),
            "tokenizer_sha256": (manifest.get("tokenizer") or {}).get("sha256") or manifest.get("tokenizer_sha256")}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _clear_run(run: Path) -> None:
    """Everything a run folder holds (checkpoints, logs, summary, and what `tamiz ablate` keeps beside them:
    eval.json, finetune/) but its lock, held by the caller. On object storage the new run's files replace
    the old ones in the store under the same names."""
    import shutil

    for p in run.iterdir():
        if p.name == ".tamiz.lock":
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _fetch_shards(folder: Path) -> None:
    """A build on object storage: the shards its manifest names, fetched for training (objects of an earlier
    shard layout that no manifest names stay in the store, unread)."""
    if mirror.active() is None:
        return
    mirror.ensure(folder / "manifest.json")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    mirror.ensure(folder / manifest["tokenizer"]["path"])  # the copy of the tokenizer the rows were made with
    for split in manifest["splits"].values():
        for f in split["files"]:
            mirror.ensure(folder / f["path"])


def _prefect_progress() -> Callable[[dict], None] | None:
    """Training progress in the build's Prefect run: a log line per report (step/total, loss, tokens/s,
    time left) and a progress artifact. The log goes straight to Prefect's API handler, not to the
    terminal (which has its own bar) and not through the `prefect` loggers (kept at WARNING). None outside a
    Prefect flow or task run (the stage called from a script or a test): there is no run to report to."""
    import logging

    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    from prefect.logging.handlers import APILogHandler
    from tamiz.train.progress import Progress

    log = logging.getLogger("tamiz.build.train")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not any(isinstance(h, APILogHandler) for h in log.handlers):
        log.addHandler(APILogHandler())
    artifact: list = []

    def report(info: dict) -> None:
        log.info(Progress.line(info))
        fraction = 100.0 * info["step"] / info["total"]
        if not artifact:
            artifact.append(create_progress_artifact(fraction, key="train-progress", description="training steps"))
        else:
            update_progress_artifact(artifact[0], fraction)
        if info["step"] == info["total"]:
            for h in log.handlers:  # the last line lands before the stage ends (logs are sent in batches)
                h.flush()

    return report


def _scheduled_build_fn(table: str, out: str, train: bool | None = None, dask_address: str | None = None) -> dict[str, Any]:
    """What a scheduled run executes: plan (checks first), then the build as a subflow."""
    from tamiz.flows.outputs import build_output, local_folder

    plan = plan_build(table, local_folder(out), train=train)  # object storage: the URL's working folder
    with build_output(out) as (_, on_stage_done):
        plan.on_stage_done = on_stage_done
        return run_build(plan, dask_address=dask_address)


def _make_scheduled():
    from prefect import flow

    return flow(name="tamiz-scheduled-build", log_prints=False)(_scheduled_build_fn)


scheduled_build = _make_scheduled()
