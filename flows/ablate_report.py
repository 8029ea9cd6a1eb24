"""The ablation report: statistics over seeds, a verdict per curation step, Markdown, a plot, artifacts.

The rule (`compare`): a variant differs from the baseline (`full`) on a metric only when both

  1. the difference of the means exceeds twice its standard error, |mean_v - mean_full| >
     2 * sqrt(s_v^2 / n_v + s_full^2 / n_full) (s: the standard deviation over seeds), and
  2. the seeds' ranges do not overlap (every seed of one is better than every seed of the other).

Otherwise it is "no difference". Beside the rule, the report shows the differences seed by seed
(`paired`): a seed gives every variant the same initialisation and the same row-order rule (one
tokenizer, one model), so the per-seed differences remove the part of the spread the variants share;
when every seed moves the same way, the line says so. The verdict does not use them: with 3 seeds a
paired t-test needs t > 4.3 (2 degrees of freedom), and all three seeds agreeing happens by chance one
time in four. With 3 seeds a side, (1) alone is lenient (Welch's t with ~4 degrees of
freedom needs 2.8 standard errors for 95%), hence (2), which makes the rule conservative: a difference
it reports is one no seed contradicts. Fewer than 2 seeds a side: no verdict (there is no spread).

A variant `no_<step>` measures that step: if switching it off makes a metric worse, the step "helps" on
that metric; better, it "hurts". The step's one-line verdict: "helps" (helps on a metric, hurts on
none), "hurts" (the reverse), "mixed" (both), else "no measurable difference at this scale". The
metrics: bits per byte on each held-out set (lower is better) and cloze accuracy (higher is better); with
`ablate.finetune`, each fine-tuning task's test scores (higher is better).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from tamiz.core.atomic import atomic_open, write_json

STEP_NAMES = {"language_id": "language ID", "filters": "all quality filters", "dedup": "deduplication",
              "gopher_quality": "Gopher quality filter", "gopher_repetition": "Gopher repetition filter",
              "c4": "C4 filter", "fineweb": "FineWeb filter", "close_language": "close-language filter",
              "offensive": "offensive-word step", "decontamination": "decontamination",
              "pii": "personal-data redaction"}


# ---- statistics ---------------------------------------------------------------------------------

def spread(values: Sequence[float]) -> dict[str, Any]:
    """{n, mean, std (sample, n-1; 0 for one value), min, max} of a metric over seeds."""
    v = [float(x) for x in values]
    n = len(v)
    if not n:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    mean = math.fsum(v) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "min": min(v), "max": max(v)}


def compare(variant: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """The module's rule: {diff (variant - baseline), se, separated, significant (None: too few seeds)}."""
    a, b = spread(variant), spread(baseline)
    if a["n"] == 0 or b["n"] == 0:
        return {"diff": None, "se": None, "separated": None, "significant": None}
    diff = a["mean"] - b["mean"]
    if a["n"] < 2 or b["n"] < 2:
        return {"diff": diff, "se": None, "separated": None, "significant": None}
    se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    separated = a["max"] < b["min"] or a["min"] > b["max"]
    return {"diff": diff, "se": se, "separated": separated, "significant": abs(diff) > 2 * se and separated}


def paired(variant: dict[int, float], baseline: dict[int, float]) -> dict[str, Any] | None:
    """Variant minus baseline seed by seed (the seeds both have): {seeds, diffs, mean, t, same_sign};
    None with fewer than 2 common seeds. t is the paired t statistic (None when the diffs do not vary)."""
    seeds = sorted(set(variant) & set(baseline))
    if len(seeds) < 2:
        return None
    diffs = [variant[s] - baseline[s] for s in seeds]
    s = spread(diffs)
    t = s["mean"] / (s["std"] / math.sqrt(s["n"])) if s["std"] > 0 else None
    same_sign = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
    return {"seeds": seeds, "diffs": diffs, "mean": s["mean"], "t": t, "same_sign": same_sign}


def effect(cmp: dict[str, Any], higher_is_better: bool) -> str:
    """What switching the step off did to the metric, as the step's effect: helps, hurts, none, unknown."""
    if cmp["significant"] is None:
        return "unknown"
    if not cmp["significant"]:
        return "none"
    variant_better = cmp["diff"] > 0 if higher_is_better else cmp["diff"] < 0
    return "hurts" if variant_better else "helps"


def verdict(effects: Sequence[str]) -> str:
    """The one-line verdict of a step from its effect on every metric."""
    if effects and all(e == "unknown" for e in effects):
        return "no verdict (fewer than 2 seeds)"
    helps, hurts = "helps" in effects, "hurts" in effects
    if helps and hurts:
        return "mixed"
    if helps:
        return "helps"
    if hurts:
        return "hurts"
    return "no measurable difference at this scale"


def metrics(summary: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(key, label, higher_is_better) of every metric the runs report."""
    out = [(f"bpb:{name}", f"bits/byte {name}", False) for name in summary["eval_sets"]]
    if summary["cloze"]["pairs"]:
        out.append(("cloze", "cloze accuracy", True))
    ft = summary.get("finetune") or {}
    for t in ft.get("tasks", []):
        names = sorted({m for r in summary["runs"] for m in r["eval"].get("finetune", {}).get(t, {})})
        out += [(f"ft:{t}:{m}", f"{t} {METRIC_NAMES.get(m, m)}", True) for m in names]
    return out


METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "f1": "F1", "exact_match": "exact match",
                "entity_f1": "entity F1"}


def percent(key: str) -> bool:
    """Metrics shown in percent: cloze accuracy and the fine-tuning scores."""
    return key == "cloze" or key.startswith("ft:")


def run_value(ev: dict[str, Any], key: str) -> float | None:
    """One run's value of a metric key from its `eval` record."""
    if key == "cloze":
        return (ev.get("cloze") or {}).get("accuracy")
    if key.startswith("ft:"):
        task, metric = key[3:].rsplit(":", 1)  # a task's name may hold ':' ("XNLI: es"), a metric's never does
        return ev.get("finetune", {}).get(task, {}).get(metric)
    return ev["sets"][key[4:]]["bits_per_byte"]


def values(summary: dict[str, Any], variant: str, key: str) -> list[float]:
    return list(by_seed(summary, variant, key).values())


def by_seed(summary: dict[str, Any], variant: str, key: str) -> dict[int, float]:
    """{seed: the metric} of one variant's runs."""
    out = {}
    for r in summary["runs"]:
        if r["variant"] != variant:
            continue
        v = run_value(r["eval"], key)
        if v is not None:
            out[r["seed"]] = v
    return out


def analyse(summary: dict[str, Any]) -> dict[str, Any]:
    """Per variant and metric: the spread over seeds, and against the baseline: the comparison and effect;
    per variant: the one-line verdict."""
    from tamiz.pipeline.ablation import BASELINE

    ms = metrics(summary)
    out: dict[str, Any] = {}
    for v in summary["variants"]:
        name = v["name"]
        entry: dict[str, Any] = {"metrics": {}}
        for key, _, higher in ms:
            m = {"spread": spread(values(summary, name, key))}
            if name != BASELINE:
                m["compare"] = compare(values(summary, name, key), values(summary, BASELINE, key))
                m["compare"]["paired"] = paired(by_seed(summary, name, key), by_seed(summary, BASELINE, key))
                m["effect"] = effect(m["compare"], higher)
            entry["metrics"][key] = m
        if name != BASELINE and not v.get("stopped"):
            entry["verdict"] = verdict([entry["metrics"][k]["effect"] for k, _, _ in ms])
        out[name] = entry
    return out


def verdict_label(variant: dict[str, Any], stats: dict[str, Any]) -> str:
    """A variant's verdict cell: its verdict, "(baseline)" for full, "(stopped)" for a variant left out (a
    stage emptied a source: no runs, so no verdict)."""
    from tamiz.pipeline.ablation import BASELINE

    if variant.get("stopped"):
        return "(stopped)"
    if variant["name"] == BASELINE:
        return "(baseline)"
    return stats[variant["name"]].get("verdict", "-")


# ---- the report ---------------------------------------------------------------------------------

def _pm(s: dict[str, Any], scale: float = 1.0, digits: int = 3) -> str:
    if s["mean"] is None:
        return "-"
    return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"


def _signed(x: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if x is None else f"{x * scale:+.{digits}f}"


def verdict_lines(summary: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    """One line per variant: the step's verdict (built-in variants) or how the variant compares."""
    ms = metrics(summary)
    lines = []
    for v in summary["variants"][1:]:
        name = v["name"]
        if v.get("stopped"):
            lines.append(f"- **{name}**: not measured ({v['stopped']})")
            continue
        st = stats[name]
        details, agree = [], []
        for key, label, _ in ms:
            c = st["metrics"][key]["compare"]
            scale, digits = (100.0, 1) if percent(key) else (1.0, 3)
            unit = " points" if percent(key) else ""
            said = {True: "differs", False: "within the spread", None: "too few seeds"}[c["significant"]]
            se = "" if c["se"] is None else f"2 SE {2 * c['se'] * scale:.{digits}f}, "
            details.append(f"{label} {_signed(c['diff'], scale, digits)}{unit} ({se}{said})")
            pd = c.get("paired")
            if pd and pd["same_sign"]:
                seeds = ", ".join(_signed(d, scale, digits) for d in pd["diffs"])
                agree.append(f"{label} ({seeds})")
        what = ", ".join(details)
        if agree:
            what += "; every seed moves the same way, seed by seed, on " + ", ".join(agree)
        if v["step"]:
            lines.append(f"- **{STEP_NAMES.get(v['step'], v['step'])}** ({name}): {st['verdict']}. Without it: {what}.")
        else:
            word = {"helps": "worse than full", "hurts": "better than full", "mixed": "mixed against full"}
            lines.append(f"- **{name}** ({v['changes']}): {word.get(st['verdict'], st['verdict'])}. Against full: {what}.")
    return lines


def render(summary: dict[str, Any], stats: dict[str, Any], plot: bool) -> str:
    ms = metrics(summary)
    m = summary["model"]
    sha = summary.get("table_sha256") or ""
    out = ["# tamiz ablation report", "",
           f"Dataset table `{summary['table']}` (sha256 `{sha[:16]}`); {len(summary['variants'])} variants x "
           f"{summary['seeds']} seeds" + (f", preset `{summary['preset']}`" if summary.get("preset") else "") + ".", "",
           f"Every run: {m['kind']} `{m['size']}`" + (f" ({m['parameters']:,} parameters)" if m.get("parameters") else "")
           + f", {m['steps']:,} steps of {m['batch_size']} x {m['grad_accum']} rows of {m['seq_len']} tokens = "
           f"**{summary['tokens_per_run']:,} training tokens**, lr {m['lr']:g}; one tokenizer for all, trained on the "
           f"full build's corpus (vocabulary {(summary.get('tokenizer') or {}).get('vocab_size')}). Seeds change the "
           "model's initialisation and the order of the rows; the rows themselves are the variant's.", ""]
    out += ["## Verdicts", ""] + verdict_lines(summary, stats) + [""]
    out += ["A difference counts only when it exceeds twice its standard error over seeds and no seed of one "
            "side overlaps the other's range (flows/ablate_report.py); bits per byte: lower is better; cloze: "
            "higher is better. \"No measurable difference\" means this many seeds of this model cannot tell, not "
            "that the step does nothing.", ""]
    out += ["## Results (mean ± standard deviation over seeds)", ""]
    cols = ["variant", "changes", "documents", "unique train tokens", "training tokens", "epochs per source"]
    cols += [label for _, label, _ in ms]
    rows = []
    for v in summary["variants"]:
        st = stats[v["name"]]["metrics"]
        docs = sum(s["documents"] for s in v["sources"])
        uniq = sum(s["train_tokens"] for s in v["sources"])
        epochs = ", ".join(f"{s['name']} {s['epochs']:.2f}" for s in v["sources"])
        cells = [v["name"], v["changes"], f"{docs:,}", f"{uniq:,}", f"{summary['tokens_per_run']:,}", epochs or "-"]
        for key, _, _ in ms:
            s = st[key]["spread"]
            if percent(key):
                cells.append(_pm(s, 100.0, 1) + "%")
            else:
                cells.append(_pm(s))
        rows.append(cells)
    out += _table(cols, rows)
    if summary["cloze"]["pairs"]:
        out += [f"Cloze: {summary['cloze']['pairs']} pairs (`{summary['cloze']['file']}`); a single run's accuracy "
                "carries its Wilson 95% interval (in the table of runs below), the sampling error of this many "
                "pairs. Every model answers the same pairs.", ""]
    if plot:
        out += ["![ablation](ablate.png)", ""]
    out += ["## Runs", ""]
    cols = ["variant", "seed", "steps", "tokens/s", *(label for _, label, _ in ms), "cloze 95% interval", "run folder"]
    rows = []
    for r in summary["runs"]:
        ev = r["eval"]
        cells = [r["variant"], r["seed"], r["train"].get("steps"), _num(r["train"].get("tokens_per_s"))]
        for key, _, _ in ms:
            v = run_value(ev, key)
            cells.append("-" if v is None else f"{100 * v:.1f}%" if percent(key) else f"{v:.4f}")
        ci = (ev.get("cloze") or {}).get("ci95")
        cells += [f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "-", f"`{r['folder']}`"]
        rows.append(cells)
    out += _table(cols, rows)
    out += ["## Held-out sets", ""]
    out += _table(["set", "file", "documents", "bytes"],
                  [[n, f"`{e['file']}`", e["documents"], f"{e['bytes']:,}"] for n, e in summary["eval_sets"].items()])
    out += ["## Stage folders (shared where the same)", ""]
    stages = sorted({k for v in summary["variants"] for k in v["folders"]})
    out += _table(["variant", *stages], [[v["name"], *(f"`{v['folders'].get(k)}`" if v["folders"].get(k) else "off"
                                                        for k in stages)] for v in summary["variants"]])
    out += ["## Time", ""] + _table(["part", "seconds"], [[k, v] for k, v in summary["seconds"].items()])
    return "\n".join(out) + "\n"


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] * len(columns)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines + [""]


def plot(summary: dict[str, Any], path: Path) -> bool:
    """One panel per metric: each variant's mean with its standard deviation, and every seed as a dot."""
    ms = metrics(summary)
    if not summary["runs"] or not ms:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [v["name"] for v in summary["variants"]]
    fig = Figure(figsize=(3.2 * len(ms) + 1, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    for i, (key, label, higher) in enumerate(ms):
        ax = fig.add_subplot(1, len(ms), i + 1)
        scale = 100.0 if percent(key) else 1.0
        for x, name in enumerate(names):
            vals = [scale * v for v in values(summary, name, key)]
            if not vals:
                continue
            s = spread(vals)
            ax.errorbar([x], [s["mean"]], yerr=[s["std"]], fmt="o", color="tab:blue", capsize=4)
            ax.scatter([x + 0.12] * len(vals), vals, s=10, color="tab:gray", zorder=3)
        base = values(summary, names[0], key)
        if base:  # the baseline's mean across the panel: what each variant is compared with
            ax.axhline(scale * spread(base)["mean"], color="tab:gray", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.set_title(label + (" (higher is better)" if higher else " (lower is better)"), fontsize=9)
        if percent(key):
            ax.set_ylabel("%")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return True


def write_report(out: str | Path, summary: dict[str, Any]) -> Path:
    """OUT/report/report.md with OUT/report/ablate.png, OUT/ablate.json (the summary and the statistics), and
    the same as Prefect artifacts (a Markdown report and a table of results) when run inside a flow."""
    out = Path(out)
    stats = analyse(summary)
    summary["analysis"] = stats
    rdir = out / "report"
    has_plot = plot(summary, rdir / "ablate.png")
    text = render(summary, stats, has_plot)
    with atomic_open(rdir / "report.md", "w", encoding="utf-8") as f:
        f.write(text)
    write_json(out / "ablate.json", summary)
    try:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact

        create_markdown_artifact(key="tamiz-ablate-report", markdown=text, description=f"tamiz ablate in {out}")
        rows = []
        for v in summary["variants"]:
            row: dict[str, Any] = {"variant": v["name"], "verdict": verdict_label(v, stats)}
            for key, label, _ in metrics(summary):
                s = stats[v["name"]]["metrics"][key]["spread"]
                row[label] = None if s["mean"] is None else round(s["mean"], 4)
                row[label + " std"] = None if s["std"] is None else round(s["std"], 4)
            rows.append(row)
        create_table_artifact(key="tamiz-ablate-results", table=rows, description="variants: mean and std over seeds")
    except Exception:  # outside a flow run: the files are the report
        pass
    return rdir / "report.md"
