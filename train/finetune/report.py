"""OUT/report.md (and report.png): the fine-tuned scores in the shape of the Spanish models' comparison tables
(task, metric, score), pretrained against from scratch, mean ± standard deviation over the seeds."""

from __future__ import annotations

from pathlib import Path

NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "f1": "F1", "exact_match": "exact match"}


def score(s: dict) -> str:
    """'87.50 ± 1.20' (percent, sample standard deviation over the seeds)."""
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def rows(res: dict) -> list[tuple[str, str, str, str, str]]:
    """(task, metric, pretrained, from scratch, difference) per reported metric; '' where there is no baseline."""
    out = []
    summ = res["summary"]
    for m in res["metrics"]:
        metric = ("entity F1" if res["kind"] == "tokens" else NAMES[m])
        p = summ["pretrained"][m]
        s = summ.get("scratch", {}).get(m)
        out.append((res["task"], metric, score(p), score(s) if s else "",
                    f"{100 * (p['mean'] - s['mean']):+.2f}" if s else ""))
    return out


def write_report(res: dict, out: Path) -> None:
    from tamiz.core.atomic import atomic_open

    ck = res["checkpoint"]
    lines = [
        f"# Fine-tuning: {res['task']}",
        "",
        f"{res['kind']} task ({', '.join(f'{k} {v}' for k, v in res['splits'].items())} examples); "
        f"{ck['model_kind']} checkpoint at step {ck['step']}; mode `{res['mode']}` "
        f"({'frozen encoder, trained head' if res['mode'] == 'feature' else 'every weight trains'}); "
        f"{res['seeds']} seed(s). Scores on the test split, in percent, mean ± sample standard deviation over "
        "the seeds; the epoch tested is the one with the best dev score.",
        "",
        "| task | metric | pretrained | from scratch | difference |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(r)} |" for r in rows(res)]
    lost = res.get("answers_in_no_window", {})
    if any(lost.values()):
        lines += ["", "Answers that no context window holds whole (longer than the windows' overlap): "
                  + ", ".join(f"{s} {n} of {res['splits'][s]}" for s, n in lost.items())
                  + "; in train they teach \"no answer\", in dev and test no prediction can match them exactly."]
    lines += ["", "Runs (test scores per seed):", ""]
    for v, runs in res["runs"].items():
        for r in runs:
            scores = ", ".join(f"{NAMES.get(k, k)} {100 * x:.2f}" for k, x in r["test"].items())
            lines.append(f"- {v}, seed {r['seed']}: {scores} (best epoch {r['best_epoch']}, {r['steps']} steps, "
                         f"lr {r['lr']:g}, {r['seconds']:.1f} s)")
    lines += ["", "![scores](report.png)", ""]
    _plot(res, out / "report.png")
    with atomic_open(out / "report.md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def _plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tamiz.core.atomic import atomic_path

    metrics = res["metrics"]
    variants = list(res["summary"])
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(metrics), 3.2))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        xs = [j + (i - (len(variants) - 1) / 2) * width for j in range(len(metrics))]
        ys = [100 * res["summary"][v][m]["mean"] for m in metrics]
        es = [100 * res["summary"][v][m]["std"] for m in metrics]
        ax.bar(xs, ys, width, yerr=es, capsize=3, label="from scratch" if v == "scratch" else v)
    ax.set_xticks(range(len(metrics)), [NAMES.get(m, m) for m in metrics])
    ax.set_ylim(0, 100)
    ax.set_ylabel("test score (%)")
    ax.set_title(f"{res['task']} ({res['mode']}, {res['seeds']} seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
