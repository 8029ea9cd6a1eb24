"""tamiz.core.config: one loader for every settings dataclass, errors that name the field, describe()."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tamiz.core.config import check_keys, describe, field_docs, from_mapping


@dataclass(frozen=True)
class Inner:
    """A nested block."""

    ratio: float = 0.5  # share of something, in [0, 1]
    names: tuple[str, ...] = ("a",)  # any number of names

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"ratio: {self.ratio} is not in [0, 1]")


@dataclass(frozen=True)
class Outer:
    """Settings with every kind of field the loader knows."""

    name: str  # required: no default
    size: int = 8  # how many; the comment goes on
    #                on the next line
    on: bool = True
    limit: int | None = None  # None: no limit
    pair: tuple[float, float] = (0.9, 0.95)
    extra: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"size: must be > 0, got {self.size}")


def _error(data, **kw) -> str:
    with pytest.raises(ValueError) as e:
        from_mapping(Outer, data, **kw)
    return str(e.value)


def test_loads_converts_lists_and_keeps_numbers_as_written():
    o = from_mapping(Outer, {"name": "x", "pair": [1, 0.5], "limit": None, "extra": {"a": 1},
                             "inner": {"ratio": 1, "names": ["b", "c"]}, "maybe": {}})
    assert o == Outer(name="x", pair=(1, 0.5), extra={"a": 1}, inner=Inner(ratio=1, names=("b", "c")), maybe=Inner())
    assert type(o.pair[0]) is int and type(o.inner.ratio) is int  # kept: configs hash as written
    converted = from_mapping(Outer, {"name": "x", "pair": [1, 0.5], "inner": {"ratio": 1}}, int_as_float=True)
    assert type(converted.pair[0]) is float and type(converted.inner.ratio) is float
    assert from_mapping(Outer, {"name": "x", "inner": None}).inner == Inner()  # null: the section's defaults
    assert from_mapping(Outer, {"name": "x", "inner": Inner(0.1)}).inner == Inner(0.1)  # an instance is kept


def test_unknown_key_names_the_allowed_ones():
    assert _error({"name": "x", "sise": 1}) == \
        "sise: unknown field (allowed: name, size, on, limit, pair, extra, inner, maybe)"
    assert _error({"name": "x", "inner": {"ratoi": 1}}, where="block") == \
        "block.inner.ratoi: unknown field (allowed: ratio, names)"
    with pytest.raises(ValueError, match=r"^b: unknown section \(allowed: x\)$"):
        check_keys({"b": 1}, ["x"], what="section")


@pytest.mark.parametrize("data, message", [
    ({"name": 3}, "cfg.name: must be a string, got 3"),
    ({"name": "x", "size": "8"}, "cfg.size: must be an integer, got '8'"),
    ({"name": "x", "size": True}, "cfg.size: must be an integer, got True"),
    ({"name": "x", "on": 1}, "cfg.on: must be true or false, got 1"),
    ({"name": "x", "limit": 1.5}, "cfg.limit: must be an integer, got 1.5"),
    ({"name": "x", "pair": [0.9]}, "cfg.pair: must be a list of 2 numbers, got [0.9]"),
    ({"name": "x", "pair": "ab"}, "cfg.pair: must be a list, got 'ab'"),
    ({"name": "x", "extra": [1]}, "cfg.extra: must be a mapping, got list"),
    ({"name": "x", "extra": {"a": "b"}}, "cfg.extra.a: must be a number, got 'b'"),
    ({"name": "x", "inner": {"names": ["a", 2]}}, "cfg.inner.names[1]: must be a string, got 2"),
    ({"name": "x", "inner": [1]}, "cfg.inner: must be a mapping of fields, got list"),
    ({"name": "x", "maybe": {"ratio": "half"}}, "cfg.maybe.ratio: must be a number, got 'half'"),
    ({}, "cfg.name: missing (required)"),
])
def test_wrong_type_names_the_field_path(data, message):
    assert _error(data, where="cfg") == message


def test_post_init_errors_get_the_path_and_the_file():
    assert _error({"name": "x", "size": 0}, where="sources[2]") == "sources[2].size: must be > 0, got 0"
    assert _error({"name": "x", "inner": {"ratio": 2}}, where="a.b") == "a.b.inner.ratio: 2 is not in [0, 1]"
    assert _error({"name": "x", "size": 0}) == "size: must be > 0, got 0"
    assert _error({"name": "x", "size": 0}, where="t", file="t.yaml") == "t.yaml: t.size: must be > 0, got 0"
    assert _error([1], where="t") == "t: must be a mapping of fields, got list"


def test_base_keeps_the_fields_not_given():
    base = from_mapping(Outer, {"name": "x", "size": 3, "inner": {"ratio": 0.2}})
    o = from_mapping(Outer, {"inner": {"names": ["z"]}}, base=base)
    assert o == Outer(name="x", size=3, inner=Inner(ratio=0.2, names=("z",)))


def test_describe_renders_types_defaults_and_comments():
    assert field_docs(Outer)["size"] == "how many; the comment goes on on the next line"
    assert "on" not in field_docs(Outer)
    text = describe(Outer)
    lines = text.splitlines()
    assert lines[0] == "name (str, required): required: no default"
    assert lines[1] == "size (int, default: 8): how many; the comment goes on on the next line"
    assert "limit (int | None, default: None): None: no limit" in lines
    assert "inner (Inner, default: its defaults)" in lines
    assert "  inner.ratio (float, default: 0.5): share of something, in [0, 1]" in lines


def test_every_settings_class_loads_its_own_defaults_and_describes_itself():
    from tamiz.pipeline.dedup.config import DedupConfig
    from tamiz.pipeline.filters.config import HeuristicsConfig
    from tamiz.pipeline.ingest import IngestConfig
    from tamiz.pipeline.table import ShardConfig
    from tamiz.tokenizer.train import TrainConfig as TokenizerConfig
    from tamiz.train.config import TrainConfig

    for cls in (DedupConfig, HeuristicsConfig, IngestConfig, ShardConfig, TokenizerConfig):
        assert from_mapping(cls, {}) == cls()
        assert describe(cls)
    assert "threshold (float, default: 0.8): Jaccard similarity" in describe(DedupConfig)
    assert "run.out (str, default: ''): Output folder" in describe(TrainConfig)
    docs = field_docs(DedupConfig)
    assert docs["verify"].endswith("or \"none\" (every candidate)")


def test_tamiz_fields_shows_every_block_with_its_docs():
    """`tamiz fields [BLOCK]`: what a dataset table accepts, from the same classes that load it."""
    from typer.testing import CliRunner

    from tamiz.flows import cli

    cli._register()
    r = CliRunner().invoke(cli.app, ["fields"])
    assert r.exit_code == 0, r.output
    for block in ("source:", "ingest:", "filters:", "dedup:", "shards:", "tokenizer:", "training:"):
        assert f"\n{block}" in "\n" + r.output
    assert "ingest.extractor (str, default: 'resiliparse'): HTML to text" in r.output
    assert "dedup.threshold (float, default: 0.8): Jaccard similarity" in r.output
    assert "filters.gopher_quality.min_doc_words (int | None, default: 50): words" in r.output
    r = CliRunner().invoke(cli.app, ["fields", "dedupe"])
    assert r.exit_code == 2 and "dedupe: not a block of the dataset table" in r.output


def test_a_number_in_exponent_notation_is_a_number_though_yaml_1_1_reads_a_string():
    import yaml

    # PyYAML (YAML 1.1) needs a dot and a signed exponent for a float: these three are strings to it
    raw = yaml.safe_load("name: x\ninner: {ratio: 5e-1}\npair: [1e-1, 1.5e2]\n")
    assert raw["inner"]["ratio"] == "5e-1" and raw["pair"] == ["1e-1", "1.5e2"]
    o = from_mapping(Outer, raw)
    assert o.inner.ratio == 0.5 and o.pair == (0.1, 150.0) and type(o.pair[0]) is float
    # only float fields, only exponent notation: anything else written as a string stays refused, as before
    assert _error({"name": "x", "size": "1e3"}) == "size: must be an integer, got '1e3'"
    for bad in ("half", "0.5", "nan", "inf", "1_0e3", " 5e-1", "5e-1.0"):
        assert _error({"name": "x", "inner": {"ratio": bad}}) == f"inner.ratio: must be a number, got {bad!r}"


def test_a_task_file_and_a_table_take_an_lr_written_3e_5(tmp_path):
    from tamiz.pipeline.table import load_table
    from tamiz.train.config import config_from_table
    from tamiz.train.finetune.tasks import load_task_config

    (tmp_path / "task.yaml").write_text("name: t\nkind: qa\ntrain: a.json\ntest: b.json\ntraining: {lr: 3e-5}\n",
                                        encoding="utf-8")
    assert load_task_config(tmp_path).training.lr == 3e-5
    (tmp_path / "table.yaml").write_text(
        "sources:\n  - {name: ref, kind: reference, inputs: [ref/*.jsonl], weight: 1.0}\n"
        "training:\n  model: {kind: causal, size: tiny}\n  optimizer: {lr: 3e-4}\n", encoding="utf-8")
    cfg = config_from_table(load_table(tmp_path / "table.yaml"), tmp_path / "out")
    assert cfg.optimizer.lr == 3e-4
