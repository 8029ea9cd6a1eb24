"""Close-language leakage: how much Catalan, Galician, Portuguese, Asturian and Occitan the Spanish language
ID keeps, what the close_language filter removes of it, and what it costs in Spanish.

Documents (nothing is downloaded):
  - data/close_language/<lang>.jsonl.gz: paragraphs and pages of GNOME help, gettext messages and
    debian-handbook in es, ca, gl, pt, ast, oc (the evaluation half; scripts/build_close_language.py
    made the marker lists from the other half);
  - the bundled sample (data/sample): the crawl's pages (HTML extracted as ingest does; es-ES folder,
    and the ca-ES and pt-BR folders as close-language pages), the Reina-Valera Bible, Debian Reference
    and the held-out half of the fortunes (all Spanish; the other half of the fortunes is one of the
    rivals the lists were made against).
"Before" is ingest's language ID as the sample's table configures it (lid.176, top language es with
probability >= 0.5). "After" adds the close_language filter. Leakage = share of a close language's
documents kept; Spanish recall = share of Spanish documents kept. A grid of the filter's two settings
and, for comparison, higher language-ID thresholds alone, are reported. Throughput: the filter alone,
documents per CPU second of this process (time.process_time, best of 3 passes), so other work on a
shared machine does not count.

    python benchmarks/bench_close_language.py [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

from tamiz.pipeline.document import Document  # noqa: E402
from tamiz.pipeline.extract import extract_text  # noqa: E402
from tamiz.pipeline.filters.close_language import CloseLanguage  # noqa: E402
from tamiz.pipeline.filters.config import CLOSE_LANGUAGES, CloseLanguageConfig  # noqa: E402
from tamiz.pipeline.langid import DEFAULT_THRESHOLD, predict  # noqa: E402
from tamiz.pipeline.readers import expand_inputs, read_documents  # noqa: E402
from tamiz.pipeline.report import ReadReport  # noqa: E402

EVAL = ROOT / "data" / "close_language"
SAMPLE = ROOT / "data" / "sample"
GRID_MARKERS = (1, 2, 3, 5)
GRID_SHARE = (0.3, 0.5, 0.7)
LID_THRESHOLDS = (0.5, 0.65, 0.8, 0.9)
CRAWL_FOLDERS = {"es-ES": "es", "ca-ES": "ca", "pt-BR": "pt"}


def load(quick: bool) -> list[dict]:
    """Every document with its language and group ("<source>/<size>")."""
    docs = []
    for lang in ("es", *CLOSE_LANGUAGES):
        for line in gzip.open(EVAL / f"{lang}.jsonl.gz", "rt", encoding="utf-8"):
            d = json.loads(line)
            docs.append({"lang": lang, "group": f"{d['genre']}/{d['size']}", "id": d["id"], "text": d["text"]})
    for f in expand_inputs([SAMPLE / "common_crawl"]):
        for d in read_documents(f, ReadReport(str(f)), "common_crawl"):
            folder = (d.url or "").split("/browse/")[-1].split("/")[0]
            if folder in CRAWL_FOLDERS:
                text = extract_text(d.text)
                if text.strip():
                    docs.append({"lang": CRAWL_FOLDERS[folder], "group": f"sample crawl {folder}/page",
                                 "id": d.id, "text": text})
    for f, group in ((SAMPLE / "books" / "reina_valera_1909.jsonl.gz", "sample Bible chapters/page"),
                     (SAMPLE / "reference" / "debian_reference_es.jsonl", "sample debian-reference-es/page"),
                     (SAMPLE / "reference" / "fortunes_es.jsonl", "sample fortunes-es (held-out half)/paragraph")):
        opener = gzip.open if f.suffix == ".gz" else open
        rows = [json.loads(line) for line in opener(f, "rt", encoding="utf-8")]
        if "fortunes" in group:  # the other half helped make the lists (scripts/build_close_language.py)
            rows = [r for r in rows if held_out(r["id"])]
        if quick:
            rows = rows[::10]
        docs += [{"lang": "es", "group": group, "id": r["id"], "text": r["text"]} for r in rows]
    return docs


def held_out(doc_id: str) -> bool:
    """The evaluation half of scripts/build_close_language.py's `half` (the same hash)."""
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()[0] % 2 == 1


def decisions(docs: list[dict], config: CloseLanguageConfig) -> list[tuple[bool, str | None]]:
    f = CloseLanguage(config)
    out = []
    for d in docs:
        doc = Document(d["id"], d["text"])
        r = f.filter(doc)
        out.append((True, None) if r is True else (False, r[1]))
    return out


def rates(docs: list[dict], kept: list[bool]) -> dict[str, dict]:
    """{lang: {"docs", "kept", "share"}} and per group."""
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d, k in zip(docs, kept):
        for key in (d["lang"], f"{d['lang']} {d['group']}"):
            by[key][0] += 1
            by[key][1] += int(k)
    return {k: {"docs": n, "kept": m, "share": round(m / n, 4)} for k, (n, m) in sorted(by.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="every tenth Bible chapter, fortune and reference section")
    args = ap.parse_args()
    docs = load(args.quick)
    preds = predict([d["text"] for d in docs])
    lid = {t: [p[0][0] == "es" and p[0][1] >= t for p in preds] for t in LID_THRESHOLDS}
    before = lid[DEFAULT_THRESHOLD]
    default = CloseLanguageConfig(enabled=True)
    dec = decisions(docs, default)
    after = [b and k for b, (k, _) in zip(before, dec)]

    results: dict = {
        "documents": len(docs), "quick": args.quick,
        "default": {"min_markers": default.min_markers, "max_share": default.max_share},
        "before": rates(docs, before), "after": rates(docs, after),
    }
    # what the filter dropped among what the language ID kept: by true language and by reason
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spanish_dropped = []
    for d, b, (k, why) in zip(docs, before, dec):
        if b and not k:
            confusion[d["lang"]][why] += 1
            if d["lang"] == "es":
                spanish_dropped.append({"id": d["id"], "group": d["group"], "reason": why, "text": d["text"][:200]})
    results["dropped_by_reason"] = {k: dict(v) for k, v in sorted(confusion.items())}
    results["spanish_dropped"] = spanish_dropped

    grid = []
    for m in GRID_MARKERS:
        for s in GRID_SHARE:
            dd = decisions(docs, CloseLanguageConfig(enabled=True, min_markers=m, max_share=s))
            r = rates(docs, [b and k for b, (k, _) in zip(before, dd)])
            grid.append({"min_markers": m, "max_share": s, **{lang: r[lang]["share"] for lang in ("es", *CLOSE_LANGUAGES)}})
    results["grid"] = grid
    results["lid_threshold_only"] = [{"threshold": t, **{lang: rates(docs, lid[t])[lang]["share"]
                                                         for lang in ("es", *CLOSE_LANGUAGES)}} for t in LID_THRESHOLDS]

    # throughput of the filter alone (one core): Spanish crawl pages, and every document
    crawl_es = [d for d in docs if d["group"] == "sample crawl es-ES/page"]
    for name, subset in (("crawl_es_pages", crawl_es), ("all_documents", docs)):
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            decisions(subset, default)
            best = min(best, time.process_time() - t0)
        mb = sum(len(d["text"].encode("utf-8")) for d in subset) / 1e6
        results.setdefault("throughput", {})[name] = {"docs": len(subset), "docs_per_s": round(len(subset) / best, 1),
                                                      "mb_per_s": round(mb / best, 2)}

    print(f"{'language':10} {'docs':>6} {'kept before':>12} {'kept after':>11}")
    for lang in ("es", *CLOSE_LANGUAGES):
        b, a = results["before"][lang], results["after"][lang]
        print(f"{lang:10} {b['docs']:>6} {b['share']:>12.3f} {a['share']:>11.3f}")
    print("grid (min_markers, max_share): share kept per language")
    for g in grid:
        print(f"  {g['min_markers']} {g['max_share']:.1f}  " + " ".join(f"{lang} {g[lang]:.3f}" for lang in ("es", *CLOSE_LANGUAGES)))
    print("language-ID threshold alone:", results["lid_threshold_only"])
    print("throughput:", results["throughput"])
    print("Spanish documents dropped:", len(spanish_dropped))
    path = write_results("close_language", results, args.quick)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
