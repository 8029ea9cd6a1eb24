"""Offensive-word scoring: what it catches of the fortunes Debian's maintainers tagged offensive, and what
clean text it flags.

Documents (bundled, nothing is downloaded): data/sample/offensive/fortunes_es_off.jsonl (fortunes-es-off,
1,158 fortunes the maintainers put in the offensive section) against data/sample/reference/fortunes_es.jsonl
(fortunes-es, 10,734), plus the other Spanish sources of the sample as clean text: Bible chapters,
Debian Reference sections, Spanish crawl pages (HTML extracted as ingest does).

For every document, the offensive step's measurements (hits, words, score = hits / words) with its
default lexicon (spanlp's 21 countries, curated) and with variants (the raw lists; one country's list);
then, per threshold, the share of offensive fortunes caught and of clean fortunes flagged, precision on
the pool of both, and the share of each clean source flagged. Writes a PNG of the trade-off next to
the JSON. Also, for comparison only (not a tamiz step), a fastText classifier trained on 80% of both
fortune sets and evaluated on the other 20%: it learns these collections' topics, so its figures are
an upper bound for fortunes, not an estimate for web text. Throughput: documents per CPU second of
this process (time.process_time, best of 3), so other work on a shared machine does not count.

    python benchmarks/bench_offensive.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, write_results  # noqa: E402

from tamiz.pipeline.document import Document  # noqa: E402
from tamiz.pipeline.extract import extract_text  # noqa: E402
from tamiz.pipeline.filters.config import OffensiveConfig  # noqa: E402
from tamiz.pipeline.filters.offensive import Offensive  # noqa: E402
from tamiz.pipeline.readers import expand_inputs, read_documents  # noqa: E402
from tamiz.pipeline.report import ReadReport  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
THRESHOLDS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)  # 0.0: any offensive word (min_hits 1)
VARIANTS = {
    "default (21 countries, curated)": {},
    "raw lists (not curated)": {"curated": False},
    "ESP only": {"countries": ("ESP",)},
    "MEX only": {"countries": ("MEX",)},
    "ARG only": {"countries": ("ARG",)},
}


def jsonl(path: Path) -> list[Document]:
    return [Document(r["id"], r["text"], metadata={"title": r.get("title", "")})
            for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())]


def clean_sources(quick: bool) -> dict[str, list[Document]]:
    import gzip

    bible = [Document(r["id"], r["text"]) for r in
             map(json.loads, gzip.open(SAMPLE / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8"))]
    crawl = []
    for f in expand_inputs([SAMPLE / "common_crawl"]):
        for d in read_documents(f, ReadReport(str(f)), "common_crawl"):
            if "/es-ES/" in (d.url or ""):
                crawl.append(Document(d.id, extract_text(d.text)))
    return {"Bible chapters": bible[::10] if quick else bible,
            "Debian Reference sections": jsonl(SAMPLE / "reference" / "debian_reference_es.jsonl"),
            "Spanish crawl pages (es-ES folder)": crawl}


def measure(docs: list[Document], step: Offensive) -> list[dict]:
    out = []
    for d in docs:
        doc = Document(d.id, d.text)
        step.filter(doc)
        out.append(doc.metadata["offensive"])
    return out


def flagged(m: dict, threshold: float) -> bool:
    return m["hits"] >= 1 and m["score"] >= threshold


def trade_off(off: list[dict], clean: list[dict]) -> list[dict]:
    rows = []
    for t in THRESHOLDS:
        tp = sum(flagged(m, t) for m in off)
        fp = sum(flagged(m, t) for m in clean)
        rows.append({"threshold": t, "offensive_caught": round(tp / len(off), 4),
                     "clean_flagged": round(fp / len(clean), 4),
                     "precision": round(tp / (tp + fp), 4) if tp + fp else None, "caught": tp, "flagged_clean": fp})
    return rows


def classifier(off: list[Document], clean: list[Document]) -> dict:
    """fastText on 80% of the fortunes (balanced), P(offensive) on the held-out 20% (by document id)."""
    from tamiz.pipeline.quality.classifier import ClassifierConfig, in_holdout, load_classifier, score_texts, train_classifier

    cfg = ClassifierConfig(holdout=0.2, epoch=10)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "offensive.bin"
        t0 = time.perf_counter()
        train_classifier(clean, off, model_path, cfg)  # positives: clean; P(offensive) = 1 - score
        seconds = time.perf_counter() - t0
        model = load_classifier(model_path)
        test_off = [d for d in off if in_holdout(d.id, cfg.holdout)]
        test_clean = [d for d in clean if in_holdout(d.id, cfg.holdout)]
        p_off = 1 - score_texts(model, [d.text for d in test_off])
        p_clean = 1 - score_texts(model, [d.text for d in test_clean])
    rows = []
    for t in (0.5, 0.7, 0.9):
        tp, fp = int((p_off >= t).sum()), int((p_clean >= t).sum())
        rows.append({"p_offensive_at_least": t, "offensive_caught": round(tp / len(test_off), 4),
                     "clean_flagged": round(fp / len(test_clean), 4),
                     "precision": round(tp / (tp + fp), 4) if tp + fp else None})
    return {"train_seconds": round(seconds, 2), "heldout_offensive": len(test_off), "heldout_clean": len(test_clean),
            "rows": rows}


def plot(rows: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, rs in rows.items():
        ax.plot([r["clean_flagged"] * 100 for r in rs], [r["offensive_caught"] * 100 for r in rs], marker="o", label=name)
    for r in rows["default (21 countries, curated)"]:
        ax.annotate(f"{r['threshold']:g}", (r["clean_flagged"] * 100, r["offensive_caught"] * 100), fontsize=7,
                    textcoords="offset points", xytext=(4, -8))
    ax.set_xlabel("clean fortunes flagged (%)")
    ax.set_ylabel("offensive fortunes caught (%)")
    ax.set_title("offensive words per word: threshold trade-off (fortunes-es vs -off)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="every tenth Bible chapter; no classifier")
    args = ap.parse_args()
    off = jsonl(SAMPLE / "offensive" / "fortunes_es_off.jsonl")
    clean = jsonl(SAMPLE / "reference" / "fortunes_es.jsonl")
    results: dict = {"offensive_fortunes": len(off), "clean_fortunes": len(clean), "quick": args.quick,
                     "default": {"threshold": OffensiveConfig().threshold, "min_hits": OffensiveConfig().min_hits},
                     "variants": {}}
    curves = {}
    for name, kw in VARIANTS.items():
        step = Offensive(OffensiveConfig(enabled=True, **kw))
        curves[name] = trade_off(measure(off, step), measure(clean, step))
        results["variants"][name] = {"lexicon_words": len(step._lexicon), "trade_off": curves[name]}

    step = Offensive(OffensiveConfig(enabled=True))
    m_off = measure(off, step)
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d, m in zip(off, m_off):
        by_category[d.metadata["title"]][0] += 1
        by_category[d.metadata["title"]][1] += int(flagged(m, step.config.threshold))
    results["caught_by_category"] = {k: {"fortunes": n, "caught": c} for k, (n, c) in sorted(by_category.items())}
    words: dict[str, int] = defaultdict(int)
    for m in m_off:
        for w in m["found"]:
            words[w] += 1
    results["most_found_words_in_offensive"] = dict(sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:15])
    m_clean = measure(clean, step)
    results["clean_fortunes_flagged_examples"] = [
        {"id": d.id, "found": m["found"], "score": m["score"]} for d, m in zip(clean, m_clean)
        if flagged(m, step.config.threshold)][:15]

    sources = clean_sources(args.quick)
    results["clean_sources"] = {}
    for name, docs in sources.items():
        ms = measure(docs, step)
        results["clean_sources"][name] = {"docs": len(docs), **{
            f"flagged_at_{t:g}": sum(flagged(m, t) for m in ms) for t in THRESHOLDS}}

    results["throughput"] = {}
    for name, docs in (("fortunes", off + clean), ("Spanish crawl pages", sources["Spanish crawl pages (es-ES folder)"])):
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            measure(docs, step)
            best = min(best, time.process_time() - t0)
        results["throughput"][name] = {"docs": len(docs), "docs_per_s": round(len(docs) / best, 1),
                                       "mb_per_s": round(sum(len(d.text.encode()) for d in docs) / 1e6 / best, 2)}
    if not args.quick:
        results["classifier_comparison"] = classifier(off, clean)
        plot(curves, RESULTS / "offensive.png")

    for name, rows in curves.items():
        print(name)
        for r in rows:
            print(f"  threshold {r['threshold']:<5g} caught {r['offensive_caught']:.3f}  clean flagged "
                  f"{r['clean_flagged']:.4f}  precision {r['precision']}")
    print("clean sources:", json.dumps(results["clean_sources"], ensure_ascii=False))
    print("by category:", results["caught_by_category"])
    print("throughput:", results["throughput"])
    if "classifier_comparison" in results:
        print("classifier:", results["classifier_comparison"])
    print(f"results: {write_results('offensive', results, args.quick)}")


if __name__ == "__main__":
    main()
