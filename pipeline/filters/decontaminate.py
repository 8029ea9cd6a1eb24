"""Benchmark decontamination: documents that share a word n-gram with an evaluation set are dropped or tagged.

The last step of a source's filter chain (so it looks at the text that will be trained on, after C4's
line removal), configured by the `decontamination:` family of the filter settings:

    filters:                                   # a source of the dataset table, or `default:` in `tamiz filter --config`
      decontamination:
        evaluation_sets: [evaluation/xquad_es.jsonl, evaluation/passages.txt]
        fields: [context, question]             # JSONL fields that make an item (default: [text])
        ngram: 13                               # words per n-gram (GPT-3)
        action: drop                            # or tag

Measured, under `doc.metadata["decontamination"]` (only when a set overlaps): {set name: the document's
n-grams found in that set}. Reason (`decontaminate:<set>`): the set with the most overlapping n-grams
(the first listed on a tie) when at least `min_overlaps` of them overlap; with `action: tag` the
document is kept with its metadata. Either way `tally` counts, per set, the documents contaminated by it
(`<set>:documents`) and their n-grams in it (`<set>:ngrams`); the filter stage adds the tallies of its
steps to its shard records and manifest (`counts.tallies.decontaminate`).
Reading, normalisation and the index: evalsets.py.
"""

from __future__ import annotations

from collections import Counter

from tamiz.pipeline.document import DocView, Document
from tamiz.pipeline.filters.evalsets import DecontaminationConfig, EvalIndex, words


def _words(view: DocView) -> list[str]:
    """`view.derive(_words)`: the document's words (evalsets.words), once per text."""
    return words(view.text)


class Decontaminate:
    """Drops (or tags) a document sharing `min_overlaps` or more n-grams with one evaluation set."""

    name = "decontaminate"

    def __init__(self, config: DecontaminationConfig):
        self.config = config
        self.index: EvalIndex = config.index()
        self.tally: Counter = Counter()  # this step's counts (a chain belongs to one shard task, one thread)

    def filter(self, doc: Document, view: DocView | None = None) -> bool | tuple[bool, str]:
        view = DocView.of(doc.text, view)
        hits = self.index.overlaps(view.derive(_words))
        if not hits:
            return True
        doc.metadata["decontamination"] = hits  # every overlap, so min_overlaps can be re-tuned from the metadata
        contaminated = {s: c for s, c in hits.items() if c >= self.config.min_overlaps}
        for s, c in contaminated.items():
            self.tally[f"{s}:documents"] += 1
            self.tally[f"{s}:ngrams"] += c
        if not contaminated or self.config.action == "tag":
            return True
        top = max(contaminated.values())
        return False, next(s for s in self.index.names if contaminated.get(s) == top)
