"""Calibrating the heuristic thresholds from the data: `tamiz filter INPUTS --calibrate --out DIR`.

FineWeb-2 did not reuse English thresholds for other languages: it measured every filter's quantity on
data of each language and derived that language's thresholds from the distributions (arXiv:2506.20920;
the values are its configs/*.yml). tamiz does the same per source:

1. sample: up to `sample` documents per source, reservoir-sampled in one streamed pass (calibrate_sample.py);
2. measure: run every heuristic filter's own measuring code on each sampled document, C4's line removal
   included, with no threshold applied (calibrate_measure.py);
3. propose: for every threshold that is on, the value the method gives from the distributions
   (calibrate_propose.py; the methods, the reference, and the thresholds are in calibrate_rules.py);
4. predict: apply the current and the proposed thresholds to the stored measures with the filters' own
   `decide`, in chain order, so the report says exactly which documents of the sample each would drop.

The proposal is an override file (`default:` / `sources:`, pipeline/filters/config.py) that gives each
source exactly the proposed config when passed back with `tamiz filter --config`. A check that is off
stays off (its distribution is still reported), and only thresholds are proposed: word lists, C4's line
rules and which filters run are kept as the current config has them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tamiz.core.config import from_mapping
from tamiz.pipeline.calibrate_measure import decide_chain, measure, measuring_steps
from tamiz.pipeline.calibrate_propose import (METHODS, choose_option, cut_options, feasible, margin, place,
                                              target_removed)
from tamiz.pipeline.calibrate_rules import Rule, rule_values, rules_for
from tamiz.pipeline.calibrate_sample import Sample
from tamiz.pipeline.filters.config import FiltersConfig, HeuristicsConfig

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
EXCERPT_CHARS = 240


@dataclass(frozen=True)
class CalibrationConfig:
    """How `tamiz filter --calibrate` samples and proposes (the filter config file's `calibrate:` section)."""

    sample: int = 2000  # documents per source, reservoir-sampled (every document of a smaller source)
    seed: int = 0  # seeds the sample: the same inputs in the same order give the same sample
    method: str = "quantile"  # quantile | tail | meanstd | median_ratio (docs/filters.md, "Calibrating thresholds")
    reference: tuple[str, ...] = ()  # sources whose sample is the reference of quantile/meanstd/median_ratio
    #                                  (the data the current thresholds suit); empty: every source's sample
    tail: float = 0.1  # method tail: the share of each source each threshold removes (FineWeb-2's "10Tail")
    examples: int = 3  # margin examples per threshold and side (kept just inside, dropped just outside)

    def __post_init__(self) -> None:
        if isinstance(self.sample, bool) or not isinstance(self.sample, int) or self.sample < 1:
            raise ValueError(f"sample: {self.sample!r} must be a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: {self.seed!r} must be a non-negative integer")
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if isinstance(self.tail, bool) or not isinstance(self.tail, (int, float)) or not 0 < self.tail < 1:
            raise ValueError(f"tail: {self.tail!r} must be a share between 0 and 1 (exclusive)")
        if isinstance(self.examples, bool) or not isinstance(self.examples, int) or not 0 <= self.examples <= 50:
            raise ValueError(f"examples: {self.examples!r} must be an integer from 0 to 50")
        object.__setattr__(self, "reference", tuple(self.reference))
        for name in self.reference:
            if not isinstance(name, str) or not name:
                raise ValueError(f"reference: {name!r} is not a source name")
        if self.reference and self.method == "tail":
            raise ValueError(f"reference: method tail uses no reference (given {', '.join(self.reference)}); "
                             "quantile, meanstd and median_ratio do")

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibrate") -> "CalibrationConfig":
        return from_mapping(cls, data, where, int_as_float=True)


@dataclass
class Measured:
    """One source's sampled documents and what the chain measured on each."""

    source: str
    config: HeuristicsConfig
    ids: list[str]
    texts: list[str]  # the text as read
    cleaned: dict[int, str]  # index -> text after C4's line removal, where it removed lines
    measures: list[dict[str, Any]]  # {family: measures} per document


@dataclass
class Calibration:
    """The result: `summary` (JSON: everything the reports say), `overrides` (the proposal as an override
    file), and the values each threshold acts on, per source and rule key, for the histograms."""

    summary: dict[str, Any]
    overrides: dict[str, Any]
    values: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def measure_sample(sample: Sample, filters: FiltersConfig,
                   on_measured: Callable[[int], None] | None = None) -> dict[str, Measured]:
    """Measure every sampled document with its source's current config; `on_measured(k)` after each document."""
    out: dict[str, Measured] = {}
    done = 0
    for src, docs in sample.docs.items():
        cfg = filters.for_source(src)
        steps = measuring_steps(cfg)
        res = Measured(src, cfg, [], [], {}, [])
        for i, doc in enumerate(docs):
            m, cleaned = measure(doc, steps)
            res.ids.append(doc.id)
            res.texts.append(doc.text)
            res.measures.append(m)
            if cleaned != doc.text:
                res.cleaned[i] = cleaned
            done += 1
            if on_measured is not None:
                on_measured(done)
        out[src] = res
    return out


def calibrate(measured: dict[str, Measured], filters: FiltersConfig, cfg: CalibrationConfig) -> Calibration:
    """Propose every threshold per source from the measured sample (see the module docstring)."""
    if not measured:
        raise ValueError("no documents in the inputs: nothing to calibrate")
    missing = [r for r in cfg.reference if r not in measured]
    if missing:
        raise ValueError(f"reference: source {missing[0]!r} has no documents in the inputs "
                         f"(sources found: {', '.join(measured)})")
    ref_sources = list(cfg.reference) or list(measured)
    sources: dict[str, Any] = {}
    values: dict[str, dict[str, np.ndarray]] = {}
    proposed_cfgs: dict[str, HeuristicsConfig] = {}
    for src, ms in measured.items():
        proposed, report, vals = _propose_source(ms, measured, ref_sources, cfg)
        proposed_cfgs[src] = proposed
        values[src] = vals
        sources[src] = report
    default_changes = _diff(filters.default, HeuristicsConfig())
    overrides = {"default": default_changes,
                 "sources": {s: _diff(c, filters.default) for s, c in sorted(proposed_cfgs.items())}}
    summary = {
        "method": cfg.method, "sample": cfg.sample, "seed": cfg.seed, "tail": cfg.tail,
        "reference": ref_sources if cfg.method != "tail" else [],
        "sources": sources,
    }
    return Calibration(summary=summary, overrides=overrides, values=values)


def _propose_source(ms: Measured, measured: dict[str, Measured], ref_sources: list[str],
                    cfg: CalibrationConfig) -> tuple[HeuristicsConfig, dict[str, Any], dict[str, np.ndarray]]:
    n = len(ms.measures)
    proposed = ms.config
    rules_out: list[dict[str, Any]] = []
    vals: dict[str, np.ndarray] = {}
    ref_n = sum(len(measured[r].measures) for r in ref_sources)
    for rule in rules_for(ms.config):
        v = rule_values(rule, ms.measures, ms.config)
        vals[rule.key] = v
        current = rule.current(ms.config)
        entry: dict[str, Any] = {"rule": rule.key, "measure": rule.measure_key, "side": rule.side,
                                 "applies": int((~np.isnan(v)).sum()), "distribution": _distribution(v),
                                 "current": current, "active": rule.active(ms.config)}
        if not entry["active"]:
            entry.update(proposed=current, current_removes=0, proposed_removes=0)
            rules_out.append(entry)
            continue
        ref = np.concatenate([rule_values(rule, measured[r].measures, measured[r].config) for r in ref_sources])
        target = target_removed(cfg.method, rule, v, n, current, ref, ref_n, cfg.tail)
        finite = v[~np.isnan(v)]
        option = choose_option([o for o in cut_options(finite, rule.side) if feasible(rule, o)], target)
        t = place(rule, option, current) if len(finite) else current
        now, new = rule.removes(v, current), rule.removes(v, t)
        assert not len(finite) or int(new.sum()) == option.removed, f"{rule.key}: the cut moved"
        kept, dropped = margin(rule, v, t, cfg.examples)
        entry.update(proposed=t, target_removes=round(target, 3), current_removes=int(now.sum()),
                     proposed_removes=int(new.sum()), newly_dropped=int((new & ~now).sum()),
                     newly_kept=int((now & ~new).sum()),
                     margin={"kept": [_example(ms, i, rule, v) for i in kept],
                             "dropped": [_example(ms, i, rule, v) for i in dropped]})
        if cfg.method == "quantile":
            entry["reference_share"] = round(float(rule.removes(ref, current).sum()) / ref_n, 6) if ref_n else 0.0
        rules_out.append(entry)
        proposed = rule.with_threshold(proposed, t)
    proposed, notes = _check_pairs(ms.config, proposed, rules_out)
    reasons_now, reasons_new = decide_chain(ms.measures, ms.config), decide_chain(ms.measures, proposed)
    report = {"documents": n, "rules": rules_out, "notes": notes,
              "current": _outcome(reasons_now), "proposed": _outcome(reasons_new),
              "config": proposed.as_dict()}
    return proposed, report, vals


def _check_pairs(current: HeuristicsConfig, proposed: HeuristicsConfig,
                 rules_out: list[dict[str, Any]]) -> tuple[HeuristicsConfig, list[str]]:
    """A proposed minimum above its proposed maximum (a source too small or odd for the method) keeps
    both current values, with a note."""
    notes = []
    gq, cur = proposed.gopher_quality, current.gopher_quality
    for lo, hi in (("min_doc_words", "max_doc_words"), ("min_avg_word_length", "max_avg_word_length")):
        a, b = getattr(gq, lo), getattr(gq, hi)
        if a and b and a > b:
            gq = dataclasses.replace(gq, **{lo: getattr(cur, lo), hi: getattr(cur, hi)})
            notes.append(f"gopher_quality.{lo} ({a}) came out above {hi} ({b}); both keep their current values")
            for e in rules_out:
                if e["rule"] in (f"gopher_quality.{lo}", f"gopher_quality.{hi}"):
                    e["proposed"], e["proposed_removes"], e["newly_dropped"], e["newly_kept"] = (
                        e["current"], e["current_removes"], 0, 0)
    return dataclasses.replace(proposed, gopher_quality=gq), notes


def _outcome(reasons: list[str | None]) -> dict[str, Any]:
    dropped = Counter(r for r in reasons if r is not None)
    n = len(reasons)
    return {"kept": n - sum(dropped.values()), "dropped": sum(dropped.values()),
            "dropped_share": round(sum(dropped.values()) / n, 6) if n else 0.0,
            "reasons": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))}


def _distribution(v: np.ndarray) -> dict[str, Any]:
    x = v[~np.isnan(v)]
    if not len(x):
        return {}
    q = np.quantile(x, QUANTILES)
    return {"mean": round(float(x.mean()), 6), "std": round(float(x.std()), 6),
            "quantiles": {f"p{round(p * 100):g}": round(float(val), 6) for p, val in zip(QUANTILES, q)}}


def _example(ms: Measured, i: int, rule: Rule, v: np.ndarray) -> dict[str, Any]:
    text = ms.cleaned.get(i, ms.texts[i]) if rule.family in ("c4", "fineweb") else ms.texts[i]
    return {"id": ms.ids[i], "value": float(v[i]), "excerpt": excerpt(text)}


def excerpt(text: str, chars: int = EXCERPT_CHARS) -> str:
    """The start of a text on one line: line breaks shown as ⏎, runs of spaces folded, cut at `chars`."""
    flat = " ⏎ ".join(" ".join(line.split()) for line in text.strip().split("\n") if line.strip())
    return flat if len(flat) <= chars else flat[:chars - 1].rstrip() + "…"


def _diff(cfg: HeuristicsConfig, base: HeuristicsConfig) -> dict[str, dict[str, Any]]:
    """{family: {field: value}} of the fields where `cfg` differs from `base` (JSON values: tuples as lists)."""
    a, b = (json.loads(json.dumps(dataclasses.asdict(c))) for c in (cfg, base))  # every family, pii included
    out: dict[str, dict[str, Any]] = {}
    for family, fields in a.items():
        changed = {k: val for k, val in fields.items() if b[family][k] != val}
        if changed:
            out[family] = changed
    return out
