"""Engines and write transactions that take turns: one writer of a project (or schema) at a time.

PostgreSQL: a transaction-level advisory lock per name (a project, a wide table, the schema),
released by COMMIT or ROLLBACK. SQLite: write transactions begin with `BEGIN IMMEDIATE`, which
takes the database's write lock at once, so a second writer waits for the first to finish
instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

LOCK_TIMEOUT_SECONDS = 600.0

_IMMEDIATE = "proforma_immediate"


def create_engine(url: str, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> Engine:
    """An engine; SQLite gets a folder for its file, transactions that include DDL and a wait
    of `lock_timeout` seconds for the write lock."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": lock_timeout})
    # Python's sqlite3 commits before DDL and begins only before DML; letting SQLAlchemy emit
    # BEGIN makes CREATE and ALTER TABLE part of the load's transaction, as on PostgreSQL.
    sa.event.listen(engine, "connect", _sqlite_autocommit_off)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextmanager
def write_transaction(engine: Engine, *, lock_timeout: float) -> Iterator[Connection]:
    """A transaction for writing, committed when the block ends and rolled back on error.

    On PostgreSQL every lock it waits for gives up after `lock_timeout` seconds.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                milliseconds = int(lock_timeout * 1000)
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")
            yield conn


def lock(conn: Connection, names: Iterable[str]) -> None:
    """Hold the named locks until the transaction ends; in name order, so no two writers
    deadlock. SQLite needs none: its write transaction already excludes other writers."""
    if conn.dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    digest = hashlib.sha256(f"proforma:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _sqlite_autocommit_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
