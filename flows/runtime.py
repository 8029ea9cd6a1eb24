"""How flows run: a Dask cluster of worker processes (local by default, or an existing one),
and a helper that waits for mapped tasks with a progress bar and collects failures per shard."""

from __future__ import annotations

import os
import time
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


# ------------------------------------------------------------------------------ the task budget

DEFAULT_MAX_TASKS = 400  # per mapped step: a flow run stays within Prefect's comfortable ~1-2k task runs


def max_tasks() -> int:
    """How many Prefect tasks one mapped step may submit (`TAMIZ_MAX_TASKS`, default 400). More calls
    than that run in batches, several calls per task (`batches`). Prefect's server falls behind beyond
    about 2,000 task runs in one flow run (docs/scale.md); a stage maps one to three steps. ValueError
    naming the variable when it is not a positive integer (checked before any work: `plan_build`)."""
    raw = os.environ.get("TAMIZ_MAX_TASKS", "").strip()
    if not raw:
        return DEFAULT_MAX_TASKS
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"TAMIZ_MAX_TASKS={raw!r}: not a positive whole number of tasks")
    return n


def batches(n_calls: int, budget: int) -> list[range]:
    """`n_calls` calls cut into at most `budget` contiguous batches of near-equal size, in call order:
    one call per batch when they fit (the common case, a task per shard)."""
    if n_calls <= budget:
        return [range(i, i + 1) for i in range(n_calls)]
    size, extra = divmod(n_calls, budget)
    out, start = [], 0
    for b in range(budget):
        end = start + size + (b < extra)
        out.append(range(start, end))
        start = end
    return out


def retriable(error: BaseException) -> bool:
    """Whether a failed call inside a batch is run again (the same rule as `retry_unless_fetched_already`
    for single tasks: a `RemoteError` was retried inside the call already, or cannot be mended)."""
    from tamiz.core.remote import RemoteError

    return not isinstance(error, RemoteError)


def run_calls(fn: Callable[..., Any], calls: Sequence[tuple], retries: int = 0) -> list[tuple[str, Any]]:
    """Run `fn(*call)` for each call in turn, each with its own `retries`, and return ("ok", result) or
    ("error", "Type: message") per call: one failing call never stops the others of its batch. What a
    call finished is kept by its own completion record (ShardTask), so a batch that dies half-way
    redoes only its unfinished calls when it is run again."""
    out: list[tuple[str, Any]] = []
    for call in calls:
        for attempt in range(retries + 1):
            try:
                out.append(("ok", fn(*call)))
                break
            except Exception as e:  # noqa: BLE001 - reported per call, like a failed task
                if attempt == retries or not retriable(e):
                    out.append(("error", f"{type(e).__name__}: {e}"))
                    break
                time.sleep(min(1.0 * (attempt + 1), 5.0))
    return out


class Calls:
    """One batch's calls as one opaque value. Prefect walks a task's parameters looking for futures and
    Dask pickles them to name the task: for a list of 500 calls that was half a second per task in
    the parent (measured: 20,000 files in 40 tasks). Neither looks inside this; each batch gets a
    unique Dask key (`token`)."""

    __slots__ = ("items", "token")

    def __init__(self, items: Sequence[tuple]):
        import uuid

        self.items = list(items)
        self.token = uuid.uuid4().hex

    def __dask_tokenize__(self) -> str:
        return self.token

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> tuple:
        return self.items, self.token

    def __setstate__(self, state: tuple) -> None:
        self.items, self.token = state


def batch_task(task: Any) -> Any:
    """The Prefect task that runs a batch of `task`'s calls on one worker (`run_calls`); its own retry
    covers a worker that died (the finished calls are skipped by their completion records)."""
    from prefect import task as make_task

    return make_task(_run_batch, name=f"{task.name}-batch", retries=1, retry_delay_seconds=1)


def _run_batch(task: Any, calls: Calls, retries: int, mirror: Any = None) -> list[tuple[str, Any]]:
    """A batch's calls on a worker; with `mirror` (a `tamiz.core.mirror.MirrorSpec`: the build lives on
    object storage and this worker shares no disk with the parent) each call runs in the worker's own
    mirror of the build: its files fetched first, its outputs uploaded after."""
    if mirror is None:
        return run_calls(task.fn, calls.items, retries)
    with mirror.opened() as m:
        return run_calls(m.call(task.fn, mirror.origin), calls.items, retries)


def mirrored_task(task: Any) -> Any:
    """`task` for one call on a worker of a build on object storage (`_run_one`): its errors are raised as
    the task's own, its retries are the task's."""
    from prefect import task as make_task

    return make_task(_run_one, name=task.name, retries=task.retries or 0, retry_delay_seconds=1,
                     retry_condition_fn=getattr(task, "retry_condition_fn", None))


def _run_one(task: Any, call: Calls, mirror: Any) -> Any:
    with mirror.opened() as m:
        return m.call(task.fn, mirror.origin)(*call.items[0])


@dataclass
class Collected:
    results: list[Any] = field(default_factory=list)  # in input order, None for failures
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input, error message)


def collect(futures: Sequence[Any], labels: Sequence[str], description: str,
            on_result: Callable[[Any], None] | None = None, groups: Sequence[range] | None = None,
            batched: bool | None = None) -> Collected:
    """Wait for mapped task futures in completion order with a progress bar; keep input order in
    the results; one failing shard never stops the others (its error is collected instead).

    `groups`: the calls each future ran, when futures are batches (`batches`): a batch's result is a
    list of ("ok", result) / ("error", message), one per call, and the bar counts calls, not tasks.
    `batched`: whether futures return that list (default: when some group has more than one call)."""
    from prefect.futures import as_completed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    groups = list(groups) if groups is not None else [range(i, i + 1) for i in range(len(futures))]
    batched = any(len(g) != 1 for g in groups) if batched is None else batched
    n_calls = sum(len(g) for g in groups)
    index = {id(f): i for i, f in enumerate(futures)}
    out = Collected(results=[None] * n_calls)
    if len(futures) != n_calls:
        description = f"{description} ({len(futures)} tasks)"
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False, disable=not futures) as progress:
        bar = progress.add_task(description, total=n_calls)
        for fut in as_completed(list(futures)):
            group = groups[index[id(fut)]]
            try:
                res = fut.result()
            except Exception as e:  # the task failed after its retries: every call of it failed
                for i in group:
                    out.failures.append((labels[i], f"{type(e).__name__}: {e}"))
            else:
                for i, got in zip(group, res if batched else [("ok", res)], strict=True):
                    if got[0] == "ok":
                        out.results[i] = got[1]
                        if on_result:
                            on_result(got[1])
                    else:
                        out.failures.append((labels[i], got[1]))
            progress.advance(bar, len(group))
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
