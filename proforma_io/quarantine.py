"""Values set aside while an export is normalised: recorded and counted, never fatal.

Each export gets a quarantine frame (the lake's `quarantine` table): one row per value that
could not be loaded as it stands, naming the landed file, the place (response and question, or
issue and Jira field), the kind of problem, the reason and the value, cut short. The raw file
keeps every value whole, and the tables keep what they can:

- `unreadable`: a number, date or time answer that does not read as one (`NaN`, `inf`, `soon`),
  or a Jira field holding NaN or infinity; kept as text, its typed column empty.
- `too_long`: a text of more than `MAX_TEXT_CHARS` characters (a cell of several megabytes);
  cut to that length in the answers, the wide table and the Jira fields.
- `unknown_type`: an answer to a question of a type this version does not know; kept as text.
- `missing_question`: an answer to a question its form's design lacks; kept, labelled as
  another form's question of that id where there is one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from proforma_io import schema
from proforma_io.forms import (
    CHOICE_TYPES,
    DATE_TYPES,
    DATETIME_TYPES,
    DISPLAY_TYPES,
    NUMBER_TYPES,
    TEXT_TYPES,
    TIME_TYPES,
    USER_TYPES,
    Answer,
    FormResponse,
)
from proforma_io.quality import TYPED_COLUMNS
from proforma_io.tables import NormalisedExport
from proforma_io.typed_frames import transpose, typed_frame

# Excel's own limit on a cell's text; no form answer ProForma writes to a sheet is longer.
MAX_TEXT_CHARS = 32_767
SHOWN_CHARS = 200

UNREADABLE = "unreadable"
TOO_LONG = "too_long"
UNKNOWN_TYPE = "unknown_type"
MISSING_QUESTION = "missing_question"

# Attachments and rich text are seen only in newer data; they pass through as text by design.
KNOWN_TYPES = (
    TEXT_TYPES
    | NUMBER_TYPES
    | DATE_TYPES
    | DATETIME_TYPES
    | TIME_TYPES
    | CHOICE_TYPES
    | USER_TYPES
    | DISPLAY_TYPES
    | {"at", "rt"}
)
_EXPECTED = {
    "value_number": "a finite number",
    "value_date": "a date (YYYY-MM-DD)",
    "value_time": "a time (HH:MM)",
    "value_datetime": "a date and time",
}

# place, response_id, question_id, kind, reason, value
Row = tuple[str, str | None, str | None, str, str, str | None]
_ROW_COLUMNS = ("place", "response_id", "question_id", "kind", "reason", "value")


def screen(
    export: NormalisedExport, responses: Sequence[FormResponse], path: Path
) -> NormalisedExport:
    """The export with over-long texts cut, and a quarantine row for every value set aside."""
    answers, rows = _cut_answers(export.core[schema.ANSWERS])
    jira_fields, field_rows = _cut_jira_fields(export.core[schema.JIRA_FIELDS])
    wide = _cut_wide(export.wide)
    rows += field_rows
    rows += _unreadable(answers)
    rows += _unknown_types(answers)
    rows += _missing_questions(export.core[schema.RESPONSES], responses)
    rows += _non_finite_fields(responses)

    columns = dict(zip(_ROW_COLUMNS, transpose(rows, len(_ROW_COLUMNS)), strict=True))
    constants = {
        "project_key": export.project_key,
        "template_id": export.template_id,
        "export_id": export.export_id,
        "file": str(path),
    }
    quarantine = typed_frame(schema.QUARANTINE_SCHEMA, columns, constants)
    core = {**export.core, schema.ANSWERS: answers, schema.JIRA_FIELDS: jira_fields}
    return replace(export, core=core, wide=wide, quarantine=quarantine)


def _cut_answers(answers: pd.DataFrame) -> tuple[pd.DataFrame, list[Row]]:
    long = _too_long(answers["value_text"])
    if not long.any():
        return answers, []
    rows = [
        (
            _answer_place(row.response_id, row.question_id),
            row.response_id,
            row.question_id,
            TOO_LONG,
            _cut_reason(row.value_text),
            _shown(row.value_text),
        )
        for row in answers[long].itertuples()
    ]
    answers = answers.copy()
    answers.loc[long, "value_text"] = answers.loc[long, "value_text"].str.slice(0, MAX_TEXT_CHARS)
    return answers, rows


def _cut_jira_fields(fields: pd.DataFrame) -> tuple[pd.DataFrame, list[Row]]:
    rows: list[Row] = []
    for column in ("value_text", "value_json"):
        long = _too_long(fields[column])
        if not long.any():
            continue
        rows += [
            (
                f"issue {row.issue_key}, Jira field {row.field_id} ({column})",
                None,
                None,
                TOO_LONG,
                _cut_reason(getattr(row, column)),
                _shown(getattr(row, column)),
            )
            for row in fields[long].itertuples()
        ]
        fields = fields.copy()
        fields.loc[long, column] = fields.loc[long, column].str.slice(0, MAX_TEXT_CHARS)
    return fields, rows


def _cut_wide(wide: pd.DataFrame) -> pd.DataFrame:
    """Cut the wide table's texts as their answers were (they are counted there)."""
    for column in wide.columns:
        if column in schema.WIDE_KEY_SCHEMA.names or not pd.api.types.is_string_dtype(wide[column]):
            continue
        long = _too_long(wide[column])
        if long.any():
            wide = wide.copy()
            wide.loc[long, column] = wide.loc[long, column].str.slice(0, MAX_TEXT_CHARS)
    return wide


def _unreadable(answers: pd.DataFrame) -> list[Row]:
    """Typed answers whose text did not read as their type, kept as text."""
    has_text = answers["value_text"].fillna("").str.strip() != ""
    rows: list[Row] = []
    for question_type, column in TYPED_COLUMNS.items():
        kept = (answers["question_type"] == question_type) & answers[column].isna() & has_text
        rows += [
            (
                _answer_place(row.response_id, row.question_id),
                row.response_id,
                row.question_id,
                UNREADABLE,
                f"expected {_EXPECTED[column]}, found {_shown(row.value_text)!r}; kept as text",
                _shown(row.value_text),
            )
            for row in answers[kept].itertuples()
        ]
    return rows


def _unknown_types(answers: pd.DataFrame) -> list[Row]:
    """Answers to questions of a type not known here (by their own form's design)."""
    kinds = answers["question_type"].fillna("")
    hit = ~kinds.isin(KNOWN_TYPES) & (kinds != "")
    return [
        (
            _answer_place(row.response_id, row.question_id),
            row.response_id,
            row.question_id,
            UNKNOWN_TYPE,
            f"question type {row.question_type!r} is unknown; the answer is kept as text",
            _shown(row.value_text),
        )
        for row in answers[hit].itertuples()
    ]


def _missing_questions(
    responses_frame: pd.DataFrame, responses: Sequence[FormResponse]
) -> list[Row]:
    """Answers to questions their own form's design does not have."""
    designs: dict[int, frozenset[str]] = {}
    rows: list[Row] = []
    for response_id, response in zip(responses_frame["response_id"], responses, strict=True):
        known = designs.get(id(response.questions))
        if known is None:
            known = designs[id(response.questions)] = frozenset(q.id for q in response.questions)
        for question_id in response.answers.keys() - known:
            value = _answer_text(response.answers[question_id])
            rows.append(
                (
                    _answer_place(response_id, question_id),
                    response_id,
                    question_id,
                    MISSING_QUESTION,
                    f"answers question {question_id}, which its form's design does not have; "
                    "kept without its own label and type",
                    value,
                )
            )
    return rows


def _non_finite_fields(responses: Sequence[FormResponse]) -> list[Row]:
    """Jira field values that are NaN or infinite numbers: kept as text, with no number."""
    rows: list[Row] = []
    seen: set[str] = set()
    for response in responses:
        if response.issue_key in seen:
            continue
        seen.add(response.issue_key)
        for field_id, value in response.fields.items():
            if isinstance(value, float) and not math.isfinite(value):
                rows.append(
                    (
                        f"issue {response.issue_key}, Jira field {field_id}",
                        None,
                        None,
                        UNREADABLE,
                        f"expected a finite number, found {value!r}; kept as text",
                        repr(value),
                    )
                )
    return rows


def _too_long(values: pd.Series) -> pd.Series:
    return (values.str.len() > MAX_TEXT_CHARS).fillna(False).astype(bool)


def _cut_reason(text: str) -> str:
    return f"text of {len(text):,} characters cut to {MAX_TEXT_CHARS:,}"


def _answer_place(response_id: str, question_id: str) -> str:
    return f"response {response_id}, question {question_id}"


def _answer_text(answer: Answer) -> str | None:
    if answer.text is not None:
        return _shown(answer.text)
    if answer.raw:
        return _shown(json.dumps(answer.raw, ensure_ascii=False, default=str))
    return None


def _shown(text: str | None) -> str | None:
    if text is None or len(text) <= SHOWN_CHARS:
        return text
    return text[:SHOWN_CHARS] + "..."
