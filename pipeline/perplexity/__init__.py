"""Perplexity scoring and sampling: a reference-text language model scores each document, and cc_net's
buckets or BERTIN's sampling functions keep documents by their score.

model.py     tamiz's character n-gram model (CharNgramLM): cc_net's normalisation, training with
             numpy, scoring, .npz files; `train_char_model` (`tamiz perplexity train`)
kenlm.py     a user's KenLM model (KenLMScorer), and `load_scorer`, which picks one of the two
sampling.py  the filter-stage steps: PerplexityConfig, PerplexityScore (mapper), PerplexitySample
             (filter), the sampling functions and the cutoffs they use
Callers import each name from the module that defines it (this package re-exports nothing).
docs/filters.md gives the formulas and their sources.
"""
