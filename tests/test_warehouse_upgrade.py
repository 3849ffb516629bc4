"""Upgrading a warehouse made by version 1 of the DDL (before versions were recorded and wide
columns pinned): its data stays, and its wide tables keep their columns through form changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from _frames import HR_WIDE, hr_document, hr_form, hr_tables

from proforma_io.schema import CORE_TABLES
from proforma_io.tables import ProjectTables, to_arrow
from proforma_io.writers.migrations import split_statements, sql_dir
from proforma_io.writers.parquet import wide_to_arrow
from proforma_io.writers.warehouse import Warehouse

# The load log view as version 1 created it, to upgrade over.
V1_VIEW = """CREATE VIEW v_load_log AS
SELECT run_id, project_key, outcome, started_at, finished_at, seconds, rows_total, row_counts,
    export_ids, error
FROM load_log"""

V1_TYPES = [
    (pa.types.is_string, sa.Text),
    (pa.types.is_integer, sa.BigInteger),
    (pa.types.is_floating, sa.Double),
    (pa.types.is_date, sa.Date),
    (pa.types.is_time, sa.Time),
    (pa.types.is_timestamp, sa.DateTime),
]


def naive(table: pa.Table) -> pa.Table:
    for index, item in enumerate(table.schema):
        if pa.types.is_timestamp(item.type) and item.type.tz is not None:
            column = table.column(index).cast(pa.timestamp("us"))
            table = table.set_column(index, item.with_type(column.type), column)
    return table


def version_1_warehouse(url: str, tables: ProjectTables) -> None:
    """A database as version 1 left it: its DDL and one load of `tables` by its loader, which
    named wide columns after labels and kept no registry of them."""
    engine = sa.create_engine(url)
    core_ddl = (sql_dir() / "001_core.sql").read_text(encoding="utf-8")
    with engine.begin() as conn:
        for statement in [*split_statements(core_ddl), V1_VIEW]:
            conn.exec_driver_sql(statement)
        for name in CORE_TABLES:
            target = sa.Table(name, sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(target), naive(to_arrow(name, tables.core[name])).to_pylist())
        wide = naive(wide_to_arrow(tables.wide[HR_WIDE]))
        columns = [
            sa.Column(item.name, next(t for check, t in V1_TYPES if check(item.type))())
            for item in wide.schema
        ]
        target = sa.Table(HR_WIDE, sa.MetaData(), *columns)
        target.create(conn)
        conn.execute(sa.insert(target), wide.to_pylist())
        started = datetime(2026, 11, 6, 2, 0)
        conn.execute(
            sa.text(
                "INSERT INTO wide_tables (table_name, project_key, template_id, loaded_at) "
                "VALUES (:table, 'HR', 3, :at)"
            ),
            {"table": HR_WIDE, "at": started},
        )
        conn.execute(
            sa.text(
                "INSERT INTO load_log (run_id, project_key, export_ids, row_counts, rows_total, "
                "started_at, finished_at, seconds, outcome) VALUES ('v1-run', 'HR', :exports, "
                "'{}', 4, :at, :at, 0.5, 'succeeded')"
            ),
            {"exports": json.dumps(tables.export_ids), "at": started},
        )
    engine.dispose()


def rows(store: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def test_upgrading_a_version_1_warehouse_keeps_its_data(database_url: str, tmp_path: Path) -> None:
    version_1_warehouse(database_url, hr_tables(hr_document(), tmp_path, "v1"))
    store = Warehouse(database_url)

    ran = store.ensure_schema()
    again = store.ensure_schema()

    assert [path.name for path in ran] == ["001_core.sql", "002_wide_columns.sql", "100_views.sql"]
    assert [path.name for path in again] == ["100_views.sql"]
    assert store.schema_versions() == [1, 2]
    assert store.project_counts("HR") == {
        "responses": 4,
        "answers": 39,
        "jira_fields": 9,
        "questions": 15,
        HR_WIDE: 4,
    }
    assert rows(
        store, "SELECT run_id, template_ids, schema_changes, is_latest FROM v_load_log"
    ) == [("v1-run", None, None, 1)]
    store.dispose()


def test_an_upgraded_wide_table_adopts_its_columns_and_keeps_them_through_a_relabel(
    database_url: str, tmp_path: Path
) -> None:
    version_1_warehouse(database_url, hr_tables(hr_document(), tmp_path, "v1"))
    store = Warehouse(database_url)
    store.ensure_schema()
    document = hr_document()
    newest = hr_form(document, "HR-102", 3)
    newest["design"]["questions"]["6"]["label"] = "Desk no. (floor plan)"
    newest["design"]["questions"]["16"] = {"type": "ts", "label": "Laptop model", "validation": {}}
    newest["state"]["answers"]["16"] = {"text": "ThinkPad X1"}

    load = store.replace_project(hr_tables(document, tmp_path, "r2"), run_id="r2")

    with store.engine.connect() as conn:
        names = [column["name"] for column in sa.inspect(conn).get_columns(HR_WIDE)]
    assert names[-3:] == ["software_access", "accessibility_requirements", "laptop_model"]
    assert "desk_no_floor_plan" not in names
    desks = rows(store, f"SELECT response_id, desk_number FROM {HR_WIDE} ORDER BY response_id")
    assert desks == [("HR-101/1", 42.0), ("HR-102/1", -3.0), ("HR-102/3", None), ("HR-97/1", 1e6)]
    changes = [(c.column, c.identity, c.change) for c in load.schema_changes]
    assert changes[5] == ("desk_number", "id:6", "adopt_column")
    assert changes[0] == ("employee_name", "key:employee_name", "adopt_column")
    assert [c for _, _, c in changes] == ["adopt_column"] * 15 + ["add_column"]
    assert changes[-1] == ("laptop_model", "id:16", "add_column")
    assert rows(store, "SELECT template_ids, schema_changes FROM load_log WHERE run_id = 'r2'") == [
        ("[3]", 16)
    ]
    labels = rows(store, "SELECT label, wide_column FROM questions WHERE question_id = '6'")
    assert labels == [("Desk no. (floor plan)", "desk_number")]
    assert load.started_at.tzinfo is UTC
    store.dispose()
