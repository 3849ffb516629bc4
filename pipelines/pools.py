"""Concurrency pools: export starts per Jira instance, and writes to a single-writer warehouse.

Dagster keeps pool limits in the instance, not in code. `python -m pipelines.pools` (run by
`make dev`, and once per deployment in production) sets the limits the configuration asks for
in the instance of `DAGSTER_HOME`; `dagster instance concurrency set <pool> <limit>` or the UI's
Deployment → Concurrency page change them by hand.
"""

import sys
from urllib.parse import urlsplit

import dagster as dg
from sqlalchemy.engine import make_url

from proforma_io.config import Settings, load_settings
from proforma_io.errors import ProformaError

EXPORT_POOL_PREFIX = "proforma_exports"
SQLITE_POOL_PREFIX = "sqlite_writer"
SQLITE_WRITERS = 1


def export_pool(settings: Settings) -> str:
    """The pool of the exports of one Jira instance: `proforma_exports.<host[:port]>`."""
    jira = settings.jira
    host = "sandbox" if jira.is_sandbox else urlsplit(jira.base_url).netloc.lower()
    return f"{EXPORT_POOL_PREFIX}.{host}"


def warehouse_pool(settings: Settings) -> str | None:
    """The pool of warehouse writes when the warehouse takes one writer at a time (SQLite)."""
    url = make_url(settings.warehouse_url)
    if url.get_backend_name() != "sqlite":
        return None
    name = (url.database or "").replace("\\", "/").rsplit("/", 1)[-1] or "memory"
    return f"{SQLITE_POOL_PREFIX}.{name}"


def pool_limits(settings: Settings) -> dict[str, int]:
    """Each pool the code location uses and the limit the configuration gives it."""
    limits = {export_pool(settings): settings.operations.export_pool_limit}
    writer = warehouse_pool(settings)
    if writer:
        limits[writer] = SQLITE_WRITERS
    return limits


def apply_pool_limits(instance: dg.DagsterInstance, settings: Settings) -> dict[str, int]:
    """Set the configured limit of every pool in the instance; return what was set."""
    limits = pool_limits(settings)
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits


def main() -> int:
    """Apply the configuration's pool limits to the Dagster instance of `DAGSTER_HOME`."""
    try:
        settings = load_settings()
    except ProformaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        limits = apply_pool_limits(instance, settings)
    for pool, limit in limits.items():
        print(f"Pool {pool}: at most {limit} at a time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
