"""Form responses turned into the canonical frames and the export's wide table.

The conventions (one answer row per value, the Other choice, empty versus missing answers, wide
column naming) are those of docs/architecture.md, "Canonical tables". Rows are gathered as
column lists and converted once through Arrow, so large exports stay fast.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from proforma_io import schema
from proforma_io.adf import adf_to_text
from proforma_io.forms import (
    CHOICE_TYPES,
    DATE_TYPES,
    DATETIME_TYPES,
    NUMBER_TYPES,
    OTHER_CHOICE_ID,
    TEXT_TYPES,
    TIME_TYPES,
    USER_TYPES,
    Answer,
    FormResponse,
    Question,
)
from proforma_io.readers.json_export import read_json_export
from proforma_io.readers.xlsx_export import read_xlsx_export
from proforma_io.tables import NormalisedExport

COLUMN_LIMIT = 60
JOINER = "; "
OTHER_LABEL = "Other"

_WIDE_TYPES = {
    "number": pa.float64(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "datetime": schema.LOCAL_TIMESTAMP,
}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

# value_index, value_text, value_number, value_date, value_time, value_datetime,
# choice_id, choice_label, user_id, user_name
Value = tuple[
    int,
    str | None,
    float | None,
    dt.date | None,
    dt.time | None,
    dt.datetime | None,
    str | None,
    str | None,
    str | None,
    str | None,
]
_VALUE_COLUMNS = schema.ANSWERS_SCHEMA.names[9:19]
_NO_VALUE: Value = (0, None, None, None, None, None, None, None, None, None)


def normalise_export(
    path: Path,
    *,
    project_key: str,
    template_id: int,
    export_id: str,
    fmt: Literal["json", "xlsx"],
    fields: Sequence[str] = (),
    wide_table: str | None = None,
    design: Sequence[Question] | None = None,
    loaded_at: dt.datetime | None = None,
) -> NormalisedExport:
    """Read one landed export file and normalise it; `design` helps only XLSX files."""
    if fmt == "json":
        responses = read_json_export(path).responses
    elif fmt == "xlsx":
        responses = read_xlsx_export(path, fields=fields, design=design)
    else:
        raise ValueError(f"unknown export format {fmt!r}: expected 'json' or 'xlsx'")

    return normalise_responses(
        responses,
        project_key=project_key,
        template_id=template_id,
        export_id=export_id,
        fmt=fmt,
        fields=fields,
        wide_table=wide_table,
        loaded_at=loaded_at,
    )


def normalise_responses(
    responses: Sequence[FormResponse],
    *,
    project_key: str,
    template_id: int,
    export_id: str,
    fmt: Literal["json", "xlsx"],
    fields: Sequence[str] = (),
    wide_table: str | None = None,
    loaded_at: dt.datetime | None = None,
) -> NormalisedExport:
    """The canonical frames of responses read from one export of one template.

    Every row carries the requested `template_id`, whatever template id a form names. `fields`
    lists the requested Jira fields; when empty, every field the responses carry is kept.
    """
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    table = wide_table or default_wide_table(project_key, template_id)
    constants = {"project_key": project_key, "template_id": template_id, "export_id": export_id}

    catalogue = question_catalogue(responses)
    columns = wide_column_names(catalogue)
    response_ids = _response_ids(responses)

    answers, cells = _answer_rows(responses, response_ids, catalogue)
    core = {
        schema.RESPONSES: _responses_frame(responses, response_ids, constants, fmt, loaded_at),
        schema.ANSWERS: _frame(schema.ANSWERS_SCHEMA, answers, constants),
        schema.JIRA_FIELDS: _jira_fields_frame(responses, fields, constants),
        schema.QUESTIONS: _questions_frame(catalogue, table, columns, constants),
    }
    wide = _wide_frame(responses, response_ids, catalogue, columns, cells, constants)
    return NormalisedExport(project_key, template_id, export_id, core, table, wide)


def default_wide_table(project_key: str, template_id: int) -> str:
    """The wide table's name when the export does not set one: `form_<project>_<template>`."""
    return f"form_{_snake(project_key) or 'project'}_{template_id}"


def question_catalogue(responses: Iterable[FormResponse]) -> list[Question]:
    """Every question of the export: the newest design's in its order, then older-only ones."""
    designs: dict[int, tuple[Question, ...]] = {}
    newest_first = sorted(
        responses,
        key=lambda r: r.updated or dt.datetime.min.replace(tzinfo=dt.UTC),
        reverse=True,
    )
    for response in newest_first:
        designs.setdefault(id(response.questions), response.questions)

    catalogue: dict[str, Question] = {}
    for questions in designs.values():
        for question in questions:
            catalogue.setdefault(question.id, question)
    return list(catalogue.values())


def wide_column_names(questions: Sequence[Question]) -> dict[str, str]:
    """A unique, safe wide-table column name per question id."""
    used = set(schema.WIDE_KEY_SCHEMA.names)
    names: dict[str, str] = {}
    for question in questions:
        base = next(
            (name for name in map(_snake, (question.label, question.key or "")) if name),
            f"q{_snake(question.id)}",
        )
        if base[0].isdigit():
            base = f"q_{base}"[:COLUMN_LIMIT].rstrip("_")
        name, number = base, 1
        while name in used:
            number += 1
            suffix = f"_{number}"
            name = base[: COLUMN_LIMIT - len(suffix)].rstrip("_") + suffix
        used.add(name)
        names[question.id] = name
    return names


def _snake(text: str) -> str:
    """Lower-case ASCII snake case, at most COLUMN_LIMIT characters; "" if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    snake = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return snake[:COLUMN_LIMIT].rstrip("_")


def _response_ids(responses: Sequence[FormResponse]) -> list[str]:
    """`<ISSUE-KEY>/<form id>`, or `<ISSUE-KEY>/row<n>` counting that issue's rows in order."""
    rows_seen: dict[str, int] = {}
    ids = []
    for response in responses:
        if response.form_id is not None:
            ids.append(f"{response.issue_key}/{response.form_id}")
            continue
        rows_seen[response.issue_key] = rows_seen.get(response.issue_key, 0) + 1
        ids.append(f"{response.issue_key}/row{rows_seen[response.issue_key]}")
    return ids


class _AnswerRows:
    """The answers table, gathered per value: which response, which question, which value."""

    def __init__(self) -> None:
        self.response_index: list[int] = []
        self.question_index: list[int] = []
        self.questions: dict[tuple[str, str | None, str, str], int] = {}
        self.values: list[Value] = []

    def add(self, response_index: int, question: Question, values: list[Value]) -> None:
        meta = (question.id, question.key, question.label, question.type)
        index = self.questions.setdefault(meta, len(self.questions))
        self.response_index.extend([response_index] * len(values))
        self.question_index.extend([index] * len(values))
        self.values.extend(values)

    def columns(
        self, responses: Sequence[FormResponse], response_ids: list[str]
    ) -> dict[str, Sequence[Any]]:
        """Column lists (or Arrow arrays) of the answers table."""
        by_response = {
            "response_id": pa.array(response_ids, pa.string()),
            "issue_key": pa.array([r.issue_key for r in responses], pa.string()),
            "form_id": pa.array([r.form_id for r in responses], pa.int64()),
        }
        question_names = ("question_id", "question_key", "question_label", "question_type")
        by_question = dict(zip(question_names, _transpose(list(self.questions), 4), strict=True))
        response_index = pa.array(self.response_index, pa.int64())
        question_index = pa.array(self.question_index, pa.int64())
        values = _transpose(self.values, len(_VALUE_COLUMNS))
        return {
            **{name: array.take(response_index) for name, array in by_response.items()},
            **{
                name: pa.array(c, pa.string()).take(question_index)
                for name, c in by_question.items()
            },
            **dict(zip(_VALUE_COLUMNS, values, strict=True)),
        }


def _transpose(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples as column lists."""
    if not rows:
        return [[] for _ in range(width)]
    # Every row has `width` items by construction; strict checking would double the cost.
    return [list(column) for column in zip(*rows, strict=False)]


def _answer_rows(
    responses: Sequence[FormResponse], response_ids: list[str], catalogue: list[Question]
) -> tuple[dict[str, Sequence[Any]], list[dict[str, Any]]]:
    """The answers table's columns, and per response its wide-table cell per question id."""
    known = {question.id: question for question in catalogue}
    kinds = {question.id: _kind(question.type) for question in catalogue}
    own_designs: dict[int, dict[str, Question]] = {}
    rows = _AnswerRows()
    cells: list[dict[str, Any]] = []

    for index, response in enumerate(responses):
        design = own_designs.get(id(response.questions))
        if design is None:
            design = own_designs[id(response.questions)] = {q.id: q for q in response.questions}
        ordered = [qid for qid in design if qid in response.answers]
        ordered += [qid for qid in response.answers if qid not in design]

        row_cells: dict[str, Any] = {}
        for qid in ordered:
            question = design.get(qid) or known.get(qid) or Question(id=qid, type="", label="")
            values = _answer_values(question, response.answers[qid])
            rows.add(index, question, values)
            if qid in kinds:
                row_cells[qid] = _wide_cell(kinds[qid], values)
        cells.append(row_cells)
    return rows.columns(responses, response_ids), cells


def _answer_values(question: Question, answer: Answer) -> list[Value]:
    """The answer rows' value columns: one per choice or user, else one."""
    kind = _kind(question.type)
    if kind == "choice" and answer.choices is not None:
        return _choice_values(question, answer) or [_NO_VALUE]
    if kind == "user" and answer.users is not None:
        users: list[Value] = [
            (index, None, None, None, None, None, None, None, user.id, user.name)
            for index, user in enumerate(answer.users)
        ]
        return users or [_NO_VALUE]
    if kind == "number":
        return [_value(text=answer.text, number=_number(answer))]
    if kind == "date":
        day = _as_date(answer.date)
        return [_value(date=day, text=_unparsed(answer.date, day, answer.text))]
    if kind == "time":
        clock = _as_time(answer.time)
        return [_value(time=clock, text=_unparsed(answer.time, clock, answer.text))]
    if kind == "datetime":
        return [_datetime_value(answer)]
    return [_value(text=_text(question, answer))]


def _choice_values(question: Question, answer: Answer) -> list[Value]:
    choices = {choice.id: choice for choice in question.choices}
    values: list[Value] = []
    for index, choice_id in enumerate(answer.choices or ()):
        choice = choices.get(choice_id)
        other = choice.other if choice is not None else choice_id == OTHER_CHOICE_ID
        label = OTHER_LABEL if other else (choice.label if choice is not None else None)
        text = answer.text if other else None
        values.append((index, text, None, None, None, None, choice_id, label, None, None))
    return values


def _datetime_value(answer: Answer) -> Value:
    """A date-time without zone; a date alone means midnight (unreadable time text is kept)."""
    day, clock = _as_date(answer.date), _as_time(answer.time)
    if day is None:
        text = answer.text if answer.text is not None else _optional_text(answer.date)
        return _value(text=text, time=clock)
    moment = dt.datetime.combine(day, clock or dt.time())
    return _value(datetime=moment, text=_unparsed(answer.time, clock, None))


def _text(question: Question, answer: Answer) -> str | None:
    """Text answers as text, rich text as plain text, anything else as JSON text."""
    if answer.text is not None:
        return answer.text
    if answer.adf is not None:
        return adf_to_text(answer.adf)
    if question.type not in TEXT_TYPES and answer.raw:
        return json.dumps(answer.raw, ensure_ascii=False, default=str)
    for value in (answer.date, answer.time, answer.number):
        if value is not None:
            return _optional_text(value)
    return None


def _value(
    *,
    text: str | None = None,
    number: float | None = None,
    date: dt.date | None = None,
    time: dt.time | None = None,
    datetime: dt.datetime | None = None,
) -> Value:
    return (0, text, number, date, time, datetime, None, None, None, None)


def _kind(question_type: str) -> str:
    """The value kind a question type stores: choice, user, number, date, time, datetime, text."""
    if question_type in CHOICE_TYPES:
        return "choice"
    if question_type in USER_TYPES:
        return "user"
    if question_type in NUMBER_TYPES:
        return "number"
    if question_type in DATE_TYPES:
        return "date"
    if question_type in TIME_TYPES:
        return "time"
    if question_type in DATETIME_TYPES:
        return "datetime"
    return "text"


def _number(answer: Answer) -> float | None:
    if answer.number is not None:
        return answer.number
    return _parse_number(answer.text)


def _parse_number(text: str | None) -> float | None:
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _as_date(value: dt.date | str | None) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


def _as_time(value: dt.time | str | None) -> dt.time | None:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


def _unparsed(value: Any, parsed: Any, text: str | None) -> str | None:
    """The text kept for a value that could not be parsed (or the answer's own text)."""
    if parsed is None and isinstance(value, str) and value:
        return value
    return text


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _wide_cell(kind: str, values: list[Value]) -> Any:
    """One wide-table cell from an answer's rows, typed by the question's newest design."""
    first = values[0]
    if kind == "number":
        return first[2] if first[2] is not None else _parse_number(first[1])
    if kind == "date":
        return first[3] or (first[5].date() if first[5] else None)
    if kind == "time":
        return first[4] or (first[5].time() if first[5] else None)
    if kind == "datetime":
        return first[5] or (dt.datetime.combine(first[3], dt.time()) if first[3] else None)

    texts = [text for text in map(_value_text, values) if text is not None]
    if len(values) == 1:
        return texts[0] if texts else None
    return JOINER.join(texts)


def _value_text(value: Value) -> str | None:
    """What one answer row says, as text: the Other text, a label, a user, or the value."""
    _, text, number, date, time, moment, choice_id, label, user_id, user_name = value
    if choice_id is not None:
        return text if label == OTHER_LABEL and text is not None else (label or choice_id)
    if user_id is not None or user_name is not None:
        return user_name or user_id
    if text is not None:
        return text
    return _optional_text(next((v for v in (number, date, time, moment) if v is not None), None))


def _responses_frame(
    responses: Sequence[FormResponse],
    response_ids: list[str],
    constants: dict[str, Any],
    fmt: str,
    loaded_at: dt.datetime,
) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {
        "response_id": response_ids,
        "issue_key": [r.issue_key for r in responses],
        "issue_id": [r.issue_id for r in responses],
        "form_id": [r.form_id for r in responses],
        "form_name": [r.form_name for r in responses],
        "form_model": [r.model for r in responses],
        "status": [r.status for r in responses],
        "visibility": [r.visibility for r in responses],
        "updated_at": [r.updated for r in responses],
    }
    extra = {"source_format": fmt, "loaded_at": loaded_at.astimezone(dt.UTC)}
    return _frame(schema.RESPONSES_SCHEMA, columns, {**constants, **extra})


def _jira_fields_frame(
    responses: Sequence[FormResponse], fields: Sequence[str], constants: dict[str, Any]
) -> pd.DataFrame:
    """One row per issue and requested field (every field present when none was requested)."""
    issues: dict[str, FormResponse] = {}
    for response in responses:
        issues.setdefault(response.issue_key, response)
    field_ids = list(fields) or list(dict.fromkeys(f for r in issues.values() for f in r.fields))

    rows = [
        (issue.issue_key, issue.issue_id, fid, issue.field_names.get(fid),
         *_jira_field_value(issue.fields.get(fid)))
        for issue in issues.values()
        for fid in field_ids
    ]  # fmt: skip
    names = ("issue_key", "issue_id", "field_id", "field_name", "value_text", "value_number",
             "value_json")  # fmt: skip
    columns = dict(zip(names, _transpose(rows, len(names)), strict=True))
    return _frame(schema.JIRA_FIELDS_SCHEMA, columns, constants)


def _jira_field_value(value: Any) -> tuple[str | None, float | None, str | None]:
    """A Jira field value as (value_text, value_number, value_json)."""
    if value is None:
        return None, None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None, None
    if isinstance(value, int | float):
        number = float(value)
        return _optional_text(value), (number if math.isfinite(number) else None), None
    if isinstance(value, dict | list):
        return _object_text(value), None, json.dumps(value, ensure_ascii=False, default=str)
    return str(value), None, None


def _object_text(value: Any) -> str | None:
    """The readable part of a Jira object: its name, value, displayName or key."""
    if isinstance(value, list):
        texts = [text for text in map(_object_text, value) if text is not None]
        return JOINER.join(texts) if texts else None
    if isinstance(value, dict):
        for key in ("name", "value", "displayName", "key"):
            if value.get(key) is not None:
                return str(value[key])
        return None
    return None if value is None else str(value)


def _questions_frame(
    catalogue: list[Question], table: str, columns: dict[str, str], constants: dict[str, Any]
) -> pd.DataFrame:
    frame_columns: dict[str, list[Any]] = {
        "question_id": [q.id for q in catalogue],
        "question_key": [q.key for q in catalogue],
        "label": [q.label for q in catalogue],
        "question_type": [q.type for q in catalogue],
        "position": list(range(1, len(catalogue) + 1)),
        "jira_field": [q.jira_field for q in catalogue],
        "wide_table": [table] * len(catalogue),
        "wide_column": [columns[q.id] for q in catalogue],
    }
    return _frame(schema.QUESTIONS_SCHEMA, frame_columns, constants)


def _wide_frame(
    responses: Sequence[FormResponse],
    response_ids: list[str],
    catalogue: list[Question],
    columns: dict[str, str],
    cells: list[dict[str, Any]],
    constants: dict[str, Any],
) -> pd.DataFrame:
    """The wide table: key columns, then one typed column per question."""
    keys: dict[str, list[Any]] = {
        "response_id": response_ids,
        "issue_key": [r.issue_key for r in responses],
        "issue_id": [r.issue_id for r in responses],
        "form_id": [r.form_id for r in responses],
        "status": [r.status for r in responses],
        "visibility": [r.visibility for r in responses],
        "updated_at": [r.updated for r in responses],
    }
    fields = list(schema.WIDE_KEY_SCHEMA)
    values: dict[str, list[Any]] = dict(keys)
    for question in catalogue:
        name = columns[question.id]
        fields.append(pa.field(name, _WIDE_TYPES.get(_kind(question.type), pa.string())))
        values[name] = [row.get(question.id) for row in cells]
    return _frame(pa.schema(fields), values, constants)


def _frame(
    table_schema: pa.Schema, columns: Mapping[str, Sequence[Any]], constants: dict[str, Any]
) -> pd.DataFrame:
    """A frame with exactly the schema's columns and types; constants fill every row."""
    length = len(next(iter(columns.values()))) if columns else 0
    arrays = []
    for field in table_schema:
        column = columns.get(field.name)
        if isinstance(column, pa.Array):
            arrays.append(column.cast(field.type))
        elif column is not None:
            arrays.append(pa.array(column, type=field.type))
        else:
            arrays.append(pa.array([constants.get(field.name)] * length, type=field.type))
    table = pa.Table.from_arrays(arrays, schema=table_schema)
    return table.to_pandas(types_mapper=_pandas_dtype)


def _pandas_dtype(arrow_type: pa.DataType) -> Any:
    """Nullable pandas dtypes: strings, Int64, Float64, Arrow-backed dates and times."""
    if pa.types.is_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_int64(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_float64(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_date32(arrow_type) or pa.types.is_time64(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None
