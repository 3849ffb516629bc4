"""The wide table of an export: which questions it has, what their columns are called, its rows.

A wide column belongs to a question's identity: its question key when set, else its question id,
so a relabelled question keeps its column and a question recreated with the same key takes the
old one's. Naming and ordering follow docs/architecture.md, "Canonical tables".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from proforma_io import schema
from proforma_io.answer_values import JOINER, Value, parse_number, value_kind, value_text
from proforma_io.forms import FormResponse, Question
from proforma_io.typed_frames import typed_frame

COLUMN_LIMIT = 60

_WIDE_TYPES = {
    "number": pa.float64(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "datetime": schema.LOCAL_TIMESTAMP,
}


def default_wide_table(project_key: str, template_id: int) -> str:
    """The wide table's name when the export does not set one: `form_<project>_<template>`."""
    return f"form_{snake(project_key) or 'project'}_{template_id}"


def question_identity(question_id: str | None, question_key: str | None) -> str | None:
    """What a wide column follows: `key:<question key>` when set, else `id:<question id>`."""
    if question_key:
        return f"key:{question_key}"
    return f"id:{question_id}" if question_id else None


# Limitation: XLSX exports carry no question ids; without a design the reader numbers questions
# by column position, so a question inserted before others gives the later ones new identities
# (new columns) in the wide table. JSON exports, or XLSX read with a design, keep identities.
def identity(question: Question) -> str:
    """The identity of a parsed question (its id is never empty)."""
    return question_identity(question.id, question.key) or f"id:{question.id}"


def question_catalogue(responses: Iterable[FormResponse]) -> list[Question]:
    """One question per identity: the newest design's in its order, then older-only ones."""
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
            catalogue.setdefault(identity(question), question)
    return list(catalogue.values())


def wide_column_names(questions: Sequence[Question]) -> dict[str, str]:
    """A unique, safe wide-table column name per question identity."""
    used = set(schema.WIDE_KEY_SCHEMA.names)
    names: dict[str, str] = {}
    for question in questions:
        base = next(
            (name for name in map(snake, (question.label, question.key or "")) if name),
            f"q{snake(question.id)}",
        )
        if base[0].isdigit():
            base = f"q_{base}"[:COLUMN_LIMIT].rstrip("_")
        names[identity(question)] = unique_name(base, used)
    return names


def unique_name(base: str, used: set[str]) -> str:
    """`base`, or `base_2`, `base_3`... within COLUMN_LIMIT; the name is added to `used`."""
    name, number = base, 1
    while name in used:
        number += 1
        suffix = f"_{number}"
        name = base[: COLUMN_LIMIT - len(suffix)].rstrip("_") + suffix
    used.add(name)
    return name


def snake(text: str) -> str:
    """Lower-case ASCII snake case, at most COLUMN_LIMIT characters; "" if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    snake_text = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return snake_text[:COLUMN_LIMIT].rstrip("_")


def wide_cell(kind: str, values: list[Value]) -> Any:
    """One wide-table cell from an answer's rows, typed by the question's newest design."""
    first = values[0]
    if kind == "number":
        return first[2] if first[2] is not None else parse_number(first[1])
    if kind == "date":
        return first[3] or (first[5].date() if first[5] else None)
    if kind == "time":
        return first[4] or (first[5].time() if first[5] else None)
    if kind == "datetime":
        return first[5] or (dt.datetime.combine(first[3], dt.time()) if first[3] else None)

    texts = [text for text in map(value_text, values) if text is not None]
    if len(values) == 1:
        return texts[0] if texts else None
    return JOINER.join(texts)


def wide_frame(
    responses: Sequence[FormResponse],
    response_ids: list[str],
    catalogue: list[Question],
    columns: dict[str, str],
    cells: list[dict[str, Any]],
    constants: dict[str, Any],
) -> pd.DataFrame:
    """The wide table: key columns, then one typed column per question (cells by identity)."""
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
        key = identity(question)
        name = columns[key]
        fields.append(pa.field(name, _WIDE_TYPES.get(value_kind(question.type), pa.string())))
        values[name] = [row.get(key) for row in cells]
    return typed_frame(pa.schema(fields), values, constants)
