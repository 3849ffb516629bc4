"""Run tags naming the project and its templates, so runs can be filtered in the UI."""

import dagster as dg

from proforma_io.config import Settings

PROJECT_TAG = "proforma/project"
TEMPLATES_TAG = "proforma/templates"


def project_tags(settings: Settings, project: str) -> dict[str, str]:
    """The tags of a run that loads `project`."""
    templates = ",".join(str(export.template) for export in settings.exports_for(project))
    return {PROJECT_TAG: project, TEMPLATES_TAG: templates}


def tag_run(context: dg.AssetExecutionContext, settings: Settings) -> None:
    """Add the project's tags to the running run when it lacks them.

    Schedule and job runs get them when they are created; runs of a backfill launched from the
    asset graph do not, so the assets add them.
    """
    tags = project_tags(settings, context.partition_key)
    missing = {key: value for key, value in tags.items() if context.run.tags.get(key) != value}
    if missing:
        context.instance.add_run_tags(context.run.run_id, missing)
