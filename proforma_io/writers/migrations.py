"""The warehouse's DDL: numbered SQL files in `sql/`, applied in order and recorded.

`NNN_name.sql` with NNN below 100 is a migration: applied once, in one transaction with every
other pending one, and recorded in `schema_version`. NNN of 100 and more is repeatable (the
views): run on every `ensure_schema`. Statements end with a semicolon that ends their line.
A warehouse made before versions were recorded has version 1's tables but no record of them:
every statement of `001_core.sql` is `IF NOT EXISTS`, so it runs again harmlessly and is recorded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from proforma_io.errors import WarehouseError, truncate

SQL_DIR_ENV = "PROFORMA_SQL_DIR"
VERSION_TABLE = "schema_version"
FIRST_REPEATABLE = 100

_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_FILE_NAME = re.compile(r"(\d+)_[\w.-]*\.sql")

# The bookkeeping table lives here rather than in sql/: it must exist before any file is read.
_VERSION_DDL = f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version BIGINT PRIMARY KEY,
    file_name TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
)"""


@dataclass(frozen=True)
class SqlFile:
    """One DDL file and its number."""

    path: Path
    number: int

    @property
    def is_migration(self) -> bool:
        return self.number < FIRST_REPEATABLE


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


def sql_files(folder: Path) -> list[SqlFile]:
    """The folder's DDL files in number order; a file named otherwise is refused."""
    files = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise WarehouseError(f"{path}: expected a DDL file named NNN_name.sql")
        files.append(SqlFile(path, int(match.group(1))))
    numbers = [item.number for item in files if item.is_migration]
    if len(numbers) != len(set(numbers)):
        raise WarehouseError(f"{folder}: two migrations share a number in {numbers}")
    if not files:
        raise WarehouseError(f"no DDL in {folder}: expected NNN_name.sql files")
    return sorted(files, key=lambda item: (item.number, item.path.name))


def apply(conn: Connection, folder: Path) -> list[Path]:
    """Apply the pending migrations and run the repeatable files; return the files run."""
    files = sql_files(folder)
    conn.exec_driver_sql(_VERSION_DDL)
    applied = applied_versions(conn)

    ran = []
    for item in files:
        if item.is_migration and item.number in applied:
            continue
        _run_file(conn, item.path)
        if item.is_migration:
            _record(conn, item)
        ran.append(item.path)
    return ran


def applied_versions(conn: Connection) -> set[int]:
    """The migration numbers recorded in the database; none when it has no version table."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return set()
    versions = sa.table(VERSION_TABLE, sa.column("version"))
    return {int(number) for number in conn.scalars(sa.select(versions.c.version))}


def require_current(conn: Connection, folder: Path, display_url: str) -> None:
    """Refuse to load into a database that lacks a migration of `folder`."""
    wanted = {item.number for item in sql_files(folder) if item.is_migration}
    missing = sorted(wanted - applied_versions(conn))
    if missing:
        raise WarehouseError(
            f"{display_url} lacks schema versions {missing}: expected ensure_schema() to have run"
        )


def _run_file(conn: Connection, path: Path) -> None:
    for statement in split_statements(path.read_text(encoding="utf-8")):
        try:
            conn.exec_driver_sql(statement)
        except SQLAlchemyError as exc:
            first_line = statement.splitlines()[0]
            raise WarehouseError(
                f"{path.name}: statement {first_line!r} failed: {truncate(str(exc))}"
            ) from exc


def _record(conn: Connection, item: SqlFile) -> None:
    versions = sa.table(
        VERSION_TABLE, sa.column("version"), sa.column("file_name"), sa.column("applied_at")
    )
    applied_at = datetime.now(UTC).replace(tzinfo=None)
    conn.execute(
        sa.insert(versions),
        {"version": item.number, "file_name": item.path.name, "applied_at": applied_at},
    )
