"""The SQL warehouse: DDL from `sql/`, a project's rows replaced in one transaction.

Works on SQLite and PostgreSQL through SQLAlchemy. Time stamps are stored without a zone:
columns that are UTC-aware in the frames (`updated_at`, `loaded_at`) are stored as UTC.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from proforma_io.errors import WarehouseError, truncate
from proforma_io.schema import CORE_TABLES, SCHEMAS
from proforma_io.tables import ProjectTables, to_arrow
from proforma_io.writers.parquet import wide_to_arrow

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///warehouse.db"
SQL_DIR_ENV = "PROFORMA_SQL_DIR"
CHUNK_ROWS = 10_000
LOAD_LOG = "load_log"
WIDE_TABLES = "wide_tables"
RESERVED_TABLES = frozenset({*CORE_TABLES, LOAD_LOG, WIDE_TABLES})

_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class WarehouseLoad:
    """What one `replace_project` call loaded; times are UTC."""

    run_id: str
    project_key: str
    export_ids: list[str]
    rows: dict[str, int]
    started_at: datetime
    finished_at: datetime

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def sql_dir() -> Path:
    """The folder of DDL files: `$PROFORMA_SQL_DIR`, else the repository's top-level `sql/`."""
    configured = os.environ.get(SQL_DIR_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "sql"


def split_statements(text: str) -> list[str]:
    """The statements of a SQL file: a statement ends with a semicolon that ends its line.

    Lines starting with `--` are dropped first, so comments may hold semicolons; a semicolon
    inside a string is safe unless it ends a line.
    """
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in _STATEMENT_END.split(code) if part.strip()]


class Warehouse:
    """A SQL database holding the canonical tables and one wide table per template."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        sql_folder: Path | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.display_url = sa.make_url(url).render_as_string(hide_password=True)
        self.engine = _create_engine(url)
        self._sql_folder = sql_folder
        self._chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"Warehouse({self.display_url!r})"

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    # Limitation: two processes ensuring the schema of one PostgreSQL database at the same moment
    # can collide on CREATE TABLE IF NOT EXISTS; the loser fails and succeeds when run again.
    def ensure_schema(self) -> list[Path]:
        """Run every `sql/*.sql` file in name order, in one transaction; return the files."""
        folder = self._sql_folder or sql_dir()
        files = sorted(folder.glob("*.sql"))
        if not files:
            raise WarehouseError(f"no DDL for {self.display_url}: expected *.sql files in {folder}")

        with self.engine.begin() as conn:
            for path in files:
                _run_file(conn, path)

        log.info("Ensured the schema of %s from %d SQL files.", self.display_url, len(files))
        return files

    def replace_project(self, tables: ProjectTables, *, run_id: str | None = None) -> WarehouseLoad:
        """Delete the project's rows from every core and wide table and insert `tables`' rows.

        All of it happens in one transaction, recorded in `load_log`: on failure the previous
        rows stay, a `failed` row is logged and `WarehouseError` is raised.
        """
        project = tables.project_key
        run_id = run_id or uuid.uuid4().hex
        started = datetime.now(UTC)

        try:
            frames = _prepare(tables)
            with self.engine.begin() as conn:
                _require_schema(conn, self.display_url)
                rows = self._replace(conn, project, frames)
                load = WarehouseLoad(
                    run_id, project, list(tables.export_ids), rows, started, datetime.now(UTC)
                )
                _record_load(conn, load, "succeeded")
        except (WarehouseError, SQLAlchemyError) as exc:
            self._record_failure(run_id, tables, started, exc)
            if isinstance(exc, WarehouseError):
                raise
            raise WarehouseError(
                f"project {project}: the load into {self.display_url} failed and was rolled "
                f"back: {truncate(str(exc))}"
            ) from exc

        log.info(
            "Loaded project %s into %s: %d rows in %d tables in %.1f s (run %s).",
            project,
            self.display_url,
            sum(rows.values()),
            len(rows),
            load.seconds,
            run_id,
        )
        return load

    def project_counts(self, project_key: str) -> dict[str, int]:
        """Rows of the project in each core table and in each wide table registered for it."""
        with self.engine.connect() as conn:
            _require_schema(conn, self.display_url)
            names = [*CORE_TABLES, *_registered_wide_tables(conn, project_key)]
            return {name: _count(conn, name, project_key) for name in names}

    def template_counts(self, project_key: str) -> dict[int, dict[str, int]]:
        """Rows of the project in each core table, per template."""
        counts: dict[int, dict[str, int]] = {}
        with self.engine.connect() as conn:
            _require_schema(conn, self.display_url)
            for name in CORE_TABLES:
                for template, rows in _count_by_template(conn, name, project_key):
                    counts.setdefault(int(template), {})[name] = int(rows)
        return counts

    def _replace(
        self, conn: Connection, project: str, frames: dict[str, pa.Table]
    ) -> dict[str, int]:
        """Delete and insert inside the caller's transaction; return rows inserted per table."""
        wide = {name: table for name, table in frames.items() if name not in SCHEMAS}
        for name, table in wide.items():
            _ensure_wide_table(conn, name, table.schema, project)

        inspector = sa.inspect(conn)
        registered = _registered_wide_tables(conn, project)
        stale = [name for name in registered if name not in wide and inspector.has_table(name)]
        targets = {name: _reflect(conn, name) for name in [*frames, *stale]}
        for target in targets.values():
            conn.execute(sa.delete(target).where(target.c.project_key == project))

        _register_wide_tables(conn, project, wide)
        return {
            name: _insert_rows(conn, targets[name], table, self._chunk_rows, project)
            for name, table in frames.items()
        }

    def _record_failure(
        self, run_id: str, tables: ProjectTables, started: datetime, exc: Exception
    ) -> None:
        """Log a failed attempt in its own transaction; a failure to log only warns."""
        project, exports = tables.project_key, list(tables.export_ids)
        attempted = tables.row_counts()
        load = WarehouseLoad(run_id, project, exports, attempted, started, datetime.now(UTC))
        try:
            with self.engine.begin() as conn:
                _record_load(conn, load, "failed", error=truncate(str(exc)))
        except SQLAlchemyError as failure:
            log.warning(
                "Could not record the failed load of project %s in %s: %s",
                project,
                LOAD_LOG,
                truncate(str(failure)),
            )


def _create_engine(url: str) -> Engine:
    """An engine; SQLite gets a folder for its file and transactions that include DDL."""
    parsed = sa.make_url(url)
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() != "sqlite":
        return engine

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Python's sqlite3 commits before DDL and begins only before DML; letting SQLAlchemy emit
    # BEGIN makes CREATE and ALTER TABLE part of the load's transaction, as on PostgreSQL.
    sa.event.listen(engine, "connect", _sqlite_autocommit_off)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_autocommit_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def _run_file(conn: Connection, path: Path) -> None:
    for statement in split_statements(path.read_text(encoding="utf-8")):
        try:
            conn.exec_driver_sql(statement)
        except SQLAlchemyError as exc:
            first_line = statement.splitlines()[0]
            raise WarehouseError(
                f"{path.name}: statement {first_line!r} failed: {truncate(str(exc))}"
            ) from exc


def _require_schema(conn: Connection, display_url: str) -> None:
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


def _sql_type(kind: pa.DataType, table: str, column: str) -> sa.types.TypeEngine[Any]:
    """The portable SQL type of an Arrow column of a wide table."""
    if pa.types.is_boolean(kind):
        return sa.Boolean()
    if pa.types.is_integer(kind):
        return sa.BigInteger()
    if pa.types.is_floating(kind):
        return sa.Double()
    if pa.types.is_date(kind):
        return sa.Date()
    if pa.types.is_time(kind):
        return sa.Time()
    if pa.types.is_timestamp(kind):
        return sa.DateTime()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return sa.Text()
    raise WarehouseError(
        f"wide table {table}: column {column!r} has type {kind}; expected text, number, "
        "boolean, date, time or time stamp"
    )


def _check_identifier(conn: Connection, name: str, project: str) -> None:
    """PostgreSQL cuts longer names silently, which would merge or misname columns."""
    limit = conn.dialect.max_identifier_length
    if len(name.encode()) > limit:
        raise WarehouseError(
            f"project {project}: name {name!r} is {len(name.encode())} bytes; "
            f"{conn.dialect.name} allows at most {limit}"
        )


def _ensure_wide_table(conn: Connection, name: str, schema: pa.Schema, project: str) -> None:
    """Create the wide table from the frame's types, or add the columns it lacks."""
    for label in (name, *schema.names):
        _check_identifier(conn, label, project)
    inspector = sa.inspect(conn)

    if not inspector.has_table(name):
        columns = [
            sa.Column(
                item.name, _sql_type(item.type, name, item.name), index=item.name == "project_key"
            )
            for item in schema
        ]
        sa.Table(name, sa.MetaData(), *columns).create(conn)
        log.info("Created wide table %s with %d columns.", name, len(columns))
        return

    # Limitation: a column whose type changed keeps its old type; values that do not fit it make
    # the load fail and roll back, and the column must then be altered by hand.
    existing = {column["name"] for column in inspector.get_columns(name)}
    preparer = conn.dialect.identifier_preparer
    for item in schema:
        if item.name in existing:
            continue
        sql_type = _sql_type(item.type, name, item.name).compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(name)} ADD COLUMN {preparer.quote(item.name)} {sql_type}"
        )
        log.info("Added column %r (%s) to wide table %s.", item.name, sql_type, name)


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


# Limitation: PostgreSQL receives batched executemany like SQLite; COPY would load large projects
# several times faster and belongs here, the one place rows reach the database.
def _insert_rows(
    conn: Connection, target: sa.Table, table: pa.Table, chunk_rows: int, project: str
) -> int:
    """Insert the rows of `table` into `target` in batches of `chunk_rows`; return the count."""
    unknown = [name for name in table.column_names if name not in target.c]
    if unknown:
        raise WarehouseError(
            f"project {project}: table {target.name} has no columns {unknown}; expected "
            "sql/ to define every column of proforma_io/schema.py"
        )

    statement = sa.insert(target)
    for offset in range(0, table.num_rows, chunk_rows):
        rows = table.slice(offset, chunk_rows).to_pylist()
        try:
            conn.execute(statement, rows)
        except SQLAlchemyError as exc:
            raise WarehouseError(
                f"project {project}: inserting rows {offset}-{offset + len(rows) - 1} into "
                f"{target.name} failed, the load was rolled back: {truncate(str(exc))}"
            ) from exc
    return table.num_rows


def _record_load(
    conn: Connection, load: WarehouseLoad, outcome: str, *, error: str | None = None
) -> None:
    log_table = _reflect(conn, LOAD_LOG)
    conn.execute(
        sa.insert(log_table),
        {
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
        },
    )


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
