"""Shared fixtures. Hermetic: Prefect's home, the tamiz home and all outputs live in temporary folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FIXTURES = ROOT / "tests" / "fixtures"

# Session fixtures of a real PostgreSQL and a Prefect server on it (postgres_db, prefect_postgres, ...):
# registered here once, so that every module shares one of each (a session fixture imported into two
# modules would start twice). Importing it is cheap: the servers start only when a test asks.
pytest_plugins = ["postgres_server"]

# Before anything imports flows/prefect: a private home for this test session, unless CI set one.
_HOME = Path(os.environ.get("TAMIZ_HOME") or tempfile.mkdtemp(prefix="tamiz-test-home-"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two test processes: a home (and Prefect database) each
    _HOME = _HOME / os.environ["PYTEST_XDIST_WORKER"]
os.environ.setdefault("COLUMNS", "400")  # summary tables printed whole, whatever the length of the temporary paths
os.environ["TAMIZ_HOME"] = str(_HOME)
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def prefect_server():
    """One real Prefect server (SQLite, 127.0.0.1) for every flow test of the session."""
    import tamiz.flows  # noqa: F401  (settings first)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=240):
        yield


@pytest.fixture(scope="session")
def ingested_sample(tmp_path_factory) -> Path:
    """The bundled sample ingested with default settings (plain function calls, no Prefect).

    Returns the stage folder: docs/*.parquet (kept, Spanish), rejects/, quarantine/, manifest.json.
    Sources: common_crawl (WARC), books, reference.
    """
    from tamiz.pipeline.ingest import IngestConfig, ingest_file, merge_counts
    from tamiz.pipeline.readers import expand_inputs
    from tamiz.pipeline.stage import write_stage_manifest

    out = tmp_path_factory.mktemp("ingested")
    cfg = IngestConfig()
    records = []
    for f in expand_inputs([SAMPLE / "common_crawl", SAMPLE / "books", SAMPLE / "reference"]):
        records.append(ingest_file(f, out, f.parent.name, cfg))
    write_stage_manifest(out, "ingest", cfg.as_dict(), cfg.hash(), records, merge_counts(records))
    return out


@pytest.fixture(scope="session")
def reference_build(prefect_server, tmp_path_factory):
    """One uninterrupted build of test_build.make_table's table (2 local Dask workers, a 4-step training
    run): the reference of tests/test_build.py and tests/test_fault_injection.py. Its atomic writes are
    counted (core/atomic._fault_point) into `folder / "writes"`: the fault test picks its kill point from
    that count."""
    from test_build import make_table

    from tamiz.flows.build import plan_build, run_build

    folder = tmp_path_factory.mktemp("build")
    table = make_table(folder, SAMPLE)
    counter = folder / "writes"
    os.environ.update(TAMIZ_FAULT_FILE=str(counter), TAMIZ_FAULT_AT="0")  # count the writes, kill nowhere
    try:
        summary = run_build(plan_build(table, folder / "out"), workers=2)
    finally:
        os.environ.pop("TAMIZ_FAULT_FILE", None)
        os.environ.pop("TAMIZ_FAULT_AT", None)
    return folder, table, summary


# `make test` runs the tests in two processes (pytest-xdist, `-n 2 --dist loadscope`): every test module
# runs whole in one of them (module fixtures are made once), and the modules that share an expensive
# session fixture run in the same one, so it is made once in all.
SHARED_SCOPES = {
    "tests/test_fault_injection.py": "tests/test_build.py",  # reference_build
    "tests/test_scale_tiny_files.py": "tests/test_prefect_postgres.py",  # postgres_db, prefect_postgres
}

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest without xdist: one process, nothing to schedule
    pass
else:
    class _SharedScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_SCOPES.get(module, module)

    def pytest_xdist_make_scheduler(config, log):
        return _SharedScopes(config, log)
