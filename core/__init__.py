"""tamiz.core: what every other package may use, and which uses none of them.

- `atomic`: atomic writes (temporary file + rename), checksums, fault points for the kill tests.
- `lock`: one build per output folder.
- `yamlsafe`: the one YAML/JSON config reader (safe loader, duplicate keys refused).
- `child`: the one place tamiz starts a process (this Python interpreter, an argument list, no shell).
- `shardformat`: the packed-shard folder's file names, special tokens and manifest reader.
- `config`: `from_mapping`, the one way a mapping becomes a settings dataclass.

Packages import in one direction: core <- pipeline <- tokenizer <- shards <- train <- flows
(tests/test_imports.py enforces it; docs/architecture.md explains it).
"""

__version__ = "0.1.0"
