"""The steps of a project load, shared by the Dagster assets and the command line.

export_project (API -> landing) -> normalise_project (landing -> frames) -> write_lake
(frames -> Parquet) -> load_warehouse (Parquet -> SQL). Each step reads only what the previous
one wrote, so any step can be run again without repeating the ones before it. The readers at
the end (row counts, column types) give the data-quality checks their other side.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from proforma_io.auth import BasicCredentials, TokenCredentials, credentials_from_env
from proforma_io.client import ProformaClient
from proforma_io.config import ExportSettings, JiraSettings, PollingSettings, SandboxSettings
from proforma_io.export_job import ExportSpec, PollPolicy, run_export
from proforma_io.http_retries import RetryPolicy
from proforma_io.landing import LandedExport, Landing
from proforma_io.models import ExportStatus
from proforma_io.normalise import normalise_export
from proforma_io.remote_lake import (
    Lake,
    download_project,
    download_registries,
    is_uri,
    open_lake,
    partition_file,
    read_manifest,
    upload_project,
)
from proforma_io.sandbox import Sandbox, SandboxData
from proforma_io.tables import NormalisedExport, ProjectTables
from proforma_io.writers.parquet import (
    PARTITION_COLUMN,
    ParquetWrite,
    read_project,
    write_project,
)
from proforma_io.writers.warehouse import LOAD_LOG, Warehouse, WarehouseLoad

log = logging.getLogger(__name__)

Credentials = BasicCredentials | TokenCredentials | None
Columns = dict[str, str]

SANDBOX_USER = BasicCredentials("admin", "admin")


@dataclass(frozen=True)
class ApiTarget:
    """Where to reach the API and how: a real Jira or the embedded sandbox."""

    jira: JiraSettings
    sandbox: SandboxSettings
    credentials: Credentials = None


def credentials_for(jira: JiraSettings) -> Credentials:
    """Read the credentials the configuration names from the environment, at call time."""
    if jira.is_sandbox or jira.auth.method == "none":
        return None
    auth = jira.auth
    if auth.method == "token":
        return credentials_from_env(token_env=auth.token_env)
    return credentials_from_env(username_env=auth.username_env, password_env=auth.password_env)


@contextmanager
def open_client(target: ApiTarget) -> Iterator[ProformaClient]:
    """A client for the configured API; for `sandbox`, an embedded sandbox runs meanwhile."""
    jira = target.jira
    verify: bool | str = jira.ca_bundle or jira.verify_tls
    retry = RetryPolicy(attempts=jira.retry_attempts, max_wait=jira.retry_max_wait_seconds)
    if not jira.is_sandbox:
        with ProformaClient(
            jira.base_url,
            credentials=target.credentials,
            timeout=jira.timeout_seconds,
            verify=verify,
            retry=retry,
        ) as client:
            yield client
        return

    sandbox = Sandbox(sandbox_data(target.sandbox), export_seconds=target.sandbox.export_seconds)
    with (
        sandbox.running(),
        ProformaClient(
            sandbox.base_url,
            credentials=target.credentials or SANDBOX_USER,
            timeout=jira.timeout_seconds,
            retry=retry,
        ) as client,
    ):
        log.info("Started the embedded ProForma sandbox at %s.", sandbox.base_url)
        yield client


def sandbox_data(settings: SandboxSettings) -> SandboxData:
    """The data the embedded sandbox serves: generated, with replayed files layered on top."""
    data = SandboxData.generated(seed=settings.seed, issues_per_project=settings.issues_per_project)
    if settings.replay_dir:
        data = data.merge(SandboxData.from_folder(Path(settings.replay_dir)))
    return data


def export_spec(export: ExportSettings) -> ExportSpec:
    return ExportSpec(
        project_key=export.project,
        template_id=export.template,
        format=export.format,
        fields=tuple(export.fields),
        jql=export.jql,
        table=export.table_name,
    )


def poll_policy(polling: PollingSettings) -> PollPolicy:
    return PollPolicy(
        initial_interval=polling.initial_interval_seconds,
        max_interval=polling.max_interval_seconds,
        multiplier=polling.multiplier,
        deadline_seconds=polling.deadline_seconds,
        restarts=polling.restarts,
        restart_cooldown=polling.restart_cooldown_seconds,
    )


def export_project(
    client: ProformaClient,
    exports: Sequence[ExportSettings],
    landing: Landing,
    polling: PollingSettings,
    on_progress: Callable[[ExportStatus], None] | None = None,
) -> list[LandedExport]:
    """Run every export of one project and land each file once."""
    landed = []
    for export in exports:
        spec = export_spec(export)
        result = run_export(
            client, spec, landing, policy=poll_policy(polling), on_progress=on_progress
        )
        log.info(
            "Landed export %s of %s template %d: %d bytes at %s.",
            result.export_id,
            spec.project_key,
            spec.template_id,
            result.size_bytes,
            result.path,
        )
        landed.append(result)
    return landed


def normalise_project(
    project: str,
    exports: Sequence[ExportSettings],
    landing: Landing,
    *,
    loaded_at: datetime | None = None,
) -> ProjectTables:
    """Read the latest landed file of each export of a project into canonical frames."""
    loaded_at = loaded_at or datetime.now(UTC)
    normalised: list[NormalisedExport] = []
    for export in exports:
        landed = landing.latest(export.project, export.template)
        normalised.append(
            normalise_export(
                landed.path,
                project_key=export.project,
                template_id=export.template,
                export_id=landed.export_id,
                fmt=export.format,
                fields=export.fields,
                wide_table=export.table_name,
                loaded_at=loaded_at,
            )
        )
    return ProjectTables.combine(project, normalised)


def write_lake(lake: Lake, tables: ProjectTables, *, run_id: str | None = None) -> ParquetWrite:
    """Replace the project's partition of every table in the lake: a folder, or a URI."""
    if not is_uri(lake):
        return write_project(Path(lake), tables, run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="proforma-lake-") as staged:
        download_registries(lake, tables.wide, Path(staged), tables.project_key)
        written = write_project(Path(staged), tables, run_id=run_id)
        return upload_project(Path(staged), lake, written)


def load_warehouse(
    url: str, lake: Lake, project: str, *, run_id: str | None = None
) -> WarehouseLoad:
    """Replace the project's rows in the warehouse with its partition of the lake."""
    tables = _read_lake_project(lake, project)
    warehouse = Warehouse(url)
    try:
        warehouse.ensure_schema()
        return warehouse.replace_project(tables, run_id=run_id)
    finally:
        warehouse.dispose()


def loaded_responses(url: str, project: str) -> dict[int, int]:
    """Responses per template of the project's current load in the warehouse ({} before any)."""
    warehouse = Warehouse(url)
    try:
        if not sa.inspect(warehouse.engine).has_table(LOAD_LOG):
            return {}
        counts = warehouse.template_counts(project)
    finally:
        warehouse.dispose()
    return {template: rows.get("responses", 0) for template, rows in counts.items()}


def warehouse_row_counts(url: str, project: str) -> dict[str, int]:
    """Rows of the project in each core table and each of its wide tables in the warehouse."""
    warehouse = Warehouse(url)
    try:
        return warehouse.project_counts(project)
    finally:
        warehouse.dispose()


def lake_row_counts(lake: Lake, project: str) -> dict[str, int]:
    """Rows of the project in each table of its last lake write, from the Parquet footers."""
    filesystem, root = open_lake(lake)
    return {
        table: pq.read_metadata(
            partition_file(root, table, project), filesystem=filesystem
        ).num_rows
        for table in _lake_tables(lake, project, wide_only=False)
    }


def lake_wide_columns(lake: Lake, project: str) -> dict[str, Columns]:
    """Column types of the project's wide tables in the lake ({} before its first write)."""
    filesystem, root = open_lake(lake)
    columns = {}
    for table in _lake_tables(lake, project, wide_only=True):
        schema = pq.read_schema(partition_file(root, table, project), filesystem=filesystem)
        columns[table] = _types(schema)
    return columns


def _types(schema: pa.Schema) -> Columns:
    return {item.name: str(item.type) for item in schema if item.name != PARTITION_COLUMN}


def _read_lake_project(lake: Lake, project: str) -> ProjectTables:
    """The project's tables from a local lake, or downloaded from a lake named by a URI."""
    if not is_uri(lake):
        return read_project(Path(lake), project)
    with tempfile.TemporaryDirectory(prefix="proforma-lake-") as staged:
        return read_project(download_project(lake, project, Path(staged)), project)


def _lake_tables(lake: Lake, project: str, *, wide_only: bool) -> list[str]:
    """The tables the lake's manifest lists for the project; none before its first write."""
    manifest = read_manifest(lake, project)
    if manifest is None:
        return []
    wide = list(manifest.get("wide_tables", []))
    return wide if wide_only else [*manifest.get("core_tables", []), *wide]
