"""Wide tables in the SQL warehouse: pinned columns kept in `wide_columns`, DDL that follows the
plan of `evolution`, and each change recorded in `schema_changes`.

Identifiers are quoted by the dialect, never spliced raw. A widened column is altered in place
on PostgreSQL (`ALTER COLUMN ... TYPE ... USING`); SQLite cannot alter a column's type, so the
table is rebuilt (create, copy with conversions, drop, rename) inside the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from proforma_io.errors import WarehouseError
from proforma_io.schema import QUESTIONS
from proforma_io.writers.evolution import (
    KEY_COLUMNS,
    ColumnPlan,
    SchemaChange,
    Stamp,
    WideColumn,
    adopt_columns,
    claimed_columns,
    kind_of,
    plan_columns,
)

log = logging.getLogger(__name__)

WIDE_COLUMNS = "wide_columns"
SCHEMA_CHANGES = "schema_changes"

SQL_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "text": sa.Text,
    "number": sa.Double,
    "integer": sa.BigInteger,
    "boolean": sa.Boolean,
    "date": sa.Date,
    "time": sa.Time,
    "datetime": sa.DateTime,
}

# Values widened to text read as `evolution.as_kind` writes them, on both backends. SQLite keeps
# DATE, TIME and DATETIME as text already (SQLAlchemy always writes microseconds).
_POSTGRES_AS_TEXT = {"datetime": "replace({c}::text, ' ', 'T')"}
_SQLITE_AS_TEXT = {
    "number": "CASE WHEN {c} = CAST({c} AS INTEGER) THEN CAST(CAST({c} AS INTEGER) AS TEXT) "
    "ELSE CAST({c} AS TEXT) END",
    "integer": "CAST({c} AS TEXT)",
    "boolean": "CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 'true' ELSE 'false' END",
    "date": "{c}",
    "time": "CASE WHEN instr({c}, '.') > 0 THEN rtrim(rtrim({c}, '0'), '.') ELSE {c} END",
    "datetime": "replace(CASE WHEN instr({c}, '.') > 0 THEN rtrim(rtrim({c}, '0'), '.') "
    "ELSE {c} END, ' ', 'T')",
    "text": "{c}",
}


def sql_kind(sql_type: Any) -> str:
    """The column kind of a reflected SQL type."""
    for kind, types in (
        ("boolean", sa.Boolean),
        ("integer", sa.Integer),
        ("number", (sa.Float, sa.Numeric)),
        ("datetime", sa.DateTime),
        ("date", sa.Date),
        ("time", sa.Time),
    ):
        if isinstance(sql_type, types):
            return kind
    return "text"


def plan_wide_table(
    conn: Connection, name: str, frame: pa.Table, questions: pa.Table, stamp: Stamp
) -> ColumnPlan:
    """Plan one wide table's load against `wide_columns`, first adopting columns it lacks."""
    pinned = read_registry(conn, name)
    existing = _existing_kinds(conn, name)
    registered = {column.column for column in pinned} | KEY_COLUMNS
    adopted: list[SchemaChange] = []
    if any(column not in registered for column in existing):
        claims = claimed_columns(_stored_questions(conn, name), name)
        pinned, adopted = adopt_columns(name, list(existing.items()), claims, pinned, stamp)

    plan = plan_columns(name, frame, claimed_columns(questions, name), pinned, stamp)
    return ColumnPlan(plan.wide_table, plan.columns, plan.sources, [*adopted, *plan.changes])


def apply_plan(conn: Connection, plan: ColumnPlan, keys: pa.Schema, project: str) -> sa.Table:
    """Make the SQL table match the plan (create, add, widen); return it for inserting."""
    name = plan.wide_table
    for label in (name, *keys.names, *(column.column for column in plan.columns)):
        check_identifier(conn, label, project)
    columns = [(item.name, kind_of(item.type)) for item in keys]
    columns += [(column.column, column.kind) for column in plan.columns]
    target = _table(name, columns)

    existing = _existing_kinds(conn, name)
    if not existing:
        target.create(conn)
        log.info("Created wide table %s with %d columns.", name, len(columns))
        return target

    missing = [(column, kind) for column, kind in columns if column not in existing]
    widened = [
        (column, existing[column], kind)
        for column, kind in columns
        if column in existing and existing[column] != kind
    ]
    if widened and conn.dialect.name == "sqlite":
        _rebuild_sqlite(conn, name, columns, existing)
    else:
        _add_columns(conn, name, missing)
        _alter_types(conn, name, widened)
    return target


def read_registry(conn: Connection, name: str) -> list[WideColumn]:
    """The pinned columns of a wide table, in position order."""
    registry = _reflect(conn, WIDE_COLUMNS)
    query = sa.select(registry).where(registry.c.wide_table == name).order_by(registry.c.position)
    return [
        WideColumn(
            wide_table=row.wide_table,
            identity=row.identity,
            column=row.column_name,
            kind=row.column_type,
            position=int(row.position),
            first_seen_run=row.first_seen_run,
            first_seen_at=row.first_seen_at.replace(tzinfo=UTC),
            last_seen_run=row.last_seen_run,
            last_seen_at=row.last_seen_at.replace(tzinfo=UTC),
        )
        for row in conn.execute(query)
    ]


def save_plan(conn: Connection, plan: ColumnPlan) -> None:
    """Store the plan's pinned columns in `wide_columns` and append its `schema_changes`."""
    registry = _reflect(conn, WIDE_COLUMNS)
    conn.execute(sa.delete(registry).where(registry.c.wide_table == plan.wide_table))
    conn.execute(
        sa.insert(registry),
        [
            {
                "wide_table": column.wide_table,
                "identity": column.identity,
                "column_name": column.column,
                "column_type": column.kind,
                "position": column.position,
                "first_seen_run": column.first_seen_run,
                "first_seen_at": _naive(column.first_seen_at),
                "last_seen_run": column.last_seen_run,
                "last_seen_at": _naive(column.last_seen_at),
            }
            for column in plan.columns
        ],
    )
    if plan.changes:
        record_changes(conn, plan.changes)


def record_changes(conn: Connection, changes: Sequence[SchemaChange]) -> None:
    changes_table = _reflect(conn, SCHEMA_CHANGES)
    conn.execute(
        sa.insert(changes_table),
        [
            {
                "wide_table": change.wide_table,
                "column_name": change.column,
                "identity": change.identity,
                "change": change.change,
                "old_type": change.old_type,
                "new_type": change.new_type,
                "project_key": change.project_key,
                "run_id": change.run_id,
                "changed_at": _naive(change.at),
            }
            for change in changes
        ],
    )


def check_identifier(conn: Connection, name: str, project: str) -> None:
    """PostgreSQL cuts longer names silently, which would merge or misname columns."""
    limit = conn.dialect.max_identifier_length
    if len(name.encode()) > limit:
        raise WarehouseError(
            f"project {project}: name {name!r} is {len(name.encode())} bytes; "
            f"{conn.dialect.name} allows at most {limit}"
        )


def _table(name: str, columns: Sequence[tuple[str, str]], *, indexed: bool = True) -> sa.Table:
    """A wide table's definition; `project_key` is indexed unless told otherwise."""
    return sa.Table(
        name,
        sa.MetaData(),
        *(
            sa.Column(column, SQL_TYPES[kind](), index=indexed and column == "project_key")
            for column, kind in columns
        ),
    )


def _existing_kinds(conn: Connection, name: str) -> dict[str, str]:
    """The kind of each column the table has, in table order; empty when there is no table."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(name):
        return {}
    return {column["name"]: sql_kind(column["type"]) for column in inspector.get_columns(name)}


def _stored_questions(conn: Connection, name: str) -> pa.Table:
    """The questions rows the warehouse holds for a wide table, from loads before this one."""
    questions = _reflect(conn, QUESTIONS)
    columns = [questions.c[c] for c in ("question_id", "question_key", "wide_table", "wide_column")]
    query = sa.select(*columns).where(questions.c.wide_table == name)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    names = ["question_id", "question_key", "wide_table", "wide_column"]
    return pa.Table.from_pylist(rows, schema=pa.schema([(n, pa.string()) for n in names]))


def _add_columns(conn: Connection, name: str, columns: Sequence[tuple[str, str]]) -> None:
    preparer = conn.dialect.identifier_preparer
    for column, kind in columns:
        sql_type = SQL_TYPES[kind]().compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(name)} ADD COLUMN {preparer.quote(column)} {sql_type}"
        )
        log.info("Added column %r (%s) to wide table %s.", column, sql_type, name)


# Limitation: PostgreSQL refuses to alter the type of a column that a view uses; a dashboard's
# own view on a wide table must be dropped before a load that widens one of its columns.
def _alter_types(conn: Connection, name: str, columns: Sequence[tuple[str, str, str]]) -> None:
    preparer = conn.dialect.identifier_preparer
    for column, old, new in columns:
        sql_type = SQL_TYPES[new]().compile(dialect=conn.dialect)
        quoted = preparer.quote(column)
        using = f"{quoted}::{sql_type}"
        if new == "text":
            using = _POSTGRES_AS_TEXT.get(old, "{c}::text").format(c=quoted)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(name)} ALTER COLUMN {quoted} TYPE {sql_type} "
            f"USING {using}"
        )
        log.info("Widened column %r of wide table %s from %s to %s.", column, name, old, new)


def _rebuild_sqlite(
    conn: Connection, name: str, columns: Sequence[tuple[str, str]], existing: dict[str, str]
) -> None:
    """Rebuild a SQLite table with `columns`, converting the values of widened ones."""
    preparer = conn.dialect.identifier_preparer
    interim = f"{name}__rebuild"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(interim)}")
    _table(interim, columns, indexed=False).create(conn)

    targets, sources = [], []
    for column, kind in columns:
        quoted = preparer.quote(column)
        targets.append(quoted)
        if column not in existing:
            sources.append("NULL")
        elif existing[column] == kind:
            sources.append(quoted)
        elif kind == "text":
            sources.append(_SQLITE_AS_TEXT[existing[column]].format(c=quoted))
        else:
            sources.append(f"CAST({quoted} AS REAL)")
    conn.exec_driver_sql(
        f"INSERT INTO {preparer.quote(interim)} ({', '.join(targets)}) "
        f"SELECT {', '.join(sources)} FROM {preparer.quote(name)}"
    )
    conn.exec_driver_sql(f"DROP TABLE {preparer.quote(name)}")
    # SQLite's RENAME checks every view, and a dashboard's view on this table names a table that
    # is gone for the moment; the legacy rename leaves views alone, and once the new table has
    # the old name they read it.
    conn.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(interim)} RENAME TO {preparer.quote(name)}"
        )
    finally:
        conn.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    index = preparer.quote(f"ix_{name}_project_key")
    conn.exec_driver_sql(f"CREATE INDEX {index} ON {preparer.quote(name)} (project_key)")
    log.info("Rebuilt wide table %s to widen column types.", name)


def _reflect(conn: Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _naive(moment: Any) -> Any:
    return moment.astimezone(UTC).replace(tzinfo=None)
