"""Proposing one threshold from the distribution of its measure: the methods, the cut, the margin.

A method gives, for one rule and one source, how many of the source's sampled documents the threshold
should remove (`target_removed`):

  quantile      the share the rule's current threshold removes on the reference documents (FineWeb-2's
                "Quantile": the English threshold's quantile on English data, taken in each language)
  tail          a fixed share, `tail` (FineWeb-2's "10Tail": cut the worst 10% of each distribution)
  meanstd       the current threshold's distance from the reference mean in reference standard
                deviations, put at the same distance in this source: mean + z * std ("MeanStd")
  median_ratio  the current threshold times this source's median over the reference median ("MedianRatio")

A sample only allows some cuts: all documents with one value are kept or dropped together. `cut_options`
lists every cut the sample allows, each with the interval of thresholds that makes it; `place` takes the
cut nearest the target (the smaller one on a tie) and a threshold in its interval: the current one if it
already makes that cut, else the number with the fewest decimals in the interval (the one nearest the
interval's middle among them), so the proposal reads 0.15 rather than 0.151734 and still removes
exactly what the report says from the sample. `margin` picks the documents on either side of a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np

from tamiz.pipeline.calibrate_rules import Rule

METHODS = ("quantile", "tail", "meanstd", "median_ratio")


@dataclass(frozen=True)
class Option:
    """A cut the sample allows: it removes `removed` documents; any threshold in the interval makes it.
    An end that is None is unbounded (the rest of the number line)."""

    removed: int
    lo: float | None
    hi: float | None
    lo_closed: bool
    hi_closed: bool

    def contains(self, t: float) -> bool:
        above = self.lo is None or t > self.lo or (self.lo_closed and t == self.lo)
        below = self.hi is None or t < self.hi or (self.hi_closed and t == self.hi)
        return above and below


def cut_options(values: np.ndarray, side: str) -> list[Option]:
    """Every cut of `values` (finite, the documents a rule applies to) a threshold can make, by documents removed.

    side "max" drops v > t: t in [u_j, u_j+1) removes the values above u_j; t < u_0 removes all.
    side "min" drops v < t: t in (u_j-1, u_j] removes the values below u_j; t > u_last removes all."""
    u, counts = np.unique(values, return_counts=True)
    m = len(u)
    if not m:
        return [Option(0, None, None, False, False)]
    u_list = u.tolist()
    if side == "max":
        above = np.concatenate([np.cumsum(counts[::-1])[::-1][1:], [0]]).tolist()  # values > u_j
        opts = [Option(int(above[j]), u_list[j], u_list[j + 1] if j + 1 < m else None, True, False) for j in range(m)]
        opts.append(Option(int(counts.sum()), None, u_list[0], False, False))
    else:
        below = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()  # values < u_j
        opts = [Option(int(below[j]), u_list[j - 1] if j else None, u_list[j], False, True) for j in range(m)]
        opts.append(Option(int(counts.sum()), u_list[-1], None, False, False))
    return opts


def feasible(rule: Rule, option: Option) -> bool:
    """Whether a threshold the rule's field accepts can make the cut: a share is at most 1 (a top n-gram's
    characters times its count can exceed the document's), a positive field is above 0."""
    if rule.ratio and option.lo is not None and (option.lo > 1 or (option.lo == 1 and not option.lo_closed)):
        return False
    if (rule.positive or rule.zero_off) and option.hi is not None and rule.side == "max" and option.hi <= 0:
        return False
    return True


def choose_option(options: list[Option], target_removed: float) -> Option:
    """The cut nearest `target_removed` documents; on a tie, the one that removes fewer."""
    return min(options, key=lambda o: (abs(o.removed - target_removed), o.removed))


def simplest(lo: float, hi: float, lo_closed: bool, hi_closed: bool, integer: bool = False) -> float | int | None:
    """The number in the interval with the fewest decimals (for an integer, the fewest significant
    digits), nearest the interval's middle among those; None when the interval holds no such number."""
    low, high = Decimal(repr(lo)), Decimal(repr(hi))
    mid = (low + high) / 2
    for e in range(15, -1 if integer else -13, -1):
        step = Decimal(1).scaleb(e)
        first = (low / step).to_integral_value(ROUND_CEILING) * step
        if first == low and not lo_closed:
            first += step
        last = (high / step).to_integral_value(ROUND_FLOOR) * step
        if last == high and not hi_closed:
            last -= step
        if first <= last:
            k = ((mid - first) / step).to_integral_value(ROUND_HALF_EVEN)
            k = min(max(k, Decimal(0)), (last - first) / step)
            v = first + k * step
            return int(v) if integer else float(v)
    return None


def place(rule: Rule, option: Option, current: float | int | None) -> float | int | None:
    """A threshold for `rule` that makes the cut `option` (see the module docstring)."""
    if current is not None and not (rule.zero_off and current == 0) and option.contains(current):
        return current
    lo, hi, lo_closed, hi_closed = option.lo, option.hi, option.lo_closed, option.hi_closed
    if lo is None and hi is None:  # no document to cut: nothing to learn from
        return current
    if option.removed == 0 or lo is None or hi is None:
        if option.removed == 0:  # removes nothing: the extreme value of the sample itself
            t = lo if rule.side == "max" else hi
            if rule.side == "min" and rule.positive and t <= 0:
                return None  # nothing to remove below 0 (the field refuses 0; None is off)
            return int(t) if rule.integer else t
        # removes everything: bound the open side by the measure's range (all measures are >= 0)
        if lo is None:
            lo, lo_closed = 0.0, not (rule.positive or rule.zero_off)
        else:
            hi, hi_closed = (1.0 if rule.ratio else max(2 * lo, lo + 1)), True
    if (rule.positive or rule.zero_off) and lo <= 0:
        lo, lo_closed = 0.0, False
    if rule.ratio and hi > 1:
        hi, hi_closed = 1.0, True
    return simplest(lo, hi, lo_closed, hi_closed, rule.integer)


def target_removed(method: str, rule: Rule, values: np.ndarray, n: int, current: float | int | None,
                   reference: np.ndarray, reference_n: int, tail: float) -> float:
    """How many of a source's `n` sampled documents the rule should remove by `method`.

    `values`: the rule's value per sampled document of the source (NaN: the rule does not apply);
    `reference`: the same over the `reference_n` reference documents; `current`: the source's threshold."""
    if method == "tail":
        return tail * n
    if method == "quantile":
        share = rule.removes(reference, current).sum() / reference_n if reference_n else 0.0
        return share * n
    ref = reference[~np.isnan(reference)]
    own = values[~np.isnan(values)]
    if not len(ref) or not len(own) or current is None:
        raw = current
    elif method == "meanstd":
        sd = float(ref.std())
        raw = current if sd == 0 else float(own.mean()) + (current - float(ref.mean())) / sd * float(own.std())
    elif method == "median_ratio":
        med = float(np.median(ref))
        raw = current if med == 0 else current * float(np.median(own)) / med
    else:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    return float(rule.removes(values, raw).sum())


def margin(rule: Rule, values: np.ndarray, t: float | int | None, k: int) -> tuple[list[int], list[int]]:
    """(indices of the k kept documents nearest the threshold, of the k dropped ones nearest it), nearest
    first; documents the rule does not apply to are on neither side. Ties keep sample order."""
    applies = ~np.isnan(values)
    dropped = rule.removes(values, t)
    kept_idx = np.flatnonzero(applies & ~dropped)
    drop_idx = np.flatnonzero(dropped)
    sign = 1 if rule.side == "max" else -1  # "max": kept just below t (largest first), dropped just above
    kept = kept_idx[np.argsort(-sign * values[kept_idx], kind="stable")][:k]
    drop = drop_idx[np.argsort(sign * values[drop_idx], kind="stable")][:k]
    return kept.tolist(), drop.tolist()
