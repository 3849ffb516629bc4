"""The normaliser's conventions on hand-made responses, and rich text to plain text."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_normalise_samples import HR_JSON, LOADED_AT, UTC, answer, records, values

from proforma_io import schema
from proforma_io.adf import adf_to_text
from proforma_io.forms import Answer, Choice, FormResponse, Question, User
from proforma_io.normalise import normalise_export, normalise_responses
from proforma_io.tables import NormalisedExport, to_arrow

# --- conventions on hand-made responses ---------------------------------------------------------


def response(
    questions: tuple[Question, ...],
    answers: dict[str, Answer],
    *,
    issue: str = "T-1",
    form_id: int | None = 1,
    updated: dt.datetime | None = None,
    template_id: int | None = 5,
    fields: dict[str, Any] | None = None,
) -> FormResponse:
    return FormResponse(
        issue_key=issue,
        issue_id="1",
        fields=fields or {},
        form_id=form_id,
        form_name="Test",
        model="v2",
        status="submitted",
        visibility="internal",
        updated=updated,
        template_id=template_id,
        questions=questions,
        answers=answers,
    )


def normalise(*responses: FormResponse, **options: Any) -> NormalisedExport:
    settings = {"project_key": "T", "template_id": 5, "export_id": "e1", "fmt": "json"}
    return normalise_responses(list(responses), **(settings | options))


def test_wide_column_names_are_unique_and_safe_for_any_label() -> None:
    labels = [
        'Name "quoted"',
        "x'; DROP TABLE answers; --",
        "Café ünïcode",
        "山田",
        "L" * 200,
        "Same label",
        "Same label",
        "2nd choice",
        "Status",
        "",
        "   ",
    ]
    questions = tuple(Question(str(n), "ts", label) for n, label in enumerate(labels, start=1))
    questions += (Question("12", "ts", "", key="asset_tag"),)

    export = normalise(response(questions, {}))

    columns = list(export.wide.columns)
    names = columns[len(schema.WIDE_KEY_SCHEMA) :]
    assert names == [
        "name_quoted",
        "x_drop_table_answers",
        "cafe_unicode",
        "q4",
        "l" * 60,
        "same_label",
        "same_label_2",
        "q_2nd_choice",
        "status_2",
        "q10",
        "q11",
        "asset_tag",
    ]
    assert len(set(columns)) == len(columns)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]{0,59}", name) for name in columns)
    wide_columns = list(export.core[schema.QUESTIONS]["wide_column"])
    assert wide_columns == names


def test_newest_design_orders_questions_then_older_only_questions() -> None:
    old = (Question("1", "ts", "A"), Question("2", "ts", "B"), Question("3", "ts", "Dropped"))
    new = (Question("2", "ts", "B renamed"), Question("1", "ts", "A"), Question("4", "no", "C"))
    older = response(old, {"3": Answer(text="x")}, form_id=1, updated=LOADED_AT)
    newer = response(new, {"4": Answer(text="7")}, form_id=2, updated=LOADED_AT + dt.timedelta(1))

    export = normalise(older, newer)

    rows = records(export.core[schema.QUESTIONS])
    assert values(rows, "question_id", "label", "position") == [
        ("2", "B renamed", 1),
        ("1", "A", 2),
        ("4", "C", 3),
        ("3", "Dropped", 4),
    ]
    wide = records(export.wide)
    assert [(r["dropped"], r["c"]) for r in wide] == [("x", None), (None, 7.0)]


def test_wide_columns_follow_the_question_key_then_the_question_id() -> None:
    old = (Question("3", "ts", "Dept", key="dept"),)
    new = (Question("9", "ts", "Department", key="dept"), Question("3", "ts", "Room"))
    older = response(old, {"3": Answer(text="HR")}, form_id=1, updated=LOADED_AT)
    answers = {"9": Answer(text="IT"), "3": Answer(text="B12")}
    newer = response(new, answers, form_id=2, updated=LOADED_AT + dt.timedelta(1))

    export = normalise(older, newer)

    wide = records(export.wide)
    assert list(export.wide.columns)[len(schema.WIDE_KEY_SCHEMA) :] == ["department", "room"]
    assert [(r["department"], r["room"]) for r in wide] == [("HR", None), ("IT", "B12")]
    questions = records(export.core[schema.QUESTIONS])
    assert values(questions, "question_id", "question_key", "label", "wide_column") == [
        ("9", "dept", "Department", "department"),
        ("3", None, "Room", "room"),
    ]
    assert values(answer(export, "T-1/1", "Dept"), "question_id", "value_text") == [("3", "HR")]


def test_requested_template_id_is_used_for_every_row() -> None:
    questions = (Question("1", "ts", "Q"),)
    stray = response(questions, {"1": Answer(text="a")}, template_id=99, fields={"summary": "s"})

    export = normalise(stray)

    for name, frame in export.core.items():
        assert set(frame["template_id"]) == {5}, name
    assert set(export.wide["template_id"]) == {5}


def test_loaded_at_defaults_to_now_in_utc() -> None:
    before = dt.datetime.now(UTC)

    export = normalise(response((Question("1", "ts", "Q"),), {}))

    loaded = export.core[schema.RESPONSES]["loaded_at"].iloc[0]
    assert before - dt.timedelta(seconds=1) <= loaded <= dt.datetime.now(UTC)
    assert str(loaded.tz) == "UTC"


def test_unknown_question_types_pass_through_as_text() -> None:
    questions = (Question("1", "at", "Attachment"), Question("2", "rt", "Rich"))
    files = {"files": [{"name": "scan.pdf", "size": 12}]}
    rich = {
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
    }
    answers = {"1": Answer(raw=files), "2": Answer(adf=rich, raw={"adf": rich})}

    export = normalise(response(questions, answers))

    assert json.loads(answer(export, "T-1/1", "Attachment")[0]["value_text"]) == files
    assert answer(export, "T-1/1", "Rich")[0]["value_text"] == "Hi"
    assert str(export.wide["attachment"].dtype) == "string"


def test_edge_answers_keep_what_they_can() -> None:
    questions = (
        Question("1", "um", "People"),
        Question("2", "dt", "When"),
        Question("3", "no", "Count"),
        Question("4", "da", "Day"),
        Question("5", "cs", "Pick", choices=(Choice("1", "One"),)),
        Question("6", "dt", "Slot"),
    )
    answers = {
        "1": Answer(users=()),
        "2": Answer(date="2026-02-03"),
        "3": Answer(text="about 3"),
        "4": Answer(date="next week"),
        "5": Answer(choices=("9",)),
        "6": Answer(date="2026-02-03", time="25:99"),
    }

    export = normalise(response(questions, answers))

    people = answer(export, "T-1/1", "People")
    assert values(people, "user_id", "user_name", "value_text") == [(None, None, None)]
    assert answer(export, "T-1/1", "When")[0]["value_datetime"] == pd.Timestamp("2026-02-03")
    assert values(answer(export, "T-1/1", "Count"), "value_number", "value_text") == [
        (None, "about 3")
    ]
    assert values(answer(export, "T-1/1", "Day"), "value_date", "value_text") == [
        (None, "next week")
    ]
    assert values(answer(export, "T-1/1", "Pick"), "choice_id", "choice_label") == [("9", None)]
    assert values(answer(export, "T-1/1", "Slot"), "value_datetime", "value_text") == [
        (pd.Timestamp("2026-02-03"), "25:99")
    ]


def test_jira_field_values_of_every_shape() -> None:
    fields = {
        "labels": ["a", "b"],
        "components": [{"name": "API"}, {"name": "Web"}],
        "flag": True,
        "custom": {"id": "7"},
        "count": 3,
    }

    export = normalise(response((), {}, fields=fields), fields=list(fields) + ["absent"])

    rows = {r["field_id"]: r for r in records(export.core[schema.JIRA_FIELDS])}
    assert values(list(rows.values()), "field_id", "value_text", "value_number") == [
        ("labels", "a; b", None),
        ("components", "API; Web", None),
        ("flag", "true", None),
        ("custom", None, None),
        ("count", "3", 3.0),
        ("absent", None, None),
    ]
    assert json.loads(rows["components"]["value_json"]) == [{"name": "API"}, {"name": "Web"}]
    assert json.loads(rows["custom"]["value_json"]) == {"id": "7"}


def test_wide_table_name_can_be_set() -> None:
    export = normalise(response((Question("1", "ts", "Q"),), {}), wide_table="onboarding_wide")

    assert export.wide_table == "onboarding_wide"
    assert set(export.core[schema.QUESTIONS]["wide_table"]) == {"onboarding_wide"}


def test_empty_export_gives_empty_frames_with_canonical_columns() -> None:
    export = normalise()

    for name, frame in export.core.items():
        assert len(frame) == 0
        assert to_arrow(name, frame).schema.equals(schema.SCHEMAS[name])
    assert list(export.wide.columns) == schema.WIDE_KEY_SCHEMA.names


def test_unknown_format_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv"):
        normalise_export(
            HR_JSON,
            project_key="HR",
            template_id=3,
            export_id="e",
            fmt="csv",  # type: ignore[arg-type]
        )


# --- rich text ----------------------------------------------------------------------------------


def test_adf_blocks_become_lines_and_marks_are_ignored() -> None:
    document = {
        "type": "doc",
        "content": [
            {
                "type": "heading",
                "attrs": {"level": 2},
                "content": [{"type": "text", "text": "Title"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "bold", "marks": [{"type": "strong"}]},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "next"},
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]}
                        ],
                    },
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "two"}]}
                        ],
                    },
                ],
            },
        ],
    }

    assert adf_to_text(document) == "Title\nbold\nnext\none\ntwo"


@pytest.mark.parametrize(
    "document", [None, {"type": "doc", "content": []}, {"version": 1, "type": "doc"}]
)
def test_empty_adf_is_an_empty_string(document: Any) -> None:
    assert adf_to_text(document) == ""


def test_users_without_names_fall_back_to_ids_in_the_wide_table() -> None:
    questions = (Question("1", "um", "Watchers"),)
    answers = {"1": Answer(users=(User("u1"), User("u2", "Named")))}

    export = normalise(response(questions, answers))

    assert export.wide["watchers"].tolist() == ["u1; Named"]
