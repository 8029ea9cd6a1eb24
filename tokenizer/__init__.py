"""tamiz.tokenizer: a Spanish byte-level BPE tokenizer on HF `tokenizers`, and how it compares.

- `tamiz.tokenizer.train`: `train_tokenizer(texts_or_inputs, vocab_size, ...) -> tokenizers.Tokenizer`,
  `train(...) -> TrainResult` and `save(result, DIR)` (tokenizer.json + tokenizer_meta.json).
- `tamiz.tokenizer.load`: `load_tokenizer(path)` with clear errors (`tokenizer_from_str(text, source)` for the
  copies kept in shard folders and checkpoints); `load_transformers_tokenizer(path)`.
- `tamiz.tokenizer.evaluate` / `tamiz.tokenizer.baselines`: bytes per token, fertility, words kept whole,
  round trip; GPT-2, cl100k and Tekken from files shipped in their packages.
See docs/tokenizer.md.
"""
