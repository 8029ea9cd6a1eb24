"""The mix: every prefix honours the weights, same seed same stream, repetition and subsampling."""

from __future__ import annotations

import numpy as np
import pytest

from tamiz.pipeline.mix import MAX_EPOCHS, Blender, blend, mix_table, plan_mix, source_order


def _max_prefix_error(src: np.ndarray, weights: list[float]) -> float:
    w = np.asarray(weights, dtype=float) / sum(weights)
    onehot = np.zeros((len(src), len(w)))
    onehot[np.arange(len(src)), src] = 1
    counts = np.cumsum(onehot, axis=0)
    ideal = np.arange(1, len(src) + 1)[:, None] * w[None, :]
    return float(np.abs(counts - ideal).max())


def test_blend_exact_small_case():
    assert blend([2, 1], 6).tolist() == [0, 1, 0, 0, 1, 0]
    assert blend([1, 1], 4).tolist() == [0, 1, 0, 1]
    assert blend([0, 5], 3).tolist() == [1, 1, 1]


def test_every_prefix_is_within_one_row_per_source():
    rng = np.random.default_rng(7)
    cases = [[0.6, 0.25, 0.15], [0.97, 0.01, 0.01, 0.01], [1, 1, 1, 1, 1, 1, 1, 1]]
    cases += [list(rng.random(k) ** 3) for k in (2, 3, 4, 5, 6, 8) for _ in range(4)]
    for weights in cases:
        src = blend(weights, 2500)
        assert _max_prefix_error(src, weights) < 1.0, weights


def test_zero_weight_source_never_appears():
    src = blend([0.5, 0.0, 0.5], 1000)
    assert 1 not in set(src.tolist())
    assert _max_prefix_error(src, [0.5, 0.0, 0.5]) < 1.0


def test_blender_one_unit_at_a_time_is_blend():
    for weights in ([0.6, 0.25, 0.15], [2, 0, 1], [0.97, 0.01, 0.01, 0.01]):
        b = Blender(weights)
        picks = []
        for _ in range(500):
            picks.append(b.next())
            b.add(picks[-1])
        assert picks == blend(weights, 500).tolist()


def test_blender_with_sized_items():
    # items of 3 and 1 units, shares 1:1: after the first 3-unit item, source 1 catches up unit by unit
    b = Blender([1, 1])
    picks = []
    for _ in range(6):
        s = b.next()
        b.add(s, 3 if s == 0 else 1)
        picks.append(s)
    assert picks == [0, 1, 1, 1, 0, 1]
    # random sizes: a source is only picked while behind, so it is never ahead by as much as its last item
    rng = np.random.default_rng(3)
    for k in (2, 3, 5):
        weights = list(rng.random(k) + 0.05)
        share = np.asarray(weights) / sum(weights)
        b, counts, last = Blender(weights), np.zeros(k), np.zeros(k)
        for _ in range(2000):
            s = b.next()
            n = int(rng.integers(1, 5000))
            b.add(s, n)
            counts[s] += n
            last[s] = n
            assert (counts - share * counts.sum() < np.maximum(last, 1)).all()


@pytest.mark.parametrize("weights, message", [
    ([0.5, -0.1], "weights[1]: -0.1 is negative"),
    ([0.5, float("nan")], "weights[1]: nan is not finite"),
    ([0.0, 0.0], "at least one source needs a positive weight"),
])
def test_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        blend(weights, 10)


def test_same_seed_same_stream_and_another_seed_another_order():
    args = (["web", "books", "ref"], [50, 20, 7], [0.6, 0.25, 0.15], 300)
    a, b, c = plan_mix(*args, seed=3), plan_mix(*args, seed=3), plan_mix(*args, seed=4)
    assert np.array_equal(a.source, b.source) and np.array_equal(a.row, b.row)
    assert np.array_equal(a.source, c.source)  # the slots do not depend on the seed ...
    assert not np.array_equal(a.row, c.row)  # ... which rows fill them does
    assert a.counts == tuple(np.bincount(a.source, minlength=3).tolist())
    assert sum(a.counts) == 300 and a.counts == (180, 75, 45)


def test_repetition_is_whole_passes_plus_a_partial_pass_of_distinct_rows():
    seq = source_order(10, 25, seed=1, key="books")
    assert len(seq) == 25
    assert sorted(seq[:10].tolist()) == list(range(10))  # pass 1
    assert sorted(seq[10:20].tolist()) == list(range(10))  # pass 2
    assert not np.array_equal(seq[:10], seq[10:20])  # each pass in its own order
    assert len(set(seq[20:].tolist())) == 5  # the partial pass: 5 distinct rows
    counts = np.bincount(seq, minlength=10)
    assert set(counts.tolist()) == {2, 3} and counts.sum() == 25


def test_subsampling_takes_distinct_rows():
    seq = source_order(100, 30, seed=1, key="web")
    assert len(set(seq.tolist())) == 30 and seq.max() < 100
    assert np.array_equal(seq, source_order(100, 30, seed=1, key="web"))
    assert not np.array_equal(seq, source_order(100, 30, seed=1, key="books"))  # keyed by source name


def test_plan_puts_each_source_rows_in_its_slots():
    plan = plan_mix(["a", "b"], [4, 100], [0.5, 0.5], 40, seed=0)
    assert plan.counts == (20, 20)
    a_rows = plan.row[plan.source == 0]
    assert sorted(a_rows.tolist()) == sorted(list(range(4)) * 5)  # 5 epochs of a 4-row source
    assert plan.epochs == (5.0, 0.2)
    assert len(set(plan.row[plan.source == 1].tolist())) == 20


def test_weight_on_a_source_without_rows_is_refused():
    with pytest.raises(ValueError, match="source 'ref' has weight 0.5 but no rows"):
        plan_mix(["web", "ref"], [10, 0], [1, 1], 20, seed=0)
    with pytest.raises(ValueError, match=r"ref\.weight: nan is not finite"):
        plan_mix(["web", "ref"], [10, 5], [1, float("nan")], 20, seed=0)
    plan = plan_mix(["web", "ref"], [10, 0], [1, 0], 20, seed=0)  # weight 0 needs no rows
    assert plan.counts == (20, 0)


def test_gpt3_style_table_and_warning():
    # GPT-3's definition: epochs = weight x budget / tokens of the source (Brown et al. 2020, table 2.2)
    rows, warnings = mix_table([("common_crawl", "crawl", 100, 410_000), ("wikipedia", "reference", 10, 3_000)],
                               [0.6, 0.4], budget_tokens=300_000)
    cc, wiki = rows
    assert cc.mix_tokens == pytest.approx(180_000) and cc.epochs == pytest.approx(180 / 410)
    assert wiki.epochs == pytest.approx(40.0)
    assert len(warnings) == 1 and warnings[0].startswith("wikipedia is repeated 40.0 times")
    assert MAX_EPOCHS == 4.0
    with pytest.raises(ValueError, match="source 'wikipedia' has weight 0.4 but no documents"):
        mix_table([("common_crawl", "crawl", 1, 10), ("wikipedia", "reference", 0, 0)], [0.6, 0.4], 100)
