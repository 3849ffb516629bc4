"""Rows into a table inside the caller's transaction: COPY on PostgreSQL, batches elsewhere.

This is the one place rows reach the database. PostgreSQL gets `COPY ... FROM STDIN` through
psycopg 3 on the connection SQLAlchemy holds, so the rows share the transaction of the DELETEs
before them (as CSV that Arrow writes, so no row passes through Python); SQLite gets
executemany in batches.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from proforma_io.errors import WarehouseError, truncate

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


def insert_rows(
    conn: Connection, target: sa.Table, table: pa.Table, chunk_rows: int, project: str
) -> int:
    """Insert the rows of `table` into `target` in batches of `chunk_rows`; return the count."""
    unknown = [name for name in table.column_names if name not in target.c]
    if unknown:
        raise WarehouseError(
            f"project {project}: table {target.name} has no columns {unknown}; expected "
            "sql/ to define every column of proforma_io/schema.py"
        )

    copying = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    failures = _driver_errors(copying)
    for offset, batch in _batches(table, chunk_rows):
        try:
            if copying:
                _copy(conn, target.name, table.column_names, batch)
            else:
                conn.execute(sa.insert(target), batch.to_pylist())
        except failures as exc:
            raise WarehouseError(
                f"project {project}: inserting rows {offset}-{offset + batch.num_rows - 1} into "
                f"{target.name} failed, the load was rolled back: {truncate(str(exc))}"
            ) from exc
    return table.num_rows


def _driver_errors(copying: bool) -> tuple[type[Exception], ...]:
    """The errors a batch can raise; psycopg is imported only where it is the driver."""
    if not copying:
        return (SQLAlchemyError,)
    import psycopg

    return (SQLAlchemyError, psycopg.Error)


def _batches(table: pa.Table, chunk_rows: int) -> Iterator[tuple[int, pa.Table]]:
    for offset in range(0, table.num_rows, chunk_rows):
        yield offset, table.slice(offset, chunk_rows)


def _copy(conn: Connection, name: str, columns: list[str], batch: pa.Table) -> None:
    """COPY one batch, written as CSV by Arrow, through the psycopg connection under
    SQLAlchemy's transaction. Every value is quoted and a null is left empty and unquoted,
    which is how PostgreSQL's CSV tells an empty string from NULL."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    data = io.BytesIO()
    pacsv.write_csv(batch, data, write_options=_CSV)
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(data.getbuffer())
