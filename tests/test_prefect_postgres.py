"""Prefect on a real PostgreSQL (tests/postgres_server.py): the server answers, keeps its tables in
PostgreSQL, and records every task run of a flow of 200 mapped tasks."""

from __future__ import annotations

import time
import urllib.request
from uuid import UUID

from postgres_server import PostgresServer, PrefectServer, count_task_runs

N_TASKS = 200


def test_server_answers_and_lives_in_postgres(postgres_db: PostgresServer, prefect_postgres: PrefectServer):
    with urllib.request.urlopen(f"{prefect_postgres.api_url}/health", timeout=10) as r:
        assert r.status == 200
    assert prefect_postgres.api_url == f"http://127.0.0.1:{prefect_postgres.port}/api"
    assert postgres_db.query("select version()")[0][0].startswith("PostgreSQL ")
    tables = {t for (t,) in postgres_db.query("select table_name from information_schema.tables "
                                               "where table_schema = 'public'")}
    assert {"flow", "flow_run", "task_run", "alembic_version"} <= tables
    # Prefect's search indexes need the pg_trgm extension (docs: PostgreSQL with pg_trgm installed)
    assert postgres_db.query("select extname from pg_extension where extname = 'pg_trgm'") == [("pg_trgm",)]


def test_mapped_flow_records_every_task_run(postgres_db: PostgresServer, use_prefect_postgres: str):
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run
    from prefect.settings import get_current_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    assert get_current_settings().api.url == use_prefect_postgres

    @task
    def double(i: int) -> int:
        return 2 * i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
    def many(n: int) -> tuple[str, int]:
        return flow_run.id, sum(double.map(range(n)).result())

    run_id, total = many(N_TASKS)
    assert total == N_TASKS * (N_TASKS - 1)

    # task runs are recorded from the events the flow sent: the server writes them ~10 s after the flow
    # ends here (2 busy cores); 60 s leaves room for a slower CI machine
    deadline = time.monotonic() + 60
    while (recorded := count_task_runs(run_id)) < N_TASKS and time.monotonic() < deadline:
        time.sleep(0.5)
    assert recorded == N_TASKS
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(run_id)).state.is_completed()
    # ... as rows of PostgreSQL's task_run table, one per mapped call
    (rows, distinct), = postgres_db.query(
        "select count(*), count(distinct dynamic_key) from task_run "
        "where flow_run_id = $1 and state_type = 'COMPLETED'",
        UUID(run_id))
    assert rows == distinct == N_TASKS
