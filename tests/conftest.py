"""Database fixtures shared by the warehouse tests: a fresh PostgreSQL database per session,
an empty database of each backend per test, and a warehouse with its schema in place.

PostgreSQL is the server at PROFORMA_TEST_POSTGRES_URL (default 127.0.0.1:5432, user postgres,
trust authentication). Without one the PostgreSQL tests are skipped and the summary says why;
PROFORMA_REQUIRE_POSTGRES=1 (set by CI) makes them fail instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from proforma_io.writers.warehouse import Warehouse

POSTGRES_URL = os.environ.get(
    "PROFORMA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at its end."""
    admin = sa.create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        admin.dispose()
        shown = sa.make_url(POSTGRES_URL).render_as_string(hide_password=True)
        reason = (
            f"PostgreSQL at {shown} is unreachable ({type(exc).__name__}); start it or set "
            "PROFORMA_TEST_POSTGRES_URL"
        )
        if os.environ.get("PROFORMA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and PROFORMA_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(reason)

    name = f"proforma_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


@pytest.fixture
def warehouse(database_url: str) -> Iterator[Warehouse]:
    """A warehouse whose schema is in place."""
    store = Warehouse(database_url)
    store.ensure_schema()
    yield store
    store.dispose()
