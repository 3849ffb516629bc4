"""The Dagster code location: assets partitioned by project, the daily job and its schedule.
The configuration file (`PROFORMA_CONFIG`, default `proforma.yaml`) decides the partitions: adding
a project is one entry there.
"""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg

from pipelines.assets import build_assets, project_partitions
from pipelines.resources import build_resources
from proforma_io.config import Settings, load_settings

DAILY_JOB = "daily_load"


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything Dagster needs for one configuration."""
    partitions = project_partitions(settings)
    assets = build_assets(settings)
    job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description="Export, normalise and load one project's ProForma responses.",
    )

    @dg.schedule(
        job=job,
        cron_schedule=settings.schedule.cron,
        execution_timezone=settings.schedule.timezone,
        description="Loads every configured project once a day.",
    )
    def daily_load_schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick = context.scheduled_execution_time or datetime.now()
        for project in partitions.get_partition_keys():
            yield dg.RunRequest(
                run_key=f"{project}-{tick:%Y-%m-%dT%H:%M}",
                partition_key=project,
                tags=project_tags(settings, project),
            )

    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[daily_load_schedule],
        resources=build_resources(settings),
    )


def project_tags(settings: Settings, project: str) -> dict[str, str]:
    """Run tags naming the project and its templates, for filtering runs in the UI."""
    templates = ",".join(str(export.template) for export in settings.exports_for(project))
    return {"proforma/project": project, "proforma/templates": templates}


@dg.definitions
def defs() -> dg.Definitions:
    """The code location `dagster dev -w workspace.yaml` loads, from the configuration file."""
    return build_definitions(load_settings())
