"""How flows run: a Dask cluster of worker processes (local by default, or an existing one),
and a helper that waits for mapped tasks with a progress bar and collects failures per shard."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def make_task_runner(dask_address: str | None = None, workers: int | None = None):
    """A DaskTaskRunner: an existing cluster at `dask_address`, else a LocalCluster of processes on 127.0.0.1."""
    from prefect_dask import DaskTaskRunner

    from tamiz.flows.server import ensure_prefect_api

    ensure_prefect_api()  # before the cluster's workers start: they inherit the API URL

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    n = workers or default_workers()
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": n,
            "threads_per_worker": 1,  # CPU-bound Python: one thread per process
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
    )


@dataclass
class Collected:
    results: list[Any] = field(default_factory=list)  # in input order, None for failures
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input, error message)


def collect(futures: Sequence[Any], labels: Sequence[str], description: str,
            on_result: Callable[[Any], None] | None = None) -> Collected:
    """Wait for mapped task futures in completion order with a progress bar; keep input order in
    the results; one failing shard never stops the others (its error is collected instead)."""
    from prefect.futures import as_completed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    index = {id(f): i for i, f in enumerate(futures)}
    out = Collected(results=[None] * len(futures))
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False, disable=not futures) as progress:
        bar = progress.add_task(description, total=len(futures))
        for fut in as_completed(list(futures)):
            i = index[id(fut)]
            try:
                res = fut.result()
            except Exception as e:  # the task failed after its retries
                out.failures.append((labels[i], f"{type(e).__name__}: {e}"))
            else:
                out.results[i] = res
                if on_result:
                    on_result(res)
            progress.advance(bar)
    out.failures.sort()
    return out


class StageFailed(RuntimeError):
    """Some shards of a stage failed; the others finished and are kept for the rerun."""

    def __init__(self, stage: str, failures: list[tuple[str, str]]):
        self.failures = failures
        lines = "\n".join(f"  {path}: {err}" for path, err in failures)
        super().__init__(f"{stage}: {len(failures)} shard(s) failed (the rest finished; rerun to retry):\n{lines}")


def retry_unless_fetched_already(task, task_run, state) -> bool:
    """Prefect's `retry_condition_fn` for tasks that read remote inputs: a `RemoteError` was already
    retried inside the task (tamiz.core.remote: backoff, resume from the offset reached) or cannot be
    mended by retrying (a missing object, refused access), so the task is not run again for it; any
    other failure (a worker that died, say) gets the task's retries."""
    from tamiz.core.remote import RemoteError

    return not isinstance(getattr(state, "data", None), RemoteError)
