"""A lake named by a URI keeps each question's pinned column across writes, like a folder."""

from __future__ import annotations

from pathlib import Path

from _frames import HR_WIDE, hr_document, hr_forms, hr_tables

from proforma_io.load import lake_wide_columns, write_lake
from proforma_io.writers.lake_columns import read_changes


def test_a_relabelled_question_keeps_its_column_in_a_uri_lake(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = root.as_uri()
    write_lake(lake, hr_tables(hr_document(), tmp_path, "r1"), run_id="r1")
    document = hr_document()
    for form in hr_forms(document):
        form["design"]["questions"]["1"]["label"] = "Full legal name"

    write_lake(lake, hr_tables(document, tmp_path, "r2"), run_id="r2")

    columns = lake_wide_columns(lake, "HR")[HR_WIDE]
    assert "employee_name" in columns
    assert "full_legal_name" not in columns
    assert [c.run_id for c in read_changes(root, HR_WIDE) if c.column == "employee_name"] == ["r1"]
