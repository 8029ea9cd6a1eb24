"""How the language-ID threshold was chosen: score distributions of real Spanish and non-Spanish text.

For every document of the bundled sample (the crawl's HTML after extraction, the books and the
reference text), fastText lid.176 predicts the top language and its probability. The hand-labelled
pages of tests/fixtures/lang_labels.tsv give precision; the curated sources (all Spanish) give the
share of real Spanish kept at each threshold. Prints a table and, last, one JSON line.

    python benchmarks/langid_threshold.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

from tamiz.pipeline.extract import extract_text  # noqa: E402
from tamiz.pipeline.langid import predict  # noqa: E402
from tamiz.pipeline.readers import expand_inputs, read_documents  # noqa: E402
from tamiz.pipeline.report import ReadReport  # noqa: E402

THRESHOLDS = (0.3, 0.4, 0.5, 0.65, 0.8, 0.84, 0.9)


def main() -> None:
    sample = ROOT / "data" / "sample"
    labels = {r["url"]: r["expected_lang"] for r in csv.DictReader(open(ROOT / "tests/fixtures/lang_labels.tsv"), delimiter="\t")}
    groups: dict[str, list[tuple[str, float]]] = {}
    labelled: list[tuple[str, str, float]] = []
    for f in expand_inputs([sample / "common_crawl", sample / "books", sample / "reference"]):
        is_warc = ".warc" in f.name
        for d in read_documents(f, ReadReport(str(f)), f.parent.name):
            text = extract_text(d.text) if is_warc else d.text
            lang, p = predict([text])[0][0]
            if is_warc:
                key = "crawl es-ES folder" if "/es-ES/" in (d.url or "") else "crawl other folders"
                if d.url in labels:
                    labelled.append((labels[d.url], lang, p))
            else:
                key = f.name.split(".")[0]
            groups.setdefault(key, []).append((lang, p))
    result: dict = {"thresholds": THRESHOLDS, "groups": {}}
    print(f"{'group':28} {'docs':>6} {'top=es':>7} " + " ".join(f"{t:>6}" for t in THRESHOLDS))
    for key, preds in sorted(groups.items()):
        es = [p for lang, p in preds if lang == "es"]
        kept = {t: float(np.mean([p >= t for p in es])) if es else 0.0 for t in THRESHOLDS}
        result["groups"][key] = {"docs": len(preds), "top_es": len(es), "share_of_top_es_kept": kept}
        print(f"{key:28} {len(preds):>6} {len(es):>7} " + " ".join(f"{kept[t]:>6.3f}" for t in THRESHOLDS))
    # labelled pages: a page is kept when top == es and p >= t; precision/recall of "Spanish"
    for t in THRESHOLDS:
        tp = sum(1 for exp, lang, p in labelled if exp == "es" and lang == "es" and p >= t)
        fp = sum(1 for exp, lang, p in labelled if exp != "es" and lang == "es" and p >= t)
        fn = sum(1 for exp, lang, p in labelled if exp == "es" and not (lang == "es" and p >= t))
        result.setdefault("labelled", {})[str(t)] = {"tp": tp, "fp": fp, "fn": fn}
    result["labelled_top1_accuracy"] = float(np.mean([exp == lang for exp, lang, _ in labelled]))
    result["labelled_pages"] = len(labelled)
    write_results("langid", result, quick=False)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
