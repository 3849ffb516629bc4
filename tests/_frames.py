"""Small hand-built ProjectTables for the writer tests: every value type, a typed wide table;
and the HR sample export, to edit into form changes and normalise like the pipeline does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from proforma_io.normalise import normalise_export
from proforma_io.schema import SCHEMAS, WIDE_KEY_SCHEMA
from proforma_io.tables import ProjectTables

HOSTILE_COLUMN = 'Notes "IT"; DROP TABLE answers; -- 100% :x'
LOADED_AT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

_INT64 = pd.Int64Dtype()


def _frame(schema: pa.Schema, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame of `rows` typed like the normaliser's: nullable Int64, str, date/time objects."""
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.to_pandas(types_mapper={pa.int64(): _INT64}.get)


def wide_table_name(project_key: str, template_id: int = 3) -> str:
    return f"form_{project_key.lower()}_{template_id}"


def project_tables(
    project_key: str = "HR", template_id: int = 3, export_id: str | None = None
) -> ProjectTables:
    """Two responses of one template: text, number, date, time, date-time, choice, user answers."""
    export_id = export_id or f"responses-json-{project_key}-{template_id}-1"
    first, second = f"{project_key}-101", f"{project_key}-102"
    key = {"project_key": project_key, "template_id": template_id, "export_id": export_id}

    responses = _frame(
        SCHEMAS["responses"],
        [
            {
                **key,
                "response_id": f"{first}/1",
                "issue_key": first,
                "issue_id": "10101",
                "form_id": 1,
                "form_name": "Onboarding",
                "form_model": "v2",
                "status": "submitted",
                "visibility": "external",
                "updated_at": datetime(2026, 11, 16, 10, 0, 5, 123456, tzinfo=UTC),
                "source_format": "responses-json",
                "loaded_at": LOADED_AT,
            },
            {
                **key,
                "response_id": f"{second}/1",
                "issue_key": second,
                "issue_id": "10102",
                "form_id": 1,
                "form_name": "Onboarding",
                "form_model": "v2",
                "status": "locked",
                "visibility": None,
                "updated_at": None,
                "source_format": "responses-json",
                "loaded_at": LOADED_AT,
            },
        ],
    )

    def answer(response: str, question: str, qtype: str, **values: Any) -> dict[str, Any]:
        issue = response.split("/")[0]
        return {
            **key,
            "response_id": response,
            "issue_key": issue,
            "form_id": 1,
            "question_id": question,
            "question_label": f"Question {question}",
            "question_type": qtype,
            "value_index": values.pop("value_index", 0),
            **values,
        }

    r1, r2 = f"{first}/1", f"{second}/1"
    answers = _frame(
        SCHEMAS["answers"],
        [
            answer(r1, "1", "ts", value_text="Engineering"),
            answer(r1, "2", "no", value_text="42", value_number=42.0),
            answer(r1, "3", "da", value_date=date(2026, 11, 16)),
            answer(r1, "4", "ti", value_time=time(8, 45)),
            answer(r1, "5", "dt", value_datetime=datetime(2026, 11, 16, 9, 30)),
            answer(r1, "6", "cm", choice_id="1", choice_label="Laptop"),
            answer(r1, "6", "cm", value_index=1, choice_id="2", choice_label="Monitor"),
            answer(
                r1,
                "6",
                "cm",
                value_index=2,
                choice_id="0",
                choice_label="Other",
                value_text="Standing desk",
            ),
            answer(r1, "7", "um", user_id="JIRAUSER10100", user_name="Priya Raman"),
            answer(r1, "7", "um", value_index=1, user_id="JIRAUSER10101", user_name=None),
            answer(r2, "2", "no", value_text="-3", value_number=-3.0),
            answer(r2, "6", "cm"),
            answer(r2, "8", "tl", value_text=""),
        ],
    )

    jira_fields = _frame(
        SCHEMAS["jira_fields"],
        [
            {**key, "issue_key": first, "issue_id": "10101", "field_id": "summary",
             "field_name": "Summary", "value_text": "New starter: Ada"},
            {**key, "issue_key": first, "issue_id": "10101", "field_id": "priority",
             "field_name": "Priority", "value_text": "High",
             "value_json": '{"name": "High"}'},
            {**key, "issue_key": first, "issue_id": "10101", "field_id": "customfield_10016",
             "field_name": "Story Points", "value_number": 2.5},
        ],
    )  # fmt: skip

    questions = _frame(
        SCHEMAS["questions"],
        [
            {**key, "question_id": qid, "question_key": None, "label": f"Question {qid}",
             "question_type": qtype, "position": position,
             "jira_field": "summary" if qid == "1" else None,
             "wide_table": wide_table_name(project_key, template_id), "wide_column": column}
            for position, (qid, qtype, column) in enumerate(
                [("1", "ts", "department"), ("2", "no", "desk_number"),
                 ("3", "da", "start_date"), ("4", "ti", "daily_start_time"),
                 ("5", "dt", "induction_session"), ("6", "cm", "equipment"),
                 ("7", "um", "buddies"), ("8", "tl", HOSTILE_COLUMN)]
            )
        ],
    )  # fmt: skip

    return ProjectTables(
        project_key=project_key,
        core={
            "responses": responses,
            "answers": answers,
            "jira_fields": jira_fields,
            "questions": questions,
        },
        wide={wide_table_name(project_key, template_id): wide_frame(responses)},
        export_ids=[export_id],
    )


def wide_frame(responses: pd.DataFrame) -> pd.DataFrame:
    """The wide table of `responses`: key columns, then one typed column per question."""
    keys = responses[WIDE_KEY_SCHEMA.names].copy()
    typed = pd.DataFrame(
        {
            "department": pd.Series(["Engineering", None], dtype="str"),
            "desk_number": pd.Series([42.0, -3.0], dtype="float64"),
            "start_date": pd.Series([date(2026, 11, 16), None], dtype="object"),
            "daily_start_time": pd.Series([time(8, 45), None], dtype="object"),
            "induction_session": pd.Series(
                [pd.Timestamp("2026-11-16 09:30"), pd.NaT], dtype="datetime64[us]"
            ),
            "headcount": pd.Series([3, None], dtype=_INT64),
            "equipment": pd.Series(["Laptop; Monitor; Standing desk", ""], dtype="str"),
            HOSTILE_COLUMN: pd.Series(["Line one\nline two", ""], dtype="str"),
        }
    )
    return pd.concat([keys.reset_index(drop=True), typed], axis=1)


# --- the HR sample export, edited to stand for form changes -------------------------------------

HR_SAMPLE = Path(__file__).parent / "data" / "samples" / "hr-onboarding.responses.json"
HR_FIELDS = ["summary", "priority", "customfield_10012"]
HR_WIDE = "form_hr_3"


def hr_document() -> dict[str, Any]:
    """A fresh copy of the HR sample export document (four forms, each with its design)."""
    document: dict[str, Any] = json.loads(HR_SAMPLE.read_text(encoding="utf-8"))
    return document


def hr_form(document: dict[str, Any], issue_key: str, form_id: int) -> dict[str, Any]:
    """The stored form of one response of the document, to edit in place."""
    for entry in document["responses"]:
        if entry["issueKey"] == issue_key and entry["form"]["id"] == form_id:
            form: dict[str, Any] = entry["form"]
            return form
    raise KeyError(f"{issue_key}/{form_id}")


def hr_forms(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["form"] for entry in document["responses"]]


def hr_tables(
    document: dict[str, Any], folder: Path, run: str, project_key: str = "HR"
) -> ProjectTables:
    """The document written as a landed export file and normalised, as the pipeline does; every
    project writes the wide table `form_hr_3`."""
    path = folder / f"{run}.responses.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    export = normalise_export(
        path,
        project_key=project_key,
        template_id=3,
        export_id=f"responses-json-{project_key}-3-{run}",
        fmt="json",
        fields=HR_FIELDS,
        wide_table=HR_WIDE,
        loaded_at=LOADED_AT,
    )
    return ProjectTables.combine(project_key, [export])
