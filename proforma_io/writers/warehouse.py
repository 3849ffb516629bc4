"""The SQL warehouse: versioned DDL from `sql/`, a project's rows replaced in one transaction.

Works on SQLite and PostgreSQL through SQLAlchemy. A load takes its project's lock first (see
`transactions`), then deletes the project's rows, evolves its wide tables (see `wide_sql`),
inserts the new rows (COPY on PostgreSQL, see `bulk`) and logs itself, all in one transaction.
Time stamps are stored without a zone: columns that are UTC-aware in the frames (`updated_at`,
`loaded_at`) are stored as UTC.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from proforma_io.errors import WarehouseError, truncate
from proforma_io.schema import CORE_TABLES, QUESTIONS, SCHEMAS
from proforma_io.tables import ProjectTables, to_arrow
from proforma_io.writers import migrations
from proforma_io.writers.bulk import insert_rows
from proforma_io.writers.evolution import (
    KEY_COLUMNS,
    ColumnPlan,
    SchemaChange,
    Stamp,
    WideColumn,
    conform,
    pin_questions,
)
from proforma_io.writers.migrations import SQL_DIR_ENV, VERSION_TABLE, split_statements, sql_dir
from proforma_io.writers.parquet import wide_to_arrow
from proforma_io.writers.transactions import (
    LOCK_TIMEOUT_SECONDS,
    create_engine,
    lock,
    write_transaction,
)
from proforma_io.writers.wide_sql import (
    SCHEMA_CHANGES,
    WIDE_COLUMNS,
    apply_plan,
    plan_wide_table,
    read_registry,
    save_plan,
)

__all__ = ["SQL_DIR_ENV", "Warehouse", "WarehouseLoad", "split_statements", "sql_dir"]

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///warehouse.db"
CHUNK_ROWS = 10_000
LOAD_LOG = "load_log"
WIDE_TABLES = "wide_tables"
RESERVED_TABLES = frozenset(
    {*CORE_TABLES, LOAD_LOG, WIDE_TABLES, WIDE_COLUMNS, SCHEMA_CHANGES, VERSION_TABLE}
)


@dataclass(frozen=True)
class WarehouseLoad:
    """What one `replace_project` call loaded; times are UTC."""

    run_id: str
    project_key: str
    export_ids: list[str]
    rows: dict[str, int]
    started_at: datetime
    finished_at: datetime
    schema_changes: list[SchemaChange] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class Warehouse:
    """A SQL database holding the canonical tables and one wide table per template."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        sql_folder: Path | None = None,
        chunk_rows: int = CHUNK_ROWS,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.display_url = sa.make_url(url).render_as_string(hide_password=True)
        self.engine = create_engine(url, lock_timeout=lock_timeout)
        self._sql_folder = sql_folder
        self._chunk_rows = chunk_rows
        self._lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"Warehouse({self.display_url!r})"

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def ensure_schema(self) -> list[Path]:
        """Apply the pending migrations of `sql/` and re-create the views, in one transaction
        that one writer at a time runs; return the files run."""
        folder = self._sql_folder or sql_dir()
        with write_transaction(self.engine, lock_timeout=self._lock_timeout) as conn:
            lock(conn, ["schema"])
            ran = migrations.apply(conn, folder)

        log.info("Ensured the schema of %s: ran %d SQL files.", self.display_url, len(ran))
        return ran

    def schema_versions(self) -> list[int]:
        """The migrations the database has, in order."""
        with self.engine.connect() as conn:
            return sorted(migrations.applied_versions(conn))

    def replace_project(self, tables: ProjectTables, *, run_id: str | None = None) -> WarehouseLoad:
        """Delete the project's rows from every core and wide table and insert `tables`' rows.

        All of it happens in one transaction, under the project's lock, recorded in `load_log`:
        on failure the previous rows stay, a `failed` row is logged and `WarehouseError` is
        raised. Wide tables keep their pinned columns; each schema change is recorded.
        """
        project = tables.project_key
        run_id = run_id or uuid.uuid4().hex
        started = datetime.now(UTC)

        try:
            frames = _prepare(tables)
            with write_transaction(self.engine, lock_timeout=self._lock_timeout) as conn:
                rows, changes = self._replace(conn, frames, Stamp(run_id, started, project))
                exports = list(tables.export_ids)
                load = WarehouseLoad(
                    run_id, project, exports, rows, started, datetime.now(UTC), changes
                )
                _record_load(conn, load, _export_templates(tables), "succeeded")
        except (WarehouseError, SQLAlchemyError) as exc:
            self._record_failure(run_id, tables, started, exc)
            if isinstance(exc, WarehouseError):
                raise
            raise WarehouseError(
                f"project {project}: the load into {self.display_url} failed and was rolled "
                f"back: {truncate(str(exc))}"
            ) from exc

        log.info(
            "Loaded project %s into %s: %d rows in %d tables, %d schema changes, in %.1f s "
            "(run %s).",
            project,
            self.display_url,
            sum(rows.values()),
            len(rows),
            len(changes),
            load.seconds,
            run_id,
        )
        return load

    def pinned_columns(self, wide_table: str) -> list[WideColumn]:
        """The pinned columns of a wide table, in table order."""
        with self.engine.connect() as conn:
            return read_registry(conn, wide_table)

    def project_counts(self, project_key: str) -> dict[str, int]:
        """Rows of the project in each core table and in each wide table registered for it."""
        with self.engine.connect() as conn:
            _require_tables(conn, self.display_url)
            names = [*CORE_TABLES, *_registered_wide_tables(conn, project_key)]
            return {name: _count(conn, name, project_key) for name in names}

    def template_counts(self, project_key: str) -> dict[int, dict[str, int]]:
        """Rows of the project in each core table, per template."""
        counts: dict[int, dict[str, int]] = {}
        with self.engine.connect() as conn:
            _require_tables(conn, self.display_url)
            for name in CORE_TABLES:
                for template, rows in _count_by_template(conn, name, project_key):
                    counts.setdefault(int(template), {})[name] = int(rows)
        return counts

    def _replace(
        self, conn: Connection, frames: dict[str, pa.Table], stamp: Stamp
    ) -> tuple[dict[str, int], list[SchemaChange]]:
        """Delete, evolve and insert inside the caller's transaction; return rows per table
        and the schema changes."""
        project = stamp.project_key
        wide = [name for name in frames if name not in SCHEMAS]
        lock(conn, [f"project:{project}", *(f"wide table:{name}" for name in wide)])
        migrations.require_current(conn, self._sql_folder or sql_dir(), self.display_url)

        plans = _pin_wide_tables(conn, frames, wide, stamp)
        stale = _registered_wide_tables(conn, project)
        _delete_project(conn, project, [*CORE_TABLES, *wide, *stale])
        targets = {name: _reflect(conn, name) for name in CORE_TABLES}
        for name, plan in plans.items():
            keys = pa.schema([item for item in frames[name].schema if item.name in KEY_COLUMNS])
            targets[name] = apply_plan(conn, plan, keys, project)
        rows = {
            name: insert_rows(conn, targets[name], table, self._chunk_rows, project)
            for name, table in frames.items()
        }

        _register_wide_tables(conn, project, {name: frames[name] for name in wide})
        for plan in plans.values():
            save_plan(conn, plan)
        return rows, [change for plan in plans.values() for change in plan.changes]

    def _record_failure(
        self, run_id: str, tables: ProjectTables, started: datetime, exc: Exception
    ) -> None:
        """Log a failed attempt in its own transaction; a failure to log only warns."""
        project, exports = tables.project_key, list(tables.export_ids)
        attempted = tables.row_counts()
        load = WarehouseLoad(run_id, project, exports, attempted, started, datetime.now(UTC))
        try:
            with self.engine.begin() as conn:
                templates = _export_templates(tables)
                _record_load(conn, load, templates, "failed", error=truncate(str(exc)))
        except SQLAlchemyError as failure:
            log.warning(
                "Could not record the failed load of project %s in %s: %s",
                project,
                LOAD_LOG,
                truncate(str(failure)),
            )


def _require_tables(conn: Connection, display_url: str) -> None:
    inspector = sa.inspect(conn)
    missing = [name for name in (LOAD_LOG, WIDE_TABLES) if not inspector.has_table(name)]
    if missing:
        raise WarehouseError(
            f"{display_url} has no tables {missing}: expected ensure_schema() to have run"
        )


def _prepare(tables: ProjectTables) -> dict[str, pa.Table]:
    """Every frame as Arrow ready for the driver; the database is not touched yet."""
    project = tables.project_key
    frames = {**{name: tables.core[name] for name in CORE_TABLES}, **tables.wide}
    prepared: dict[str, pa.Table] = {}
    for name, frame in frames.items():
        if name in RESERVED_TABLES and name not in tables.core:
            raise WarehouseError(f"project {project}: wide table name {name} is a core table's")
        try:
            table = to_arrow(name, frame) if name in SCHEMAS else wide_to_arrow(frame)
        except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise WarehouseError(
                f"project {project}: table {name} could not be converted for loading: "
                f"{truncate(str(exc))}; nothing was loaded"
            ) from exc
        prepared[name] = _utc_naive(table)
    return prepared


def _utc_naive(table: pa.Table) -> pa.Table:
    """Zone-aware time stamps as their UTC wall-clock time, for TIMESTAMP columns."""
    for index, item in enumerate(table.schema):
        if pa.types.is_timestamp(item.type) and item.type.tz is not None:
            naive = table.column(index).cast(pa.timestamp(item.type.unit))
            table = table.set_column(index, item.with_type(naive.type), naive)
    return table


def _pin_wide_tables(
    conn: Connection, frames: dict[str, pa.Table], wide: list[str], stamp: Stamp
) -> dict[str, ColumnPlan]:
    """Plan every wide table against its pinned columns; conform its frame and the questions."""
    plans = {}
    for name in wide:
        try:
            plans[name] = plan_wide_table(conn, name, frames[name], frames[QUESTIONS], stamp)
            frames[name] = conform(frames[name], plans[name])
        except (pa.ArrowException, TypeError) as exc:
            raise WarehouseError(
                f"project {stamp.project_key}: wide table {name} could not take its pinned "
                f"columns: {truncate(str(exc))}"
            ) from exc
    frames[QUESTIONS] = pin_questions(frames[QUESTIONS], plans)
    return plans


def _delete_project(conn: Connection, project: str, names: list[str]) -> None:
    """Delete the project's rows from each named table that exists."""
    inspector = sa.inspect(conn)
    for name in dict.fromkeys(names):
        if inspector.has_table(name):
            target = sa.table(name, sa.column("project_key"))
            conn.execute(sa.delete(target).where(target.c.project_key == project))


def _reflect(conn: Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _registered_wide_tables(conn: Connection, project: str) -> list[str]:
    registry = sa.table(WIDE_TABLES, sa.column("table_name"), sa.column("project_key"))
    query = (
        sa.select(registry.c.table_name)
        .where(registry.c.project_key == project)
        .order_by(registry.c.table_name)
    )
    return list(conn.scalars(query))


def _register_wide_tables(conn: Connection, project: str, wide: dict[str, pa.Table]) -> None:
    """Make the registry list exactly the project's current wide tables."""
    registry = _reflect(conn, WIDE_TABLES)
    conn.execute(sa.delete(registry).where(registry.c.project_key == project))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "table_name": name,
            "project_key": project,
            "template_id": _template_of(table),
            "loaded_at": loaded_at,
        }
        for name, table in wide.items()
    ]
    if rows:
        conn.execute(sa.insert(registry), rows)


def _template_of(table: pa.Table) -> int | None:
    if "template_id" not in table.column_names:
        return None
    ids = table.column("template_id").drop_null().unique().to_pylist()
    return int(ids[0]) if len(ids) == 1 else None


def _export_templates(tables: ProjectTables) -> list[int | None]:
    """The template of each export of `tables`, as its rows say (None for an export without)."""
    seen: dict[str, int] = {}
    for frame in tables.core.values():
        if {"export_id", "template_id"} <= set(frame.columns):
            pairs = frame[["export_id", "template_id"]].dropna().drop_duplicates()
            for export_id, template_id in pairs.itertuples(index=False):
                seen.setdefault(str(export_id), int(template_id))
    return [seen.get(export_id) for export_id in tables.export_ids]


def _record_load(
    conn: Connection,
    load: WarehouseLoad,
    templates: list[int | None],
    outcome: str,
    *,
    error: str | None = None,
) -> None:
    log_table = _reflect(conn, LOAD_LOG)
    row = {
        "run_id": load.run_id,
        "project_key": load.project_key,
        "export_ids": json.dumps(load.export_ids),
        "row_counts": json.dumps(load.rows),
        "rows_total": sum(load.rows.values()),
        "started_at": load.started_at.astimezone(UTC).replace(tzinfo=None),
        "finished_at": load.finished_at.astimezone(UTC).replace(tzinfo=None),
        "seconds": load.seconds,
        "outcome": outcome,
        "error": error,
        "template_ids": json.dumps(templates),
        "schema_changes": len(load.schema_changes),
    }
    # A database not yet upgraded still records the failure of a load that found it so.
    conn.execute(sa.insert(log_table), {k: v for k, v in row.items() if k in log_table.c})


def _count(conn: Connection, name: str, project: str) -> int:
    table = sa.table(name, sa.column("project_key"))
    query = sa.select(sa.func.count()).select_from(table).where(table.c.project_key == project)
    return int(conn.execute(query).scalar_one())


def _count_by_template(conn: Connection, name: str, project: str) -> list[tuple[int, int]]:
    table = sa.table(name, sa.column("project_key"), sa.column("template_id"))
    query = (
        sa.select(table.c.template_id, sa.func.count())
        .where(table.c.project_key == project)
        .group_by(table.c.template_id)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]
