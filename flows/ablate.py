"""`tamiz ablate`: the same small model trained on corpus variants, compared on held-out text.

    variants (pipeline/ablation.py) -> each variant's corpus chain (ingest, filter, dedup, shards: the
    build's own stages, flows/build.py corpus_stages) -> one tokenizer, the full build's -> the same
    model, token budget and optimizer on every variant, several seeds -> bits per byte on held-out
    sets and a cloze test (train/heldout.py, train/cloze.py) -> report with spreads and verdicts
    (flows/ablate_report.py)

One Prefect flow, `tamiz-ablate`: the variants' stages are the build's subflows on one Dask cluster,
the trainings and evaluations its tasks (in this process, one after another, with the cluster's
workers stopped: they need every core, or the one GPU).

Nothing is computed twice. Each stage writes into a folder named by the key of everything upstream
that determines it (its config, and the keys of the stages it reads), under OUT/stages/:

    ingest-<source>-<key>   the source's ingest config, inputs
    filter-<key>            the filter config, the keys of the ingest folders it reads
    dedup-<key>             the dedup config and priority, the keys of what it reads
    tokenizer-<key>         the full build's tokenizer (one for all variants)
    shards-<key>            the shard config, the sources' weights, the corpus key, the tokenizer key

so two variants that differ only in dedup share their ingest and filter folders, and a second run
finds every stage done (`run_once`'s completion records check the inputs' checksums as in `tamiz
run`). Runs live in OUT/runs/seed<N>-<key> (the training config, seed and shards key), each with
its `eval.json` (keyed by the checkpoint's, the evaluation files' and the cloze pairs' checksums). The
shards key is made of configs; shards rebuilt under it with other content (an input file changed in
place) make the training stage clear the run and train it again (flows/build.py `_train_stage`
compares the shard manifest's sha256).
OUT/variants/<name>.yaml is each variant's table; OUT/eval/cloze.jsonl the cloze pairs;
OUT/report/report.md, its plot and OUT/ablate.json the results.

The comparison is fair by construction: one tokenizer (a token is the same thing in every variant),
the same model, optimizer, schedule and number of steps, and the same number of training tokens: the
shards of every variant hold exactly the rows the run reads (`shards.tokens` = steps x batch x
accumulation x seq_len), one pass in an order fixed by the seed; what differs is how often each
source's text repeats to fill them (the epochs, reported per variant and source).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from tamiz.core.atomic import atomic_open, sha256_file, write_json
from tamiz.flows.build import BuildPlan, StageFolders, _say, filter_stage_config, plan_table
from tamiz.pipeline.ablation import BASELINE, AblateConfig, Variant, ablate_config, resolve_variants, table_mapping
from tamiz.pipeline.stage import input_name
from tamiz.pipeline.table import DatasetTable, load_table
from tamiz.pipeline.writers import config_hash

BUNDLED_EVAL = Path(__file__).resolve().parents[1] / "data" / "eval"
EVAL_FORMAT = "tamiz-ablate-eval/1"

# Presets (`--preset`): the training runs' settings, over the table's `training:` and `ablate.training`.
# docs/ablate.md gives the arithmetic behind each: tokens per run and the expected time.
PRESETS: dict[str, dict[str, Any]] = {
    # the sample's tiny causal model (0.6M parameters with its 8,192-token vocabulary): 200 steps of 16 rows of
    # 256 tokens = 819,200 tokens per run; 4 variants x 3 seeds within 30 minutes on 2 CPU cores
    "cpu": {"seeds": 3, "seq_len": None, "training": {
        "model": {"kind": "causal", "size": "tiny"}, "optimizer": {"lr": 0.003},
        "schedule": {"max_steps": 200, "warmup_steps": 20},
        "data": {"batch_size": 16, "num_workers": 0, "eval_batches": 10},
        "run": {"grad_accum": 1, "eval_interval": 0, "checkpoint_interval": 100, "log_interval": 50,
                "device": "cpu", "compile": False}}},
    # a GPT-2-small-shaped causal model (~110M parameters at a 32,768 vocabulary) on one GPU: 32 rows x 4
    # accumulation x 1,024 tokens = 131,072 tokens per step, 7,630 steps = 1.0B tokens per run, 3B per variant
    "gpu": {"seeds": 3, "seq_len": 1024, "training": {
        "model": {"kind": "causal", "size": "gpt2-small"}, "optimizer": {"lr": 6e-4},
        "schedule": {"max_steps": 7630, "warmup_steps": 300},
        "data": {"batch_size": 32, "num_workers": 2, "eval_batches": 20},
        "run": {"grad_accum": 4, "eval_interval": 1000, "checkpoint_interval": 1000, "log_interval": 50,
                "device": "cuda", "compile": True}}},
}


@dataclass
class VariantPlan:
    variant: Variant
    build: BuildPlan  # the variant's table, planned as `tamiz run` plans one (training off)
    folders: StageFolders
    keys: dict[str, Any]  # the stage keys its folders are named by

    @property
    def name(self) -> str:
        return self.variant.name


@dataclass
class RunPlan:
    variant: str
    seed: int
    config: Any  # tamiz.train.config.TrainConfig: data.folder is the variant's shards, run.out the run folder


@dataclass
class AblationPlan:
    """Everything `tamiz ablate` will do, checked before any work starts."""

    table_path: Path
    table: DatasetTable
    out: Path
    config: AblateConfig
    variants: list[VariantPlan]
    runs: list[RunPlan]
    eval_sets: dict[str, Path]  # name (the file's stem) -> file
    tokens_per_run: int
    preset: str | None = None
    training: dict[str, Any] = field(default_factory=dict)  # the runs' settings (without folders and seed)
    tasks: list[Path] = field(default_factory=list)  # fine-tuning task files (ablate.finetune: the evaluation: block)
    finetune_mode: str = "full"


# ------------------------------------------------------------------------------------------ the plan

def plan_ablation(table_path: str | Path, out: str | Path, variants: Sequence[str] | None = None,
                  seeds: int | None = None, preset: str | None = None, eval_files: Sequence[str | Path] = (),
                  max_steps: int | None = None) -> AblationPlan:
    """Read the table and its `ablate:` block, resolve the variants (from the command line: names of
    built-in variants or of the table's own), and plan every variant's stages and every run; raises
    ValueError/FileNotFoundError naming the file and field before any work."""
    from tamiz.core.remote import RemoteSettings
    from tamiz.flows.runtime import max_tasks
    from tamiz.train.config import config_from_dict

    RemoteSettings.from_env()
    max_tasks()
    table_path, out = Path(table_path), Path(out)
    table = load_table(table_path)
    config = ablate_config(table)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"--preset: {preset!r} is not a preset (one of {', '.join(PRESETS)})")
    chosen = PRESETS.get(preset or "", {})
    seeds = seeds if seeds is not None else chosen.get("seeds", config.seeds)
    if seeds < 1:
        raise ValueError(f"--seeds: {seeds} must be at least 1")
    config = dataclasses.replace(config, seeds=seeds, variants=_pick(config, variants))

    # ---- the runs' settings: the table's training block, its ablate.training, the preset, --max-steps
    training = {k: v for k, v in table.training.items() if k != "enabled"}
    training = _merge(_merge(training, config.training), chosen.get("training", {}))
    if max_steps is not None:
        training = _merge(training, {"schedule": {"max_steps": max_steps}})
    probe = _merge(training, {"data": {"folder": "shards"}, "run": {"out": "run"}})
    try:
        cfg = config_from_dict(probe)
    except ValueError as e:
        raise ValueError(f"{table_path}: ablate.training (with the table's training block"
                         f"{' and the ' + preset + ' preset' if preset else ''}): {e}") from None
    if cfg.run.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"run.device {cfg.run.device}" + (f" (the {preset} preset)" if preset else "")
                             + ": no GPU is visible here; use --preset cpu or set ablate.training.run.device")
    eval_sets = _eval_sets(table, config, eval_files)  # cheap to check: before the variants' plans
    tasks, ft_mode = _finetune_tasks(table, config)
    seq_len = chosen.get("seq_len") or table.shards.seq_len
    tokens = cfg.schedule.max_steps * cfg.data.batch_size * cfg.run.grad_accum * seq_len
    # every variant's shards hold exactly the rows its run reads: the same token budget for all
    table = dataclasses.replace(table, shards=dataclasses.replace(table.shards, seq_len=seq_len, tokens=tokens))

    # ---- the variants and their stage folders
    plans: list[VariantPlan] = []
    for v in resolve_variants(table, config.variants):
        build = plan_table(v.table, out / "variants" / f"{v.name}.yaml", out, train=False)
        plans.append(VariantPlan(v, build, None, {}))  # type: ignore[arg-type]
    full = plans[0]
    corpus_key = {p.name: _keys(p.build, p.variant.dedup) for p in plans}
    tok_key = config_hash({"tokenizer": full.build.tokenizer.as_dict(), "corpus": corpus_key[BASELINE]["corpus"]})
    for p in plans:
        p.keys = {**corpus_key[p.name], "tokenizer": tok_key}
        mix = {"shards": p.build.table.shards.as_dict(), "tokenizer": tok_key,
               "sources": [[s.name, s.kind, s.weight] for s in p.build.table.sources], "corpus": p.keys["corpus"]}
        if rehydrate := p.build.table.rehydrate_configs():  # as tamiz run keys its shards
            mix["rehydrate"] = {n: c.as_dict() for n, c in rehydrate.items()}
        p.keys["shards"] = config_hash(mix)
        p.folders = _folders(out, p, full_tokenizer=p is full)
    _refuse_same_corpus(table_path, plans)

    # ---- the runs: every variant, every seed
    runs = []
    for p in plans:
        for seed in range(seeds):
            d = _merge(training, {"run": {"seed": seed}, "data": {"seed": seed}})
            key = config_hash({"train": d, "shards": p.keys["shards"]})
            d = _merge(d, {"data": {"folder": str(p.folders.shards)},
                           "run": {"out": str(out / "runs" / f"seed{seed}-{key[:12]}")}})
            runs.append(RunPlan(p.name, seed, config_from_dict(d)))
    return AblationPlan(table_path, table, out, config, plans, runs, eval_sets, tokens, preset, training, tasks,
                        ft_mode)


def _refuse_same_corpus(table_path: Path, plans: list[VariantPlan]) -> None:
    """Two variants with one shards key build one corpus from one chain of stage folders: the second would
    measure nothing. resolve_variants refuses a step that does not run; this catches what it cannot see
    (settings that differ on paper, not in what the stages do)."""
    first: dict[str, str] = {}
    for p in plans:
        key = p.keys["shards"]
        other = first.setdefault(key, p.name)
        if other != p.name:
            raise ValueError(f"{table_path}: ablate.variants: {p.name} builds the same corpus as {other} (the same "
                             f"stage folders, shards-{key[:12]}): it would measure nothing")


def _finetune_tasks(table: DatasetTable, config: AblateConfig) -> tuple[list[Path], str]:
    """With `ablate.finetune`, the `evaluation:` block's task files, every record checked (before any work)."""
    if not config.finetune:
        return [], "full"
    from tamiz.train.finetune.evaluation import check_tasks, evaluation_config

    cfg = evaluation_config(table)
    return check_tasks(table, cfg), cfg.mode


def _pick(config: AblateConfig, names: Sequence[str] | None) -> tuple:
    """The variants the command line names (built-in names, or names of the table's own variants)."""
    if not names:
        return config.variants
    own = {v["name"]: v for v in config.variants if isinstance(v, dict) and "name" in v}
    picked = []
    for n in names:
        if n in own:
            picked.append(own[n])
        else:
            picked.append(n)  # a built-in name; resolve_variants refuses anything else, naming it
    return tuple(picked)


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in change.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _keys(build: BuildPlan, dedup: bool) -> dict[str, Any]:
    """The key of each stage of a variant's chain: its config and the keys of what it reads."""
    ingest = {}
    for s in build.table.sources:
        ingest[s.name] = config_hash({"source": s.name, "ingest": build.ingest[s.name].record(),
                                      "inputs": list(s.inputs), "crawl": s.crawl})
    fcfg = filter_stage_config(build)
    filtered = [s for s in build.sources if build.filters[s] is not None]
    filt = config_hash({"filter": fcfg.record(), "ingest": {s: ingest[s] for s in filtered}}) if fcfg else None
    upstream = {"filter": filt, "unfiltered": {s: ingest[s] for s in build.sources if build.filters[s] is None}}
    ded = config_hash({"dedup": build.dedup.as_dict(), "priority": build.priority, "from": upstream}) if dedup else None
    return {"ingest": ingest, "filter": filt, "dedup": ded, "corpus": ded or config_hash({"no dedup": upstream})}


def _folders(out: Path, p: VariantPlan, full_tokenizer: bool) -> StageFolders:
    st = out / "stages"
    k = p.keys
    return StageFolders(
        ingest={s: st / f"ingest-{s}-{key[:12]}" for s, key in k["ingest"].items()},
        filter=st / f"filter-{(k['filter'] or 'none')[:12]}",
        dedup=st / f"dedup-{k['dedup'][:12]}" if k["dedup"] else None,
        tokenizer=st / f"tokenizer-{k['tokenizer'][:12]}",
        shards=st / f"shards-{k['shards'][:12]}",
        train_tokenizer=full_tokenizer)


def _eval_sets(table: DatasetTable, config: AblateConfig, given: Sequence[str | Path]) -> dict[str, Path]:
    """The evaluation files: --eval, else the table's `ablate.eval` (relative to the table), else the bundled
    sets; each is read once here, so a bad one fails before any work."""
    from tamiz.train.heldout import read_texts

    where = f"{table.path}: ablate.eval"
    if given:
        files, where = [Path(f) for f in given], "--eval"
    elif config.eval:
        files = []
        for pattern in config.eval:
            full = Path(pattern) if Path(pattern).is_absolute() else table.root / pattern
            found = sorted(Path(p) for p in glob.glob(str(full))) if any(c in pattern for c in "*?[") else [full]
            if not found or not all(f.exists() for f in found):
                raise FileNotFoundError(f"{where}: {pattern!r} matches no file (relative to {table.root})")
            files += found
    else:
        files = sorted(BUNDLED_EVAL.glob("*.jsonl"))
    sets: dict[str, Path] = {}
    for f in files:
        if f.stem in sets:
            raise ValueError(f"{where}: two evaluation files are named {f.stem!r} ({sets[f.stem]}, {f}); "
                             "the report names each set by its file name")
        read_texts(f)  # ValueError names the file and line
        sets[f.stem] = f
    if not sets:
        raise ValueError(f"{where}: no evaluation file")
    return sets


def describe_ablation(plan: AblationPlan) -> list[tuple[str, str, str]]:
    """What `tamiz ablate --dry-run` prints: (variant, what changes, its stage folders, marked where shared)."""
    first: dict[Path, str] = {}
    rows = []
    for p in plan.variants:
        f = p.folders
        stages = [*(("ingest " + s, d) for s, d in f.ingest.items()), ("filter", f.filter if p.keys["filter"] else None),
                  ("dedup", f.dedup), ("shards", f.shards)]
        cells = []
        for name, folder in stages:
            if folder is None:
                cells.append(f"{name}: off")
                continue
            owner = first.setdefault(folder, p.name)
            cells.append(f"{name}: {folder.name}" + (f" (shared with {owner})" if owner != p.name else ""))
        rows.append((p.name, p.variant.changes, "; ".join(cells)))
    return rows


# ------------------------------------------------------------------------------------------ the flow

def run_ablation(plan: AblationPlan, dask_address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Run the ablation under OUT's lock, the variants' stages on one Dask cluster (a local one unless
    `dask_address`); returns the summary (also OUT/ablate.json)."""
    from tamiz.core.lock import output_lock
    from tamiz.flows.build import SourceEmptied, on_cluster
    from tamiz.flows.server import ensure_prefect_api

    with output_lock(plan.out):
        ensure_prefect_api()
        _write_tables(plan)
        summary = on_cluster(dask_address, workers, lambda address, release: _ablate_flow(plan, address, release))
    if summary.get("stopped"):
        raise SourceEmptied(summary["stopped"])
    return summary


def _write_tables(plan: AblationPlan) -> None:
    """OUT/variants/<name>.yaml: each variant's table (the shard stage reads its weights; a person reads
    what the variant was). Its inputs are relative to the user's table's folder, as in that table."""
    import yaml

    for p in plan.variants:
        path = p.build.table_path
        path.parent.mkdir(parents=True, exist_ok=True)
        head = (f"# variant {p.name!r} of {plan.table_path.name} (sha256 {sha256_file(plan.table_path)[:16]}): "
                f"{p.variant.changes}\n# its inputs are relative to that table's folder\n")
        _write_if_changed(path, head + yaml.safe_dump(table_mapping(p.build.table), sort_keys=False, allow_unicode=True))


def _write_if_changed(path: Path, text: str) -> None:
    """A rerun leaves a file that would get the same bytes as it is (its time included)."""
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _ablate_flow(plan: AblationPlan, address: str, release: Callable[[], None] | None = None) -> dict[str, Any]:
    from prefect import flow

    @flow(name="tamiz-ablate", log_prints=False)
    def tamiz_ablate(table: str, out: str, variants: list[str], seeds: int) -> dict[str, Any]:
        return ablation_steps(plan, address, release)

    return tamiz_ablate(str(plan.table_path), str(plan.out), [p.name for p in plan.variants], plan.config.seeds)


def ablation_steps(plan: AblationPlan, address: str, release: Callable[[], None] | None = None) -> dict[str, Any]:
    """The variants' corpus stages (the full build first: its corpus trains the one tokenizer), then every
    run's training and evaluation, then the report."""
    from tamiz.flows.build import corpus_stages
    from tamiz.train.cloze import build_pairs, pairs_text
    from tamiz.train.heldout import read_texts

    out = plan.out
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    chains: dict[str, dict[str, Any]] = {}
    for p in plan.variants:
        _say(f"variant {p.name} ({p.variant.changes}):")
        chains[p.name] = corpus_stages(p.build, address, p.folders)
        if chains[p.name].get("stopped"):
            if p.name == BASELINE:  # no baseline, nothing to compare with
                return {"stopped": f"variant {BASELINE}: {chains[p.name]['stopped']}"}
            from tamiz.flows.console import warn

            warn(f"variant {p.name} is left out: {chains[p.name]['stopped']}")
    seconds["corpus stages"] = round(time.perf_counter() - t0, 2)
    if release is not None:
        release()  # training and scoring run here and need every core

    # ---- the held-out sets and the cloze pairs: the same for every run
    sets = {name: read_texts(f) for name, f in plan.eval_sets.items()}
    set_keys = {name: [f.name, sha256_file(f)] for name, f in plan.eval_sets.items()}
    pairs = build_pairs([(name, t) for name, texts in sets.items() for t in texts], plan.config.cloze.pairs,
                        plan.config.cloze.seed)
    pairs_path = out / "eval" / "cloze.jsonl"
    pairs_path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(pairs_path, pairs_text(pairs))
    pairs_sha = sha256_file(pairs_path)

    task_keys = [[p.name, _task_sha(p)] for p in plan.tasks]  # the fine-tuning tasks' files, read once

    # ---- every run: train (skipped when done), evaluate (skipped when done)
    by_name = {p.name: p for p in plan.variants}
    runs = []
    for i, r in enumerate(plan.runs, 1):
        if chains[r.variant].get("stopped"):
            continue
        _say(f"run {i}/{len(plan.runs)}: variant {r.variant}, seed {r.seed}")
        t1 = time.perf_counter()
        trained = train_run(by_name[r.variant].build, r.config, workers_released=release is not None)
        t2 = time.perf_counter()
        evaluated = evaluate_run(Path(r.config.run.out), sets, set_keys, pairs, pairs_sha, r.config.run.device)
        if plan.tasks:
            evaluated = {**evaluated, "finetune": finetune_run(Path(r.config.run.out), plan.tasks, task_keys,
                                                               plan.finetune_mode)}
        runs.append({"variant": r.variant, "seed": r.seed, "folder": input_name(r.config.run.out, out),
                     "train": trained, "eval": evaluated,
                     "seconds": {"train": round(t2 - t1, 2), "eval": round(time.perf_counter() - t2, 2)}})
    seconds["runs"] = round(sum(r["seconds"]["train"] + r["seconds"]["eval"] for r in runs), 2)

    summary = _summary(plan, chains, runs, set_keys, sets, len(pairs), seconds)
    from tamiz.flows.ablate_report import write_report

    summary["report"] = input_name(write_report(out, summary), out)
    return summary


@task(name="ablate-train", cache_policy=NO_CACHE)
def train_run(build: BuildPlan, config: Any, workers_released: bool = True) -> dict[str, Any]:
    """One training run (the build's own training stage: skipped when its folder holds the finished run of
    this config on these shards, resumed from its last checkpoint when interrupted, trained again from the
    start when the shards changed)."""
    from tamiz.flows.build import _train_stage

    result = _train_stage(dataclasses.replace(build, training=config), workers_released=workers_released)
    return {k: result.get(k) for k in ("steps", "parameters", "val_loss", "tokens_per_s", "checkpoint", "words")}


def _kept(path: Path, key: str) -> dict | None:
    """The results a run kept in `path` (eval.json, finetune.json) when they were made under `key`, else None."""
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
        return done["results"] if done.get("key") == key else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


@task(name="ablate-evaluate", cache_policy=NO_CACHE)
def evaluate_run(run: Path, sets: dict[str, list[str]], set_keys: dict[str, list[str]], pairs: list,
                 pairs_sha: str, device: str = "auto") -> dict[str, Any]:
    """Bits per byte on every held-out set and the cloze accuracy of the run's checkpoint; kept in
    run/eval.json and reused while the checkpoint, the sets and the pairs are the same."""
    from tamiz.train import infer
    from tamiz.train.cloze import accuracy, score_pairs
    from tamiz.train.heldout import bits_per_byte

    ckpt = run / "checkpoint.pt"
    key = config_hash({"checkpoint": sha256_file(ckpt), "sets": set_keys, "pairs": pairs_sha, "format": EVAL_FORMAT})
    path = run / "eval.json"
    if (done := _kept(path, key)) is not None:
        return {**done, "resumed": True}
    lm = infer.load(ckpt, device="cpu" if device == "cpu" else "auto")
    results = {"sets": {name: bits_per_byte(lm, texts) for name, texts in sets.items()},
               "cloze": accuracy(score_pairs(lm, pairs)) if pairs else None}
    write_json(path, {"key": key, "results": results})
    return results


@task(name="ablate-finetune", cache_policy=NO_CACHE)
def finetune_run(run: Path, tasks: list[Path], task_keys: list[list[str]], mode: str) -> dict[str, dict[str, float]]:
    """{task: {metric: test score}} of the run's checkpoint fine-tuned on each task (fine-tuning seed 0, no
    baseline), into run/finetune/<task>/; kept in run/finetune.json and reused while the checkpoint, the
    task files and the mode are the same."""
    from tamiz.train.finetune.evaluation import EvaluationConfig, run_evaluation

    ckpt = run / "checkpoint.pt"
    key = config_hash({"checkpoint": sha256_file(ckpt), "mode": mode, "format": EVAL_FORMAT, "tasks": task_keys})
    path = run / "finetune.json"
    if (done := _kept(path, key)) is not None:
        return done
    cfg = EvaluationConfig(tasks=tuple(str(p) for p in tasks), mode=mode, seeds=1, baseline=False)
    results = {}
    for res in run_evaluation(ckpt, tasks, cfg, run / "finetune", log=lambda line: _say(f"  finetune: {line}")):
        results[res["task"]] = {m: res["summary"]["pretrained"][m]["mean"] for m in res["metrics"]}
    write_json(path, {"key": key, "results": results})
    return results


def _task_sha(task_file: Path) -> str:
    """sha256 over a task file and every file of its folder (its splits)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in task_file.parent.rglob("*") if p.is_file()):
        h.update(f.relative_to(task_file.parent).as_posix().encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def _summary(plan: AblationPlan, chains: dict[str, dict[str, Any]], runs: list[dict[str, Any]],
             set_keys: dict[str, list[str]], sets: dict[str, list[str]], n_pairs: int,
             seconds: dict[str, float]) -> dict[str, Any]:
    out = plan.out
    cfg = plan.runs[0].config
    variants = []
    for p in plan.variants:
        chain = chains[p.name]
        shards = chain.get("shards") or {}
        f = p.folders
        folders = {**{f"ingest {s}": d for s, d in f.ingest.items()},
                   "filter": f.filter if p.keys["filter"] else None, "dedup": f.dedup, "shards": f.shards}
        variants.append({
            "name": p.name, "changes": p.variant.changes, "off": list(p.variant.off), "step": p.variant.step,
            "stopped": chain.get("stopped"),
            "folders": {k: (input_name(v, out) if v is not None else None) for k, v in folders.items()},
            "sources": [{"name": s["name"], "weight": s["weight"], "documents": sum(s["documents"].values()),
                         "train_tokens": s["tokens"]["train"], "epochs": s["epochs"]} for s in shards.get("sources", [])],
            "train_rows": (shards.get("splits") or {}).get("train", {}).get("rows"),
        })
    return {
        "table": plan.table_path.name, "table_sha256": sha256_file(plan.table_path), "preset": plan.preset,
        "seeds": plan.config.seeds, "tokens_per_run": plan.tokens_per_run,
        "model": {"kind": cfg.model.kind, "size": cfg.model.size, "steps": cfg.schedule.max_steps,
                  "batch_size": cfg.data.batch_size, "grad_accum": cfg.run.grad_accum, "lr": cfg.optimizer.lr,
                  "seq_len": plan.table.shards.seq_len,
                  "parameters": next((r["train"].get("parameters") for r in runs), None)},
        "tokenizer": chains[BASELINE].get("tokenizer"),
        "eval_sets": {n: {"file": k[0], "sha256": k[1], "documents": len(sets[n]),
                          "bytes": sum(len(t.encode("utf-8")) for t in sets[n])} for n, k in set_keys.items()},
        "cloze": {"pairs": n_pairs, "seed": plan.config.cloze.seed, "file": "eval/cloze.jsonl"},
        "finetune": {"mode": plan.finetune_mode,
                     "tasks": sorted({t for r in runs for t in r["eval"].get("finetune", {})})} if plan.tasks else None,
        "variants": variants, "runs": runs, "seconds": seconds,
    }
