"""Where every benchmark writes its figures: benchmarks/results/NAME.json for a full run, NAME.quick.json
for a --quick one (a quick run never overwrites the full figures that BENCHMARKS.md is made from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, results: dict[str, Any], quick: bool) -> Path:
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
