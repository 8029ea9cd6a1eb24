"""`tamiz ablate`: variants and their checks, the plan's shared stage folders, the verdict rule, and a tiny
end-to-end ablation (2 variants x 2 seeds, a few training steps) run twice: the second run redoes nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from tamiz.flows.ablate_report import compare, effect, paired, spread, verdict
from tamiz.pipeline.ablation import ablate_config, resolve_variants
from tamiz.pipeline.table import load_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_TABLE = ROOT / "data" / "sample" / "table.yaml"


def table_with(tmp_path: Path, ablate: dict, unfiltered: bool = False) -> Path:
    """The bundled sample's table (inputs and evaluation sets named by absolute path) with an `ablate:` block."""
    raw = yaml.safe_load(SAMPLE_TABLE.read_text(encoding="utf-8"))
    for s in raw["sources"]:
        s["inputs"] = [str(SAMPLE_TABLE.parent / p) for p in s["inputs"]]
        dec = (s.get("filters") or {}).get("decontamination")
        if dec:  # the evaluation sets too
            dec["evaluation_sets"] = [str(SAMPLE_TABLE.parent / p) for p in dec["evaluation_sets"]]
        if unfiltered:
            s["filters"] = {"enabled": False}
    raw["ablate"] = ablate
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


# ---- variants ----------------------------------------------------------------------------------

def test_variants_change_only_what_they_name():
    table = load_table(SAMPLE_TABLE)
    vs = resolve_variants(table, ["no_dedup", "no_language_id", "no_filters", "no_gopher_quality",
                                  {"name": "crawl_heavy", "weights": {"common_crawl": 0.8}},
                                  {"name": "strict", "sources": {"common_crawl": {"filters": {
                                      "gopher_quality": {"min_doc_words": 100}}}}}])
    names = [v.name for v in vs]
    assert names == ["full", "no_dedup", "no_language_id", "no_filters", "no_gopher_quality", "crawl_heavy", "strict"]
    by = {v.name: v for v in vs}
    assert by["full"].table is table and by["full"].dedup and by["full"].step is None
    assert not by["no_dedup"].dedup and by["no_dedup"].table.sources == table.sources
    assert [c.language_id for c in map(by["no_language_id"].table.ingest_config, table.names)] == [False] * 3
    assert all(by["no_filters"].table.filters_config(s) is None for s in table.names)
    crawl = by["no_gopher_quality"].table.filters_config("common_crawl").for_source("common_crawl")
    assert not crawl.gopher_quality.enabled and crawl.c4.enabled and crawl.fineweb.enabled
    assert by["no_gopher_quality"].table.filters_config("books") is None  # unfiltered sources stay unfiltered
    assert by["no_gopher_quality"].step == "gopher_quality"
    assert by["crawl_heavy"].table.weights()["common_crawl"] == pytest.approx(0.8 / 1.2)
    assert by["crawl_heavy"].step is None and "weights common_crawl 0.8" in by["crawl_heavy"].changes
    strict = by["strict"].table.filters_config("common_crawl").for_source("common_crawl")
    assert strict.gopher_quality.min_doc_words == 100 and strict.gopher_quality.max_doc_words == 100_000
    assert table.filters_config("common_crawl").for_source("common_crawl").gopher_quality.min_doc_words == 50


@pytest.mark.parametrize("ablate,message", [
    ({"variants": ["no_such"]}, r"ablate.variants\[0\]: 'no_such' is not a built-in variant"),
    ({"variants": [{"name": "x", "off": ["bogus"]}]}, r"ablate.variants\[0\].off: 'bogus' is not a step"),
    ({"variants": [{"name": "x", "weights": {"nope": 1}}]}, r"ablate.variants\[0\] \(x\): weights.nope: not a source"),
    ({"variants": [{"name": "x", "weights": {"books": -1}}]}, r"weights.books: -1 is negative"),
    ({"variants": [{"name": "x", "sources": {"books": {"ingest": {"extractr": "x"}}}}]},
     r"ablate.variants\[0\] \(x\): .*extractr"),
    ({"variants": ["no_dedup", "no_dedup"]}, r"ablate.variants\[1\].name: 'no_dedup' is already"),
    ({"variants": [{"name": "no_dedup"}]}, r"is a built-in variant's name"),
    ({"variants": [{"name": "same"}]}, r"\(same\): builds the same corpus as full"),
    ({"seeds": 0}, r"ablate.seeds: 0 must be at least 1"),
    ({"cloze": {"pairs": -1}}, r"ablate.cloze.pairs: -1 is negative"),
    ({"colze": {}}, r"ablate.colze: unknown field"),
])
def test_bad_ablate_blocks_are_refused_naming_the_field(tmp_path, ablate, message):
    table = load_table(table_with(tmp_path, ablate))
    with pytest.raises(ValueError, match=message):
        resolve_variants(table, ablate_config(table).variants)


def test_a_step_the_table_does_not_run_is_refused(tmp_path):
    table = load_table(table_with(tmp_path, {"variants": ["no_c4"]}, unfiltered=True))
    with pytest.raises(ValueError, match=r"\(no_c4\): c4 does not run in this table \(no source is filtered\): "
                                         r"switching it off would build the same corpus as full"):
        resolve_variants(table, ablate_config(table).variants)


def table_without(tmp_path: Path, *steps: str) -> Path:
    """The sample's table (table_with) with the crawl's settings of these filter steps removed: the steps off by
    default (close_language, offensive, pii) do not run, nor does decontamination without evaluation sets."""
    path = table_with(tmp_path, {})
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for step in steps:
        raw["sources"][0]["filters"].pop(step)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("step,why", [
    ("pii", r"no filtered source enables it \(filters.pii.enabled\)"),
    ("offensive", r"no filtered source enables it \(filters.offensive.enabled\)"),
    ("close_language", r"no filtered source enables it \(filters.close_language.enabled\)"),
    ("decontamination", r"no filtered source names an evaluation set \(filters.decontamination.evaluation_sets\)"),
])
def test_switching_off_a_step_that_does_not_run_is_refused(tmp_path, step, why):
    # the variant's table would say `filters.<step>: {enabled: false}`, a change on paper only: the filter stage,
    # its folders and the corpus would be full's, and the report would give a verdict on a step that never ran
    from tamiz.flows.ablate import plan_ablation

    path = table_without(tmp_path, step)
    with pytest.raises(ValueError, match=rf"ablate.variants\[1\] \(no_{step}\): {step} does not run in this "
                                         rf"table \({why}\): switching it off would build the same corpus as full"):
        plan_ablation(path, tmp_path / "out", variants=["full", f"no_{step}"], preset="cpu")
    with pytest.raises(ValueError, match=rf"\(bare\): {step} does not run in this table"):  # a variant of your own
        resolve_variants(load_table(path), [{"name": "bare", "off": ["dedup", step]}])
    assert not (tmp_path / "out").exists()


def test_variants_that_build_the_same_corpus_are_refused_by_their_stage_keys(tmp_path):
    from tamiz.flows.ablate import plan_ablation

    path = table_without(tmp_path, "pii")
    # a table that differs on paper (a pii block that switches off what is off anyway) but not in what runs
    same = {"name": "paper", "sources": {"common_crawl": {"filters": {"pii": {"enabled": False}}}}}
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["ablate"] = {"variants": ["full", same]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"ablate.variants: paper builds the same corpus as full \(the same stage "
                                         r"folders, shards-[0-9a-f]{12}\): it would measure nothing"):
        plan_ablation(path, tmp_path / "out", preset="cpu")
    heavy = {"name": "heavy", "weights": {"books": 0.5}}
    raw["ablate"] = {"variants": ["full", heavy, {**heavy, "name": "heavy2"}]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"heavy2 builds the same corpus as heavy "):
        plan_ablation(path, tmp_path / "out", preset="cpu")


def test_every_built_in_variant_of_the_sample_plans(tmp_path):
    # the sample's crawl runs every step (close-language markers, offensive tags, decontamination, redaction
    # included): each no_<step> builds a corpus of its own
    from tamiz.flows.ablate import plan_ablation
    from tamiz.pipeline.ablation import builtin_names

    plan = plan_ablation(SAMPLE_TABLE, tmp_path / "out", variants=list(builtin_names()), preset="cpu", seeds=1)
    assert [p.name for p in plan.variants] == list(builtin_names())
    assert len({p.keys["shards"] for p in plan.variants}) == len(builtin_names())
    assert len({p.folders.filter for p in plan.variants if p.name not in ("no_filters", "no_dedup")}) == \
        len(builtin_names()) - 2  # every family variant filters with a config of its own


def test_bad_training_settings_and_eval_files_are_refused_before_any_work(tmp_path):
    from tamiz.flows.ablate import plan_ablation

    with pytest.raises(ValueError, match=r"ablate.training .*size: unknown size 'huge'"):
        plan_ablation(table_with(tmp_path, {"training": {"model": {"size": "huge"}}}), tmp_path / "out")
    (tmp_path / "bad.jsonl").write_text('{"text": "Hola."}\n{"txt": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: a JSON line needs a \"text\" string"):
        plan_ablation(table_with(tmp_path, {"eval": ["bad.jsonl"]}), tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"ablate.eval: 'missing/\*.jsonl' matches no file"):
        plan_ablation(table_with(tmp_path, {"eval": ["missing/*.jsonl"]}), tmp_path / "out")
    with pytest.raises(ValueError, match=r"--preset: 'tpu' is not a preset"):
        plan_ablation(SAMPLE_TABLE, tmp_path / "out", preset="tpu")
    # ablate.finetune: the evaluation: block's tasks, every record checked before any work
    path = table_with(tmp_path, {"finetune": True})
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw.pop("evaluation", None)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"evaluation.tasks: no task to fine-tune on"):
        plan_ablation(path, tmp_path / "out")
    task = tmp_path / "task"
    task.mkdir()
    (task / "task.yaml").write_text("name: t\nkind: classification\ntrain: train.jsonl\ntest: test.jsonl\n",
                                    encoding="utf-8")
    (task / "train.jsonl").write_text('{"text": "Hola.", "label": "a"}\n{"text": "Adiós.", "label": "b"}\n',
                                      encoding="utf-8")
    (task / "test.jsonl").write_text('{"text": "Hola."}\n', encoding="utf-8")
    raw["evaluation"] = {"tasks": ["task"]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"evaluation.tasks\[0\]: .*test.jsonl.*1"):
        plan_ablation(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"run.device cuda \(the gpu preset\): no GPU is visible here"):
            plan_ablation(SAMPLE_TABLE, tmp_path / "out", preset="gpu")


# ---- the plan: which stage folders each variant uses --------------------------------------------

def test_variants_share_every_stage_they_have_in_common(tmp_path):
    from tamiz.flows.ablate import plan_ablation

    out = tmp_path / "out"
    plan = plan_ablation(SAMPLE_TABLE, out, variants=["no_language_id", "no_filters", "no_dedup",
                                                     "no_gopher_quality"], preset="cpu")
    f = {p.name: p.folders for p in plan.variants}
    assert list(f) == ["full", "no_language_id", "no_filters", "no_dedup", "no_gopher_quality"]
    for v in ("no_filters", "no_dedup", "no_gopher_quality"):
        assert f[v].ingest == f["full"].ingest  # the same ingest folders: ingested once
    assert not set(f["no_language_id"].ingest.values()) & set(f["full"].ingest.values())
    assert f["no_dedup"].filter == f["full"].filter and f["no_dedup"].dedup is None
    assert f["no_gopher_quality"].filter != f["full"].filter
    assert len({v.dedup for v in f.values() if v.dedup}) == 4  # each deduplicates its own corpus
    assert len({v.shards for v in f.values()}) == 5
    assert {v.tokenizer for v in f.values()} == {f["full"].tokenizer}  # one tokenizer ...
    assert [v.train_tokenizer for v in f.values()] == [True, False, False, False, False]  # ... trained on full's corpus
    assert all(p.parent == out / "stages" for v in f.values() for p in [*v.ingest.values(), v.filter, v.shards])
    # the same model, steps and token budget for every run; seeds 0-2 change the initialisation and the data order
    assert plan.tokens_per_run == 200 * 16 * 1 * 256
    assert len(plan.runs) == 15 and len({r.config.run.out for r in plan.runs}) == 15
    for p in plan.variants:
        assert p.build.table.shards.tokens == plan.tokens_per_run and p.build.training is None
    base = plan.runs[0].config.to_dict()
    for r in plan.runs:
        d = r.config.to_dict()
        assert (d["run"]["seed"], d["data"]["seed"]) == (r.seed, r.seed)
        assert Path(d["data"]["folder"]) == f[r.variant].shards
        for section in ("model", "optimizer", "schedule"):
            assert d[section] == base[section]
        assert {k: v for k, v in d["data"].items() if k not in ("folder", "seed")} == \
               {k: v for k, v in base["data"].items() if k not in ("folder", "seed")}
    assert sorted(plan.eval_sets) == ["aptitude_manual_es", "libreoffice_help_es"]  # the bundled sets
    # a plan of the same table is the same plan (folders named by content, not by order or chance)
    again = plan_ablation(SAMPLE_TABLE, out, variants=["no_dedup"], preset="cpu")
    assert again.variants[1].folders == f["no_dedup"]


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from tamiz.flows import cli

    cli._register()
    out = tmp_path / "out"
    r = CliRunner().invoke(cli.app, ["ablate", str(SAMPLE_TABLE), "--out", str(out), "--variant", "no_dedup",
                                     "--preset", "cpu", "--dry-run"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "(shared with full)" in text and "dedup: off" in text
    assert "6 runs (2 variants x 3 seeds), each causal tiny, 200 steps, 819,200 tokens on cpu" in text
    assert not out.exists()
    r = CliRunner().invoke(cli.app, ["ablate", str(SAMPLE_TABLE), "--out", str(out), "--variant", "no_dedupe"])
    assert r.exit_code == 2 and "'no_dedupe' is not a built-in variant" in " ".join(r.output.split())


# ---- the verdict rule -----------------------------------------------------------------------------

def test_the_verdict_rule_on_constructed_numbers():
    s = spread([2.0, 2.2, 2.4])
    assert s["mean"] == pytest.approx(2.2) and s["std"] == pytest.approx(0.2) and (s["min"], s["max"]) == (2.0, 2.4)
    base = [2.50, 2.51, 2.49]
    worse = compare([2.60, 2.61, 2.59], base)  # bits per byte up by 0.1 without the step, seeds 0.01 apart
    assert worse["diff"] == pytest.approx(0.1) and worse["se"] == pytest.approx(math.sqrt(2 * 0.0001 / 3))
    assert worse["significant"] and effect(worse, higher_is_better=False) == "helps"
    assert effect(compare([2.40, 2.41, 2.39], base), higher_is_better=False) == "hurts"
    assert effect(compare([2.51, 2.53, 2.49], base), higher_is_better=False) == "none"
    # more than 2 standard errors apart, but one seed of each side overlaps the other's range: no difference
    c = compare([1.19, 1.30, 1.31], [1.0, 1.1, 1.2])
    assert abs(c["diff"]) > 2 * c["se"] and not c["separated"] and not c["significant"]
    # ranges apart, but within 2 standard errors (a wide spread on one side): no difference
    c = compare([1.21, 1.5, 3.0], [1.0, 1.1, 1.2])
    assert c["separated"] and abs(c["diff"]) < 2 * c["se"] and not c["significant"]
    # cloze accuracy: higher is better, so a variant below the baseline means the step helps
    assert effect(compare([0.50, 0.51, 0.52], [0.60, 0.61, 0.62]), higher_is_better=True) == "helps"
    assert compare([2.6], base)["significant"] is None and effect(compare([2.6], base), False) == "unknown"
    assert verdict(["helps", "none"]) == "helps" and verdict(["hurts", "none"]) == "hurts"
    assert verdict(["helps", "hurts"]) == "mixed"
    assert verdict(["none", "none"]) == "no measurable difference at this scale"
    assert verdict(["unknown", "unknown"]) == "no verdict (fewer than 2 seeds)"


def test_seed_by_seed_differences_pair_the_runs_that_share_a_seed():
    # the sample's language-ID ablation (bits per byte on the aptitude manual): within the spread, yet
    # worse for every seed; the pairs follow the seeds, not the order of the runs
    full = {0: 2.2578, 1: 2.3240, 2: 2.3345}
    no_lid = {2: 2.3495, 0: 2.3428, 1: 2.3926}
    assert not compare(list(no_lid.values()), list(full.values()))["significant"]
    p = paired(no_lid, full)
    assert p["seeds"] == [0, 1, 2] and p["diffs"] == pytest.approx([0.0850, 0.0686, 0.0150])
    assert p["same_sign"] and p["mean"] == pytest.approx(0.0562) and 2.5 < p["t"] < 2.8
    assert not paired({0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.5})["same_sign"]
    assert paired({0: 1.0, 3: 2.0}, {0: 1.5, 1: 1.5}) is None  # one seed in common: nothing to pair
    assert paired({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5})["t"] is None  # the same difference for both: no spread


def test_fine_tuning_metrics_of_a_task_whose_name_holds_a_colon():
    from tamiz.flows.ablate_report import analyse, metrics, run_value

    def run(variant: str, seed: int, acc: float) -> dict:
        return {"variant": variant, "seed": seed, "eval": {"sets": {}, "finetune": {"XNLI: es": {"accuracy": acc}}}}

    summary = {"eval_sets": {}, "cloze": {"pairs": 0}, "finetune": {"mode": "full", "tasks": ["XNLI: es"]},
               "variants": [{"name": "full"}, {"name": "no_dedup"}],
               "runs": [run("full", 0, 0.71), run("full", 1, 0.72), run("no_dedup", 0, 0.61), run("no_dedup", 1, 0.62)]}
    assert metrics(summary) == [("ft:XNLI: es:accuracy", "XNLI: es accuracy", True)]
    assert run_value(summary["runs"][0]["eval"], "ft:XNLI: es:accuracy") == 0.71
    stats = analyse(summary)
    assert stats["full"]["metrics"]["ft:XNLI: es:accuracy"]["spread"]["mean"] == pytest.approx(0.715)
    assert stats["no_dedup"]["metrics"]["ft:XNLI: es:accuracy"]["effect"] == "helps"


def test_a_stopped_variant_is_labelled_stopped_not_baseline(capsys):
    from tamiz.flows.ablate_report import analyse, verdict_label
    from tamiz.flows.cmd_ablate import print_results

    def run(variant: str, seed: int, bpb: float) -> dict:
        return {"variant": variant, "seed": seed, "eval": {"sets": {"heldout": {"bits_per_byte": bpb}}}}

    summary = {"eval_sets": {"heldout": {}}, "cloze": {"pairs": 0}, "report": "report/report.md",
               "variants": [{"name": "full", "step": None}, {"name": "no_dedup", "step": "dedup"},
                            {"name": "no_filters", "step": "filters",
                             "stopped": "source common_crawl: 0 of 10 documents kept after ingest"}],
               "runs": [run("full", 0, 2.30), run("full", 1, 2.31), run("no_dedup", 0, 2.30), run("no_dedup", 1, 2.32)]}
    summary["analysis"] = stats = analyse(summary)
    assert [verdict_label(v, stats) for v in summary["variants"]] == \
        ["(baseline)", "no measurable difference at this scale", "(stopped)"]
    print_results(summary, Path("out"))
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in capsys.readouterr().out.splitlines()
             if line.startswith("│")]  # the table's rows: variant, bits/byte, verdict
    rows = {c[0]: c[-1] for c in cells}
    assert rows == {"full": "(baseline)", "no_dedup": "no measurable difference at this scale",
                    "no_filters": "(stopped)"}


def test_the_variant_option_names_every_step():
    import inspect

    from tamiz.flows.cmd_ablate import ablate
    from tamiz.pipeline.ablation import steps

    help_text = " ".join(inspect.signature(ablate).parameters["variant"].default.help.split())
    for step in steps():
        assert any(f" {step}{end}" in help_text for end in ",;)"), step


# ---- end to end: 2 variants x 2 seeds, a few steps -----------------------------------------------

def _files(out: Path) -> dict[str, int]:
    """mtime (ns) of every file the stages and runs wrote (dot files, the report and ablate.json aside)."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns
            for d in ("stages", "runs", "eval") for p in sorted((out / d).rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_a_tiny_ablation_end_to_end_and_a_rerun_that_redoes_nothing(prefect_server, tmp_path, sample_dir, capsys):
    from test_build import make_table

    from tamiz.flows.ablate import plan_ablation, run_ablation

    folder = tmp_path / "t"
    path = make_table(folder, sample_dir, crawl_files=2)  # two crawl files share pages: dedup removes some
    texts = [json.loads(x)["text"] for x in (ROOT / "data" / "eval" / "libreoffice_help_es.jsonl")
             .read_text(encoding="utf-8").splitlines()[:4]]
    (folder / "heldout.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                                          encoding="utf-8")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    # a fine-tuning task: 40 + 20 + 20 of the bundled offensive-or-not fortunes, one epoch
    task = folder / "tasks" / "offensive"
    task.mkdir(parents=True)
    bundled = ROOT / "data" / "tasks" / "fortunes_offensive"
    for split, n in (("train", 40), ("dev", 20), ("test", 20)):
        lines = (bundled / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        (task / f"{split}.jsonl").write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    cfg = yaml.safe_load((bundled / "task.yaml").read_text(encoding="utf-8"))
    (task / "task.yaml").write_text(yaml.safe_dump({**cfg, "name": "offensive", "training": {"epochs": 1}}),
                                    encoding="utf-8")
    raw["evaluation"] = {"tasks": ["tasks/offensive"]}
    raw["ablate"] = {"variants": ["full", "no_dedup"], "seeds": 2, "eval": ["heldout.jsonl"], "cloze": {"pairs": 12},
                     "training": {"schedule": {"max_steps": 6, "warmup_steps": 1}}, "finetune": True}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    plan = plan_ablation(path, out)
    assert plan.tokens_per_run == 6 * 4 * 64
    s = run_ablation(plan, workers=2)

    # ---- four runs, each scored on the held-out set and the same 12 cloze pairs
    assert [(r["variant"], r["seed"]) for r in s["runs"]] == [("full", 0), ("full", 1), ("no_dedup", 0), ("no_dedup", 1)]
    for r in s["runs"]:
        assert r["train"]["steps"] == 6
        bpb = r["eval"]["sets"]["heldout"]["bits_per_byte"]
        assert math.isfinite(bpb) and 0 < bpb < 20
        c = r["eval"]["cloze"]
        assert c["pairs"] == 12 and 0 <= c["accuracy"] <= 1 and c["ci95"][0] <= c["accuracy"] <= c["ci95"][1]
        ft = r["eval"]["finetune"]  # the run's model fine-tuned on the table's task, scored on its test split
        assert set(ft) == {"offensive"} and set(ft["offensive"]) == {"accuracy", "macro_f1"}
        assert all(0 <= x <= 1 for x in ft["offensive"].values())
        assert (out / r["folder"] / "finetune" / "offensive" / "results.json").is_file()
    by_seed = [r["eval"]["sets"]["heldout"]["bits_per_byte"] for r in s["runs"] if r["variant"] == "full"]
    assert by_seed[0] != by_seed[1]  # the seed changes the model
    assert len((out / "eval" / "cloze.jsonl").read_text(encoding="utf-8").splitlines()) == 12

    # ---- stages: ingest and filter computed once for both variants, one tokenizer, two shard folders
    stages = sorted(p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir())
    assert stages == ["dedup", "filter", "ingest-books", "ingest-common_crawl", "ingest-reference", "shards", "shards",
                      "tokenizer"]
    v = {x["name"]: x for x in s["variants"]}
    assert v["no_dedup"]["folders"]["dedup"] is None
    assert {k: f for k, f in v["no_dedup"]["folders"].items() if k.startswith(("ingest", "filter"))} == \
           {k: f for k, f in v["full"]["folders"].items() if k.startswith(("ingest", "filter"))}
    manifests = [json.loads((out / v[n]["folders"]["shards"] / "manifest.json").read_text()) for n in ("full", "no_dedup")]
    assert manifests[0]["tokenizer"]["sha256"] == manifests[1]["tokenizer"]["sha256"]  # one tokenizer for both
    assert [m["splits"]["train"]["rows"] for m in manifests] == [24, 24]  # the same token budget: 6 steps x 4 rows
    for x in v.values():
        assert {src["name"] for src in x["sources"]} == {"common_crawl", "books", "reference"}
        assert all(src["epochs"] > 0 for src in x["sources"])
    assert sum(src["documents"] for src in v["no_dedup"]["sources"]) > sum(src["documents"] for src in v["full"]["sources"])
    assert (out / "variants" / "no_dedup.yaml").is_file()

    # ---- the report: a verdict for dedup, a table with spreads, a plot; ablate.json holds the same
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Verdicts" in report and "**deduplication** (no_dedup): " in report
    assert any(w in report for w in ("no measurable difference at this scale", "helps", "hurts", "mixed"))
    assert "bits/byte heldout" in report and " ± " in report and "![ablation](ablate.png)" in report
    assert "offensive accuracy" in report and "offensive macro-F1" in report  # fine-tuning scores are metrics too
    assert (out / "report" / "ablate.png").stat().st_size > 1000
    saved = json.loads((out / "ablate.json").read_text(encoding="utf-8"))
    assert saved["analysis"]["no_dedup"]["verdict"] == s["analysis"]["no_dedup"]["verdict"]

    # ---- what `tamiz ablate` prints at the end
    from tamiz.flows.cmd_ablate import print_results

    capsys.readouterr()
    print_results(s, out)
    printed = capsys.readouterr().out
    assert "no_dedup" in printed and "(baseline)" in printed and "deduplication (no_dedup): " in printed

    # ---- a second run: every stage, training and evaluation is found done; nothing is written again
    before = _files(out)
    again = run_ablation(plan_ablation(path, out), workers=2)
    assert _files(out) == before
    assert all(r["eval"].get("resumed") for r in again["runs"])
    assert [r["eval"]["sets"] for r in again["runs"]] == [r["eval"]["sets"] for r in s["runs"]]
    assert [r["eval"]["finetune"] for r in again["runs"]] == [r["eval"]["finetune"] for r in s["runs"]]
