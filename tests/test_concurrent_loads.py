"""Loads of one project at the same time, on SQLite and PostgreSQL: they take turns, none fails,
and the tables end as one clean load leaves them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _frames import HR_WIDE, hr_document, hr_tables
from sqlalchemy.engine import Connection

from proforma_io.errors import WarehouseError
from proforma_io.schema import CORE_TABLES
from proforma_io.tables import ProjectTables
from proforma_io.writers.transactions import lock_key
from proforma_io.writers.warehouse import Warehouse, WarehouseLoad

# Columns that differ between two loads of the same data by design: when and by which run.
VOLATILE = {"loaded_at", "first_seen_run", "first_seen_at", "last_seen_run", "last_seen_at"}
COMPARED = [*CORE_TABLES, HR_WIDE, "wide_tables", "wide_columns"]


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the compared tables, volatile columns left out, in a stable order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = {}
            for name in COMPARED:
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                kept = [column for column in table.c if column.name not in VOLATILE]
                rows = conn.execute(sa.select(*kept)).all()
                tables[name] = sorted((tuple(row) for row in rows), key=repr)
            return tables
    finally:
        engine.dispose()


def reset(url: str) -> None:
    """Empty the database: drop the SQLite file or PostgreSQL's public schema."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").unlink()
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def in_thread(work: Callable[[], WarehouseLoad]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start `work` in a thread; the dict gets its `load` or its `error`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["load"] = work()
        except Exception as exc:  # the test asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def loader(url: str, tables: ProjectTables, run_id: str, **options: Any) -> Callable[[], Any]:
    def work() -> WarehouseLoad:
        store = Warehouse(url, **options)
        try:
            return store.replace_project(tables, run_id=run_id)
        finally:
            store.dispose()

    return work


@contextmanager
def project_held(url: str, project: str) -> Iterator[Connection]:
    """Hold what a load of the project waits for, in an open transaction, until the block ends:
    PostgreSQL's advisory lock of the project, SQLite's write lock."""
    store = Warehouse(url)
    conn = store.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            conn.begin()
            key = lock_key(f"project:{project}")
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        else:
            conn.execution_options(proforma_immediate=True).begin()
        yield conn
        conn.commit()
    finally:
        conn.close()
        store.dispose()


def waiting_advisory_locks(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_two_concurrent_loads_of_one_project_equal_one_clean_load(
    database_url: str, tmp_path: Path
) -> None:
    Warehouse(database_url).ensure_schema()
    tables = hr_tables(hr_document(), tmp_path, "r1")
    start = threading.Barrier(2)

    def together(run: str) -> Callable[[], WarehouseLoad]:
        load = loader(database_url, tables, run)

        def work() -> WarehouseLoad:
            start.wait(10)
            return load()

        return work

    started = [in_thread(together(run)) for run in ("run-a", "run-b")]
    for thread, _ in started:
        thread.join(60)

    outcomes = [outcome for _, outcome in started]
    assert [sorted(outcome) for outcome in outcomes] == [["load"], ["load"]]
    assert sum(len(outcome["load"].schema_changes) for outcome in outcomes) == 15
    concurrent = snapshot(database_url)
    reset(database_url)
    clean = Warehouse(database_url)
    clean.ensure_schema()
    clean.replace_project(tables, run_id="clean")
    clean.dispose()
    assert concurrent == snapshot(database_url)
    assert len(concurrent["responses"]) == 4 and len(concurrent[HR_WIDE]) == 4


def test_a_load_waits_for_the_project_lock_and_then_completes(
    database_url: str, tmp_path: Path
) -> None:
    store = Warehouse(database_url)
    store.ensure_schema()
    store.replace_project(hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    smaller = hr_tables(hr_document(), tmp_path, "r2")
    smaller.core["answers"] = smaller.core["answers"].head(3)

    with project_held(database_url, "HR"):
        thread, outcome = in_thread(loader(database_url, smaller, "r2"))
        if store.engine.dialect.name == "postgresql":
            for _ in range(200):
                if waiting_advisory_locks(database_url):
                    break
                thread.join(0.05)
            assert waiting_advisory_locks(database_url) == 1
        thread.join(0.3)
        assert thread.is_alive() and outcome == {}

    thread.join(60)
    assert sorted(outcome) == ["load"]
    assert store.project_counts("HR")["answers"] == 3
    store.dispose()


def test_a_load_gives_up_after_the_lock_timeout_keeping_the_rows(
    database_url: str, tmp_path: Path
) -> None:
    store = Warehouse(database_url)
    store.ensure_schema()
    store.replace_project(hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    smaller = hr_tables(hr_document(), tmp_path, "r2")
    smaller.core["answers"] = smaller.core["answers"].head(3)

    with project_held(database_url, "HR"):
        impatient = Warehouse(database_url, lock_timeout=0.2)
        with pytest.raises(WarehouseError, match=r"project HR: .*lock"):
            impatient.replace_project(smaller, run_id="r2")
        impatient.dispose()

    assert store.project_counts("HR")["answers"] > 3
    store.dispose()
