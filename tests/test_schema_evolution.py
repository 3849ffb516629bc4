"""Wide tables through form changes, on SQLite and PostgreSQL and in the lake: the HR sample
export is loaded, edited the way forms change (a question added, relabelled, removed, retyped)
and loaded again through the normaliser, the lake and the warehouse, as the pipeline does."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from _frames import HR_WIDE, hr_document, hr_form, hr_forms, hr_tables

from proforma_io.errors import WarehouseError
from proforma_io.schema import WIDE_KEY_SCHEMA
from proforma_io.writers.evolution import kind_of
from proforma_io.writers.lake_columns import read_changes, read_registry
from proforma_io.writers.parquet import partition_dir, read_project, write_project
from proforma_io.writers.warehouse import Warehouse, WarehouseLoad
from proforma_io.writers.wide_sql import sql_kind

Document = dict[str, Any]

HR_COLUMNS = [
    ("employee_name", "text"),
    ("work_email", "text"),
    ("start_date", "date"),
    ("department", "text"),
    ("equipment_needed", "text"),
    ("desk_number", "number"),
    ("contract_type", "text"),
    ("line_manager", "text"),
    ("buddies", "text"),
    ("induction_session", "datetime"),
    ("daily_start_time", "time"),
    ("profile_link", "text"),
    ("notes_for_it", "text"),
    ("software_access", "text"),
    ("accessibility_requirements", "text"),
]
KEY_KINDS = [(item.name, kind_of(item.type)) for item in WIDE_KEY_SCHEMA]
RESPONSES = ["HR-101/1", "HR-102/1", "HR-102/3", "HR-97/1"]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


def load(
    warehouse: Warehouse, lake: Path, document: Document, folder: Path, run: str
) -> WarehouseLoad:
    """Normalise the document, write the lake, load the warehouse from the lake."""
    write_project(lake, hr_tables(document, folder, run), run_id=run)
    return warehouse.replace_project(read_project(lake, "HR"), run_id=run)


def columns(warehouse: Warehouse, table: str = HR_WIDE) -> list[tuple[str, str]]:
    """The wide table's columns and kinds in the warehouse."""
    with warehouse.engine.connect() as conn:
        found = sa.inspect(conn).get_columns(table)
    return [(column["name"], sql_kind(column["type"])) for column in found]


def lake_columns(lake: Path, project: str = "HR") -> list[tuple[str, str]]:
    """The wide table's columns and kinds in the project's lake partition, key column first."""
    schema = pq.read_schema(partition_dir(lake, HR_WIDE, project) / "part-0.parquet")
    return [("project_key", "text"), *((item.name, kind_of(item.type)) for item in schema)]


def wide_rows(warehouse: Warehouse, project: str = "HR") -> dict[str, dict[str, Any]]:
    """The project's rows of the wide table by response id."""
    with warehouse.engine.connect() as conn:
        table = sa.Table(HR_WIDE, sa.MetaData(), autoload_with=conn)
        query = sa.select(table).where(table.c.project_key == project)
        rows = [dict(row._mapping) for row in conn.execute(query)]
    return {row["response_id"]: row for row in rows}


def column_values(warehouse: Warehouse, column: str, project: str = "HR") -> dict[str, Any]:
    """One column of the wide table by response id."""
    return {key: row[column] for key, row in wide_rows(warehouse, project).items()}


def lake_rows(lake: Path, project: str = "HR") -> dict[str, dict[str, Any]]:
    """The project's rows of the wide table in the lake, by response id, nulls as None."""
    frame = read_project(lake, project).wide[HR_WIDE].astype(object)
    rows = [
        {k: (None if v is None or v != v else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    return {row["response_id"]: row for row in rows}


def lake_values(lake: Path, column: str, project: str = "HR") -> dict[str, Any]:
    return {key: row[column] for key, row in lake_rows(lake, project).items()}


def changes(warehouse: Warehouse, run: str) -> list[tuple[Any, ...]]:
    """The schema changes a run recorded: column, change, old and new type, project."""
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT column_name, change, old_type, new_type, project_key FROM schema_changes "
                "WHERE run_id = :run ORDER BY column_name"
            ),
            {"run": run},
        )
        return [tuple(row) for row in rows]


def lake_changes(lake: Path, run: str) -> list[tuple[Any, ...]]:
    found = [
        (c.column, c.change, c.old_type, c.new_type, c.project_key)
        for c in read_changes(lake, HR_WIDE)
        if c.run_id == run
    ]
    return sorted(found)


def questions(warehouse: Warehouse) -> dict[str, tuple[Any, ...]]:
    """Question id: (label, question_key, question_type, wide_column) from the questions table."""
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT question_id, label, question_key, question_type, wide_column "
                "FROM questions WHERE project_key = 'HR'"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def assert_lake_agrees(warehouse: Warehouse, lake: Path, run: str) -> None:
    """The lake has the warehouse's columns and kinds, values and recorded changes."""
    assert lake_columns(lake) == columns(warehouse)
    names = [name for name, _ in columns(warehouse)[len(WIDE_KEY_SCHEMA) :]]
    in_lake, in_warehouse = lake_rows(lake), wide_rows(warehouse)
    assert in_lake.keys() == in_warehouse.keys()
    for key, row in in_warehouse.items():
        assert {n: in_lake[key][n] for n in names} == {n: row[n] for n in names}, key
    assert lake_changes(lake, run) == changes(warehouse, run)


def pinned(warehouse: Warehouse, column: str) -> tuple[Any, ...]:
    found = [c for c in warehouse.pinned_columns(HR_WIDE) if c.column == column]
    assert len(found) == 1
    item = found[0]
    return (item.identity, item.kind, item.position, item.first_seen_run, item.last_seen_run)


def test_a_first_load_pins_every_column_and_records_it(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    loaded = load(warehouse, lake, hr_document(), tmp_path, "r1")

    assert columns(warehouse) == [*KEY_KINDS, *HR_COLUMNS]
    assert changes(warehouse, "r1") == sorted(
        (name, "add_column", None, kind, "HR") for name, kind in HR_COLUMNS
    )
    assert len(loaded.schema_changes) == 15
    assert pinned(warehouse, "employee_name") == ("key:employee_name", "text", 1, "r1", "r1")
    assert pinned(warehouse, "desk_number") == ("id:6", "number", 6, "r1", "r1")
    assert column_values(warehouse, "desk_number") == {
        "HR-101/1": 42.0,
        "HR-102/1": -3.0,
        "HR-102/3": None,
        "HR-97/1": 1000000.0,
    }
    assert_lake_agrees(warehouse, lake, "r1")


def test_a_new_question_adds_a_column_with_a_recorded_change(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    document = hr_document()
    newest = hr_form(document, "HR-102", 3)
    newest["design"]["questions"]["16"] = {
        "type": "ts",
        "label": "Laptop model",
        "questionKey": "laptop",
        "validation": {},
    }
    newest["state"]["answers"]["16"] = {"text": "ThinkPad X1"}

    loaded = load(warehouse, lake, document, tmp_path, "r2")

    assert columns(warehouse) == [*KEY_KINDS, *HR_COLUMNS, ("laptop_model", "text")]
    assert column_values(warehouse, "laptop_model") == dict.fromkeys(RESPONSES) | {
        "HR-102/3": "ThinkPad X1"
    }
    assert changes(warehouse, "r2") == [("laptop_model", "add_column", None, "text", "HR")]
    assert [c.column for c in loaded.schema_changes] == ["laptop_model"]
    assert pinned(warehouse, "laptop_model") == ("key:laptop", "text", 16, "r2", "r2")
    assert column_values(warehouse, "employee_name")["HR-97/1"] == "山田 太郎"
    assert_lake_agrees(warehouse, lake, "r2")


def test_a_relabelled_question_keeps_its_column_and_the_new_label(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    document = hr_document()
    hr_form(document, "HR-102", 3)["design"]["questions"]["6"]["label"] = "Desk no. (floor plan)"
    for form in hr_forms(document):
        form["design"]["questions"]["1"]["label"] = "Full legal name"

    load(warehouse, lake, document, tmp_path, "r2")

    assert columns(warehouse) == [*KEY_KINDS, *HR_COLUMNS]
    assert column_values(warehouse, "desk_number")["HR-101/1"] == 42.0
    assert column_values(warehouse, "employee_name")["HR-101/1"] == "Ana Souza"
    labels = questions(warehouse)
    assert labels["6"] == ("Desk no. (floor plan)", None, "no", "desk_number")
    assert labels["1"] == ("Full legal name", "employee_name", "ts", "employee_name")
    lake_questions = read_project(lake, "HR").core["questions"].set_index("question_id")
    assert lake_questions.loc["6", "wide_column"] == "desk_number"
    assert changes(warehouse, "r2") == []
    assert pinned(warehouse, "desk_number") == ("id:6", "number", 6, "r1", "r2")
    assert_lake_agrees(warehouse, lake, "r2")


def remove_question(document: Document, question_id: str) -> Document:
    for form in hr_forms(document):
        form["design"]["questions"].pop(question_id, None)
        form["state"]["answers"].pop(question_id, None)
    return document


def test_a_removed_question_keeps_its_column_with_nulls(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")

    load(warehouse, lake, remove_question(hr_document(), "13"), tmp_path, "r2")

    assert columns(warehouse) == [*KEY_KINDS, *HR_COLUMNS]
    assert column_values(warehouse, "notes_for_it") == dict.fromkeys(RESPONSES)
    assert "13" not in questions(warehouse)
    assert changes(warehouse, "r2") == []
    assert pinned(warehouse, "notes_for_it") == ("id:13", "text", 13, "r1", "r1")
    assert_lake_agrees(warehouse, lake, "r2")

    load(warehouse, lake, hr_document(), tmp_path, "r3")

    assert column_values(warehouse, "notes_for_it")["HR-97/1"] == "Contract ends 2027-04-30"
    assert pinned(warehouse, "notes_for_it") == ("id:13", "text", 13, "r1", "r3")
    assert changes(warehouse, "r3") == []


def test_a_new_question_with_a_removed_ones_label_gets_its_own_column(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    document = remove_question(hr_document(), "13")
    newest = hr_form(document, "HR-102", 3)
    newest["design"]["questions"]["17"] = {"type": "tl", "label": "Notes for IT", "validation": {}}
    newest["state"]["answers"]["17"] = {"text": "Second monitor"}

    load(warehouse, lake, document, tmp_path, "r2")

    assert columns(warehouse)[-2:] == [
        ("accessibility_requirements", "text"),
        ("notes_for_it_2", "text"),
    ]
    assert column_values(warehouse, "notes_for_it_2")["HR-102/3"] == "Second monitor"
    assert column_values(warehouse, "notes_for_it") == dict.fromkeys(RESPONSES)
    assert questions(warehouse)["17"][3] == "notes_for_it_2"
    assert changes(warehouse, "r2") == [("notes_for_it_2", "add_column", None, "text", "HR")]
    assert_lake_agrees(warehouse, lake, "r2")


def retype(document: Document) -> Document:
    """The newest design makes Desk number and Start date free text, answered as such."""
    newest = hr_form(document, "HR-102", 3)
    newest["design"]["questions"]["6"]["type"] = "ts"
    newest["design"]["questions"]["3"]["type"] = "ts"
    newest["design"]["questions"]["10"]["type"] = "ts"
    newest["state"]["answers"].update(
        {"6": {"text": "B-12"}, "3": {"text": "next spring"}, "10": {"text": "tbc"}}
    )
    return document


def test_a_type_change_widens_to_text_keeping_every_value(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")

    load(warehouse, lake, retype(hr_document()), tmp_path, "r2")

    kinds = dict(columns(warehouse))
    assert (kinds["desk_number"], kinds["start_date"], kinds["induction_session"]) == (
        "text",
        "text",
        "text",
    )
    assert [name for name, _ in columns(warehouse)] == [
        *(name for name, _ in KEY_KINDS),
        *(name for name, _ in HR_COLUMNS),
    ]
    assert column_values(warehouse, "desk_number") == {
        "HR-101/1": "42",
        "HR-102/1": "-3",
        "HR-102/3": "B-12",
        "HR-97/1": "1000000",
    }
    assert column_values(warehouse, "start_date") == {
        "HR-101/1": "2026-11-16",
        "HR-102/1": "2026-12-01",
        "HR-102/3": "next spring",
        "HR-97/1": "2026-10-26",
    }
    assert column_values(warehouse, "induction_session") == {
        "HR-101/1": "2026-11-16T09:30:00",
        "HR-102/1": "2026-12-01T13:00:00",
        "HR-102/3": "tbc",
        "HR-97/1": None,
    }
    assert changes(warehouse, "r2") == [
        ("desk_number", "widen_type", "number", "text", "HR"),
        ("induction_session", "widen_type", "datetime", "text", "HR"),
        ("start_date", "widen_type", "date", "text", "HR"),
    ]
    assert_lake_agrees(warehouse, lake, "r2")


def test_a_widened_column_never_narrows_back(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    load(warehouse, lake, retype(hr_document()), tmp_path, "r2")

    load(warehouse, lake, hr_document(), tmp_path, "r3")

    assert dict(columns(warehouse))["desk_number"] == "text"
    assert column_values(warehouse, "desk_number")["HR-101/1"] == "42"
    assert column_values(warehouse, "start_date")["HR-101/1"] == "2026-11-16"
    assert column_values(warehouse, "induction_session")["HR-101/1"] == "2026-11-16T09:30:00"
    assert changes(warehouse, "r3") == []
    assert_lake_agrees(warehouse, lake, "r3")


def test_widening_converts_the_rows_of_other_projects_sharing_the_table(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    for project in ("HR", "HRX"):
        tables = hr_tables(hr_document(), tmp_path, f"{project}-r1", project_key=project)
        write_project(lake, tables, run_id=f"{project}-r1")
        warehouse.replace_project(read_project(lake, project), run_id=f"{project}-r1")

    load(warehouse, lake, retype(hr_document()), tmp_path, "r2")

    converted = {
        "desk_number": {"HR-101/1": "42", "HR-102/1": "-3", "HR-97/1": "1000000"},
        "start_date": {"HR-101/1": "2026-11-16", "HR-102/1": "2026-12-01"},
        "induction_session": {"HR-101/1": "2026-11-16T09:30:00"},
    }
    for column, expected in converted.items():
        in_warehouse = column_values(warehouse, column, project="HRX")
        in_lake = lake_values(lake, column, project="HRX")
        assert {k: in_warehouse[k] for k in expected} == expected, column
        assert {k: in_lake[k] for k in expected} == expected, column
    assert column_values(warehouse, "daily_start_time", project="HRX")["HR-101/1"] == (
        datetime(2026, 1, 1, 8, 45).time()
    )
    assert column_values(warehouse, "start_date", project="HR")["HR-101/1"] == "2026-11-16"


def test_labels_of_any_shape_give_safe_quoted_columns(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    document = hr_document()
    labels = {
        "1": 'Name "quoted"; DROP TABLE responses; --',
        "2": "Café ünïcode 山田",
        "3": "L" * 200,
        "4": "Same label",
        "5": "Same label",
        "6": "Status",
    }
    for form in hr_forms(document):
        for qid, label in labels.items():
            form["design"]["questions"][qid]["label"] = label
            form["design"]["questions"][qid].pop("questionKey", None)

    load(warehouse, lake, document, tmp_path, "r1")

    names = [name for name, _ in columns(warehouse)][
        len(WIDE_KEY_SCHEMA) : len(WIDE_KEY_SCHEMA) + 6
    ]
    assert names == [
        "name_quoted_drop_table_responses",
        "cafe_unicode",
        "l" * 60,
        "same_label",
        "same_label_2",
        "status_2",
    ]
    assert column_values(warehouse, "name_quoted_drop_table_responses")["HR-97/1"] == "山田 太郎"
    assert column_values(warehouse, "l" * 60)["HR-101/1"] == date(2026, 11, 16)
    assert column_values(warehouse, "status_2")["HR-101/1"] == 42.0
    assert warehouse.project_counts("HR")["responses"] == 4
    assert_lake_agrees(warehouse, lake, "r1")


def test_the_lake_registry_lists_the_pinned_columns(lake: Path, tmp_path: Path) -> None:
    write_project(lake, hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    write_project(lake, hr_tables(retype(hr_document()), tmp_path, "r2"), run_id="r2")

    registry = {
        c.column: (c.identity, c.kind, c.first_seen_run) for c in read_registry(lake, HR_WIDE)
    }

    assert list(registry) == [name for name, _ in HR_COLUMNS]
    assert registry["desk_number"] == ("id:6", "text", "r1")
    assert registry["employee_name"] == ("key:employee_name", "text", "r1")
    assert [(c.column, c.run_id) for c in read_changes(lake, HR_WIDE)][-3:] == [
        ("start_date", "r2"),
        ("desk_number", "r2"),
        ("induction_session", "r2"),
    ]


def test_views_give_current_labels_and_the_column_of_each_question(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    document = remove_question(hr_document(), "13")
    hr_form(document, "HR-102", 3)["design"]["questions"]["6"]["label"] = "Desk no. (floor plan)"

    load(warehouse, lake, document, tmp_path, "r2")

    with warehouse.engine.connect() as conn:
        answered = conn.execute(
            sa.text(
                "SELECT identity, question_label, wide_column, responses, answer_rows "
                "FROM v_question_answers WHERE identity IN ('id:6', 'key:employee_name', 'id:5') "
                "ORDER BY identity"
            )
        ).all()
        placed = conn.execute(
            sa.text(
                "SELECT column_name, column_type, question_label FROM v_wide_columns "
                "WHERE column_name IN ('desk_number', 'notes_for_it') ORDER BY position"
            )
        ).all()
        logged = conn.execute(
            sa.text("SELECT template_ids, schema_changes FROM v_load_log ORDER BY run_id")
        ).all()
    assert [tuple(row) for row in answered] == [
        ("id:5", "Equipment needed", "equipment_needed", 3, 5),
        ("id:6", "Desk no. (floor plan)", "desk_number", 3, 3),
        ("key:employee_name", "Employee name", "employee_name", 4, 4),
    ]
    assert [tuple(row) for row in placed] == [
        ("desk_number", "number", "Desk no. (floor plan)"),
        ("notes_for_it", "text", None),
    ]
    assert [tuple(row) for row in logged] == [("[3]", 15), ("[3]", 0)]


def test_a_dashboard_view_on_a_wide_table_and_widening(
    warehouse: Warehouse, lake: Path, tmp_path: Path
) -> None:
    load(warehouse, lake, hr_document(), tmp_path, "r1")
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE VIEW dash_desks AS SELECT response_id, desk_number FROM {HR_WIDE}"
        )

    if warehouse.engine.dialect.name == "postgresql":
        # PostgreSQL will not retype a column a view uses: the load is refused whole.
        with pytest.raises(WarehouseError, match=r"project HR: .*view"):
            load(warehouse, lake, retype(hr_document()), tmp_path, "r2")
        assert column_values(warehouse, "desk_number")["HR-101/1"] == 42.0
        return
    load(warehouse, lake, retype(hr_document()), tmp_path, "r2")

    with warehouse.engine.connect() as conn:
        desks = conn.exec_driver_sql("SELECT * FROM dash_desks ORDER BY response_id").all()
    assert [tuple(row) for row in desks] == [
        ("HR-101/1", "42"),
        ("HR-102/1", "-3"),
        ("HR-102/3", "B-12"),
        ("HR-97/1", "1000000"),
    ]
