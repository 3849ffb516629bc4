"""Form responses turned into the canonical frames and the export's wide table.

The conventions (one answer row per value, the Other choice, empty versus missing answers, wide
column naming) are those of docs/architecture.md, "Canonical tables". Rows are gathered as
column lists and converted once through Arrow, so large exports stay fast. The values of one
answer are in `answer_values`, the wide table's columns and rows in `wide`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from proforma_io import schema
from proforma_io.answer_values import (
    JOINER,
    VALUE_COLUMNS,
    Value,
    answer_values,
    optional_text,
    value_kind,
)
from proforma_io.forms import FormResponse, Question
from proforma_io.quarantine import screen
from proforma_io.readers.json_export import read_json_export
from proforma_io.readers.xlsx_export import read_xlsx_export
from proforma_io.tables import NormalisedExport
from proforma_io.typed_frames import transpose, typed_frame
from proforma_io.wide import (
    default_wide_table,
    identity,
    question_catalogue,
    wide_cell,
    wide_column_names,
    wide_frame,
)

__all__ = ["default_wide_table", "normalise_export", "normalise_responses"]


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
    """Read one landed export file and normalise it; `design` helps only XLSX files.

    Values that cannot be loaded as they stand are set aside in the export's quarantine.
    """
    if fmt == "json":
        responses = read_json_export(path).responses
    elif fmt == "xlsx":
        responses = read_xlsx_export(path, fields=fields, design=design)
    else:
        raise ValueError(f"unknown export format {fmt!r}: expected 'json' or 'xlsx'")

    export = normalise_responses(
        responses,
        project_key=project_key,
        template_id=template_id,
        export_id=export_id,
        fmt=fmt,
        fields=fields,
        wide_table=wide_table,
        loaded_at=loaded_at,
    )
    return screen(export, responses, path)


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
        schema.ANSWERS: typed_frame(schema.ANSWERS_SCHEMA, answers, constants),
        schema.JIRA_FIELDS: _jira_fields_frame(responses, fields, constants),
        schema.QUESTIONS: _questions_frame(catalogue, table, columns, constants),
    }
    wide = wide_frame(responses, response_ids, catalogue, columns, cells, constants)
    return NormalisedExport(project_key, template_id, export_id, core, table, wide)


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
        by_question = dict(zip(question_names, transpose(list(self.questions), 4), strict=True))
        response_index = pa.array(self.response_index, pa.int64())
        question_index = pa.array(self.question_index, pa.int64())
        values = transpose(self.values, len(VALUE_COLUMNS))
        return {
            **{name: array.take(response_index) for name, array in by_response.items()},
            **{
                name: pa.array(c, pa.string()).take(question_index)
                for name, c in by_question.items()
            },
            **dict(zip(VALUE_COLUMNS, values, strict=True)),
        }


def _answer_rows(
    responses: Sequence[FormResponse], response_ids: list[str], catalogue: list[Question]
) -> tuple[dict[str, Sequence[Any]], list[dict[str, Any]]]:
    """The answers table's columns, and per response its wide-table cell per identity."""
    known: dict[str, Question] = {}
    for question in catalogue:
        known.setdefault(question.id, question)
    kinds = {identity(question): value_kind(question.type) for question in catalogue}
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
            values = answer_values(question, response.answers[qid])
            rows.add(index, question, values)
            key = identity(question)
            if key in kinds:
                row_cells[key] = wide_cell(kinds[key], values)
        cells.append(row_cells)
    return rows.columns(responses, response_ids), cells


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
    return typed_frame(schema.RESPONSES_SCHEMA, columns, {**constants, **extra})


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
    columns = dict(zip(names, transpose(rows, len(names)), strict=True))
    return typed_frame(schema.JIRA_FIELDS_SCHEMA, columns, constants)


def _jira_field_value(value: Any) -> tuple[str | None, float | None, str | None]:
    """A Jira field value as (value_text, value_number, value_json)."""
    if value is None:
        return None, None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None, None
    if isinstance(value, int | float):
        number = float(value)
        return optional_text(value), (number if math.isfinite(number) else None), None
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
        "wide_column": [columns[identity(q)] for q in catalogue],
    }
    return typed_frame(schema.QUESTIONS_SCHEMA, frame_columns, constants)
