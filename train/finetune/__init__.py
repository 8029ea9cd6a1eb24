"""Transfer learning: fine-tune a pretrained tamiz checkpoint on a downstream task (`tamiz finetune`).

- `tasks.py`: the task file (`task.yaml`) and the readers of the three kinds' usual formats, every record
  checked before training starts (classification JSONL/TSV, CoNLL-2002 columns, SQuAD v1 JSON);
- `encode.py`: examples to token ids and targets, the same way for masked and causal models;
- `models.py`: the checkpoint exported to transformers and loaded with a task head (`AutoModelFor*`), the
  from-scratch twin, feature-extractor freezing;
- `loop.py`: one fine-tuning run (train, pick the best epoch on dev, score test);
- `metrics.py`: accuracy, macro-F1, entity-level F1 (conlleval, as seqeval's default mode), SQuAD EM/F1;
- `run.py`: seeds x (pretrained, from scratch), the results and the report (`report.py`).
"""
