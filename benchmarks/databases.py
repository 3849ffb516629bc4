"""Fresh databases for each measured load: a new SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Database:
    """One empty database: its SQLAlchemy URL and the plain URL dlt takes."""

    url: str
    dlt_url: str


@contextmanager
def fresh_sqlite(folder: Path) -> Iterator[Database]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{os.getpid()}-{next(_numbers)}.db"
    path.unlink(missing_ok=True)
    try:
        yield Database(f"sqlite:///{path}", f"sqlite:///{path}")
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def fresh_postgres(admin_url: str = DEFAULT_POSTGRES) -> Iterator[Database]:
    """Create a database named for this process and drop it afterwards, whatever happened."""
    name = f"proforma_bench_{os.getpid()}_{next(_numbers)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin_url).set(database=name)
    try:
        yield Database(
            url.render_as_string(hide_password=False),
            # dlt requires a password; a server trusting local connections ignores it.
            url.set(drivername="postgresql", password=url.password or "unused").render_as_string(
                hide_password=False
            ),
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_reachable(admin_url: str = DEFAULT_POSTGRES) -> bool:
    try:
        engine = sa.create_engine(admin_url)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.SQLAlchemyError:
        return False
    return True
