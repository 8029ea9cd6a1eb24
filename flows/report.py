"""The build report: one Markdown file with PNG plots in OUT/report/, and the same as Prefect artifacts.

Sections: the funnel per source (ingest and filters), deduplication, the GPT-3-style mixing table,
the tokenizer evaluation, and the training summary with the next-word table.

Neither report.md nor OUT/build.json names where OUT is (their paths are relative to OUT); both hold
the time each stage took, the only bytes in which two builds of the same table differ.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tamiz.core.atomic import atomic_open, write_json


def _md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return lines + [""]


def render(summary: dict[str, Any], folder: str | Path) -> str:
    """report.md of the build in `folder` (OUT: only to see which plots are there)."""
    sha = summary.get("table_sha256")
    table = f"`{summary['table']}`" + (f" (sha256 `{sha[:16]}`)" if sha else "")
    out = ["# tamiz build report", "", f"Dataset table: {table}.", ""]
    out += ["## Funnel per source", ""]
    rows = []
    filt = (summary.get("filter") or {}).get("funnel", {})
    ded = summary["dedup"]["counts"]["by_source"]
    for src in summary["sources"]:
        ing = summary["ingest"][src]
        f = filt.get(src)
        rows.append([src, ing["records"], sum(ing["skipped"].values()), ing["quarantined"],
                     sum(ing["dropped"].values()), ing["kept"], f["docs_out"] if f else "(not filtered)",
                     ded.get(src, {}).get("kept", 0)])
    out += _md_table(["source", "records read", "skipped (not pages)", "unreadable (quarantined)", "dropped at ingest",
                      "after language ID", "after quality filters", "after dedup"], rows)
    out += ["Every record is accounted for: records read = skipped + unreadable + dropped at ingest + after "
            "language ID. Unreadable records are in `ingest/<source>/quarantine/` with their file, byte offset "
            "and reason.", ""]
    drops = {}
    for src in summary["sources"]:
        ing = summary["ingest"][src]
        for k, v in ing["dropped"].items():
            drops[(src, "ingest " + k)] = v
        for k, v in ing["skipped"].items():
            drops[(src, "ingest skipped " + k)] = v
        if ing["quarantined"]:
            drops[(src, "ingest unreadable (quarantined)")] = ing["quarantined"]
    for src, f in filt.items():
        for k, v in (f.get("dropped") or {}).items():
            drops[(src, "filter " + k)] = v
    top = sorted(drops.items(), key=lambda kv: -kv[1])[:16]
    if top:
        out += ["Top reasons a record did not go on:", ""] + _md_table(["source", "reason", "documents"], [[s, r, n] for (s, r), n in top])
    if (Path(folder) / "report" / "funnel.png").is_file():
        out += ["![funnel](funnel.png)", ""]
    out += ["## Deduplication", ""]
    c = summary["dedup"]["counts"]
    out += [f"Priority (who keeps a duplicate): {', '.join(summary['dedup']['priority'])}.", ""]
    out += _md_table(["source", "in", "kept", "removed"],
                     [[s, v.get("in", 0), v.get("kept", 0), v.get("in", 0) - v.get("kept", 0)] for s, v in c["by_source"].items()])
    if (Path(folder) / "report" / "cluster_sizes.png").is_file():
        out += ["![cluster sizes](cluster_sizes.png)", ""]
    out += ["## Mixing table (GPT-3 style)", ""]
    sh = summary["shards"]
    out += [f"Rows of {sh.get('row_tokens')} tokens ({sh.get('dtype')}); weights are shares of training tokens.", ""]
    out += _md_table(["source", "weight", "own tokens (train split)", "rows in the mix", "epochs", "validation rows"],
                     [[s["name"], round(s["weight"], 4), s["tokens"]["train"], s["rows"]["train"], round(s["epochs"], 3),
                       s["rows"]["validation"]] for s in sh["sources"]])
    rehydrated = [s for s in sh["sources"] if s.get("rehydration")]
    if rehydrated:  # docs/data-format.md, "Rehydration"
        out += ["Rehydration (documents repeated by the size of their duplicate cluster):", ""]
        out += _md_table(["source", "training documents", "with copies", "own tokens", "with copies",
                          "epochs of unique text"],
                         [[s["name"], s["documents"]["train"], s["documents"]["train_rehydrated"], s["tokens"]["train"],
                           s["tokens"]["train_rehydrated"], round(s["epochs_unique"], 3)] for s in rehydrated])
    tok = summary["tokenizer"]
    out += ["## Tokenizer", "", f"Byte-level BPE, vocabulary {tok['vocab_size']:,}; sha256 `{(tok.get('sha256') or '')[:16]}`.", ""]
    ev = (tok.get("eval") or {}).get("held_out")
    if ev:
        out += _md_table(["held-out figure", "value"], [[k, v] for k, v in ev.items() if isinstance(v, (int, float))])
    tr = summary.get("train")
    out += ["## Training", ""]
    if tr:
        ppl = tr.get("val_perplexity")
        out += [f"{tr.get('parameters', 0):,} parameters, {tr.get('steps')} steps; validation loss "
                f"{tr.get('val_loss') or float('nan'):.4f}, perplexity **{ppl if ppl is None else round(ppl, 2)}**.", ""]
        out += [f"Next token after \"{tr['prompt']}\":", ""]
        out += _md_table(["token", "probability"], [[f"`{t}`", p] for t, p in tr["next_tokens"]])
        out += _md_table(["word", "probability", "tokens"], [[w, p, n] for w, p, n in tr["words"]])
        if (Path(folder) / "report" / "loss.png").is_file():
            out += ["![loss](loss.png)", ""]
    else:
        out += ["Training was off for this build.", ""]
    out += ["## Time per stage", ""] + _md_table(["stage", "seconds"], [[k, v] for k, v in summary["stage_seconds"].items()])
    return "\n".join(out) + "\n"


def write_report(out: str | Path, summary: dict[str, Any]) -> Path:
    out = Path(out)
    rdir = out / "report"
    rdir.mkdir(parents=True, exist_ok=True)
    for src, name in ((out / "filter" / "funnel.png", "funnel.png"), (out / "dedup" / "cluster_sizes.png", "cluster_sizes.png"),
                      (out / "train" / "loss.png", "loss.png")):
        if src.is_file():
            shutil.copyfile(src, rdir / name)
    text = render(summary, out)
    with atomic_open(rdir / "report.md", "w", encoding="utf-8") as f:
        f.write(text)
    write_json(out / "build.json", summary)
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key="tamiz-build-report", markdown=text, description=f"tamiz build in {out}")
    except Exception:  # outside a flow run (e.g. `tamiz report`): the file is the report
        pass
    return rdir / "report.md"
