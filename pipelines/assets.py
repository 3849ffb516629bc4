"""The three project-partitioned assets: landed export files, the lake, the warehouse."""

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from pipelines.resources import ProformaApiResource, StorageResource, WarehouseResource
from proforma_io.config import Settings
from proforma_io.load import export_project, load_warehouse, normalise_project, write_lake
from proforma_io.models import ExportStatus
from proforma_io.tables import ProjectTables

GROUP = "proforma"
API_POOL = "proforma_api"
WAREHOUSE_POOL = "warehouse"


def project_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """One partition per configured project key."""
    return dg.StaticPartitionsDefinition(settings.projects)


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets for the projects and templates of one configuration."""
    partitions = project_partitions(settings)

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"file"},
        pool=API_POOL,
        description=(
            "Export files of every configured template of the project, downloaded once from "
            "ProForma and kept in the landing folder with their sha256 and size."
        ),
    )
    def landed_exports(
        context: dg.AssetExecutionContext,
        proforma_api: ProformaApiResource,
        storage: StorageResource,
    ) -> dg.MaterializeResult:
        project = context.partition_key
        exports = settings.exports_for(project)
        context.log.info(
            f"Exporting {len(exports)} template(s) of project {project}: "
            + ", ".join(f"{e.template} as {e.format}" for e in exports)
            + "."
        )

        def report(status: ExportStatus) -> None:
            context.log.info(f"Export {status.id} is {status.progress}% done.")

        with proforma_api.client() as client:
            landed = export_project(
                client, exports, storage.landing(), settings.polling, on_progress=report
            )

        return dg.MaterializeResult(
            metadata={
                "export_ids": [item.export_id for item in landed],
                "bytes": sum(item.size_bytes for item in landed),
                "files": dg.MetadataValue.md(
                    "\n".join(
                        f"- template {item.template_id}: `{item.path}` "
                        f"({item.size_bytes} bytes, sha256 `{item.sha256[:12]}`, "
                        f"waited {item.wait_seconds:.1f} s)"
                        for item in landed
                    )
                ),
                "wait_seconds": round(max(item.wait_seconds for item in landed), 2),
            }
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"parquet", "pandas"},
        deps=[landed_exports],
        description=(
            "The project's responses normalised into the canonical tables (responses, answers, "
            "jira_fields, questions) and one wide table per template, as Hive-partitioned "
            "Parquet in the lake."
        ),
    )
    def lake_tables(
        context: dg.AssetExecutionContext, storage: StorageResource
    ) -> dg.MaterializeResult:
        project = context.partition_key
        tables = normalise_project(project, settings.exports_for(project), storage.landing())
        written = write_lake(storage.lake, tables)
        counts = tables.row_counts()
        context.log.info(
            f"Wrote project {project} to the lake at {storage.lake}: "
            + ", ".join(f"{rows} rows of {name}" for name, rows in counts.items())
            + "."
        )
        return dg.MaterializeResult(
            metadata={
                "export_ids": tables.export_ids,
                "rows": counts,
                "dagster/row_count": counts.get("responses", 0),
                "lake": dg.MetadataValue.path(str(storage.lake)),
                "files": len(written.files),
                "wide_tables": dg.MetadataValue.md(_wide_schemas(tables)),
            }
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"sql"},
        deps=[lake_tables],
        pool=WAREHOUSE_POOL,
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
        loaded = load_warehouse(warehouse.url, storage.lake, project, run_id=context.run.run_id)
        context.log.info(
            f"Loaded project {project} into {warehouse.display_url}: "
            + ", ".join(f"{rows} rows of {name}" for name, rows in loaded.rows.items())
            + "."
        )
        return dg.MaterializeResult(
            metadata={
                "rows": loaded.rows,
                "dagster/row_count": loaded.rows.get("responses", 0),
                "warehouse": warehouse.display_url,
            }
        )

    return [landed_exports, lake_tables, warehouse_tables]


def _wide_schemas(tables: ProjectTables) -> str:
    parts = [f"- `{name}`: {_columns(frame)}" for name, frame in tables.wide.items()]
    return "\n".join(parts) or "(none)"


def _columns(frame: pd.DataFrame, limit: int = 40) -> str:
    names: Sequence[str] = [f"{column} ({dtype})" for column, dtype in frame.dtypes.items()]
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
