"""The Parquet lake writer: Hive layout, types read back by pyarrow and DuckDB, atomic swaps, and
wide columns pinned through form changes."""

from __future__ import annotations

import hashlib
import shutil
import threading
from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from _frames import (
    HOSTILE_COLUMN,
    HR_WIDE,
    hr_document,
    hr_form,
    hr_forms,
    hr_tables,
    project_tables,
    wide_table_name,
)

from proforma_io.errors import LakeError
from proforma_io.schema import ANSWERS_SCHEMA, CORE_TABLES, RESPONSES_SCHEMA
from proforma_io.writers.lake_columns import (
    WIDE_DIR,
    read_changes,
    read_registry,
    registry_path,
)
from proforma_io.writers.parquet import (
    MANIFESTS_DIR,
    STAGING_DIR,
    partition_dir,
    read_project,
    write_project,
)


def _fingerprints(lake: Path) -> dict[str, str]:
    """Every data file under the lake's table folders with the sha256 of its bytes."""
    return {
        str(path.relative_to(lake)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(lake.rglob("*.parquet"))
    }


def test_each_table_lands_in_its_hive_partition_without_the_key_column(tmp_path: Path) -> None:
    tables = project_tables("HR")

    written = write_project(tmp_path, tables)

    expected = [*CORE_TABLES, "quarantine", "form_hr_3"]
    assert [item.table for item in written.files] == expected
    for item in written.files:
        assert item.path == tmp_path / item.table / "project_key=HR" / "part-0.parquet"
        assert item.bytes == item.path.stat().st_size > 0
        assert "project_key" not in pq.read_schema(item.path).names
    assert written.rows == {
        "responses": 2,
        "answers": 13,
        "jira_fields": 3,
        "questions": 8,
        "quarantine": 0,
        "form_hr_3": 2,
    }
    assert written.manifest == tmp_path / MANIFESTS_DIR / "HR.json"
    assert not any((tmp_path / STAGING_DIR).iterdir())


def test_pyarrow_dataset_reads_project_key_and_canonical_types(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    write_project(tmp_path, project_tables("OPS", template_id=7))

    answers = ds.dataset(tmp_path / "answers", format="parquet", partitioning="hive").to_table()
    responses = ds.dataset(tmp_path / "responses", partitioning="hive").to_table()

    for table, schema in ((answers, ANSWERS_SCHEMA), (responses, RESPONSES_SCHEMA)):
        for field in schema:
            assert table.schema.field(field.name).type == field.type, field.name
    assert sorted(set(answers.column("project_key").to_pylist())) == ["HR", "OPS"]
    hr = answers.filter(ds.field("project_key") == "HR").to_pylist()
    first = [row for row in hr if row["response_id"] == "HR-101/1" and row["value_index"] == 0]
    by_question = {row["question_id"]: row for row in first}
    assert by_question["3"]["value_date"] == date(2026, 11, 16)
    assert by_question["4"]["value_time"] == time(8, 45)
    assert by_question["5"]["value_datetime"] == datetime(2026, 11, 16, 9, 30)
    assert by_question["2"]["value_number"] == 42.0
    updated = responses.sort_by("response_id").column("updated_at").to_pylist()
    assert updated[0] == datetime(2026, 11, 16, 10, 0, 5, 123456, tzinfo=UTC)


def test_duckdb_reads_wide_table_with_project_key_and_types(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    glob = str(tmp_path / wide_table_name("HR") / "project_key=*" / "*.parquet")

    with duckdb.connect() as con:
        relation = con.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
        columns = relation.columns
        types = dict(zip(columns, map(str, relation.types), strict=True))
        rows = relation.order("response_id").fetchall()

    assert types["project_key"] == "VARCHAR"
    assert types["template_id"] == "BIGINT"
    assert types["department"] == "VARCHAR"
    assert types["desk_number"] == "DOUBLE"
    assert types["start_date"] == "DATE"
    assert types["daily_start_time"] == "TIME"
    assert types["induction_session"] == "TIMESTAMP"
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["headcount"] == "BIGINT"
    assert types[HOSTILE_COLUMN] == "VARCHAR"
    first = dict(zip(columns, rows[0], strict=True))
    assert first["project_key"] == "HR"
    assert first["start_date"] == date(2026, 11, 16)
    assert first["daily_start_time"] == time(8, 45)
    assert first["induction_session"] == datetime(2026, 11, 16, 9, 30)
    assert first["headcount"] == 3
    assert first[HOSTILE_COLUMN] == "Line one\nline two"
    second = dict(zip(columns, rows[1], strict=True))
    assert second["headcount"] is None and second["start_date"] is None


def test_duckdb_reads_core_tables_of_every_project(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    write_project(tmp_path, project_tables("OPS", template_id=7))
    glob = str(tmp_path / "answers" / "*" / "*.parquet")

    with duckdb.connect() as con:
        counts = con.sql(
            f"SELECT project_key, count(*), max(value_date) "
            f"FROM read_parquet('{glob}', hive_partitioning = true) "
            "GROUP BY project_key ORDER BY project_key"
        ).fetchall()

    assert counts == [("HR", 13, date(2026, 11, 16)), ("OPS", 13, date(2026, 11, 16))]


def test_read_project_gives_back_the_written_frames(tmp_path: Path) -> None:
    tables = project_tables("HR")
    write_project(tmp_path, tables)

    read = read_project(tmp_path, "HR")

    assert read.project_key == "HR"
    assert read.export_ids == ["responses-json-HR-3-1"]
    for name in CORE_TABLES:
        pd.testing.assert_frame_equal(read.core[name], tables.core[name], check_dtype=True)
    assert list(read.wide) == ["form_hr_3"]
    pd.testing.assert_frame_equal(read.wide["form_hr_3"], tables.wide["form_hr_3"])


def test_rewriting_a_project_replaces_only_its_partitions(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    write_project(tmp_path, project_tables("OPS", template_id=7))
    ops_before = {k: v for k, v in _fingerprints(tmp_path).items() if "OPS" in k}
    smaller = project_tables("HR", export_id="responses-json-HR-3-2")
    smaller.core["answers"] = smaller.core["answers"].head(4)

    write_project(tmp_path, smaller)

    ops_after = {k: v for k, v in _fingerprints(tmp_path).items() if "OPS" in k}
    assert ops_after == ops_before
    answers = pq.read_table(partition_dir(tmp_path, "answers", "HR") / "part-0.parquet")
    assert answers.num_rows == 4
    assert read_project(tmp_path, "HR").export_ids == ["responses-json-HR-3-2"]
    assert sorted(p.name for p in (tmp_path / "answers").iterdir()) == [
        "project_key=HR",
        "project_key=OPS",
    ]


def test_failed_write_leaves_every_old_partition_intact(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    before = _fingerprints(tmp_path)
    manifest_before = (tmp_path / MANIFESTS_DIR / "HR.json").read_text()
    broken = project_tables("HR", export_id="responses-json-HR-3-2")
    wide = broken.wide["form_hr_3"]
    wide["desk_number"] = pd.Series([1.5, {"not": "a number"}], dtype="object")

    with pytest.raises(LakeError, match=r"project HR: table form_hr_3 could not be converted"):
        write_project(tmp_path, broken)

    assert _fingerprints(tmp_path) == before
    assert (tmp_path / MANIFESTS_DIR / "HR.json").read_text() == manifest_before
    assert not any((tmp_path / STAGING_DIR).iterdir())
    assert read_project(tmp_path, "HR").export_ids == ["responses-json-HR-3-1"]


def test_a_core_frame_that_cannot_take_its_schema_is_refused(tmp_path: Path) -> None:
    broken = project_tables("HR")
    broken.core["answers"]["value_number"] = pd.Series(["forty-two"] * 13, dtype="str")

    with pytest.raises(LakeError, match="table answers could not be converted"):
        write_project(tmp_path, broken)

    assert _fingerprints(tmp_path) == {}


def test_rows_of_another_project_are_refused(tmp_path: Path) -> None:
    mixed = project_tables("HR")
    mixed.core["jira_fields"].loc[0, "project_key"] = "OPS"

    with pytest.raises(LakeError, match=r"expected only project_key HR, found \['OPS'\]"):
        write_project(tmp_path, mixed)


def test_a_wide_table_the_project_dropped_stays_but_is_not_read_back(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    renamed = project_tables("HR")
    renamed.wide = {"form_hr_5": renamed.wide.pop("form_hr_3")}

    write_project(tmp_path, renamed)

    assert (partition_dir(tmp_path, "form_hr_3", "HR") / "part-0.parquet").exists()
    assert list(read_project(tmp_path, "HR").wide) == ["form_hr_5"]


def test_unsafe_table_names_never_reach_the_filesystem(tmp_path: Path) -> None:
    tables = project_tables("HR")
    tables.wide = {"../escape": tables.wide["form_hr_3"]}

    with pytest.raises(LakeError, match=r"wide table name '../escape' cannot name a lake folder"):
        write_project(tmp_path / "lake", tables)

    assert not (tmp_path / "escape").exists()


def test_reading_a_project_never_written_names_the_manifest(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))

    with pytest.raises(LakeError, match=r"project OPS: the lake at .* has no manifest"):
        read_project(tmp_path, "OPS")


def test_a_column_added_to_the_schema_later_reads_as_nulls(tmp_path: Path) -> None:
    write_project(tmp_path, project_tables("HR"))
    path = partition_dir(tmp_path, "questions", "HR") / "part-0.parquet"
    old = pq.read_table(path)
    pq.write_table(old.drop_columns(["wide_column"]), path)

    questions = read_project(tmp_path, "HR").core["questions"]

    assert list(questions.columns)[-2:] == ["wide_column", "export_id"]
    assert questions["wide_column"].isna().all()
    assert pa.Table.from_pandas(questions).num_rows == 8


def test_a_relabelled_question_keeps_its_lake_column(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_project(lake, hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    document = hr_document()
    hr_form(document, "HR-102", 3)["design"]["questions"]["6"]["label"] = "Desk no."

    written = write_project(lake, hr_tables(document, tmp_path, "r2"), run_id="r2")

    read = read_project(lake, "HR")
    assert "desk_no" not in read.wide[HR_WIDE].columns
    assert read.wide[HR_WIDE]["desk_number"].tolist()[:2] == [42.0, -3.0]
    desk = read.core["questions"].set_index("question_id").loc["6"]
    assert (desk["label"], desk["wide_column"]) == ("Desk no.", "desk_number")
    assert written.schema_changes == []
    assert registry_path(lake, HR_WIDE).exists()


def test_a_lake_written_before_pinning_adopts_its_columns(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_project(lake, hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    shutil.rmtree(lake / WIDE_DIR)
    document = hr_document()
    for form in hr_forms(document):
        form["design"]["questions"]["1"]["label"] = "Full legal name"

    written = write_project(lake, hr_tables(document, tmp_path, "r2"), run_id="r2")

    changes = [(c.column, c.identity, c.change) for c in written.schema_changes]
    assert changes[0] == ("employee_name", "key:employee_name", "adopt_column")
    assert len(changes) == 15 and {c for _, _, c in changes} == {"adopt_column"}
    wide = read_project(lake, "HR").wide[HR_WIDE]
    assert wide["employee_name"].tolist()[0] == "Ana Souza"
    assert "full_legal_name" not in wide.columns


def test_two_writers_of_one_wide_table_take_turns(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    tables = {project: hr_tables(hr_document(), tmp_path, project, project) for project in "AB"}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(project: str) -> None:
        try:
            start.wait(10)
            write_project(lake, tables[project], run_id=project)
        except BaseException as exc:  # the test asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(project,)) for project in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    changes = read_changes(lake, HR_WIDE)
    assert len(changes) == 15 and len({c.run_id for c in changes}) == 1
    assert len(read_registry(lake, HR_WIDE)) == 15
    for project in "AB":
        assert len(read_project(lake, project).wide[HR_WIDE]) == 4


def test_an_unreadable_registry_names_its_file(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_project(lake, hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    registry_path(lake, HR_WIDE).write_text("{not json", encoding="utf-8")

    with pytest.raises(LakeError, match=r"wide table form_hr_3: registry .*form_hr_3\.json"):
        write_project(lake, hr_tables(hr_document(), tmp_path, "r2"), run_id="r2")
