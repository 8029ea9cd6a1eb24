"""A learned quality classifier (fastText, word n-grams) and the rules that keep documents by its score.

classifier.py  training (ClassifierConfig, split_examples, train_classifier in a fresh process),
               held-out evaluation (evaluate, roc_auc), loading (load_classifier, read_report) and
               scoring (score_texts), which training uses on its held-out split too
keep.py        the filter-stage steps: QualityConfig, QualityScorer (mapper), QualityKeep (filter),
               and the keeping rules (pareto_keep, top_percent_cutoff)
Callers import each name from the module that defines it (this package re-exports nothing).
"""
