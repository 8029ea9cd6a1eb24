"""The YAML/JSON files people write for tamiz (the dataset table, the training config, the filter configs) are
all read by `tamiz.core.yamlsafe`: an alias bomb, an endless alias, deep nesting, a file that is not a mapping,
not UTF-8, too large, or not a regular file is a ValueError naming the file, at once and before any work.
(docs/security.md, "Size limits" and the table's attacks in tests/test_fuzz_parsers.py.)"""

from __future__ import annotations

import os
import time

import pytest

from tamiz.core import yamlsafe


def _train_config(path):
    from tamiz.train.config import load_config

    return load_config(path)


def _filters_config(path):
    from tamiz.pipeline.filters.config import FiltersConfig

    return FiltersConfig.load(path)


def _filter_cli_config(path):
    from tamiz.flows.cmd_filter import build_stage_config

    return build_stage_config(path, True, None, None, None, None)


def _table(path):
    from tamiz.pipeline.table import load_table

    return load_table(path)


READERS = {"train": _train_config, "filters": _filters_config, "filter_cli": _filter_cli_config, "table": _table}


def _laughs(levels: int) -> str:
    out = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    out += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "default:\n" + "".join(f"  {line}\n" for line in out)


def _alias_chain(levels: int) -> str:
    """Each anchor holds the one before: shallow as written, `levels` deep once the aliases are expanded."""
    return "default:\n  a0: &a0 [x]\n" + "".join(f"  a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, levels))


ATTACKS = {
    "billion_laughs": (_laughs(9), "expands to .* values through its aliases"),
    "recursive_alias": ("default: &d {a: *d}\n", "refers to the block that holds it"),
    # PyYAML recurses: at ~600 levels it stops with RecursionError (which escaped tamiz.train.config before)
    "deep_flow": ("default: " + "[" * 600 + "]" * 600 + "\n", "nested too deeply"),
    "deep_but_parsed": ("default: " + "[" * 100 + "]" * 100 + "\n", r"nested too deeply \(more than 64 levels\)"),
    "deep_through_aliases": (_alias_chain(200), r"nested too deeply \(more than 64 levels\)"),
    "python_tag": ("default: !!python/object/apply:os.system ['touch PWNED']\n", "not valid YAML"),
    "huge_int": ("default: {c4: {min_num_sentences: " + "9" * 5000 + "}}\n", "not valid YAML"),
    "not_utf8": ("default: [\udcff]\n", r"not UTF-8 text \(invalid byte at offset 10\)"),
    "not_a_mapping": ("- default\n- sources\n", "expected a mapping"),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_config_attacks_are_refused_naming_the_file(tmp_path, monkeypatch, reader, attack):
    text, message = ATTACKS[attack]
    if reader == "table" and attack == "not_a_mapping":
        message = "expected a mapping with a 'sources' list"
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{attack}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=message) as e:
        READERS[reader](path)
    assert str(e.value).startswith(f"{path}: ") and len(str(e.value)) < 2000
    assert time.perf_counter() - t0 < 30  # a bomb is refused before anything expands it
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("reader", READERS)
def test_json_configs_too_large_files_and_non_files(tmp_path, monkeypatch, reader):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # the json module recurses too
    with pytest.raises(ValueError, match=rf"^{deep}: not valid JSON \(nested too deeply\)"):
        READERS[reader](deep)
    monkeypatch.setattr(yamlsafe, "MAX_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("default: {}\n" + "#" * 2000 + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{big}: 2,013 bytes is too large for a .* \(at most 1,000\)"):
        READERS[reader](big)
    with pytest.raises(ValueError, match=rf"^{tmp_path}: cannot read the .*\(Is a directory\)"):
        READERS[reader](tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(ValueError, match=rf"^{fifo}: cannot read the .*\(not a regular file\)"):
        READERS[reader](fifo)


def test_good_configs_still_load(tmp_path):
    """Ordinary anchors and aliases, an empty filter config, JSON: read as before."""
    from tamiz.pipeline.filters.config import FiltersConfig
    from tamiz.train.config import load_config

    y = tmp_path / "f.yaml"
    y.write_text("default: {gopher_quality: &g {min_doc_words: 20}}\nsources:\n  books: {gopher_quality: *g}\n",
                 encoding="utf-8")
    assert FiltersConfig.load(y).for_source("books").gopher_quality.min_doc_words == 20
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert FiltersConfig.load(tmp_path / "empty.yaml") == FiltersConfig()
    run = tmp_path / "run.json"
    run.write_text('{"data": {"folder": "s", "batch_size": 4}, "run": {"out": "o"}}', encoding="utf-8")
    assert load_config(run).data.batch_size == 4
    with pytest.raises(ValueError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_the_train_command_reports_a_bomb_once_and_starts_nothing(tmp_path):
    from typer.testing import CliRunner

    from tamiz.flows.cli import _register, app

    _register()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(_laughs(9).replace("default:", "model:") + f"data: {{folder: x}}\nrun: {{out: {tmp_path / 'o'}}}\n",
                   encoding="utf-8")
    r = CliRunner().invoke(app, ["train", str(cfg)], env={"COLUMNS": "300"})
    assert r.exit_code == 2 and "expands to" in r.output and r.output.count(str(cfg)) == 1, r.output
    assert not (tmp_path / "o").exists()
