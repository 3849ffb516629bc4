"""The three project-partitioned assets: landed export files, the lake, the warehouse."""

import warnings
from collections.abc import Callable

import dagster as dg

from pipelines import checks, metadata
from pipelines.policies import export_retry_policy, warehouse_freshness
from pipelines.pools import export_pool, warehouse_pool
from pipelines.resources import ProformaApiResource, StorageResource, WarehouseResource
from pipelines.tags import tag_run
from proforma_io import quality
from proforma_io.config import Settings
from proforma_io.errors import (
    AuthenticationError,
    ClientRequestError,
    ConfigError,
    ExportFailedError,
    ForbiddenError,
    ForeignDownloadError,
    LandingError,
    RequestJsonError,
)
from proforma_io.load import (
    export_project,
    lake_row_counts,
    lake_wide_columns,
    load_warehouse,
    loaded_responses,
    normalise_project,
    warehouse_row_counts,
    write_lake,
)
from proforma_io.models import ExportStatus

GROUP = "proforma"
PROGRESS_STEP = 10

# Failures a retry cannot fix: a person has to change the configuration, the credentials, the
# user's permissions, the query, Jira's base URL or the landing folder first. A failed export was
# already started again by the export job as often as `polling.restarts` allows; retrying a
# landing folder that cannot be written would start one more export on the server per retry.
NOT_RETRIED = (
    AuthenticationError,
    ClientRequestError,
    ConfigError,
    ExportFailedError,
    ForbiddenError,
    ForeignDownloadError,
    LandingError,
    RequestJsonError,
)


def project_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """One partition per configured project key."""
    return dg.StaticPartitionsDefinition(settings.projects)


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets for the projects and templates of one configuration."""
    partitions = project_partitions(settings)
    # Partitioned asset checks are a preview feature of Dagster 1.13; they are what gives each
    # project its own check results, so the warning is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        lake_specs = checks.check_specs("lake_tables", checks.LAKE_CHECKS, partitions)
        warehouse_specs = checks.check_specs(
            "warehouse_tables", checks.WAREHOUSE_CHECKS, partitions
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"file"},
        pool=export_pool(settings),
        retry_policy=export_retry_policy(settings),
        description=(
            "Export files of every configured template of the project, downloaded once from "
            "ProForma and kept in the landing folder with their sha256 and size. A retry "
            "resumes the export in flight instead of starting another."
        ),
    )
    def landed_exports(
        context: dg.AssetExecutionContext,
        proforma_api: ProformaApiResource,
        storage: StorageResource,
    ) -> dg.MaterializeResult:
        project = context.partition_key
        tag_run(context, settings)
        exports = settings.exports_for(project)
        context.log.info(
            f"Exporting {len(exports)} template(s) of project {project}: "
            + ", ".join(f"template {e.template} as {e.format}" for e in exports)
            + "."
        )

        try:
            with proforma_api.client() as client:
                landed = export_project(
                    client,
                    exports,
                    storage.landing(),
                    settings.polling,
                    on_progress=_progress_logger(context),
                )
        except NOT_RETRIED as exc:
            raise dg.Failure(
                description=f"Project {project} cannot be exported until this is fixed: {exc}",
                allow_retries=False,
            ) from exc

        resumed = sum(item.resumed for item in landed)
        restarts = sum(len(item.restarts) for item in landed)
        context.log.info(
            f"Landed {len(landed)} export file(s) of project {project}, "
            f"{sum(item.size_bytes for item in landed):,} bytes"
            + (f", {resumed} resumed after an interruption" if resumed else "")
            + (f", after {restarts} export(s) were given up and started again" if restarts else "")
            + "."
        )
        return dg.MaterializeResult(
            metadata={
                "export_ids": [item.export_id for item in landed],
                "bytes": sum(item.size_bytes for item in landed),
                "wait_seconds": round(max(item.wait_seconds for item in landed), 2),
                "resumed": resumed,
                "restarts": restarts,
                "exports": dg.MetadataValue.md(metadata.exports_table(landed)),
            }
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"parquet", "pandas"},
        deps=[landed_exports],
        check_specs=lake_specs,
        metadata=metadata.core_schema_metadata(),
        description=(
            "The project's responses normalised into the canonical tables (responses, answers, "
            "jira_fields, questions) and one wide table per template, as Hive-partitioned "
            "Parquet in the lake. Blocking checks keep bad data out of the warehouse."
        ),
    )
    def lake_tables(
        context: dg.AssetExecutionContext,
        storage: StorageResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        project = context.partition_key
        tag_run(context, settings)
        exports = settings.exports_for(project)
        previous_columns = lake_wide_columns(storage.lake, project)
        loaded = loaded_responses(warehouse.url, project)

        tables = normalise_project(project, exports, storage.landing())
        written = write_lake(storage.lake, tables, run_id=context.run.run_id)
        counts = tables.row_counts()
        context.log.info(
            f"Wrote project {project} to the lake at {storage.lake}: "
            + ", ".join(f"{rows} rows of {name}" for name, rows in counts.items())
            + "."
        )

        # Compared as the lake holds them after the write, where a relabelled question keeps
        # its pinned column and a removed one keeps its column, so neither reads as a change.
        columns = lake_wide_columns(storage.lake, project)
        templates = [export.template for export in exports]
        results = [
            checks.check_result(
                checks.NOT_EMPTIED, quality.exports_not_emptied(tables, templates, loaded)
            ),
            checks.check_result(checks.UNIQUE_ISSUE_FORM, quality.unique_issue_forms(tables)),
            checks.check_result(checks.STATUS_PRESENT, quality.statuses_present(tables)),
            checks.check_result(
                checks.SCHEMA_CHANGES, quality.schema_changes(columns, previous_columns)
            ),
            checks.check_result(checks.QUARANTINED_VALUES, quality.quarantined_values(tables)),
        ]
        _log_failed_checks(context, results)
        operations = settings.operations
        return dg.MaterializeResult(
            metadata={
                "export_ids": tables.export_ids,
                **metadata.row_count_metadata(counts),
                "lake": str(storage.lake),
                "files": len(written.files),
                "quarantined": len(tables.quarantine),
                **metadata.wide_schema_metadata(columns),
                **metadata.preview_metadata(
                    tables, operations.preview_rows, operations.masked_columns
                ),
            },
            check_results=results,
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"sql"},
        deps=[lake_tables],
        pool=warehouse_pool(settings),
        check_specs=warehouse_specs,
        freshness_policy=warehouse_freshness(settings),
        metadata=metadata.core_schema_metadata(),
        description=(
            "The project's rows in the SQL warehouse that dashboards read, replaced in one "
            "transaction from the project's partition of the lake."
        ),
    )
    def warehouse_tables(
        context: dg.AssetExecutionContext,
        storage: StorageResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        project = context.partition_key
        tag_run(context, settings)
        loaded = load_warehouse(warehouse.url, storage.lake, project, run_id=context.run.run_id)
        context.log.info(
            f"Loaded project {project} into {warehouse.display_url} in {loaded.seconds:.1f} s: "
            + ", ".join(f"{rows} rows of {name}" for name, rows in loaded.rows.items())
            + "."
        )

        agreement = quality.counts_agree(
            lake_row_counts(storage.lake, project), warehouse_row_counts(warehouse.url, project)
        )
        results = [checks.check_result(checks.COUNTS_MATCH_LAKE, agreement)]
        _log_failed_checks(context, results)
        return dg.MaterializeResult(
            metadata={
                **metadata.row_count_metadata(loaded.rows),
                "export_ids": loaded.export_ids,
                "warehouse": warehouse.display_url,
                "load_seconds": round(loaded.seconds, 2),
            },
            check_results=results,
        )

    return [landed_exports, lake_tables, warehouse_tables]


def _progress_logger(context: dg.AssetExecutionContext) -> Callable[[ExportStatus], None]:
    """Log an export's progress every `PROGRESS_STEP` percent, and when it completes."""
    reported: dict[str, int] = {}

    def report(status: ExportStatus) -> None:
        last = reported.get(status.id)
        if last is not None and status.progress < last + PROGRESS_STEP and not status.complete:
            return
        reported[status.id] = status.progress
        if status.complete and not status.failed:
            context.log.info(f"Export {status.id} is complete.")
        elif not status.complete:
            context.log.info(f"Export {status.id} is {status.progress}% done.")

    return report


def _log_failed_checks(
    context: dg.AssetExecutionContext, results: list[dg.AssetCheckResult]
) -> None:
    for result in results:
        if result.passed:
            continue
        level = "an error" if result.severity == dg.AssetCheckSeverity.ERROR else "a warning"
        context.log.warning(
            f"Check {result.check_name} did not pass ({level}): {result.description}"
        )
