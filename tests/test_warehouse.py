"""The SQL warehouse on real SQLite and PostgreSQL: DDL, transactional replace, views, load log."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from _frames import HOSTILE_COLUMN, project_tables

from proforma_io.errors import WarehouseError
from proforma_io.schema import CORE_TABLES, SCHEMAS
from proforma_io.tables import ProjectTables
from proforma_io.writers.warehouse import Warehouse, split_statements


def _rows(store: Warehouse, table: str, project: str | None = None) -> list[dict[str, Any]]:
    """Every row of `table` (of `project` when given), in a stable order."""
    with store.engine.connect() as conn:
        target = sa.Table(table, sa.MetaData(), autoload_with=conn)
        query = sa.select(target).order_by(*target.c)
        if project:
            query = query.where(target.c.project_key == project)
        return [dict(row._mapping) for row in conn.execute(query)]


def _query(store: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def _answer(store: Warehouse, response_id: str, question_id: str) -> dict[str, Any]:
    rows = [
        row
        for row in _rows(store, "answers", "HR")
        if row["response_id"] == response_id and row["question_id"] == question_id
    ]
    assert len(rows) == 1
    return rows[0]


def test_core_tables_have_the_columns_of_schema_py(warehouse: Warehouse) -> None:
    with warehouse.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for name in CORE_TABLES:
            columns = [column["name"] for column in inspector.get_columns(name)]
            assert columns == SCHEMAS[name].names, name


def test_answer_values_round_trip_by_type(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))

    assert _answer(warehouse, "HR-101/1", "1")["value_text"] == "Engineering"
    number = _answer(warehouse, "HR-101/1", "2")
    assert (number["value_text"], number["value_number"]) == ("42", 42.0)
    assert _answer(warehouse, "HR-101/1", "3")["value_date"] == date(2026, 11, 16)
    assert _answer(warehouse, "HR-101/1", "4")["value_time"] == time(8, 45)
    assert _answer(warehouse, "HR-101/1", "5")["value_datetime"] == datetime(2026, 11, 16, 9, 30)
    assert _answer(warehouse, "HR-102/1", "8")["value_text"] == ""
    empty_choice = _answer(warehouse, "HR-102/1", "6")
    assert empty_choice["choice_id"] is None and empty_choice["value_text"] is None
    assert empty_choice["value_index"] == 0 and empty_choice["form_id"] == 1
    choices = [
        (row["value_index"], row["choice_id"], row["choice_label"], row["value_text"])
        for row in _rows(warehouse, "answers", "HR")
        if row["question_id"] == "6" and row["response_id"] == "HR-101/1"
    ]
    assert sorted(choices) == [
        (0, "1", "Laptop", None),
        (1, "2", "Monitor", None),
        (2, "0", "Other", "Standing desk"),
    ]


def test_utc_time_stamps_are_stored_as_utc_and_nulls_as_null(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))

    responses = {row["response_id"]: row for row in _rows(warehouse, "responses", "HR")}
    assert responses["HR-101/1"]["updated_at"] == datetime(2026, 11, 16, 10, 0, 5, 123456)
    assert responses["HR-101/1"]["loaded_at"] == datetime(2026, 11, 20, 6, 0)
    assert responses["HR-102/1"]["updated_at"] is None
    assert responses["HR-102/1"]["visibility"] is None
    fields = {row["field_id"]: row for row in _rows(warehouse, "jira_fields", "HR")}
    assert fields["customfield_10016"]["value_number"] == 2.5
    assert fields["customfield_10016"]["value_text"] is None
    assert json.loads(fields["priority"]["value_json"]) == {"name": "High"}


def test_wide_table_columns_round_trip_by_type(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))

    first, second = _rows(warehouse, "form_hr_3", "HR")
    assert first["response_id"] == "HR-101/1"
    assert first["template_id"] == 3 and first["form_id"] == 1
    assert first["updated_at"] == datetime(2026, 11, 16, 10, 0, 5, 123456)
    assert first["department"] == "Engineering"
    assert first["desk_number"] == 42.0
    assert first["start_date"] == date(2026, 11, 16)
    assert first["daily_start_time"] == time(8, 45)
    assert first["induction_session"] == datetime(2026, 11, 16, 9, 30)
    assert first["headcount"] == 3
    assert first[HOSTILE_COLUMN] == "Line one\nline two"
    assert second["desk_number"] == -3.0
    assert second["department"] is None and second["start_date"] is None
    assert second["daily_start_time"] is None and second["induction_session"] is None
    assert second["headcount"] is None
    assert second["equipment"] == "" and second[HOSTILE_COLUMN] == ""


def test_replacing_a_project_twice_gives_identical_tables(warehouse: Warehouse) -> None:
    tables = project_tables("HR")
    warehouse.replace_project(tables)
    first = {name: _rows(warehouse, name) for name in [*CORE_TABLES, "form_hr_3"]}

    warehouse.replace_project(tables)

    second = {name: _rows(warehouse, name) for name in [*CORE_TABLES, "form_hr_3"]}
    assert second == first
    assert warehouse.project_counts("HR") == tables.row_counts()


def test_replacing_a_project_leaves_other_projects_untouched(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))
    warehouse.replace_project(project_tables("OPS", template_id=7))
    ops_before = {name: _rows(warehouse, name, "OPS") for name in [*CORE_TABLES, "form_ops_7"]}
    smaller = project_tables("HR", export_id="responses-json-HR-3-2")
    smaller.core["answers"] = smaller.core["answers"].head(5)

    warehouse.replace_project(smaller)

    ops_after = {name: _rows(warehouse, name, "OPS") for name in [*CORE_TABLES, "form_ops_7"]}
    assert ops_after == ops_before
    assert warehouse.project_counts("HR")["answers"] == 5
    exports = {row["export_id"] for row in _rows(warehouse, "responses", "HR")}
    assert exports == {"responses-json-HR-3-2"}


def test_a_load_failing_mid_insert_keeps_the_previous_rows(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))
    before = {name: _rows(warehouse, name) for name in [*CORE_TABLES, "form_hr_3"]}
    broken = project_tables("HR", export_id="responses-json-HR-3-2")
    broken.wide["form_hr_3"]["laptop_model"] = pd.Series(["X1", None], dtype="str")
    broken.core["questions"].loc[7, "question_id"] = None

    with pytest.raises(WarehouseError, match=r"project HR: inserting rows 0-7 into questions"):
        warehouse.replace_project(broken, run_id="run-broken")

    after = {name: _rows(warehouse, name) for name in [*CORE_TABLES, "form_hr_3"]}
    assert after == before
    with warehouse.engine.connect() as conn:
        columns = [column["name"] for column in sa.inspect(conn).get_columns("form_hr_3")]
    assert "laptop_model" not in columns
    failed = [row for row in _rows(warehouse, "load_log") if row["run_id"] == "run-broken"]
    assert [row["outcome"] for row in failed] == ["failed"]
    assert "questions" in failed[0]["error"]
    assert json.loads(failed[0]["export_ids"]) == ["responses-json-HR-3-2"]


def test_a_frame_that_cannot_convert_loads_nothing(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))
    broken = project_tables("HR")
    broken.core["answers"]["value_number"] = pd.Series(["many"] * 13, dtype="str")

    with pytest.raises(WarehouseError, match="table answers could not be converted"):
        warehouse.replace_project(broken)

    assert warehouse.project_counts("HR")["answers"] == 13
    outcomes = [row["outcome"] for row in _rows(warehouse, "load_log")]
    assert sorted(outcomes) == ["failed", "succeeded"]


def test_ensure_schema_twice_keeps_tables_and_rows(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))

    files = warehouse.ensure_schema()
    warehouse.ensure_schema()

    assert [path.name for path in files] == ["100_views.sql"]
    assert warehouse.schema_versions() == [1, 2]
    assert warehouse.project_counts("HR")["responses"] == 2
    assert _query(warehouse, "SELECT COUNT(*) FROM v_responses_current") == [(2,)]


def test_a_new_wide_column_is_added_to_the_table(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))
    grown = project_tables("HR")
    grown.wide["form_hr_3"]["laptop_model"] = pd.Series(["X1 Carbon", None], dtype="str")
    grown.wide["form_hr_3"]["Seat (row; %)"] = pd.Series([7.5, 1.0], dtype="float64")

    warehouse.replace_project(grown)

    rows = _rows(warehouse, "form_hr_3", "HR")
    assert [row["laptop_model"] for row in rows] == ["X1 Carbon", None]
    assert [row["Seat (row; %)"] for row in rows] == [7.5, 1.0]
    assert [row["department"] for row in rows] == ["Engineering", None]


def test_hostile_table_and_column_names_are_quoted(warehouse: Warehouse) -> None:
    tables = project_tables("HR")
    hostile_table = 'Form "HR"; DROP TABLE responses; --'
    tables.wide = {hostile_table: tables.wide["form_hr_3"]}

    warehouse.replace_project(tables)
    warehouse.replace_project(tables)

    rows = _rows(warehouse, hostile_table, "HR")
    assert [row[HOSTILE_COLUMN] for row in rows] == ["Line one\nline two", ""]
    assert warehouse.project_counts("HR")[hostile_table] == 2
    assert warehouse.project_counts("HR")["responses"] == 2


def test_a_wide_table_the_project_dropped_loses_its_rows(warehouse: Warehouse) -> None:
    warehouse.replace_project(project_tables("HR"))
    warehouse.replace_project(project_tables("OPS", template_id=3))
    renamed = project_tables("HR")
    renamed.wide = {"form_hr_5": renamed.wide.pop("form_hr_3")}

    warehouse.replace_project(renamed)

    assert _rows(warehouse, "form_hr_3", "HR") == []
    assert len(_rows(warehouse, "form_ops_3", "OPS")) == 2
    registry = [(row["table_name"], row["project_key"]) for row in _rows(warehouse, "wide_tables")]
    assert registry == [("form_hr_5", "HR"), ("form_ops_3", "OPS")]
    assert warehouse.project_counts("HR") == {
        "responses": 2,
        "answers": 13,
        "jira_fields": 3,
        "questions": 8,
        "form_hr_5": 2,
    }


def test_load_log_records_each_load(warehouse: Warehouse) -> None:
    tables = project_tables("HR")

    load = warehouse.replace_project(tables, run_id="run-1")
    warehouse.replace_project(tables)

    assert load.run_id == "run-1" and load.project_key == "HR"
    assert load.rows == tables.row_counts()
    assert load.started_at <= load.finished_at and load.started_at.tzinfo is UTC
    logged = [row for row in _rows(warehouse, "load_log") if row["run_id"] == "run-1"]
    assert len(logged) == 1
    row = logged[0]
    assert row["outcome"] == "succeeded" and row["error"] is None
    assert json.loads(row["export_ids"]) == ["responses-json-HR-3-1"]
    assert json.loads(row["row_counts"]) == tables.row_counts()
    assert row["rows_total"] == 28
    assert row["started_at"] == load.started_at.replace(tzinfo=None)
    assert row["finished_at"] == load.finished_at.replace(tzinfo=None)
    assert len(_rows(warehouse, "load_log")) == 2


def _with_newer_form(tables: ProjectTables) -> ProjectTables:
    """Add HR-101 form 2, open and updated a day after form 1."""
    responses = tables.core["responses"]
    newer = responses.iloc[[0]].copy()
    newer["response_id"] = "HR-101/2"
    newer["form_id"] = pd.array([2], dtype="Int64")
    newer["status"] = "open"
    newer["updated_at"] = pd.Series(
        [datetime(2026, 11, 17, 23, 30, tzinfo=UTC)], index=newer.index, dtype="datetime64[us, UTC]"
    )
    tables.core["responses"] = pd.concat([responses, newer], ignore_index=True)
    return tables


def test_views_return_expected_numbers(warehouse: Warehouse) -> None:
    warehouse.replace_project(_with_newer_form(project_tables("HR")), run_id="hr-1")
    warehouse.replace_project(project_tables("OPS", template_id=7), run_id="ops-1")
    warehouse.replace_project(_with_newer_form(project_tables("HR")), run_id="hr-2")

    current = _query(
        warehouse,
        "SELECT issue_key, response_id, status, forms_on_issue FROM v_responses_current "
        "WHERE project_key = 'HR' ORDER BY issue_key",
    )
    assert current == [("HR-101", "HR-101/2", "open", 2), ("HR-102", "HR-102/1", "locked", 1)]
    daily = _query(
        warehouse,
        "SELECT project_key, day, status, responses FROM v_status_counts_daily "
        "ORDER BY project_key, status",
    )
    assert [(p, str(d) if d else None, s, n) for p, d, s, n in daily] == [
        ("HR", None, "locked", 1),
        ("HR", "2026-11-17", "open", 1),
        ("HR", "2026-11-16", "submitted", 1),
        ("OPS", None, "locked", 1),
        ("OPS", "2026-11-16", "submitted", 1),
    ]
    choices = _query(
        warehouse,
        "SELECT project_key, template_id, question_id, choice_id, choice_label, answers, "
        "responses FROM v_choice_counts ORDER BY project_key, choice_id",
    )
    assert choices == [
        ("HR", 3, "6", "0", "Other", 1, 1),
        ("HR", 3, "6", "1", "Laptop", 1, 1),
        ("HR", 3, "6", "2", "Monitor", 1, 1),
        ("OPS", 7, "6", "0", "Other", 1, 1),
        ("OPS", 7, "6", "1", "Laptop", 1, 1),
        ("OPS", 7, "6", "2", "Monitor", 1, 1),
    ]
    log_rows = _query(
        warehouse,
        "SELECT run_id, project_key, outcome, rows_total, is_latest FROM v_load_log "
        "ORDER BY run_id",
    )
    assert log_rows == [
        ("hr-1", "HR", "succeeded", 29, 0),
        ("hr-2", "HR", "succeeded", 29, 1),
        ("ops-1", "OPS", "succeeded", 28, 1),
    ]


def test_postgresql_names_longer_than_63_bytes_are_refused(warehouse: Warehouse) -> None:
    tables = project_tables("HR")
    tables.wide["form_hr_3"]["ä" * 40] = pd.Series(["a", "b"], dtype="str")

    if warehouse.engine.dialect.name != "postgresql":
        warehouse.replace_project(tables)
        assert [row["ä" * 40] for row in _rows(warehouse, "form_hr_3")] == ["a", "b"]
        return
    with pytest.raises(WarehouseError, match="is 80 bytes; postgresql allows at most 63"):
        warehouse.replace_project(tables)


def test_loading_before_ensure_schema_says_what_is_missing(database_url: str) -> None:
    store = Warehouse(database_url)
    try:
        with pytest.raises(WarehouseError, match=r"expected ensure_schema\(\) to have run"):
            store.replace_project(project_tables("HR"))
    finally:
        store.dispose()


def test_sql_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ddl"
    folder.mkdir()
    (folder / "010_b.sql").write_text("CREATE TABLE IF NOT EXISTS b (x TEXT);\n")
    (folder / "001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (x TEXT);\n")
    monkeypatch.setenv("PROFORMA_SQL_DIR", str(folder))
    store = Warehouse(f"sqlite:///{tmp_path / 'nested' / 'w.db'}")

    files = store.ensure_schema()

    assert [path.name for path in files] == ["001_a.sql", "010_b.sql"]
    with store.engine.connect() as conn:
        assert sorted(sa.inspect(conn).get_table_names()) == ["a", "b", "schema_version"]
    assert store.schema_versions() == [1, 10]
    store.dispose()


def test_statements_split_only_at_semicolons_ending_a_line() -> None:
    text = (
        "-- a comment; with a semicolon;\n"
        "CREATE TABLE t (x TEXT DEFAULT 'a;b');\n"
        "\n"
        "INSERT INTO t VALUES ('c; d')  ;  \n"
        "CREATE VIEW v AS\n"
        "SELECT x FROM t;"
    )

    assert split_statements(text) == [
        "CREATE TABLE t (x TEXT DEFAULT 'a;b')",
        "INSERT INTO t VALUES ('c; d')",
        "CREATE VIEW v AS\nSELECT x FROM t",
    ]


def test_the_password_never_shows_in_the_warehouse_repr() -> None:
    store = Warehouse("postgresql+psycopg://loader:s3cret@db.example:5432/bi")

    assert "s3cret" not in repr(store) and "s3cret" not in store.display_url
    assert store.display_url == "postgresql+psycopg://loader:***@db.example:5432/bi"


def _statements(store: Warehouse) -> list[tuple[str, bool]]:
    """Start recording the statements SQLAlchemy sends, with whether each is an executemany."""
    seen: list[tuple[str, bool]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, many: bool
    ) -> None:
        seen.append((" ".join(statement.split()), many))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_rows_arrive_by_copy_on_postgresql_and_batches_on_sqlite(database_url: str) -> None:
    store = Warehouse(database_url, chunk_rows=5)
    store.ensure_schema()
    tables = project_tables("HR")
    awkward = 'tab\there, new\nline, back\\slash, "quote", \\N, ;'
    tables.core["answers"].loc[0, "value_text"] = awkward
    tables.core["answers"].loc[1, "value_number"] = 0.1 + 0.2
    seen = _statements(store)

    store.replace_project(tables)

    inserts = [(text, many) for text, many in seen if text.startswith("INSERT INTO answers")]
    if store.engine.dialect.name == "postgresql":
        assert inserts == []
    else:
        assert len(inserts) == 3 and all(many for _, many in inserts)
    assert _answer(store, "HR-101/1", "1")["value_text"] == awkward
    assert _answer(store, "HR-101/1", "2")["value_number"] == 0.30000000000000004
    assert _answer(store, "HR-102/1", "6")["value_text"] is None
    assert _answer(store, "HR-102/1", "8")["value_text"] == ""
    assert store.project_counts("HR")["answers"] == 13
    store.dispose()


def test_a_wide_column_of_an_unsupported_type_is_named_and_nothing_loads(
    warehouse: Warehouse,
) -> None:
    warehouse.replace_project(project_tables("HR"))
    odd = project_tables("HR", export_id="responses-json-HR-3-2")
    odd.wide["form_hr_3"]["scores"] = pd.Series([[1, 2], [3]], dtype="object")

    with pytest.raises(WarehouseError, match=r"wide table form_hr_3 .*column 'scores' has type"):
        warehouse.replace_project(odd)

    exports = {row["export_id"] for row in _rows(warehouse, "responses", "HR")}
    assert exports == {"responses-json-HR-3-1"}
