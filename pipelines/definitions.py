"""The Dagster code location: assets partitioned by project, the daily job and its schedule.
The configuration file (`PROFORMA_CONFIG`, default `proforma.yaml`) decides the partitions: adding
a project is one entry there.
"""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg

from pipelines.assets import build_assets, project_partitions
from pipelines.resources import build_resources
from pipelines.tags import project_tags
from proforma_io.config import Settings, load_settings

DAILY_JOB = "daily_load"

__all__ = ["DAILY_JOB", "build_definitions", "defs", "project_tags"]


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything Dagster needs for one configuration."""
    partitions = project_partitions(settings)
    assets = build_assets(settings)
    job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        config=dg.PartitionedConfig(
            partitions_def=partitions,
            run_config_for_partition_key_fn=lambda _project: {},
            tags_for_partition_key_fn=lambda project: project_tags(settings, project),
        ),
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

    # Each run loads one project through three steps in a row, so separate step processes would
    # only add start-up time; scaling out is across runs (docs/production.md).
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[daily_load_schedule],
        resources=build_resources(settings),
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location `dagster dev -w workspace.yaml` loads, from the configuration file."""
    return build_definitions(load_settings())
