"""The normaliser against every value the field samples' README lists, and its conventions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from proforma_io import schema
from proforma_io.forms import Question
from proforma_io.normalise import normalise_export
from proforma_io.readers import read_json_export
from proforma_io.tables import NormalisedExport, to_arrow

SAMPLES = Path(__file__).parent / "data" / "samples"
HR_JSON = SAMPLES / "hr-onboarding.responses.json"
HR_XLSX = SAMPLES / "hr-onboarding.responses.xlsx"
FIELDS = ["summary", "priority", "customfield_10012"]
LOADED_AT = dt.datetime(2026, 11, 6, 3, 0, tzinfo=dt.UTC)
UTC = dt.UTC

# The same four HR responses as each source names them; the sheet has no form id.
HR_IDS = {
    "json": {
        "HR-101": "HR-101/1",
        "HR-102#1": "HR-102/1",
        "HR-102#3": "HR-102/3",
        "HR-97": "HR-97/1",
    },
    "xlsx": {
        "HR-101": "HR-101/row1",
        "HR-102#1": "HR-102/row1",
        "HR-102#3": "HR-102/row2",
        "HR-97": "HR-97/row1",
    },
}
HR_IDS["xlsx+design"] = HR_IDS["xlsx"]


def hr_design() -> tuple[Question, ...]:
    responses = read_json_export(HR_JSON).responses
    return max(responses, key=lambda r: r.updated or dt.datetime.min.replace(tzinfo=UTC)).questions


@pytest.fixture(scope="module")
def exports() -> dict[str, NormalisedExport]:
    common = {"loaded_at": LOADED_AT}
    hr = {"project_key": "HR", "template_id": 3, "fields": FIELDS, **common}
    return {
        "json": normalise_export(HR_JSON, export_id="responses-json-HR-1", fmt="json", **hr),
        "xlsx": normalise_export(HR_XLSX, export_id="responses-xlsx-HR-1", fmt="xlsx", **hr),
        "xlsx+design": normalise_export(
            HR_XLSX, export_id="responses-xlsx-HR-2", fmt="xlsx", design=hr_design(), **hr
        ),
        "ops": normalise_export(
            SAMPLES / "ops-legacy-v1.responses.json",
            project_key="OPS",
            template_id=7,
            export_id="responses-json-OPS-1",
            fmt="json",
            **common,
        ),
        "itsd": normalise_export(
            SAMPLES / "itsd-newer-shapes.responses.json",
            project_key="ITSD",
            template_id=11,
            export_id="responses-json-ITSD-1",
            fmt="json",
            **common,
        ),
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with missing values as None."""
    return [
        {k: (None if v is pd.NA or v is pd.NaT or v is None or v != v else v) for k, v in r.items()}
        for r in frame.astype(object).to_dict("records")
    ]


def answer(export: NormalisedExport, response_id: str, question: str) -> list[dict[str, Any]]:
    """The answer rows of one question (by label, or key when the label is blank)."""
    frame = export.core[schema.ANSWERS]
    named = frame["question_label"].fillna("").eq(question) | frame["question_key"].eq(question)
    rows = frame[frame["response_id"].eq(response_id) & named.fillna(False)]
    return records(rows.sort_values("value_index"))


def values(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(row[c] for c in columns) for row in rows]


def wide_row(export: NormalisedExport, response_id: str) -> dict[str, Any]:
    return records(export.wide[export.wide["response_id"].eq(response_id)])[0]


HR_SOURCES = ["json", "xlsx", "xlsx+design"]


# --- responses ----------------------------------------------------------------------------------


def test_hr_json_has_four_responses_with_status_and_visibility(exports: dict) -> None:
    rows = records(exports["json"].core[schema.RESPONSES])

    assert values(rows, "response_id", "form_id", "status", "visibility") == [
        ("HR-101/1", 1, "submitted", "external"),
        ("HR-102/1", 1, "locked", "internal"),
        ("HR-102/3", 3, "open", "internal"),
        ("HR-97/1", 1, "submitted", "external"),
    ]
    assert {(r["form_model"], r["source_format"], r["template_id"]) for r in rows} == {
        ("v2", "json", 3)
    }
    assert rows[3]["updated_at"] == pd.Timestamp("2026-10-20 11:30:00.5", tz="UTC")
    assert {r["loaded_at"] for r in rows} == {pd.Timestamp(LOADED_AT)}
    assert {r["issue_id"] for r in rows} == {"10101", "10102", "10097"}


@pytest.mark.parametrize("source", ["xlsx", "xlsx+design"])
def test_hr_xlsx_rows_are_told_apart_by_order(exports: dict, source: str) -> None:
    rows = records(exports[source].core[schema.RESPONSES])

    assert values(rows, "response_id", "status", "visibility", "form_id", "form_model") == [
        ("HR-101/row1", "submitted", None, None, "xlsx"),
        ("HR-102/row1", "locked", None, None, "xlsx"),
        ("HR-102/row2", "open", None, None, "xlsx"),
        ("HR-97/row1", "submitted", None, None, "xlsx"),
    ]
    assert rows[1]["updated_at"] == pd.Timestamp("2026-11-03 16:01:07", tz="UTC")
    assert {r["source_format"] for r in rows} == {"xlsx"}


@pytest.mark.parametrize("source", ["json", "xlsx", "xlsx+design", "ops", "itsd"])
def test_core_frames_have_the_canonical_columns_and_convert_to_arrow(
    exports: dict, source: str
) -> None:
    for name, frame in exports[source].core.items():
        assert list(frame.columns) == schema.SCHEMAS[name].names
        assert to_arrow(name, frame).schema.equals(schema.SCHEMAS[name])
    assert exports[source].core[schema.ANSWERS]["form_id"].dtype == "Int64"


# --- HR-101 form 1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr101_department_is_engineering(exports: dict, source: str) -> None:
    rows = answer(exports[source], HR_IDS[source]["HR-101"], "Department")

    if source == "xlsx":
        assert values(rows, "value_text", "choice_id") == [("Engineering", None)]
    else:
        assert values(rows, "choice_id", "choice_label", "value_text") == [
            ("1", "Engineering", None)
        ]


@pytest.mark.parametrize("source", ["json", "xlsx+design"])
def test_hr101_equipment_rows_include_the_other_choice(exports: dict, source: str) -> None:
    rows = answer(exports[source], HR_IDS[source]["HR-101"], "Equipment needed")

    assert values(rows, "value_index", "choice_id", "choice_label", "value_text") == [
        (0, "1", "Laptop", None),
        (1, "2", "Monitor", None),
        (2, "0", "Other", "Standing desk"),
    ]
    wide = wide_row(exports[source], HR_IDS[source]["HR-101"])
    assert wide["equipment_needed"] == "Laptop; Monitor; Standing desk"


def test_hr101_equipment_without_design_is_the_cell_text(exports: dict) -> None:
    rows = answer(exports["xlsx"], "HR-101/row1", "Equipment needed")

    assert values(rows, "value_text", "choice_id") == [("Laptop, Monitor, Standing desk", None)]


@pytest.mark.parametrize("source", HR_SOURCES)
def test_desk_numbers_are_numbers_with_their_text(exports: dict, source: str) -> None:
    ids = HR_IDS[source]

    found = [
        values(answer(exports[source], ids[r], "Desk number"), "value_number", "value_text")
        for r in ("HR-101", "HR-102#1", "HR-97")
    ]

    assert found == [[(42.0, "42")], [(-3.0, "-3")], [(1000000.0, "1000000")]]


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr101_contract_type_is_permanent(exports: dict, source: str) -> None:
    rows = answer(exports[source], HR_IDS[source]["HR-101"], "Contract type")

    shown = rows[0]["value_text"] if source == "xlsx" else rows[0]["choice_label"]
    assert (len(rows), shown) == (1, "Permanent")


def test_hr101_users_from_json_carry_ids_and_names(exports: dict) -> None:
    manager = answer(exports["json"], "HR-101/1", "Line manager")
    buddies = answer(exports["json"], "HR-101/1", "Buddies")

    assert values(manager, "user_id", "user_name") == [("JIRAUSER10100", "Priya Raman")]
    assert values(buddies, "value_index", "user_id", "user_name") == [
        (0, "JIRAUSER10230", "Tomás Ibáñez"),
        (1, "JIRAUSER10231", "Wei Chen"),
    ]


def test_hr101_users_from_xlsx_with_design_carry_names_only(exports: dict) -> None:
    manager = answer(exports["xlsx+design"], "HR-101/row1", "Line manager")
    buddies = answer(exports["xlsx+design"], "HR-101/row1", "Buddies")

    assert values(manager, "user_id", "user_name") == [(None, "Priya Raman")]
    assert values(buddies, "user_name") == [("Tomás Ibáñez",), ("Wei Chen",)]
    assert wide_row(exports["xlsx+design"], "HR-101/row1")["buddies"] == "Tomás Ibáñez; Wei Chen"


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr101_dates_and_times(exports: dict, source: str) -> None:
    response_id = HR_IDS[source]["HR-101"]

    induction = answer(exports[source], response_id, "Induction session")
    start_time = answer(exports[source], response_id, "Daily start time")
    start_date = answer(exports[source], response_id, "Start date")

    assert values(induction, "value_datetime", "value_date", "value_text") == [
        (pd.Timestamp("2026-11-16 09:30"), None, None)
    ]
    assert induction[0]["value_datetime"].tzinfo is None
    assert values(start_time, "value_time") == [(dt.time(8, 45),)]
    assert values(start_date, "value_date") == [(dt.date(2026, 11, 16),)]


@pytest.mark.parametrize("source", ["json", "xlsx+design"])
def test_hr101_software_access_label_with_a_comma_is_one_choice(exports: dict, source: str) -> None:
    rows = answer(exports[source], HR_IDS[source]["HR-101"], "Software access")

    assert values(rows, "choice_id", "choice_label") == [
        ("1", "Jira"),
        ("3", "Salesforce, read-only"),
    ]


def test_hr101_software_access_without_design_is_the_cell_text(exports: dict) -> None:
    rows = answer(exports["xlsx"], "HR-101/row1", "Software access")

    assert values(rows, "value_text") == [("Jira, Salesforce, read-only",)]


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr101_notes_keep_the_line_break(exports: dict, source: str) -> None:
    rows = answer(exports[source], HR_IDS[source]["HR-101"], "Notes for IT")

    assert values(rows, "value_text") == [("Needs VPN token.\nPrefers Linux.",)]


def test_hr_jira_fields_from_json(exports: dict) -> None:
    rows = records(exports["json"].core[schema.JIRA_FIELDS])
    by_field = {(r["issue_key"], r["field_id"]): r for r in rows}

    assert len(rows) == 9
    assert by_field["HR-101", "customfield_10012"]["value_number"] == 2.5
    assert by_field["HR-101", "customfield_10012"]["value_text"] == "2.5"
    assert by_field["HR-101", "priority"]["value_text"] == "High"
    assert json.loads(by_field["HR-101", "priority"]["value_json"]) == {"name": "High"}
    assert by_field["HR-101", "summary"]["value_text"] == "Onboard Ana Souza"
    assert by_field["HR-102", "customfield_10012"]["value_number"] is None
    assert by_field["HR-97", "customfield_10012"]["value_number"] == 1.0


@pytest.mark.parametrize("source", ["xlsx", "xlsx+design"])
def test_hr_jira_fields_from_xlsx_carry_header_names(exports: dict, source: str) -> None:
    rows = records(exports[source].core[schema.JIRA_FIELDS])
    by_field = {(r["issue_key"], r["field_name"]): r for r in rows}

    assert len(rows) == 9
    assert by_field["HR-101", "Story Points"]["value_number"] == 2.5
    assert by_field["HR-101", "Story Points"]["field_id"] == "customfield_10012"
    assert by_field["HR-101", "Priority"]["value_text"] == "High"
    assert by_field["HR-102", "Priority"]["value_text"] == "Medium"


# --- HR-102 and HR-97 ---------------------------------------------------------------------------


def test_hr102_equipment_answered_with_no_choice_is_one_null_row(exports: dict) -> None:
    rows = answer(exports["json"], "HR-102/1", "Equipment needed")

    assert len(rows) == 1
    value_columns = schema.ANSWERS_SCHEMA.names[10:19]
    assert [rows[0][c] for c in value_columns] == [None] * len(value_columns)
    assert rows[0]["value_index"] == 0


def test_hr102_notes_for_it_is_an_empty_string(exports: dict) -> None:
    rows = answer(exports["json"], "HR-102/1", "Notes for IT")

    assert values(rows, "value_text") == [("",)]
    assert wide_row(exports["json"], "HR-102/1")["notes_for_it"] == ""


@pytest.mark.parametrize("source", ["xlsx", "xlsx+design"])
def test_hr102_empty_cells_have_no_rows(exports: dict, source: str) -> None:
    assert answer(exports[source], "HR-102/row1", "Equipment needed") == []
    assert answer(exports[source], "HR-102/row1", "Notes for IT") == []


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr102_form3_only_has_employee_name(exports: dict, source: str) -> None:
    frame = exports[source].core[schema.ANSWERS]
    rows = records(frame[frame["response_id"].eq(HR_IDS[source]["HR-102#3"])])

    assert values(rows, "question_label", "value_text") == [("Employee name", "Jonas Müller")]


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr97_has_no_rows_for_questions_its_design_lacks(exports: dict, source: str) -> None:
    response_id = HR_IDS[source]["HR-97"]

    assert answer(exports[source], response_id, "Software access") == []
    assert answer(exports[source], response_id, "Accessibility requirements") == []
    assert values(answer(exports[source], response_id, "Employee name"), "value_text") == [
        ("山田 太郎",)
    ]
    wide = wide_row(exports[source], response_id)
    assert (wide["software_access"], wide["accessibility_requirements"]) == (None, None)
    assert wide["employee_name"] == "山田 太郎"


# --- wide table and questions (HR) --------------------------------------------------------------

HR_COLUMNS = [
    "employee_name",
    "work_email",
    "start_date",
    "department",
    "equipment_needed",
    "desk_number",
    "contract_type",
    "line_manager",
    "buddies",
    "induction_session",
    "daily_start_time",
    "profile_link",
    "notes_for_it",
    "software_access",
    "accessibility_requirements",
]


@pytest.mark.parametrize("source", HR_SOURCES)
def test_hr_wide_table_columns_and_types(exports: dict, source: str) -> None:
    wide = exports[source].wide

    assert exports[source].wide_table == "form_hr_3"
    assert list(wide.columns) == [*schema.WIDE_KEY_SCHEMA.names, *HR_COLUMNS]
    assert str(wide["desk_number"].dtype) == "Float64"
    assert str(wide["start_date"].dtype) == "date32[day][pyarrow]"
    assert str(wide["induction_session"].dtype) == "datetime64[us]"
    assert str(wide["daily_start_time"].dtype) == "time64[us][pyarrow]"
    assert str(wide["updated_at"].dtype) == "datetime64[us, UTC]"
    assert str(wide["form_id"].dtype) == "Int64"
    row = wide_row(exports[source], HR_IDS[source]["HR-101"])
    assert (row["desk_number"], row["start_date"]) == (42.0, dt.date(2026, 11, 16))
    assert row["induction_session"] == pd.Timestamp("2026-11-16 09:30")
    assert row["daily_start_time"] == dt.time(8, 45)
    assert row["project_key"] == "HR" and row["template_id"] == 3


def test_hr_wide_table_choice_columns_join_labels(exports: dict) -> None:
    row = wide_row(exports["json"], "HR-101/1")

    assert row["department"] == "Engineering"
    assert row["software_access"] == "Jira; Salesforce, read-only"
    assert row["line_manager"] == "Priya Raman"
    assert row["buddies"] == "Tomás Ibáñez; Wei Chen"
    assert wide_row(exports["json"], "HR-102/1")["equipment_needed"] is None


def test_hr_questions_table_places_each_question(exports: dict) -> None:
    rows = records(exports["json"].core[schema.QUESTIONS])

    assert [r["position"] for r in rows] == list(range(1, 16))
    assert [r["wide_column"] for r in rows] == HR_COLUMNS
    assert {r["wide_table"] for r in rows} == {"form_hr_3"}
    assert rows[0]["question_key"] == "employee_name"
    assert rows[14]["jira_field"] == "customfield_10040"
    assert rows[13]["question_type"] == "cl"


def test_xlsx_without_design_records_inferred_types(exports: dict) -> None:
    rows = records(exports["xlsx"].core[schema.QUESTIONS])

    assert [r["question_type"] for r in rows] == [
        *["ts", "ts", "da", "ts", "ts", "no", "ts", "ts", "ts"],
        *["dt", "ti", "ts", "ts", "ts", "ts"],
    ]


# --- OPS (legacy) -------------------------------------------------------------------------------


def test_ops_legacy_values_and_jira_links(exports: dict) -> None:
    ops = exports["ops"]
    responses = records(ops.core[schema.RESPONSES])
    questions = records(ops.core[schema.QUESTIONS])

    assert values(responses, "response_id", "status", "visibility", "form_model") == [
        ("OPS-12/1", "submitted", "internal", "v1"),
        ("OPS-15/2", "open", "external", "v1"),
    ]
    assert responses[1]["updated_at"] is None
    assert values(answer(ops, "OPS-12/1", "System"), "value_text") == [("Billing",)]
    assert values(questions, "label", "jira_field", "wide_column") == [
        ("System", None, "system"),
        ("Business reason", "summary", "business_reason"),
        ("Anything else?", "description", "anything_else"),
    ]
    assert values(answer(ops, "OPS-15/2", "Anything else?"), "value_text") == [("",)]


def test_ops_heading_and_info_text_carry_no_rows(exports: dict) -> None:
    labels = set(exports["ops"].core[schema.ANSWERS]["question_label"])

    assert labels == {"System", "Business reason", "Anything else?"}
    assert len(exports["ops"].core[schema.ANSWERS]) == 6


# --- ITSD (newer shapes) ------------------------------------------------------------------------


def test_itsd_rich_text_numbers_choice_user_and_key(exports: dict) -> None:
    itsd = exports["itsd"]

    problem = answer(itsd, "ITSD-4402/1", "Describe the problem")
    assert values(problem, "value_text") == [("Printer on floor 3 jams\nsince Monday.",)]
    assert values(answer(itsd, "ITSD-4402/1", "Affected users"), "value_number", "value_text") == [
        (20.0, "20")
    ]
    assert values(answer(itsd, "ITSD-4403/1", "Affected users"), "value_number", "value_text") == [
        (3.5, "3.5")
    ]
    assert values(answer(itsd, "ITSD-4402/1", "Severity"), "choice_label", "value_text") == [
        ("Sev 1", None)
    ]
    assert values(answer(itsd, "ITSD-4402/1", "Reporter"), "user_id", "user_name") == [
        ("712020:73aa41f2-1c37-4e5b-9d27-2b3c4d5e6f70", None)
    ]
    asset = answer(itsd, "ITSD-4402/1", "asset_tag")
    assert values(asset, "question_label", "question_key", "value_text") == [
        ("", "asset_tag", "LAP-00981")
    ]


def test_itsd_empty_rich_text_is_an_empty_string(exports: dict) -> None:
    itsd = exports["itsd"]

    assert values(answer(itsd, "ITSD-4403/1", "Describe the problem"), "value_text") == [("",)]
    assert wide_row(itsd, "ITSD-4403/1")["describe_the_problem"] == ""
    assert records(itsd.core[schema.RESPONSES])[1]["status"] == "open"


def test_itsd_wide_table_names_blank_label_by_key(exports: dict) -> None:
    itsd = exports["itsd"]
    row = wide_row(itsd, "ITSD-4402/1")

    assert itsd.wide_table == "form_itsd_11"
    assert list(itsd.wide.columns)[len(schema.WIDE_KEY_SCHEMA) :] == [
        "describe_the_problem",
        "affected_users",
        "severity",
        "reporter",
        "asset_tag",
    ]
    assert (row["asset_tag"], row["affected_users"], row["severity"]) == (
        "LAP-00981",
        20.0,
        "Sev 1",
    )
    assert row["reporter"] == "712020:73aa41f2-1c37-4e5b-9d27-2b3c4d5e6f70"
    assert len(itsd.core[schema.JIRA_FIELDS]) == 0
