"""The end of a dedup run: counts that reconcile, the stage manifest and the cluster-size histogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tamiz.pipeline.dedup.config import DedupConfig, s_curve
from tamiz.pipeline.dedup.layout import Layout
from tamiz.pipeline.stage import write_stage_manifest


def merge_removal(records: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"in": 0, "kept": 0, "removed": {}, "by_source": {}}
    for r in records:
        c = r["counts"]
        total["in"] += c["in"]
        total["kept"] += c["kept"]
        for k, v in c["removed"].items():
            total["removed"][k] = total["removed"].get(k, 0) + v
        for src, sc in c["by_source"].items():
            t = total["by_source"].setdefault(src, {"in": 0, "kept": 0, "removed": 0})
            for k in t:
                t[k] += sc[k]
    total["removed"] = dict(sorted(total["removed"].items()))
    total["by_source"] = dict(sorted(total["by_source"].items()))
    assert total["in"] == total["kept"] + sum(total["removed"].values()), "dedup counts do not reconcile"
    return total


def finish_run(out_dir: str | Path, removal: list[dict[str, Any]], exact: list[dict[str, Any]],
               bands: list[dict[str, Any]], clusters: dict[str, Any]) -> dict[str, Any]:
    """Write the histogram PNG and manifest.json (last); returns the run summary."""
    out = Path(out_dir)
    layout = Layout.load(out)
    counts = merge_removal(removal)
    counts["exact_links"] = {k: sum(r["counts"][k] for r in exact) for k in ("links", "text", "url")}
    counts["bands"] = {k: sum(r["counts"][k] for r in bands) for k in
                       ("candidates", "owned_by_earlier_band", "hash_collisions", "below_threshold", "links")}
    counts["clusters"] = clusters["counts"]
    png = out / "cluster_sizes.png"
    write_histogram(png, clusters["counts"]["cluster_sizes"], layout.config)
    config = {"dedup": layout.config.as_dict(), "priority": layout.priority, "against": layout.against}
    # "resumed" says how this process got a record, not what the stage produced: kept out of the
    # manifest so a resumed run writes the same bytes as an uninterrupted one
    records = [{k: v for k, v in r.items() if k != "resumed"} for r in removal]
    write_stage_manifest(out, "dedup", config, layout.config_hash, records, counts)
    return {"counts": counts, "histogram": png.name, "shards": len(removal),  # relative to the dedup folder
            "resumed": sum(1 for r in removal if r.get("resumed")), "config": layout.config}


def write_histogram(path: Path, sizes: dict[int, int], config: DedupConfig) -> None:
    """Bar chart of duplicate-cluster sizes (clusters of 2 or more holding a document of this run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tamiz.core.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs = sorted(int(k) for k in sizes)
    ax.bar([str(x) for x in xs], [sizes[x] if x in sizes else sizes[str(x)] for x in xs], color="#4c72b0")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_yscale("log" if xs and max(sizes.values()) > 50 else "linear")
    ax.set_title(f"duplicate clusters (threshold {config.threshold}, {config.bands} bands x {config.rows} rows)")
    if not xs:
        ax.text(0.5, 0.5, "no duplicates", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def s_curve_rows(config: DedupConfig, points: int = 21) -> list[tuple[str, str, str]]:
    return [(f"{s:.2f}", f"{c:.3f}", f"{v:.3f}") for s, c, v in s_curve(config, points)]
