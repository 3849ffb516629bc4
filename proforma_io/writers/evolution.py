"""How a wide table's columns evolve while forms change, decided alike for the lake and warehouse.

Every question column belongs to an identity (`key:<question key>`, else `id:<question id>`, see
`proforma_io.wide`; a column no question claims is `column:<its name>`). The first time an
identity is seen its column name is chosen and pinned: a relabel keeps the column, a new identity
adds one, a question that disappears keeps its column (nulls from then on), and a type that
changes widens the column (integer to number, anything else to text) without losing a value.
Every decision is a `SchemaChange`; the registry of pinned columns is a list of `WideColumn`s.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from proforma_io.schema import LOCAL_TIMESTAMP, WIDE_KEY_SCHEMA
from proforma_io.wide import question_identity, unique_name

ADD_COLUMN = "add_column"
WIDEN_TYPE = "widen_type"
ADOPT_COLUMN = "adopt_column"

KEY_COLUMNS = frozenset(WIDE_KEY_SCHEMA.names)

ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "datetime": LOCAL_TIMESTAMP,
}


@dataclass(frozen=True)
class Stamp:
    """Who is writing: the run, the moment (UTC) and the project."""

    run_id: str | None
    at: datetime
    project_key: str


@dataclass(frozen=True)
class WideColumn:
    """One pinned column of a wide table: which identity it holds, its name, type and history."""

    wide_table: str
    identity: str
    column: str
    kind: str
    position: int
    first_seen_run: str | None
    first_seen_at: datetime
    last_seen_run: str | None
    last_seen_at: datetime


@dataclass(frozen=True)
class SchemaChange:
    """A column added, adopted (registered as found on upgrade) or widened to another type."""

    wide_table: str
    column: str
    identity: str
    change: str
    old_type: str | None
    new_type: str | None
    project_key: str
    run_id: str | None
    at: datetime


@dataclass(frozen=True)
class ColumnPlan:
    """The wide table after one write: its columns in order, their sources, and the changes."""

    wide_table: str
    columns: list[WideColumn]
    sources: dict[str, str]
    changes: list[SchemaChange]

    def column_of(self, identity: str) -> str | None:
        return next((c.column for c in self.columns if c.identity == identity), None)


def kind_of(arrow_type: pa.DataType) -> str:
    """The column kind of an Arrow type; TypeError for types a wide table cannot hold."""
    checks = (
        ("text", pa.types.is_string),
        ("text", pa.types.is_large_string),
        ("text", pa.types.is_null),
        ("number", pa.types.is_floating),
        ("integer", pa.types.is_integer),
        ("boolean", pa.types.is_boolean),
        ("date", pa.types.is_date),
        ("time", pa.types.is_time),
        ("datetime", pa.types.is_timestamp),
    )
    for kind, check in checks:
        if check(arrow_type):
            return kind
    raise TypeError(
        f"type {arrow_type}: expected text, number, integer, boolean, date, time or time stamp"
    )


def widen(old: str, new: str) -> str:
    """The kind that holds values of both: the same, number for integers, else text."""
    if old == new:
        return old
    if {old, new} == {"integer", "number"}:
        return "number"
    return "text"


def claimed_columns(questions: pa.Table, wide_table: str) -> dict[str, str]:
    """The wide table's columns that questions name, with the identity of each."""
    claimed: dict[str, str] = {}
    rows = questions.select(["question_id", "question_key", "wide_table", "wide_column"])
    for row in rows.to_pylist():
        if row["wide_table"] != wide_table or not row["wide_column"]:
            continue
        identity = question_identity(row["question_id"], row["question_key"])
        if identity is not None and identity not in claimed.values():
            claimed.setdefault(row["wide_column"], identity)
    return claimed


def adopt_columns(
    wide_table: str,
    existing: Sequence[tuple[str, str]],
    claimed: Mapping[str, str],
    pinned: Sequence[WideColumn],
    stamp: Stamp,
) -> tuple[list[WideColumn], list[SchemaChange]]:
    """Register the (name, kind) columns a table already has that the registry lacks.

    This is how a wide table written before columns were pinned keeps its columns: an identity
    comes from the questions that name the column, else from the name itself.
    """
    columns = sorted(pinned, key=lambda c: c.position)
    names = {c.column for c in columns}
    identities = {c.identity for c in columns}
    changes = []
    for name, kind in existing:
        if name in KEY_COLUMNS or name in names:
            continue
        identity = claimed.get(name) or f"column:{name}"
        number = 1
        while identity in identities:
            number += 1
            identity = f"column:{name}#{number}"
        column = _new_column(wide_table, identity, name, kind, len(columns) + 1, stamp)
        columns.append(column)
        names.add(name)
        identities.add(identity)
        changes.append(_change(column, ADOPT_COLUMN, None, kind, stamp))
    return columns, changes


def plan_columns(
    wide_table: str,
    table: pa.Table,
    claimed: Mapping[str, str],
    pinned: Sequence[WideColumn],
    stamp: Stamp,
) -> ColumnPlan:
    """Decide where each column of `table` goes in the wide table pinned as `pinned`."""
    columns = {c.identity: c for c in sorted(pinned, key=lambda c: c.position)}
    used = {c.column for c in columns.values()} | set(KEY_COLUMNS)
    sources: dict[str, str] = {}
    changes: list[SchemaChange] = []

    for name, identity in _identify(table.column_names, claimed, columns).items():
        array = table.column(name)
        try:
            kind = kind_of(array.type)
        except TypeError as exc:
            raise TypeError(f"column {name!r} has {exc}") from exc
        has_values = array.null_count < len(array)
        current = columns.get(identity)
        if current is None:
            column_name = unique_name(name, used)
            current = _new_column(wide_table, identity, column_name, kind, len(columns) + 1, stamp)
            changes.append(_change(current, ADD_COLUMN, None, kind, stamp))
        else:
            target = widen(current.kind, kind) if has_values else current.kind
            if target != current.kind:
                changes.append(_change(current, WIDEN_TYPE, current.kind, target, stamp))
            if name in claimed or has_values:
                current = dataclasses.replace(
                    current, kind=target, last_seen_run=stamp.run_id, last_seen_at=stamp.at
                )
        columns[identity] = current
        sources[current.column] = name
    return ColumnPlan(wide_table, list(columns.values()), sources, changes)


def conform(table: pa.Table, plan: ColumnPlan) -> pa.Table:
    """`table` with the plan's columns: key columns, then every pinned column in its type.

    The pandas metadata of columns whose values keep their type is kept, under the new names.
    """
    keys = [name for name in table.column_names if name in KEY_COLUMNS]
    arrays = [table.column(name) for name in keys]
    fields = [table.schema.field(name) for name in keys]
    unchanged = {name: name for name in keys}
    for column in plan.columns:
        source = plan.sources.get(column.column)
        kind_type = ARROW_TYPES[column.kind]
        if source is None:
            arrays.append(pa.nulls(table.num_rows, kind_type))
        else:
            arrays.append(as_kind(table.column(source), column.kind))
            if table.schema.field(source).type == kind_type:
                unchanged[column.column] = source
        fields.append(pa.field(column.column, kind_type))
    metadata = _pandas_metadata(table.schema.metadata, unchanged)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def as_kind(values: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array | pa.ChunkedArray:
    """Values converted to a column kind. As text they read as the normaliser writes answers:
    numbers without a trailing `.0`, ISO dates, times and date-times (`2026-11-16T09:30:00`),
    a fraction of a second only when there is one."""
    target = ARROW_TYPES[kind]
    if values.type == target:
        return values
    if values.null_count == len(values):
        return pa.nulls(len(values), target)
    if kind == "text" and (pa.types.is_time(values.type) or pa.types.is_timestamp(values.type)):
        text = values.cast(pa.string())
        trimmed = pc.replace_substring_regex(text, pattern=r"(\.\d*?)0+$", replacement=r"\1")
        trimmed = pc.replace_substring_regex(trimmed, pattern=r"\.$", replacement="")
        return pc.replace_substring(trimmed, pattern=" ", replacement="T")
    if kind == "datetime" and pa.types.is_timestamp(values.type):
        return values.cast(pa.timestamp("us", tz=values.type.tz)).cast(target)
    return values.cast(target)


def pin_questions(questions: pa.Table, plans: Mapping[str, ColumnPlan]) -> pa.Table:
    """The questions table with each question's `wide_column` the pinned column of its identity."""
    rows = questions.select(["question_id", "question_key", "wide_table", "wide_column"])
    pinned = []
    for row in rows.to_pylist():
        plan = plans.get(row["wide_table"])
        identity = question_identity(row["question_id"], row["question_key"])
        column = plan.column_of(identity) if plan and identity else None
        pinned.append(column or row["wide_column"])
    index = questions.schema.get_field_index("wide_column")
    field = questions.schema.field(index)
    return questions.set_column(index, field, pa.array(pinned, field.type))


def _pandas_metadata(
    metadata: dict[bytes, bytes] | None, unchanged: Mapping[str, str]
) -> dict[bytes, bytes] | None:
    """Schema metadata whose pandas part describes only the `unchanged` (new: old) columns, so
    pandas reads every other column by its Arrow type."""
    if not metadata or b"pandas" not in metadata:
        return metadata
    body = json.loads(metadata[b"pandas"])
    entries = {entry.get("field_name"): entry for entry in body.get("columns", [])}
    body["columns"] = [
        {**entries[old], "name": new, "field_name": new}
        for new, old in unchanged.items()
        if old in entries
    ]
    return {**metadata, b"pandas": json.dumps(body).encode()}


def _identify(
    names: Sequence[str], claimed: Mapping[str, str], pinned: Mapping[str, WideColumn]
) -> dict[str, str]:
    """Each non-key column's identity: the question's that claims it, else the pinned column's
    of that name, else its own name's. No two columns get one identity."""
    by_name = {column.column: identity for identity, column in pinned.items()}
    identities: dict[str, str] = {}
    for name in names:
        identity = claimed.get(name)
        if name not in KEY_COLUMNS and identity and identity not in identities.values():
            identities[name] = identity
    for name in names:
        if name in KEY_COLUMNS or name in identities:
            continue
        identity = by_name.get(name) or f"column:{name}"
        if identity in identities.values():
            identity = f"column:{name}"
        identities[name] = identity
    return {name: identities[name] for name in names if name in identities}


def _new_column(
    wide_table: str, identity: str, column: str, kind: str, position: int, stamp: Stamp
) -> WideColumn:
    return WideColumn(
        wide_table, identity, column, kind, position, stamp.run_id, stamp.at, stamp.run_id, stamp.at
    )


def _change(
    column: WideColumn, change: str, old: str | None, new: str | None, stamp: Stamp
) -> SchemaChange:
    return SchemaChange(
        column.wide_table,
        column.column,
        column.identity,
        change,
        old,
        new,
        stamp.project_key,
        stamp.run_id,
        stamp.at,
    )
